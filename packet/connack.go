package packet

import "github.com/mqttcore/mqtt/property"

// Connack is a CONNACK packet (section 3.2): the server's answer to CONNECT.
// In v3.1.1, Reason holds the CONNACK return code (ConnectionAccepted,
// RefusedNotAuthorized, ...).
type Connack struct {
	SessionPresent bool
	Reason         ReasonCode
	Props          property.Properties // v5 only
}

var (
	errConnackFlags   = malformed("MQTT-3.2.2-1", "reserved CONNACK flags set")
	errConnackSession = protocolErr("MQTT-3.2.2-6", "session present with a non-zero reason code")
)

// Type returns TypeConnack.
func (c *Connack) Type() Type { return TypeConnack }

func (c *Connack) bodySize(v Version, propsLen int) int {
	if v != V5 {
		return 2
	}
	return 2 + varintSize(propsLen) + propsLen
}

// Size returns the encoded size of c for version v.
func (c *Connack) Size(v Version) int { return headerSize(c.bodySize(v, propsLenFor(v, &c.Props))) }

// AppendTo appends the encoding of c for version v to dst.
func (c *Connack) AppendTo(dst []byte, v Version) ([]byte, error) {
	if err := checkReason(TypeConnack, v, c.Reason); err != nil {
		return dst, err
	}
	if c.SessionPresent && c.Reason != 0 {
		return dst, errConnackSession
	}
	pe, err := checkPropsFor(v, &c.Props, byte(TypeConnack))
	if err != nil {
		return dst, err
	}
	n := c.bodySize(v, pe.n)
	if err := checkBody(n); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, TypeConnack, 0, n)
	var flags byte
	if c.SessionPresent {
		flags = 1
	}
	dst = append(dst, flags, byte(c.Reason))
	if v == V5 {
		dst = appendProperties(dst, &c.Props, pe)
	}
	return dst, nil
}

// Decode parses a CONNACK body.
func (c *Connack) Decode(v Version, flags byte, body []byte) error {
	if err := checkFlags(TypeConnack, flags); err != nil {
		return err
	}
	f, off, err := readByte(body, 0)
	if err != nil {
		return err
	}
	if f&^1 != 0 {
		return errConnackFlags
	}
	var r byte
	if r, off, err = readByte(body, off); err != nil {
		return err
	}
	c.SessionPresent, c.Reason = f == 1, ReasonCode(r)
	if !ValidReason(TypeConnack, v, c.Reason) {
		return reasonErr(TypeConnack, v)
	}
	if c.SessionPresent && c.Reason != 0 {
		return errConnackSession
	}
	if off, err = decodePropsFor(v, &c.Props, byte(TypeConnack), body, off); err != nil {
		return err
	}
	return checkEnd(body, off)
}
