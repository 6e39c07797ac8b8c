package packet

import (
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// Subscribe is a SUBSCRIBE packet with standard two-byte packet identifiers.
type Subscribe = SubscribeOf[uint16]

// SubscribeOf is a SUBSCRIBE packet (section 3.8). Its filters alias the
// decoded bytes.
type SubscribeOf[ID packetid.ID] struct {
	PacketID      ID
	Props         property.Properties
	Subscriptions []Subscription // at least one
}

// Subscription is one Topic Filter of a SUBSCRIBE with its options. NoLocal,
// RetainAsPublished and RetainHandling exist in v5 only.
type Subscription struct {
	Filter            string
	QoS               QoS // the maximum QoS the client accepts
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0 send retained, 1 only for a new subscription, 2 never
}

const (
	optNoLocal           = 0x04
	optRetainAsPublished = 0x08
)

var (
	errSubscribeEmpty    = protocolErr("MQTT-3.8.3-2", "SUBSCRIBE without a topic filter")
	errSubReserved       = malformed("MQTT-3.8.3-5", "reserved subscription option bits set")
	errSubQoS            = protocolErr("", "subscription Maximum QoS 3")
	errSubQoS311         = malformed311("MQTT-3.8.3-4", "subscription QoS 3 in MQTT 3.1.1")
	errSubRetainHandling = protocolErr("", "Retain Handling 3")
	errSubNoLocalShared  = protocolErr("MQTT-3.8.3-4", "No Local on a shared subscription")
	errSubOptionsV311    = malformed311("MQTT-3.8.3-4", "v5 subscription options in an MQTT 3.1.1 SUBSCRIBE")
	errUnsubscribeEmpty  = protocolErr("MQTT-3.10.3-2", "UNSUBSCRIBE without a topic filter")
	errSubackEmpty       = protocolErr("MQTT-3.9.3-1", "SUBACK without a reason code")
	errUnsubackEmpty     = protocolErr("MQTT-3.11.3-1", "UNSUBACK without a reason code")
)

func (s *Subscription) options() byte {
	o := byte(s.QoS) | s.RetainHandling<<4
	if s.NoLocal {
		o |= optNoLocal
	}
	if s.RetainAsPublished {
		o |= optRetainAsPublished
	}
	return o
}

// check validates a subscription for version v, as decoding does.
func (s *Subscription) check(v Version) error {
	if err := ValidTopicFilter(s.Filter, v); err != nil {
		return err
	}
	switch {
	case s.QoS > QoS2 && v != V5:
		return errSubQoS311
	case s.QoS > QoS2:
		return errSubQoS
	case v != V5 && (s.NoLocal || s.RetainAsPublished || s.RetainHandling != 0):
		return errSubOptionsV311
	case s.RetainHandling == 3:
		return errSubRetainHandling
	case s.RetainHandling > 3:
		return errSubReserved
	case s.NoLocal && IsShared(s.Filter):
		return errSubNoLocalShared
	}
	return nil
}

// Type returns TypeSubscribe.
func (p *SubscribeOf[ID]) Type() Type { return TypeSubscribe }

func (p *SubscribeOf[ID]) bodySize(v Version, propsLen int) int {
	n := idSize[ID]()
	if v == V5 {
		n += varintSize(propsLen) + propsLen
	}
	for i := range p.Subscriptions {
		n += 2 + len(p.Subscriptions[i].Filter) + 1
	}
	return n
}

// Size returns the encoded size of p for version v.
func (p *SubscribeOf[ID]) Size(v Version) int {
	return headerSize(p.bodySize(v, propsLenFor(v, &p.Props)))
}

// AppendTo appends the encoding of p for version v to dst.
func (p *SubscribeOf[ID]) AppendTo(dst []byte, v Version) ([]byte, error) {
	if p.PacketID == 0 {
		return dst, errZeroID
	}
	if len(p.Subscriptions) == 0 {
		return dst, errSubscribeEmpty
	}
	for i := range p.Subscriptions {
		if err := p.Subscriptions[i].check(v); err != nil {
			return dst, err
		}
	}
	pe, err := checkPropsFor(v, &p.Props, byte(TypeSubscribe))
	if err != nil {
		return dst, err
	}
	n := p.bodySize(v, pe.n)
	if err := checkBody(n); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, TypeSubscribe, TypeSubscribe.fixedFlags(), n)
	dst = appendID(dst, p.PacketID)
	if v == V5 {
		dst = appendProperties(dst, &p.Props, pe)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		dst = append(appendString(dst, s.Filter), s.options())
	}
	return dst, nil
}

// Decode parses a SUBSCRIBE body, reusing the capacity of p.Subscriptions.
func (p *SubscribeOf[ID]) Decode(v Version, flags byte, body []byte) error {
	if err := checkFlagsFor(TypeSubscribe, flags, v); err != nil {
		return err
	}
	var err error
	off := 0
	if p.PacketID, off, err = readID[ID](body, off); err != nil {
		return err
	}
	if off, err = decodePropsFor(v, &p.Props, byte(TypeSubscribe), body, off); err != nil {
		return err
	}
	p.Subscriptions = p.Subscriptions[:0]
	for off < len(body) {
		var s Subscription
		if s.Filter, off, err = readString(body, off); err != nil {
			return err
		}
		var o byte
		if o, off, err = readByte(body, off); err != nil {
			return err
		}
		if v != V5 && o&0xFC != 0 {
			return errSubOptionsV311
		}
		if o&0xC0 != 0 {
			return errSubReserved
		}
		s.QoS, s.NoLocal, s.RetainAsPublished, s.RetainHandling =
			QoS(o&3), o&optNoLocal != 0, o&optRetainAsPublished != 0, o>>4&3
		if err := s.check(v); err != nil {
			return err
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if len(p.Subscriptions) == 0 {
		return errSubscribeEmpty
	}
	return nil
}

// Ack returns the SUBACK that answers p in version v (MQTT-3.8.4-1): p's
// packet identifier (MQTT-3.8.4-2) and results[i] for p.Subscriptions[i],
// one per topic filter, in their order (MQTT-3.8.4-6, MQTT-3.9.3-1).
//
// The results are v5 SUBACK reason codes whatever the version: the QoS
// granted (GrantedQoS0 to GrantedQoS2) or a failure (NotAuthorized,
// TopicFilterInvalid, ...). In 3.1.1 every failure is written as 0x80, the
// one failure return code it has (MQTT-3.9.3-2). Ack refuses a count of
// results other than the number of filters, and a code SUBACK does not
// have. The SUBACK has no properties; a v5 Reason String or User Property
// may be added before it is sent.
func (p *SubscribeOf[ID]) Ack(v Version, results ...ReasonCode) (*SubackOf[ID], error) {
	return ackOf[subackKind](p.PacketID, len(p.Subscriptions), v, results)
}

// Clone returns a deep copy of p that does not alias decoded bytes.
func (p *SubscribeOf[ID]) Clone() *SubscribeOf[ID] {
	c := *p
	c.Props = p.Props.Clone()
	c.Subscriptions = make([]Subscription, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		s.Filter = cloneString(s.Filter)
		c.Subscriptions[i] = s
	}
	return &c
}
