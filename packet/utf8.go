package packet

import (
	"encoding/binary"
	"unicode/utf8"
)

// validUTF8 reports whether b is a well-formed UTF-8 Encoded String in the
// sense of MQTT: valid UTF-8 (which excludes the surrogates U+D800–U+DFFF,
// MQTT-1.5.4-1) without U+0000 (MQTT-1.5.4-2). ASCII, the common case, is
// checked eight bytes at a time.
func validUTF8(b []byte) error {
	const hi = 0x8080808080808080
	const lo = 0x0101010101010101
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if w&hi != 0 || (w-lo)&^w&hi != 0 {
			break // a non-ASCII or a zero byte: take the slow path from here
		}
	}
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return errNull
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
