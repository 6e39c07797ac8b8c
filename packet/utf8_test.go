package packet

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// TestScanTextMatchesReference checks the word-at-a-time validator against
// a plain definition of an MQTT string (MQTT-1.5.4-1, MQTT-1.5.4-2) and of a
// topic name's characters (MQTT-3.3.2-2), on strings biased towards the
// bytes that matter and towards lengths around the word size.
func TestScanTextMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		alphabet := []byte{'a', '/', '+', '#', 0, 0x7F, 0xC3, 0xA9, 0xED, 0xA0, 0x80, 0xF0, 0x9F, 0x98, 0x80, 0xFF}
		b := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 40).Draw(t, "b")
		for _, noWild := range []bool{false, true} {
			want := utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 &&
				(!noWild || !bytes.ContainsAny(b, "+#"))
			if got := scanText(b, noWild) == nil; got != want {
				t.Fatalf("scanText(%q, %v) valid = %v, want %v", b, noWild, got, want)
			}
		}
	})
}

// TestValidTextMatchesReference checks the fast path (plainASCII, a word
// or two at a time) with the byte-by-byte fallback behind it: plain ASCII
// strings of every length up to 70 with at most one offending byte at any
// position (MQTT-1.5.4-2, MQTT-3.3.2-2).
func TestValidTextMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOfN(rapid.SampledFrom([]byte("az/09~ ")), 0, 70).Draw(t, "b")
		if len(b) > 0 && rapid.Bool().Draw(t, "spoil") {
			i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
			b[i] = rapid.SampledFrom([]byte{0, '+', '#', 0x80, 0xC3, 0xFF, 0x7F, '*', 0x2A ^ 8, 0x23 ^ 8}).Draw(t, "byte")
		}
		for _, noWild := range []bool{false, true} {
			want := utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 &&
				(!noWild || !bytes.ContainsAny(b, "+#"))
			check := validUTF8
			if noWild {
				check = validTopicText
			}
			if got := check(b) == nil; got != want {
				t.Fatalf("valid(%q, no wildcards %v) = %v, want %v", b, noWild, got, want)
			}
		}
	})
}

// Strings with characters the specification says a string SHOULD NOT
// contain (control characters, non-characters) are accepted by decoding,
// and Discouraged reports them (MQTT-1.5.4-1 admits them as well-formed).
func TestDiscouraged(t *testing.T) {
	cases := []struct {
		s     string
		r     rune
		found bool
	}{
		{"sensors/room1", 0, false},
		{"a\tb", '\t', true},
		{"x\u007Fy", 0x7F, true},
		{"\u0085", 0x85, true},
		{"ok\uFDD0", 0xFDD0, true},
		{"\U0001FFFE", 0x1FFFE, true},
		{"\u00e9t\u00e9 \U0001F600", 0, false},
	}
	for _, c := range cases {
		r, found := Discouraged(c.s)
		if r != c.r || found != c.found {
			t.Errorf("Discouraged(%q) = %U, %v; want %U, %v", c.s, r, found, c.r, c.found)
		}
		if c.found && validUTF8([]byte(c.s)) != nil {
			t.Errorf("%q refused; it is well-formed and must be accepted", c.s)
		}
	}
}
