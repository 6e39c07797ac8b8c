package packet

import (
	"encoding/binary"
	"unicode/utf8"
)

// validUTF8 reports whether b is a well-formed UTF-8 Encoded String in the
// sense of MQTT: valid UTF-8 (which excludes the surrogates U+D800–U+DFFF,
// MQTT-1.5.4-1) without U+0000 (MQTT-1.5.4-2).
func validUTF8(b []byte) error {
	if plainASCII(b, false) {
		return nil
	}
	return scanText(b, false)
}

// validTopicText is validUTF8 that also refuses the wildcards '+' and '#',
// in one pass: the check a Topic Name needs (MQTT-3.3.2-2).
func validTopicText(b []byte) error {
	if plainASCII(b, true) {
		return nil
	}
	return scanText(b, true)
}

// scanText validates a string byte by byte, finding the first offending
// character; plainASCII has already said the common case quickly.
func scanText(b []byte, noWildcards bool) error {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c == 0:
				return errNull
			case noWildcards && (c == '+' || c == '#'):
				return errTopicWildcard
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return errUTF8
		}
		i += n
	}
	return nil
}

// plainASCII reports whether b is ASCII without NUL (and without '+' and
// '#' when noWildcards is set). Eight bytes at a time it ORs together, per
// word, bits that can only be set when a byte is NUL or non-ASCII (w-lo and
// w), or '+' or '#' (x-lo, where x maps both to 0 by setting bit 3 and
// XORing with '+'); a borrow can only spread from a byte that is itself
// offending. A tail shorter than a word is covered by one overlapping word.
func plainASCII(b []byte, noWildcards bool) bool {
	n := len(b)
	if n < 8 {
		if n < 4 {
			for _, c := range b {
				if c-1 >= 0x7F || noWildcards && c|8 == '+' {
					return false
				}
			}
			return true
		}
		return plainASCII4to8(b, noWildcards)
	}
	acc := badBits(binary.LittleEndian.Uint64(b[n-8:]), noWildcards)
	for ; len(b) > 16; b = b[16:] { // two words a round
		acc |= badBits(binary.LittleEndian.Uint64(b), noWildcards) |
			badBits(binary.LittleEndian.Uint64(b[8:]), noWildcards)
	}
	if len(b) > 8 {
		acc |= badBits(binary.LittleEndian.Uint64(b), noWildcards)
	}
	return acc&hiBits == 0
}

// plainASCII4to8 is plainASCII for 4 to 8 bytes, small enough to be
// inlined: two overlapping four-byte loads make one word.
func plainASCII4to8(b []byte, noWildcards bool) bool {
	w := uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))<<32
	return badBits(w, noWildcards)&hiBits == 0
}

// hiBits has the high bit of every byte of a word set.
const hiBits = 0x8080808080808080

// badBits returns a word whose high bits can be set only if a byte of w is
// NUL or non-ASCII, or, with noWildcards, '+' or '#'.
func badBits(w uint64, noWildcards bool) uint64 {
	const lo = 0x0101010101010101
	bad := (w - lo) | w
	if noWildcards {
		bad |= ((w | lo*8) ^ (lo * '+')) - lo
	}
	return bad
}

// checkString validates a string the caller wants to encode: its length
// fits a two-byte prefix and it is a valid UTF-8 Encoded String.
func checkString(s string) error {
	if len(s) > 0xFFFF {
		return errStringTooLong
	}
	return validUTF8(aliasBytes(s))
}

// Discouraged reports the first code point of s that the specification says
// a string SHOULD NOT contain: the control characters U+0001–U+001F and
// U+007F–U+009F, and the Unicode non-characters. Decoding accepts such
// strings; Discouraged lets an application report or refuse them.
func Discouraged(s string) (r rune, found bool) {
	for _, r := range s {
		if r >= 0x01 && r <= 0x1F || r >= 0x7F && r <= 0x9F ||
			r >= 0xFDD0 && r <= 0xFDEF || r&0xFFFE == 0xFFFE {
			return r, true
		}
	}
	return 0, false
}
