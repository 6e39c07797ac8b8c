package packet

import "github.com/mqttcore/mqtt/property"

// Connect is a CONNECT packet (section 3.1), the first packet a client sends.
// Its strings and byte slices alias the decoded bytes after Decode; Clone
// makes an independent copy.
type Connect struct {
	// Version is the protocol version the client asks for. Decode sets it
	// from the Protocol Level; AppendTo writes the name and level of its
	// version argument and ignores this field.
	Version    Version
	CleanStart bool   // Clean Session in 3.1.1
	KeepAlive  uint16 // seconds; 0 turns keep-alive off
	ClientID   string
	Will       Will // present when Will.Topic is non-empty

	// Username is sent when it is non-empty or EmptyUsername is set;
	// decoding sets EmptyUsername only for a user name present and empty.
	Username      string
	EmptyUsername bool
	Password      []byte // nil: no password; decoding gives nil for none
	Props         property.Properties
}

// Will is the will message of a CONNECT: published by the server when the
// connection ends without a normal DISCONNECT.
type Will struct {
	Topic   string
	QoS     QoS
	Retain  bool
	Payload []byte
	Props   property.Properties // v5 Will Properties
}

// HasUsername reports whether c carries a User Name field.
func (c *Connect) HasUsername() bool { return c.Username != "" || c.EmptyUsername }

// HasWill reports whether c carries a will message.
func (c *Connect) HasWill() bool { return c.Will.Topic != "" }

const (
	flagReserved   = 0x01
	flagCleanStart = 0x02
	flagWill       = 0x04
	flagWillRetain = 0x20
	flagPassword   = 0x40
	flagUsername   = 0x80
)

var (
	errConnectName     = malformed("MQTT-3.1.2-1", "protocol name is not MQTT")
	errConnectReserved = malformed("MQTT-3.1.2-3", "reserved CONNECT flag set")
	errWillFlags       = malformed("MQTT-3.1.2-11", "will QoS or will retain set without the will flag")
	errWillQoS         = malformed("MQTT-3.1.2-14", "will QoS 3")
	errPasswordNoUser  = malformed311("MQTT-3.1.2-22", "password without user name in MQTT 3.1.1")
	errWillEmpty       = malformed("", "will without a topic")
)

// Type returns TypeConnect.
func (c *Connect) Type() Type { return TypeConnect }

func protocolName(v Version) string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

func (c *Connect) flags() byte {
	var f byte
	if c.CleanStart {
		f |= flagCleanStart
	}
	if c.HasWill() {
		f |= flagWill | byte(c.Will.QoS)<<3
		if c.Will.Retain {
			f |= flagWillRetain
		}
	}
	if c.Password != nil {
		f |= flagPassword
	}
	if c.HasUsername() {
		f |= flagUsername
	}
	return f
}

func (c *Connect) bodySize(v Version, propsLen, willPropsLen int) int {
	n := 2 + len(protocolName(v)) + 1 + 1 + 2 + 2 + len(c.ClientID)
	if v == V5 {
		n += varintSize(propsLen) + propsLen
	}
	if c.HasWill() {
		if v == V5 {
			n += varintSize(willPropsLen) + willPropsLen
		}
		n += 2 + len(c.Will.Topic) + 2 + len(c.Will.Payload)
	}
	if c.HasUsername() {
		n += 2 + len(c.Username)
	}
	if c.Password != nil {
		n += 2 + len(c.Password)
	}
	return n
}

// Size returns the encoded size of c for version v.
func (c *Connect) Size(v Version) int {
	return headerSize(c.bodySize(v, propsLenFor(v, &c.Props), propsLenFor(v, &c.Will.Props)))
}

func (c *Connect) check(v Version) (props, will propsEnc, err error) {
	if !v.Valid() {
		return props, will, errVersion
	}
	if err := checkString(c.ClientID); err != nil {
		return props, will, err
	}
	if c.HasWill() {
		if c.Will.QoS > QoS2 {
			return props, will, errWillQoS
		}
		if err := ValidTopicName(c.Will.Topic); err != nil {
			return props, will, err
		}
		if len(c.Will.Payload) > 0xFFFF {
			return props, will, errStringTooLong
		}
		if will, err = checkPropsFor(v, &c.Will.Props, property.Will); err != nil {
			return props, will, err
		}
	} else if c.Will.QoS != 0 || c.Will.Retain || c.Will.Payload != nil || !c.Will.Props.IsEmpty() {
		return props, will, errWillEmpty
	}
	if err := checkString(c.Username); err != nil {
		return props, will, err
	}
	if len(c.Password) > 0xFFFF {
		return props, will, errStringTooLong
	}
	if v != V5 && c.Password != nil && !c.HasUsername() {
		return props, will, errPasswordNoUser
	}
	props, err = checkPropsFor(v, &c.Props, byte(TypeConnect))
	return props, will, err
}

