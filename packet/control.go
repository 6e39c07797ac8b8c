package packet

import "github.com/mqttcore/mqtt/property"

// The packets without a packet identifier besides CONNECT, CONNACK and
// PUBLISH: PINGREQ and PINGRESP (empty), DISCONNECT and AUTH (a v5 reason
// code and properties, both optional on the wire).

// Pingreq is a PINGREQ packet (section 3.12).
type Pingreq struct{}

// Pingresp is a PINGRESP packet (section 3.13).
type Pingresp struct{}

var errNotEmpty = malformed("", "packet without a body has one")

// Type returns TypePingreq.
func (*Pingreq) Type() Type { return TypePingreq }

// Size returns 2.
func (*Pingreq) Size(Version) int { return 2 }

// AppendTo appends the two bytes of a PINGREQ.
func (*Pingreq) AppendTo(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(TypePingreq)<<4, 0), nil
}

// Decode checks that the body is empty.
func (*Pingreq) Decode(_ Version, flags byte, body []byte) error {
	return decodeEmpty(TypePingreq, flags, body)
}

// Type returns TypePingresp.
func (*Pingresp) Type() Type { return TypePingresp }

// Size returns 2.
func (*Pingresp) Size(Version) int { return 2 }

// AppendTo appends the two bytes of a PINGRESP.
func (*Pingresp) AppendTo(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(TypePingresp)<<4, 0), nil
}

// Decode checks that the body is empty.
func (*Pingresp) Decode(_ Version, flags byte, body []byte) error {
	return decodeEmpty(TypePingresp, flags, body)
}

func decodeEmpty(t Type, flags byte, body []byte) error {
	if err := checkFlags(t, flags); err != nil {
		return err
	}
	if len(body) != 0 {
		return errNotEmpty
	}
	return nil
}

// Disconnect is a DISCONNECT packet (section 3.14). In v3.1.1 it is empty.
type Disconnect struct {
	Reason ReasonCode // v5 only
	Props  property.Properties
}

// Auth is an AUTH packet (section 3.15), v5 only: a step of enhanced
// authentication.
type Auth struct {
	Reason ReasonCode
	Props  property.Properties
}

var errAuthEncodeV311 = &Error{Code: ProtocolError, Msg: "AUTH does not exist in MQTT 3.1.1"}

// Type returns TypeDisconnect.
func (d *Disconnect) Type() Type { return TypeDisconnect }

// Size returns the encoded size of d for version v.
func (d *Disconnect) Size(v Version) int { return reasonOnlySize(v, d.Reason, &d.Props) }

// AppendTo appends the encoding of d for version v to dst, in its shortest form.
func (d *Disconnect) AppendTo(dst []byte, v Version) ([]byte, error) {
	return appendReasonOnly(dst, TypeDisconnect, v, d.Reason, &d.Props)
}

// Decode parses a DISCONNECT body.
func (d *Disconnect) Decode(v Version, flags byte, body []byte) error {
	return decodeReasonOnly(TypeDisconnect, v, flags, body, &d.Reason, &d.Props)
}

// Type returns TypeAuth.
func (a *Auth) Type() Type { return TypeAuth }

// Size returns the encoded size of a for version v.
func (a *Auth) Size(v Version) int { return reasonOnlySize(v, a.Reason, &a.Props) }

// AppendTo appends the encoding of a to dst, in its shortest form. AUTH
// exists only in v5.
func (a *Auth) AppendTo(dst []byte, v Version) ([]byte, error) {
	if v != V5 {
		return dst, errAuthEncodeV311
	}
	return appendReasonOnly(dst, TypeAuth, v, a.Reason, &a.Props)
}

// Decode parses an AUTH body.
func (a *Auth) Decode(v Version, flags byte, body []byte) error {
	if v != V5 {
		return errAuthV311
	}
	return decodeReasonOnly(TypeAuth, v, flags, body, &a.Reason, &a.Props)
}

func reasonOnlySize(v Version, r ReasonCode, p *property.Properties) int {
	return headerSize(reasonTailSize(v, r, propsLenFor(v, p)))
}

func appendReasonOnly(dst []byte, t Type, v Version, r ReasonCode, p *property.Properties) ([]byte, error) {
	if err := checkReason(t, v, r); err != nil {
		return dst, err
	}
	pe, err := checkPropsFor(v, p, byte(t))
	if err != nil {
		return dst, err
	}
	n := reasonTailSize(v, r, pe.n)
	if err := checkBody(n); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, t, 0, n)
	return appendReasonTail(dst, v, r, p, pe), nil
}

func decodeReasonOnly(t Type, v Version, flags byte, body []byte, r *ReasonCode, p *property.Properties) error {
	if err := checkFlags(t, flags); err != nil {
		return err
	}
	*r = 0
	p.Reset()
	if v != V5 || len(body) == 0 {
		return checkEnd(body, 0)
	}
	return decodeReasonAndProps(t, v, r, p, body, 0)
}
