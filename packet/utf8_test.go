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
