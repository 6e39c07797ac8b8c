package packet

import "fmt"

// ReasonCode is an MQTT 5.0 reason code, or an MQTT 3.1.1 CONNACK return
// code or SUBACK return code.
type ReasonCode byte

// The reason codes of MQTT 5.0 (section 2.4), named as the specification names them.
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00
	GrantedQoS0                         ReasonCode = 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWillMessage           ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// The CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3).
const (
	ConnectionAccepted           ReasonCode = 0x00
	RefusedUnacceptableVersion   ReasonCode = 0x01
	RefusedIdentifierRejected    ReasonCode = 0x02
	RefusedServerUnavailable     ReasonCode = 0x03
	RefusedBadUserNameOrPassword ReasonCode = 0x04
	RefusedNotAuthorized         ReasonCode = 0x05
	SubscribeFailure             ReasonCode = 0x80 // the 3.1.1 SUBACK failure code
)

var reasonNames = map[ReasonCode]string{
	0x00: "Success", 0x01: "Granted QoS 1", 0x02: "Granted QoS 2",
	0x04: "Disconnect with Will Message", 0x10: "No matching subscribers",
	0x11: "No subscription existed", 0x18: "Continue authentication",
	0x19: "Re-authenticate", 0x80: "Unspecified error", 0x81: "Malformed Packet",
	0x82: "Protocol Error", 0x83: "Implementation specific error",
	0x84: "Unsupported Protocol Version", 0x85: "Client Identifier not valid",
	0x86: "Bad User Name or Password", 0x87: "Not authorized",
	0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned",
	0x8B: "Server shutting down", 0x8C: "Bad authentication method",
	0x8D: "Keep Alive timeout", 0x8E: "Session taken over",
	0x8F: "Topic Filter invalid", 0x90: "Topic Name invalid",
	0x91: "Packet Identifier in use", 0x92: "Packet Identifier not found",
	0x93: "Receive Maximum exceeded", 0x94: "Topic Alias invalid",
	0x95: "Packet too large", 0x96: "Message rate too high",
	0x97: "Quota exceeded", 0x98: "Administrative action",
	0x99: "Payload format invalid", 0x9A: "Retain not supported",
	0x9B: "QoS not supported", 0x9C: "Use another server", 0x9D: "Server moved",
	0x9E: "Shared Subscriptions not supported", 0x9F: "Connection rate exceeded",
	0xA0: "Maximum connect time", 0xA1: "Subscription Identifiers not supported",
	0xA2: "Wildcard Subscriptions not supported",
}

// String returns the v5 name of the reason code.
func (r ReasonCode) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("ReasonCode(0x%02X)", byte(r))
}

// IsError reports whether r signals failure (0x80 or above).
func (r ReasonCode) IsError() bool { return r >= 0x80 }

// reasonSet is a set of reason code values, one bit per byte value.
type reasonSet [4]uint64

func reasons(codes ...ReasonCode) reasonSet {
	var s reasonSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *reasonSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// The reason codes each v5 packet may carry (the tables of chapter 3), and
// the 3.1.1 return codes.
var (
	connackReasons = reasons(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
		0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C,
		0x9D, 0x9F)
	pubackReasons = reasons(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99)
	pubrelReasons = reasons(0x00, 0x92)
	subackReasons = reasons(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91,
		0x97, 0x9E, 0xA1, 0xA2)
	unsubackReasons   = reasons(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)
	disconnectReasons = reasons(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87,
		0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
		0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2)
	authReasons       = reasons(0x00, 0x18, 0x19)
	connackReturns311 = reasons(0, 1, 2, 3, 4, 5)
	subackReturns311  = reasons(0, 1, 2, 0x80)
)

// ValidReason reports whether r is a reason code that a packet of type t may
// carry in version v. Packets without a reason code accept only 0.
func ValidReason(t Type, v Version, r ReasonCode) bool {
	s := reasonsFor(t, v)
	return s != nil && s.has(r)
}

func reasonsFor(t Type, v Version) *reasonSet {
	if v != V5 {
		switch t {
		case TypeConnack:
			return &connackReturns311
		case TypeSuback:
			return &subackReturns311
		}
		return nil
	}
	switch t {
	case TypeConnack:
		return &connackReasons
	case TypePuback, TypePubrec:
		return &pubackReasons
	case TypePubrel, TypePubcomp:
		return &pubrelReasons
	case TypeSuback:
		return &subackReasons
	case TypeUnsuback:
		return &unsubackReasons
	case TypeDisconnect:
		return &disconnectReasons
	case TypeAuth:
		return &authReasons
	}
	return nil
}

// reasonErrs holds, for each v5 packet type with reason codes, the error for
// a code the packet may not carry, naming the statement that lists its codes.
var reasonErrs = [16]*Error{
	TypeConnack:    malformed("MQTT-3.2.2-8", "reason code not defined for CONNACK"),
	TypePuback:     malformed("MQTT-3.4.2-1", "reason code not defined for PUBACK"),
	TypePubrec:     malformed("MQTT-3.5.2-1", "reason code not defined for PUBREC"),
	TypePubrel:     malformed("MQTT-3.6.2-1", "reason code not defined for PUBREL"),
	TypePubcomp:    malformed("MQTT-3.7.2-1", "reason code not defined for PUBCOMP"),
	TypeSuback:     malformed("MQTT-3.9.3-2", "reason code not defined for SUBACK"),
	TypeUnsuback:   malformed("MQTT-3.11.3-2", "reason code not defined for UNSUBACK"),
	TypeDisconnect: malformed("MQTT-3.14.2-1", "reason code not defined for DISCONNECT"),
	TypeAuth:       malformed("MQTT-3.15.2-1", "reason code not defined for AUTH"),
}

// reasonErr returns the error for a reason code a packet of type t may not
// carry in version v. Of the 3.1.1 return codes only SUBACK's have a
// statement (MQTT-3.9.3-2, the same id in both versions).
func reasonErr(t Type, v Version) *Error {
	if e := reasonErrs[t]; e != nil && (v == V5 || t == TypeSuback) {
		return e
	}
	return errReason
}
