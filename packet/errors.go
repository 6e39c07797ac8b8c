package packet

import (
	"errors"
	"fmt"
)

// Error is a violation of the protocol found while decoding, or a packet the
// codec refuses to encode. Code is the v5 reason code the violation maps to
// (MalformedPacket, ProtocolError, PacketTooLarge, ...), Statement the
// normative statement it breaks (an MQTT 5.0 id such as "MQTT-1.5.4-1"; empty
// where the specification has no numbered statement).
//
// errors.Is matches an *Error against the sentinel of its code (ErrMalformed
// for 0x81 and so on); errors.As retrieves it.
type Error struct {
	Code      ReasonCode
	Statement string
	Msg       string
}

func (e *Error) Error() string {
	if e.Statement == "" {
		return "packet: " + e.Msg
	}
	return "packet: " + e.Msg + " (" + e.Statement + ")"
}

// Unwrap returns the sentinel error for e's reason code, if there is one.
func (e *Error) Unwrap() error {
	switch e.Code {
	case MalformedPacket:
		return ErrMalformed
	case ProtocolError:
		return ErrProtocol
	case PacketTooLarge:
		return ErrPacketTooLarge
	case UnsupportedProtocolVersion:
		return ErrUnsupportedVersion
	}
	return nil
}

// Sentinel errors, one per reason code the codec produces.
var (
	ErrMalformed          = errors.New("packet: malformed packet")
	ErrProtocol           = errors.New("packet: protocol error")
	ErrPacketTooLarge     = errors.New("packet: packet too large")
	ErrUnsupportedVersion = errors.New("packet: unsupported protocol version")
)

// TooLargeError reports a packet whose size exceeds a limit: the caller's
// maximum on decode, the protocol's 268,435,455 bytes on encode.
type TooLargeError struct {
	Size int // the packet's total size in bytes
	Max  int // the limit it exceeds
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("packet: packet of %d bytes exceeds the maximum of %d", e.Size, e.Max)
}

// Unwrap returns ErrPacketTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrPacketTooLarge }

// ReasonOf returns the v5 reason code an error from this package maps to, and
// false for other errors.
func ReasonOf(err error) (ReasonCode, bool) {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code, true
	}
	var te *TooLargeError
	if errors.As(err, &te) {
		return PacketTooLarge, true
	}
	return 0, false
}

func malformed(statement, msg string) *Error {
	return &Error{Code: MalformedPacket, Statement: statement, Msg: msg}
}

func protocolErr(statement, msg string) *Error {
	return &Error{Code: ProtocolError, Statement: statement, Msg: msg}
}

// Errors shared by several packets. They are values, so that rejecting
// hostile input allocates nothing.
var (
	errShort         = malformed("", "packet ends before its last field")
	errTrailing      = malformed("", "bytes after the last field of the packet")
	errVarint        = malformed("MQTT-1.5.5-1", "variable byte integer longer than 4 bytes")
	errVarintMinimal = malformed("MQTT-1.5.5-1", "variable byte integer not minimally encoded")
	errUTF8          = malformed("MQTT-1.5.4-1", "string is not well-formed UTF-8")
	errNull          = malformed("MQTT-1.5.4-2", "string contains U+0000")
	errStringTooLong = malformed("MQTT-4.7.3-3", "string or binary data longer than 65,535 bytes")
	errZeroID        = malformed("MQTT-2.2.1-3", "packet identifier 0")
	errVersion       = &Error{Code: UnsupportedProtocolVersion, Statement: "MQTT-3.1.2-2", Msg: "unsupported protocol version"}
	errFlags         = malformed("MQTT-2.1.3-1", "reserved fixed header flags are not as specified")
	errReservedType  = malformed("MQTT-2.1.3-1", "reserved packet type")
	errAuthV311      = malformed("MQTT-2.1.3-1", "AUTH does not exist in MQTT 3.1.1")
	errReason        = malformed("", "reason code not defined for this packet")
	errTopicEmpty    = malformed("MQTT-4.7.3-1", "topic is empty")
	errTopicWildcard = malformed("MQTT-3.3.2-2", "topic name contains a wildcard")
	errFilterHash    = malformed("MQTT-4.7.1-1", "multi-level wildcard not alone in the last level of a topic filter")
	errFilterPlus    = malformed("MQTT-4.7.1-2", "single-level wildcard not alone in its level of a topic filter")
	errShareName     = malformed("MQTT-4.8.2-1", "shared subscription without a share name")
	errShareChars    = malformed("MQTT-4.8.2-2", "share name contains '+', '#' or lacks the '/' and topic filter after it")
)
