package packet

import (
	"encoding/binary"

	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// Publish is a PUBLISH packet with standard two-byte packet identifiers.
type Publish = PublishOf[uint16]

// PublishOf is a PUBLISH packet (section 3.3), generic over the packet
// identifier type. Topic, Payload and the properties of a decoded PublishOf
// alias the decoded bytes; Clone makes an independent copy.
type PublishOf[ID packetid.ID] struct {
	Topic    string // may be empty in v5 when Props.TopicAlias is set
	QoS      QoS
	Retain   bool
	Dup      bool
	PacketID ID // present for QoS 1 and 2; ignored when encoding QoS 0
	Props    property.Properties
	Payload  []byte // nil when empty after decoding
}

var (
	errDupQoS0      = malformed("MQTT-3.3.1-2", "DUP flag set on a QoS 0 PUBLISH")
	errTopicNoAlias = protocolErr("MQTT-3.3.2-1", "PUBLISH without Topic Name and without Topic Alias")
	errPropsV311    = malformed("", "properties in an MQTT 3.1.1 packet")
	errQoSRange     = malformed("MQTT-3.3.1-4", "QoS greater than 2")
)

// Type returns TypePublish.
func (p *PublishOf[ID]) Type() Type { return TypePublish }

func (p *PublishOf[ID]) flags() byte {
	f := byte(p.QoS) << 1
	if p.Dup {
		f |= 0b1000
	}
	if p.Retain {
		f |= 0b0001
	}
	return f
}

func (p *PublishOf[ID]) bodySize(v Version, propsLen int) int {
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += idSize[ID]()
	}
	if v == V5 {
		n += varintSize(propsLen) + propsLen
	}
	return n
}

// Size returns the encoded size of p for version v.
func (p *PublishOf[ID]) Size(v Version) int {
	return headerSize(p.bodySize(v, propsLenFor(v, &p.Props)))
}

// AppendTo appends the encoding of p for version v to dst.
func (p *PublishOf[ID]) AppendTo(dst []byte, v Version) ([]byte, error) {
	pe, err := p.check(v)
	if err != nil {
		return dst, err
	}
	n := p.bodySize(v, pe.n)
	if err := checkBody(n); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, TypePublish, p.flags(), n)
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendID(dst, p.PacketID)
	}
	if v == V5 {
		dst = appendProperties(dst, &p.Props, pe)
	}
	return append(dst, p.Payload...), nil
}

func (p *PublishOf[ID]) check(v Version) (propsEnc, error) {
	switch {
	case p.QoS > QoS2:
		return propsEnc{}, errQoSRange
	case p.Dup && p.QoS == QoS0:
		return propsEnc{}, errDupQoS0
	case p.QoS > 0 && p.PacketID == 0:
		return propsEnc{}, errZeroID
	case len(p.Payload) > MaxRemainingLength:
		return propsEnc{}, &TooLargeError{Size: len(p.Payload), Max: MaxRemainingLength}
	}
	switch {
	case len(p.Topic) != 0 && len(p.Topic) <= 0xFFFF && plainASCII(aliasBytes(p.Topic), true):
		// the common topic, valid at a glance
	case p.Topic == "" && v == V5 && p.Props.TopicAlias != 0:
		// an alias stands in for the topic
	default:
		if err := ValidTopicName(p.Topic); err != nil {
			return propsEnc{}, err
		}
	}
	return checkPropsFor(v, &p.Props, byte(TypePublish))
}

// Decode parses a PUBLISH body. It is the hot path of every receiver, so
// it reads the Topic Name and packet identifier in line rather than through
// the offset-threading primitives, with the same checks and errors.
func (p *PublishOf[ID]) Decode(v Version, flags byte, body []byte) error {
	if flags&0b0110 == 0b0110 {
		return errQoS3
	}
	qos := QoS(flags >> 1 & 3)
	p.Dup, p.QoS, p.Retain = flags&0b1000 != 0, qos, flags&1 != 0
	if p.Dup && qos == QoS0 {
		return errDupQoS0
	}
	if len(body) < 2 {
		return errShort
	}
	off := 2 + int(binary.BigEndian.Uint16(body))
	if off > len(body) {
		return errShort
	}
	topic := body[2:off]
	if !plainASCII(topic, true) {
		if err := scanText(topic, true); err != nil {
			return err
		}
	}
	p.Topic = aliasString(topic)
	p.PacketID = 0
	if qos > 0 {
		w := idSize[ID]()
		if len(body)-off < w {
			return errShort
		}
		if w == 4 {
			p.PacketID = ID(binary.BigEndian.Uint32(body[off:]))
		} else {
			p.PacketID = ID(binary.BigEndian.Uint16(body[off:]))
		}
		if p.PacketID == 0 {
			return errZeroID
		}
		off += w
	}
	if v == V5 {
		var err error
		if off, err = decodeProperties(&p.Props, byte(TypePublish), body, off); err != nil {
			return err
		}
	} else {
		p.Props.Reset()
	}
	if p.Topic == "" {
		if v != V5 {
			return errTopicEmpty
		}
		if p.Props.TopicAlias == 0 {
			return errTopicNoAlias
		}
	}
	if off < len(body) {
		p.Payload = body[off:]
	} else {
		p.Payload = nil
	}
	return nil
}

// Clone returns a deep copy of p that does not alias decoded bytes.
func (p *PublishOf[ID]) Clone() *PublishOf[ID] {
	c := *p
	c.Topic = cloneString(p.Topic)
	c.Payload = cloneBytes(p.Payload)
	c.Props = p.Props.Clone()
	return &c
}