// AppendTo appends the encoding of c for version v to dst.
func (c *Connect) AppendTo(dst []byte, v Version) ([]byte, error) {
	pe, we, err := c.check(v)
	if err != nil {
		return dst, err
	}
	n := c.bodySize(v, pe.n, we.n)
	if err := checkBody(n); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, TypeConnect, 0, n)
	dst = appendString(dst, protocolName(v))
	dst = append(dst, byte(v), c.flags())
	dst = appendUint16(dst, c.KeepAlive)
	if v == V5 {
		dst = appendProperties(dst, &c.Props, pe)
	}
	dst = appendString(dst, c.ClientID)
	if c.HasWill() {
		if v == V5 {
			dst = appendProperties(dst, &c.Will.Props, we)
		}
		dst = appendString(dst, c.Will.Topic)
		dst = appendBinary(dst, c.Will.Payload)
	}
	if c.HasUsername() {
		dst = appendString(dst, c.Username)
	}
	if c.Password != nil {
		dst = appendBinary(dst, c.Password)
	}
	return dst, nil
}

// ProtocolVersion reads the protocol version from the body of a CONNECT
// without decoding the rest, for a server that learns the version from the
// client's first packet.
func ProtocolVersion(body []byte) (Version, error) {
	name, off, err := readString(body, 0)
	if err != nil {
		return 0, err
	}
	level, _, err := readByte(body, off)
	if err != nil {
		return 0, err
	}
	switch v := Version(level); {
	case name == "MQTT" && (v == V311 || v == V5), name == "MQIsdp" && v == V31:
		return v, nil
	case name == "MQTT" || name == "MQIsdp":
		return 0, errVersion
	}
	return 0, errConnectName
}

// Decode parses a CONNECT body. The version argument is not used: the
// packet names its own version, which Decode stores in c.Version.
func (c *Connect) Decode(_ Version, flags byte, body []byte) error {
	if err := checkFlags(TypeConnect, flags); err != nil {
		return err
	}
	v, err := ProtocolVersion(body)
	if err != nil {
		return err
	}
	off := 2 + len(protocolName(v)) + 1
	var f byte
	if f, off, err = readByte(body, off); err != nil {
		return err
	}
	if err := checkConnectFlags(v, f); err != nil {
		return err
	}
	*c = Connect{Version: v, CleanStart: f&flagCleanStart != 0,
		Props: c.Props, Will: Will{Props: c.Will.Props}}
	if c.KeepAlive, off, err = readUint16(body, off); err != nil {
		return err
	}
	if off, err = decodePropsFor(v, &c.Props, byte(TypeConnect), body, off); err != nil {
		return err
	}
	if c.ClientID, off, err = readString(body, off); err != nil {
		return err
	}
	if f&flagWill != 0 {
		if off, err = c.Will.decode(v, f, body, off); err != nil {
			return err
		}
	} else {
		c.Will.Props.Reset()
	}
	if f&flagUsername != 0 {
		if c.Username, off, err = readString(body, off); err != nil {
			return err
		}
		c.EmptyUsername = c.Username == ""
	}
	if f&flagPassword != 0 {
		if c.Password, off, err = readBinary(body, off); err != nil {
			return err
		}
	}
	return checkEnd(body, off)
}

func (w *Will) decode(v Version, f byte, body []byte, off int) (int, error) {
	var err error
	w.QoS, w.Retain = QoS(f>>3&3), f&flagWillRetain != 0
	if off, err = decodePropsFor(v, &w.Props, property.Will, body, off); err != nil {
		return off, err
	}
	if w.Topic, off, err = readString(body, off); err != nil {
		return off, err
	}
	if err := ValidTopicName(w.Topic); err != nil {
		return off, err
	}
	if w.Payload, off, err = readBinary(body, off); err != nil {
		return off, err
	}
	if len(w.Payload) == 0 {
		w.Payload = nil
	}
	return off, nil
}

// checkConnectFlags applies the rules of section 3.1.2.3 to the Connect Flags.
func checkConnectFlags(v Version, f byte) error {
	switch {
	case f&flagReserved != 0:
		return errConnectReserved
	case f&flagWill == 0 && f&(0x18|flagWillRetain) != 0:
		return errWillFlags
	case f>>3&3 == 3:
		return errWillQoS
	case v != V5 && f&flagPassword != 0 && f&flagUsername == 0:
		return errPasswordNoUser
	}
	return nil
}

// Clone returns a deep copy of c that does not alias decoded bytes.
func (c *Connect) Clone() *Connect {
	d := *c
	d.ClientID = cloneString(c.ClientID)
	d.Username = cloneString(c.Username)
	d.Password = cloneBytes(c.Password)
	d.Props = c.Props.Clone()
	d.Will.Topic = cloneString(c.Will.Topic)
	d.Will.Payload = cloneBytes(c.Will.Payload)
	d.Will.Props = c.Will.Props.Clone()
	return &d
}
