package packet

import (
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// Unsubscribe is an UNSUBSCRIBE packet with standard two-byte packet identifiers.
type Unsubscribe = UnsubscribeOf[uint16]

// UnsubscribeOf is an UNSUBSCRIBE packet (section 3.10). Its filters alias
// the decoded bytes.
type UnsubscribeOf[ID packetid.ID] struct {
	PacketID ID
	Props    property.Properties
	Filters  []string // at least one
}

// Type returns TypeUnsubscribe.
func (p *UnsubscribeOf[ID]) Type() Type { return TypeUnsubscribe }

func (p *UnsubscribeOf[ID]) bodySize(v Version, propsLen int) int {
	n := idSize[ID]()
	if v == V5 {
		n += varintSize(propsLen) + propsLen
	}
	for _, f := range p.Filters {
		n += 2 + len(f)
	}
	return n
}

// Size returns the encoded size of p for version v.
func (p *UnsubscribeOf[ID]) Size(v Version) int {
	return headerSize(p.bodySize(v, propsLenFor(v, &p.Props)))
}

// AppendTo appends the encoding of p for version v to dst.
func (p *UnsubscribeOf[ID]) AppendTo(dst []byte, v Version) ([]byte, error) {
	if p.PacketID == 0 {
		return dst, errZeroID
	}
	if len(p.Filters) == 0 {
		return dst, errUnsubscribeEmpty
	}
	for _, f := range p.Filters {
		if err := ValidTopicFilter(f, v); err != nil {
			return dst, err
		}
	}
	pe, err := checkPropsFor(v, &p.Props, byte(TypeUnsubscribe))
	if err != nil {
		return dst, err
	}
	n := p.bodySize(v, pe.n)
	if err := checkBody(n); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, TypeUnsubscribe, TypeUnsubscribe.fixedFlags(), n)
	dst = appendID(dst, p.PacketID)
	if v == V5 {
		dst = appendProperties(dst, &p.Props, pe)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}

// Decode parses an UNSUBSCRIBE body, reusing the capacity of p.Filters.
func (p *UnsubscribeOf[ID]) Decode(v Version, flags byte, body []byte) error {
	if err := checkFlagsFor(TypeUnsubscribe, flags, v); err != nil {
		return err
	}
	var err error
	off := 0
	if p.PacketID, off, err = readID[ID](body, off); err != nil {
		return err
	}
	if off, err = decodePropsFor(v, &p.Props, byte(TypeUnsubscribe), body, off); err != nil {
		return err
	}
	p.Filters = p.Filters[:0]
	for off < len(body) {
		var f string
		if f, off, err = readString(body, off); err != nil {
			return err
		}
		if err := ValidTopicFilter(f, v); err != nil {
			return err
		}
		p.Filters = append(p.Filters, f)
	}
	if len(p.Filters) == 0 {
		return errUnsubscribeEmpty
	}
	return nil
}

// Ack returns the UNSUBACK that answers p in version v (MQTT-3.10.4-4): p's
// packet identifier (MQTT-3.10.4-5) and, in v5, results[i] for
// p.Filters[i], one per topic filter, in their order (MQTT-3.11.3-1).
//
// The results are v5 UNSUBACK reason codes whatever the version: Success,
// NoSubscriptionExisted or a failure (MQTT-3.11.3-2). A 3.1.1 UNSUBACK
// carries none: Ack checks them and leaves them out. Ack refuses a count
// of results other than the number of filters, and a code UNSUBACK does
// not have. The UNSUBACK has no properties; a v5 Reason String or User
// Property may be added before it is sent.
func (p *UnsubscribeOf[ID]) Ack(v Version, results ...ReasonCode) (*UnsubackOf[ID], error) {
	return ackOf[unsubackKind](p.PacketID, len(p.Filters), v, results)
}

// Clone returns a deep copy of p that does not alias decoded bytes.
func (p *UnsubscribeOf[ID]) Clone() *UnsubscribeOf[ID] {
	c := *p
	c.Props = p.Props.Clone()
	c.Filters = make([]string, len(p.Filters))
	for i, f := range p.Filters {
		c.Filters[i] = cloneString(f)
	}
	return &c
}
