package packet

import (
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// Ack is the shared shape of PUBACK, PUBREC, PUBREL and PUBCOMP (sections
// 3.4–3.7): a packet identifier, then in v5 a Reason Code and properties,
// both omitted on the wire when the code is 0 and there are no properties.
// K selects the packet type. Use it through its names: Puback, Pubrec,
// Pubrel, Pubcomp, and PubackOf and so on for a chosen identifier type.
// In MQTT 3.1 a re-sent PUBREL may set DUP in its fixed header: decoding
// accepts it in 3.1 only, and does not keep it.
type Ack[K ackKind, ID packetid.ID] struct {
	PacketID ID
	Reason   ReasonCode // v5 only; 0 in v3.1.1
	Props    property.Properties
}

// ackKind selects the packet type of an Ack.
type ackKind interface{ packetType() Type }

type (
	pubackKind  struct{}
	pubrecKind  struct{}
	pubrelKind  struct{}
	pubcompKind struct{}
)

func (pubackKind) packetType() Type  { return TypePuback }
func (pubrecKind) packetType() Type  { return TypePubrec }
func (pubrelKind) packetType() Type  { return TypePubrel }
func (pubcompKind) packetType() Type { return TypePubcomp }

// The four acknowledgements, with standard two-byte packet identifiers and
// generic over the identifier type.
type (
	Puback                    = Ack[pubackKind, uint16]  // PUBACK: acknowledges a QoS 1 PUBLISH
	Pubrec                    = Ack[pubrecKind, uint16]  // PUBREC: first answer to a QoS 2 PUBLISH
	Pubrel                    = Ack[pubrelKind, uint16]  // PUBREL: answer to a PUBREC
	Pubcomp                   = Ack[pubcompKind, uint16] // PUBCOMP: last step of QoS 2
	PubackOf[ID packetid.ID]  = Ack[pubackKind, ID]
	PubrecOf[ID packetid.ID]  = Ack[pubrecKind, ID]
	PubrelOf[ID packetid.ID]  = Ack[pubrelKind, ID]
	PubcompOf[ID packetid.ID] = Ack[pubcompKind, ID]
)

// Type returns the packet type: TypePuback, TypePubrec, TypePubrel or TypePubcomp.
func (p *Ack[K, ID]) Type() Type {
	var k K
	return k.packetType()
}

func (p *Ack[K, ID]) bodySize(v Version, propsLen int) int {
	return idSize[ID]() + reasonTailSize(v, p.Reason, propsLen)
}

// Size returns the encoded size of p for version v.
func (p *Ack[K, ID]) Size(v Version) int {
	return headerSize(p.bodySize(v, propsLenFor(v, &p.Props)))
}

// AppendTo appends the encoding of p for version v to dst, in its shortest
// form.
func (p *Ack[K, ID]) AppendTo(dst []byte, v Version) ([]byte, error) {
	t := p.Type()
	if p.PacketID == 0 {
		return dst, errZeroID
	}
	if err := checkReason(t, v, p.Reason); err != nil {
		return dst, err
	}
	return p.appendChecked(dst, t, v)
}

func (p *Ack[K, ID]) appendChecked(dst []byte, t Type, v Version) ([]byte, error) {
	pe, err := checkPropsFor(v, &p.Props, byte(t))
	if err != nil {
		return dst, err
	}
	n := p.bodySize(v, pe.n)
	if err := checkBody(n); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, t, t.fixedFlags(), n)
	dst = appendID(dst, p.PacketID)
	return appendReasonTail(dst, v, p.Reason, &p.Props, pe), nil
}

// Decode parses the packet's body.
func (p *Ack[K, ID]) Decode(v Version, flags byte, body []byte) error {
	t := p.Type()
	if err := checkFlagsFor(t, flags, v); err != nil {
		return err
	}
	var err error
	off := 0
	if p.PacketID, off, err = readID[ID](body, off); err != nil {
		return err
	}
	p.Reason = 0
	p.Props.Reset()
	if v != V5 || off == len(body) {
		return checkEnd(body, off)
	}
	return decodeReasonAndProps(t, v, &p.Reason, &p.Props, body, off)
}

var errReasonV311 = malformed("", "reason code in an MQTT 3.1.1 packet that has none")

// checkReason refuses to encode a reason code the packet cannot carry; in
// v3.1.1 only packets with return codes may carry a non-zero one.
func checkReason(t Type, v Version, r ReasonCode) error {
	if r == 0 { // Success (Granted QoS 0, Accepted): valid in every packet with a reason code
		return nil
	}
	if v != V5 && reasonsFor(t, v) == nil {
		return errReasonV311
	}
	if !ValidReason(t, v, r) {
		return reasonErr(t, v)
	}
	return nil
}

// reasonTailSize returns the size of the optional tail shared by the v5
// acks, DISCONNECT and AUTH: a Reason Code and properties, both left out
// when the code is 0 and there are no properties, the properties left out
// when there are none. Before v5 the tail does not exist.
func reasonTailSize(v Version, r ReasonCode, propsLen int) int {
	switch {
	case v != V5:
		return 0
	case propsLen > 0:
		return 1 + varintSize(propsLen) + propsLen
	case r != 0:
		return 1
	}
	return 0
}

// appendReasonTail appends the tail sized by reasonTailSize.
func appendReasonTail(dst []byte, v Version, r ReasonCode, p *property.Properties, pe propsEnc) []byte {
	if reasonTailSize(v, r, pe.n) == 0 {
		return dst
	}
	dst = append(dst, byte(r))
	if pe.n > 0 {
		dst = appendProperties(dst, p, pe)
	}
	return dst
}

// decodeReasonAndProps reads the optional tail shared by the v5 acks,
// DISCONNECT and AUTH: a Reason Code, then properties if bytes remain.
func decodeReasonAndProps(t Type, v Version, r *ReasonCode, p *property.Properties, body []byte, off int) error {
	*r = ReasonCode(body[off])
	off++
	if !ValidReason(t, v, *r) {
		return reasonErr(t, v)
	}
	if off == len(body) {
		return nil
	}
	off, err := decodeProperties(p, byte(t), body, off)
	if err != nil {
		return err
	}
	return checkEnd(body, off)
}

// checkEnd rejects bytes after the last field.
func checkEnd(body []byte, off int) error {
	if off != len(body) {
		return errTrailing
	}
	return nil
}

// Properties returns the packet's properties.
func (p *Ack[K, ID]) Properties() *property.Properties { return &p.Props }

// AppendAck appends a PUBACK, PUBREC, PUBREL or PUBCOMP (t) for packet
// identifier id with reason code r and no properties, in its shortest form.
// It is the fast path for the acknowledgements a protocol engine sends on
// its own: the same bytes as an Ack with empty properties, without looking
// at properties at all.
func AppendAck[ID packetid.ID](dst []byte, t Type, v Version, id ID, r ReasonCode) ([]byte, error) {
	if t < TypePuback || t > TypePubcomp {
		return dst, errNotAck
	}
	if id == 0 {
		return dst, errZeroID
	}
	if err := checkReason(t, v, r); err != nil {
		return dst, err
	}
	n := idSize[ID]() + reasonTailSize(v, r, 0)
	dst = appendID(appendHeader(dst, t, t.fixedFlags(), n), id)
	if n > idSize[ID]() {
		dst = append(dst, byte(r))
	}
	return dst, nil
}

var errNotAck = &Error{Code: ProtocolError, Msg: "AppendAck of a packet type that is not PUBACK, PUBREC, PUBREL or PUBCOMP"}
