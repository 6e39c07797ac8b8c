package packet

import (
	"encoding/binary"
	"github.com/mqttcore/mqtt/packetid"
	"unsafe"
)

// MaxPacketSize is the largest packet MQTT can frame: a 5-byte fixed header
// (1 type byte, a 4-byte Remaining Length) plus 268,435,455 bytes.
const MaxPacketSize = 1 + 4 + MaxRemainingLength

// MaxRemainingLength is the largest value a Remaining Length can encode.
const MaxRemainingLength = 268_435_455

// maxVarint is the largest value of a Variable Byte Integer.
const maxVarint = MaxRemainingLength

// The primitives below thread an offset through b, as in
// v, off, err := readUint16(b, off). They never read past len(b).

func readByte(b []byte, off int) (byte, int, error) {
	if off >= len(b) {
		return 0, off, errShort
	}
	return b[off], off + 1, nil
}

func readUint16(b []byte, off int) (uint16, int, error) {
	if len(b)-off < 2 {
		return 0, off, errShort
	}
	return binary.BigEndian.Uint16(b[off:]), off + 2, nil
}

func readUint32(b []byte, off int) (uint32, int, error) {
	if len(b)-off < 4 {
		return 0, off, errShort
	}
	return binary.BigEndian.Uint32(b[off:]), off + 4, nil
}

// readVarint reads a Variable Byte Integer, rejecting encodings longer than
// four bytes and non-minimal ones (MQTT-1.5.5-1).
func readVarint(b []byte, off int) (uint32, int, error) {
	var v uint32
	for i := 0; i < 4; i++ {
		if off+i >= len(b) {
			return 0, off, errShort
		}
		c := b[off+i]
		v |= uint32(c&0x7F) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, off, errVarintMinimal
			}
			return v, off + i + 1, nil
		}
	}
	return 0, off, errVarint
}

// readBinary reads Binary Data: a two-byte length and that many bytes. The
// result aliases b and is never nil.
func readBinary(b []byte, off int) ([]byte, int, error) {
	n, off, err := readUint16(b, off)
	if err != nil {
		return nil, off, err
	}
	end := off + int(n)
	if end > len(b) {
		return nil, off, errShort
	}
	return b[off:end:end], end, nil
}

// readString reads a UTF-8 Encoded String and validates it (MQTT-1.5.4-1,
// MQTT-1.5.4-2). The result aliases b. It is readBinary and validUTF8 in
// line: every string of every packet passes here.
func readString(b []byte, off int) (string, int, error) {
	if len(b)-off < 2 {
		return "", off, errShort
	}
	start := off + 2
	end := start + int(binary.BigEndian.Uint16(b[off:]))
	if end > len(b) {
		return "", start, errShort
	}
	s := b[start:end:end]
	if !plainASCII(s, false) {
		if err := scanText(s, false); err != nil {
			return "", end, err
		}
	}
	return aliasString(s), end, nil
}

// aliasString returns a string sharing b's memory: the zero-copy decoding
// the package documents. The string is valid while b is not modified.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// readID reads a packet identifier of the width of ID and rejects 0
// (MQTT-2.2.1-3).
func readID[ID packetid.ID](b []byte, off int) (ID, int, error) {
	var id ID
	if idSize[ID]() == 4 {
		v, o, err := readUint32(b, off)
		if err != nil {
			return 0, off, err
		}
		id, off = ID(v), o
	} else {
		v, o, err := readUint16(b, off)
		if err != nil {
			return 0, off, err
		}
		id, off = ID(v), o
	}
	if id == 0 {
		return 0, off, errZeroID
	}
	return id, off, nil
}

// idSize returns the width in bytes of a packet identifier of type ID on the
// wire: 2 for the standard uint16, 4 for the uint32 extension.
func idSize[ID packetid.ID]() int { return packetid.Size[ID]() }

func varintSize(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	}
	return 4
}

func appendVarint(dst []byte, v int) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func appendUint16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendID[ID packetid.ID](dst []byte, id ID) []byte {
	if idSize[ID]() == 4 {
		return appendUint32(dst, uint32(id))
	}
	return appendUint16(dst, uint16(id))
}

// appendString appends a length-prefixed string; callers check the length
// first (checkString).
func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

// appendHeader appends a fixed header for a body of n bytes.
func appendHeader(dst []byte, t Type, flags byte, n int) []byte {
	return appendVarint(append(dst, byte(t)<<4|flags), n)
}

// headerSize returns the size of a whole packet whose body is n bytes.
func headerSize(n int) int { return 1 + varintSize(n) + n }

// checkBody refuses a body too large to frame.
func checkBody(n int) error {
	if n > MaxRemainingLength {
		return &TooLargeError{Size: headerSize(n), Max: MaxPacketSize}
	}
	return nil
}

// aliasBytes returns the bytes of s without copying; they must not be
// modified.
func aliasBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
