package packet

import "fmt"

// Type is the MQTT control packet type, the high four bits of the first byte.
type Type byte

// The control packet types. AUTH exists in MQTT 5.0 only; 0 is reserved.
const (
	TypeConnect     Type = 1
	TypeConnack     Type = 2
	TypePublish     Type = 3
	TypePuback      Type = 4
	TypePubrec      Type = 5
	TypePubrel      Type = 6
	TypePubcomp     Type = 7
	TypeSubscribe   Type = 8
	TypeSuback      Type = 9
	TypeUnsubscribe Type = 10
	TypeUnsuback    Type = 11
	TypePingreq     Type = 12
	TypePingresp    Type = 13
	TypeDisconnect  Type = 14
	TypeAuth        Type = 15
)

var typeNames = [16]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK",
	"PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE",
	"UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// String returns the packet type's name as the specification writes it.
func (t Type) String() string {
	if t > 15 {
		return fmt.Sprintf("Type(%d)", byte(t))
	}
	return typeNames[t]
}

// fixedFlags returns the flag bits the specification requires for t (every
// type but PUBLISH has fixed flags).
func (t Type) fixedFlags() byte {
	switch t {
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		return 0b0010
	}
	return 0
}

// Version is the MQTT protocol version, as carried in CONNECT's Protocol Level.
type Version byte

// The protocol versions the codec speaks. V31 ("MQIsdp") shares the wire
// format of V311.
const (
	V31  Version = 3
	V311 Version = 4
	V5   Version = 5
)

// String returns the version as people write it: "3.1", "3.1.1" or "5.0".
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("Version(%d)", byte(v))
}

// Valid reports whether v is a version the codec speaks.
func (v Version) Valid() bool { return v == V31 || v == V311 || v == V5 }

// QoS is the quality of service level of a message or subscription.
type QoS byte

// The three delivery guarantees.
const (
	QoS0 QoS = 0 // at most once
	QoS1 QoS = 1 // at least once
	QoS2 QoS = 2 // exactly once
)

// Packet is implemented by a pointer to every packet type.
type Packet interface {
	// Type returns the control packet type.
	Type() Type
	// Size returns the number of bytes AppendTo writes for version v, fixed
	// header included. It does not validate the packet.
	Size(v Version) int
	// AppendTo validates the packet, appends its encoding for version v to
	// dst and returns the extended slice. On error dst is returned
	// unchanged.
	AppendTo(dst []byte, v Version) ([]byte, error)
	// Decode parses the packet from its fixed-header flags and its body (the
	// Remaining Length bytes after the fixed header) for version v. Strings
	// and byte slices of the result alias body.
	Decode(v Version, flags byte, body []byte) error
}
