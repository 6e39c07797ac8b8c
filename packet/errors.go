package packet

import (
	"errors"
	"fmt"
)

// Error is a violation of the protocol found while decoding, or a packet the
// codec refuses to encode. Code is the v5 reason code the violation maps to
// (MalformedPacket, ProtocolError, PacketTooLarge, ...). Statement is the
// MQTT 5.0 normative statement it breaks (such as "MQTT-1.5.4-1") and
// Statement311 the MQTT 3.1.1 one (such as "MQTT-1.5.3-1"); either is empty
// where that version has no numbered statement for the rule. StatementFor
// picks the one for a version.
//
// errors.Is matches an *Error against the sentinel of its code (ErrMalformed
// for 0x81 and so on); errors.As retrieves it.
type Error struct {
	Code         ReasonCode
	Statement    string
	Statement311 string
	Msg          string
}

// StatementFor returns the statement e breaks in version v (3.1 uses the
// 3.1.1 numbering).
func (e *Error) StatementFor(v Version) string {
	if v == V5 {
		return e.Statement
	}
	return e.Statement311
}

// Error gives the rule broken and, where it has one, its statement.
func (e *Error) Error() string {
	s := e.Statement
	if s == "" {
		s = e.Statement311
	}
	if s == "" {
		return "packet: " + e.Msg
	}
	return "packet: " + e.Msg + " (" + s + ")"
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

// Error gives the size and the limit.
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
	return &Error{Code: MalformedPacket, Statement: statement, Statement311: in311[statement], Msg: msg}
}

func protocolErr(statement, msg string) *Error {
	return &Error{Code: ProtocolError, Statement: statement, Statement311: in311[statement], Msg: msg}
}

// malformed311 is malformed for a rule of 3.1.1 that 5.0 does not have.
func malformed311(statement311, msg string) *Error {
	return &Error{Code: MalformedPacket, Statement311: statement311, Msg: msg}
}

// in311 maps the 5.0 statements the codec checks to the 3.1.1 statements
// with the same rule, where 3.1.1 has one (the numbering differs).
var in311 = map[string]string{
	"MQTT-1.5.4-1":  "MQTT-1.5.3-1",
	"MQTT-1.5.4-2":  "MQTT-1.5.3-2",
	"MQTT-2.1.3-1":  "MQTT-2.2.2-1",
	"MQTT-2.2.1-3":  "MQTT-2.3.1-1",
	"MQTT-3.1.2-1":  "MQTT-3.1.2-1",
	"MQTT-3.1.2-2":  "MQTT-3.1.2-2",
	"MQTT-3.1.2-3":  "MQTT-3.1.2-3",
	"MQTT-3.1.2-11": "MQTT-3.1.2-11",
	"MQTT-3.1.2-14": "MQTT-3.1.2-14",
	"MQTT-3.2.2-6":  "MQTT-3.2.2-4",
	"MQTT-3.3.1-2":  "MQTT-3.3.1-2",
	"MQTT-3.3.1-4":  "MQTT-3.3.1-4",
	"MQTT-3.3.2-1":  "MQTT-3.3.2-1",
	"MQTT-3.3.2-2":  "MQTT-3.3.2-2",
	"MQTT-3.6.1-1":  "MQTT-3.6.1-1",
	"MQTT-3.8.1-1":  "MQTT-3.8.1-1",
	"MQTT-3.8.3-2":  "MQTT-3.8.3-3",
	"MQTT-3.8.3-5":  "MQTT-3.8.3-4",
	"MQTT-3.9.3-1":  "MQTT-3.9.3-1",
	"MQTT-3.9.3-2":  "MQTT-3.9.3-2",
	"MQTT-3.10.1-1": "MQTT-3.10.1-1",
	"MQTT-3.10.3-2": "MQTT-3.10.3-2",
	"MQTT-3.14.1-1": "MQTT-3.14.1-1",
	"MQTT-4.7.1-1":  "MQTT-4.7.1-2",
	"MQTT-4.7.1-2":  "MQTT-4.7.1-3",
	"MQTT-4.7.3-1":  "MQTT-4.7.3-1",
	"MQTT-4.7.3-3":  "MQTT-4.7.3-3",
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
	errVersion       = &Error{Code: UnsupportedProtocolVersion, Statement: "MQTT-3.1.2-2", Statement311: "MQTT-3.1.2-2", Msg: "unsupported protocol version"}
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
