package packet

import "github.com/mqttcore/mqtt/packetid"

// Decode decodes the whole packet at the front of b for version v into a
// newly allocated packet value. It returns the packet and the number of
// bytes it took; n == 0 with a nil error means b does not yet hold a whole
// packet. The packet aliases b. maxSize limits the packet's size as in Frame.
//
// A Decoder decodes without allocating.
func Decode[ID packetid.ID](v Version, b []byte, maxSize int) (p Packet, n int, err error) {
	h, need, err := FrameFor(b, maxSize, v)
	if err != nil || need > 0 {
		return nil, 0, err
	}
	p = New[ID](h.Type)
	if err := p.Decode(v, h.Flags, b[h.Len:h.Size()]); err != nil {
		return nil, 0, err
	}
	return p, h.Size(), nil
}

// New returns a new, empty packet of type t, or nil for type 0.
func New[ID packetid.ID](t Type) Packet {
	switch t {
	case TypeConnect:
		return new(Connect)
	case TypeConnack:
		return new(Connack)
	case TypePublish:
		return new(PublishOf[ID])
	case TypePuback:
		return new(PubackOf[ID])
	case TypePubrec:
		return new(PubrecOf[ID])
	case TypePubrel:
		return new(PubrelOf[ID])
	case TypePubcomp:
		return new(PubcompOf[ID])
	case TypeSubscribe:
		return new(SubscribeOf[ID])
	case TypeSuback:
		return new(SubackOf[ID])
	case TypeUnsubscribe:
		return new(UnsubscribeOf[ID])
	case TypeUnsuback:
		return new(UnsubackOf[ID])
	case TypePingreq:
		return new(Pingreq)
	case TypePingresp:
		return new(Pingresp)
	case TypeDisconnect:
		return new(Disconnect)
	case TypeAuth:
		return new(Auth)
	}
	return nil
}

// Decoder decodes a stream of packets without allocating in the steady
// state: it owns one value of each packet type and decodes into it, so the
// packet Decode returns is valid only until the next call to Decode, and it
// aliases the bytes it was decoded from.
//
// The zero Decoder decodes packets of any size with an undetermined
// version: it learns the version from the first CONNECT, as a server does.
type Decoder[ID packetid.ID] struct {
	// Version is the protocol version of the stream; 0 until a CONNECT sets it.
	Version Version
	// MaxSize is the largest packet accepted; 0 means MaxPacketSize.
	MaxSize int

	connect     Connect
	connack     Connack
	publish     PublishOf[ID]
	puback      PubackOf[ID]
	pubrec      PubrecOf[ID]
	pubrel      PubrelOf[ID]
	pubcomp     PubcompOf[ID]
	subscribe   SubscribeOf[ID]
	suback      SubackOf[ID]
	unsubscribe UnsubscribeOf[ID]
	unsuback    UnsubackOf[ID]
	pingreq     Pingreq
	pingresp    Pingresp
	disconnect  Disconnect
	auth        Auth
}

var errNoVersion = protocolErr("", "packet before CONNECT on a stream of unknown version")

// Decode decodes the packet at the front of b. It returns the packet and
// the number of bytes it took; n == 0 with a nil error means b does not yet
// hold a whole packet.
func (d *Decoder[ID]) Decode(b []byte) (p Packet, n int, err error) {
	// The hot path: a whole PUBLISH with a one-byte Remaining Length and
	// valid flags needs none of Frame's other cases.
	if len(b) >= 2 && b[0]>>4 == byte(TypePublish) && b[0]&0b0110 != 0b0110 && b[1] < 0x80 && d.Version != 0 {
		if n := 2 + int(b[1]); n <= len(b) && (d.MaxSize <= 0 || n <= d.MaxSize) {
			if err := d.publish.Decode(d.Version, b[0]&0x0F, b[2:n]); err != nil {
				return nil, 0, err
			}
			return &d.publish, n, nil
		}
	}
	h, need, err := FrameFor(b, d.MaxSize, d.Version)
	if err != nil || need > 0 {
		return nil, 0, err
	}
	if d.Version == 0 && h.Type != TypeConnect {
		return nil, 0, errNoVersion
	}
	body := b[h.Len:h.Size()]
	if h.Type == TypePublish { // the hot path: a direct call
		if err := d.publish.Decode(d.Version, h.Flags, body); err != nil {
			return nil, 0, err
		}
		return &d.publish, h.Size(), nil
	}
	p = d.packet(h.Type)
	if err := p.Decode(d.Version, h.Flags, body); err != nil {
		return nil, 0, err
	}
	if h.Type == TypeConnect && d.Version == 0 {
		d.Version = d.connect.Version
	}
	return p, h.Size(), nil
}

func (d *Decoder[ID]) packet(t Type) Packet {
	switch t {
	case TypeConnect:
		return &d.connect
	case TypeConnack:
		return &d.connack
	case TypePublish:
		return &d.publish
	case TypePuback:
		return &d.puback
	case TypePubrec:
		return &d.pubrec
	case TypePubrel:
		return &d.pubrel
	case TypePubcomp:
		return &d.pubcomp
	case TypeSubscribe:
		return &d.subscribe
	case TypeSuback:
		return &d.suback
	case TypeUnsubscribe:
		return &d.unsubscribe
	case TypeUnsuback:
		return &d.unsuback
	case TypePingreq:
		return &d.pingreq
	case TypePingresp:
		return &d.pingresp
	case TypeDisconnect:
		return &d.disconnect
	}
	return &d.auth
}
