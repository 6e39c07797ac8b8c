package packet

import (
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// ListAck is the shared shape of SUBACK and UNSUBACK (sections 3.9, 3.11): a
// packet identifier, v5 properties, and one reason code per topic filter of
// the request, in its order. A v3.1.1 UNSUBACK has no reason codes. K selects
// the packet type; use it through its names Suback, Unsuback, SubackOf and
// UnsubackOf.
type ListAck[K listAckKind, ID packetid.ID] struct {
	PacketID ID
	Props    property.Properties
	Reasons  []ReasonCode
}

type listAckKind interface{ packetType() Type }

type (
	subackKind   struct{}
	unsubackKind struct{}
)

func (subackKind) packetType() Type   { return TypeSuback }
func (unsubackKind) packetType() Type { return TypeUnsuback }

// SUBACK and UNSUBACK with standard two-byte identifiers, and generic over
// the identifier type.
type (
	Suback                     = ListAck[subackKind, uint16]   // SUBACK: answer to SUBSCRIBE
	Unsuback                   = ListAck[unsubackKind, uint16] // UNSUBACK: answer to UNSUBSCRIBE
	SubackOf[ID packetid.ID]   = ListAck[subackKind, ID]
	UnsubackOf[ID packetid.ID] = ListAck[unsubackKind, ID]
)

var (
	errSubackCount = &Error{Code: ProtocolError, Statement: "MQTT-3.8.4-6", Statement311: "MQTT-3.8.4-5",
		Msg: "SUBACK takes one reason code per topic filter of its SUBSCRIBE"}
	errUnsubackCount = &Error{Code: ProtocolError, Statement: "MQTT-3.11.3-1",
		Msg: "UNSUBACK takes one reason code per topic filter of its UNSUBSCRIBE"}
)

// ackOf returns the SUBACK or UNSUBACK for a request with identifier id and
// n topic filters, in version v, from one v5 reason code per filter: see
// SubscribeOf.Ack and UnsubscribeOf.Ack.
func ackOf[K listAckKind, ID packetid.ID](id ID, n int, v Version, results []ReasonCode) (*ListAck[K, ID], error) {
	a := &ListAck[K, ID]{PacketID: id}
	t := a.Type()
	switch {
	case !v.Valid():
		return nil, errVersion
	case len(results) != n && t == TypeSuback:
		return nil, errSubackCount
	case len(results) != n:
		return nil, errUnsubackCount
	}
	for _, r := range results {
		if !ValidReason(t, V5, r) {
			return nil, reasonErr(t, V5)
		}
	}
	if !a.hasReasons(v) {
		return a, nil // a 3.1.1 UNSUBACK has no payload
	}
	a.Reasons = make([]ReasonCode, n)
	for i, r := range results {
		if v != V5 && r.IsError() {
			r = SubscribeFailure // the one 3.1.1 failure code
		}
		a.Reasons[i] = r
	}
	return a, nil
}

// emptyErr is the error for a packet without reason codes: one is due for
// every topic filter of the request.
func (p *ListAck[K, ID]) emptyErr() error {
	if p.Type() == TypeSuback {
		return errSubackEmpty
	}
	return errUnsubackEmpty
}

// Type returns TypeSuback or TypeUnsuback.
func (p *ListAck[K, ID]) Type() Type {
	var k K
	return k.packetType()
}

// hasReasons reports whether the packet carries reason codes in version v.
func (p *ListAck[K, ID]) hasReasons(v Version) bool {
	return v == V5 || p.Type() == TypeSuback
}

func (p *ListAck[K, ID]) bodySize(v Version, propsLen int) int {
	n := idSize[ID]() + len(p.Reasons)
	if v == V5 {
		n += varintSize(propsLen) + propsLen
	}
	return n
}

// Size returns the encoded size of p for version v.
func (p *ListAck[K, ID]) Size(v Version) int {
	return headerSize(p.bodySize(v, propsLenFor(v, &p.Props)))
}

// AppendTo appends the encoding of p for version v to dst.
func (p *ListAck[K, ID]) AppendTo(dst []byte, v Version) ([]byte, error) {
	t := p.Type()
	if p.PacketID == 0 {
		return dst, errZeroID
	}
	if !p.hasReasons(v) {
		if len(p.Reasons) != 0 {
			return dst, errReasonV311
		}
	} else if len(p.Reasons) == 0 {
		return dst, p.emptyErr()
	}
	for _, r := range p.Reasons {
		if !ValidReason(t, v, r) {
			return dst, reasonErr(t, v)
		}
	}
	pe, err := checkPropsFor(v, &p.Props, byte(t))
	if err != nil {
		return dst, err
	}
	n := p.bodySize(v, pe.n)
	if err := checkBody(n); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, t, 0, n)
	dst = appendID(dst, p.PacketID)
	if v == V5 {
		dst = appendProperties(dst, &p.Props, pe)
	}
	for _, r := range p.Reasons {
		dst = append(dst, byte(r))
	}
	return dst, nil
}

// Decode parses the packet's body, reusing the capacity of p.Reasons.
func (p *ListAck[K, ID]) Decode(v Version, flags byte, body []byte) error {
	t := p.Type()
	if err := checkFlags(t, flags); err != nil {
		return err
	}
	var err error
	off := 0
	if p.PacketID, off, err = readID[ID](body, off); err != nil {
		return err
	}
	if off, err = decodePropsFor(v, &p.Props, byte(t), body, off); err != nil {
		return err
	}
	p.Reasons = p.Reasons[:0]
	if !p.hasReasons(v) {
		return checkEnd(body, off)
	}
	if off == len(body) {
		return p.emptyErr()
	}
	for _, r := range body[off:] {
		if !ValidReason(t, v, ReasonCode(r)) {
			return reasonErr(t, v)
		}
		p.Reasons = append(p.Reasons, ReasonCode(r))
	}
	return nil
}

// Properties returns the packet's properties.
func (p *ListAck[K, ID]) Properties() *property.Properties { return &p.Props }
