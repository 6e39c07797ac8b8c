package packet

// Header is an MQTT fixed header.
type Header struct {
	Type      Type
	Flags     byte // the low four bits of the first byte
	Remaining int  // Remaining Length: the size of the body
	Len       int  // the size of the fixed header itself, 2 to 5 bytes
}

// Size returns the size of the whole packet: fixed header and body.
func (h Header) Size() int { return h.Len + h.Remaining }

// Frame looks at the front of a byte stream and says whether a whole packet
// is there. It returns:
//
//   - need == 0 and a valid h: b holds the whole packet, b[:h.Size()], whose
//     body is b[h.Len:h.Size()];
//   - need > 0: b holds less than a packet, and at least need more bytes must
//     arrive; h.Len == 0 when even the fixed header is incomplete, otherwise
//     h is valid and need is exactly what is missing;
//   - err != nil: the stream is invalid and cannot be resynchronised.
//
// Frame checks the packet type, the reserved flags, PUBLISH QoS 3, and a
// minimally encoded Remaining Length of at most four bytes (MQTT-1.5.5-1)
// before anything else, and rejects a packet larger than maxSize (0 means the
// protocol's limit, MaxPacketSize) with a *TooLargeError before the body is
// buffered. It needs no protocol version: AUTH (type 15) is framed in any
// version and refused by the version-aware decoder. It applies the flags of
// 3.1.1 and 5.0; FrameFor applies those of a given version (3.1 differs).
func Frame(b []byte, maxSize int) (h Header, need int, err error) {
	return FrameFor(b, maxSize, 0)
}

// FrameFor is Frame for a stream of version v (0 for the flags of 3.1.1 and
// 5.0). It differs from Frame for MQTT 3.1 only, where PUBREL, SUBSCRIBE
// and UNSUBSCRIBE carry QoS 1 and may carry DUP when re-sent: flags 1010 as
// well as 0010.
func FrameFor(b []byte, maxSize int, v Version) (h Header, need int, err error) {
	// The common case first, in a few instructions: a one-byte Remaining
	// Length, the whole packet there, a first byte checkFlags accepts
	// (which every version accepts), and a size within maxSize
	// (uint(maxSize-1) is huge when maxSize <= 0).
	if len(b) >= 2 {
		c, n := b[0], int(b[1])
		if n < 0x80 && n+2 <= len(b) && uint(maxSize-1) > uint(n) && framingOK[c] {
			return Header{Type(c >> 4), c & 0x0F, n, 2}, 0, nil
		}
	}
	return frame(b, maxSize, v)
}

// framingOK tells for every first byte of a fixed header whether
// checkFlags accepts it.
var framingOK = func() (ok [256]bool) {
	for c := range ok {
		ok[c] = checkFlags(Type(c>>4), byte(c)&0x0F) == nil
	}
	return ok
}()

// frame is FrameFor for every case its fast path leaves.
func frame(b []byte, maxSize int, v Version) (h Header, need int, err error) {
	if len(b) == 0 {
		return Header{}, 2, nil
	}
	h.Type, h.Flags = Type(b[0]>>4), b[0]&0x0F
	if err := checkFlagsFor(h.Type, h.Flags, v); err != nil {
		return Header{}, 0, err
	}
	if len(b) >= 2 && b[1] < 0x80 { // the common one-byte Remaining Length
		h.Remaining, h.Len = int(b[1]), 2
	} else {
		n, off, err := readVarint(b, 1)
		if err == errShort {
			return Header{}, 1, nil
		}
		if err != nil {
			return Header{}, 0, err
		}
		h.Remaining, h.Len = int(n), off
	}
	if maxSize <= 0 || maxSize > MaxPacketSize {
		maxSize = MaxPacketSize
	}
	if h.Size() > maxSize {
		return Header{}, 0, &TooLargeError{Size: h.Size(), Max: maxSize}
	}
	if len(b) < h.Size() {
		return h, h.Size() - len(b), nil
	}
	return h, 0, nil
}

var errQoS3 = malformed("MQTT-3.3.1-4", "PUBLISH with QoS 3")

// checkFlags validates the type and flags of a fixed header (MQTT-2.1.3-1).
func checkFlags(t Type, flags byte) error {
	switch {
	case t == 0:
		return errReservedType
	case t == TypePublish:
		if flags&0b0110 == 0b0110 {
			return errQoS3
		}
	case flags != t.fixedFlags():
		if e := flagErrs[t]; e != nil {
			return e
		}
		return errFlags
	}
	return nil
}

// checkFlagsFor is checkFlags for version v: in MQTT 3.1 a re-sent PUBREL,
// SUBSCRIBE or UNSUBSCRIBE may set DUP. The packet does not keep it.
func checkFlagsFor(t Type, flags byte, v Version) error {
	if v == V31 && flags == 0b1010 && t.fixedFlags() == 0b0010 {
		return nil
	}
	return checkFlags(t, flags)
}

// flagErrs names the packet's own statement where it has one.
var flagErrs = [16]*Error{
	TypePubrel:      malformed("MQTT-3.6.1-1", "PUBREL fixed header flags are not 0010"),
	TypeSubscribe:   malformed("MQTT-3.8.1-1", "SUBSCRIBE fixed header flags are not 0010"),
	TypeUnsubscribe: malformed("MQTT-3.10.1-1", "UNSUBSCRIBE fixed header flags are not 0010"),
	TypeDisconnect:  malformed("MQTT-3.14.1-1", "DISCONNECT fixed header flags are not 0000"),
	TypeAuth:        malformed("MQTT-3.15.1-1", "AUTH fixed header flags are not 0000"),
}
