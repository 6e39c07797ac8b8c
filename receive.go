package mqtt

import (
	"errors"

	"github.com/mqttcore/mqtt/packet"
)

// The receive path: bytes from the transport framed into packets, each
// decoded and handed to the handler of its type.

// Recv consumes a chunk of bytes from the transport: every complete packet
// in it is handled, and a partial packet at its end is kept for the next
// call. Any split of a byte stream into chunks gives the same events. The
// packets handed to the handler alias chunk: the caller may reuse chunk
// once Recv has returned.
//
// The packet values of the events are reused from call to call: a
// Connection keeps as many of each type as the last call that received
// that type needed (at least 64, at most 256), so that a steady flow of
// chunks allocates nothing. Recv(nil) lets go of them all, and of every
// buffer, when no partial packet waits: call it when a connection goes
// quiet (an idle Connection then holds a few hundred bytes).
//
// A server that has received CONNECT handles nothing but AUTH and
// DISCONNECT until it has sent CONNACK: it holds the bytes after them (up
// to its maximum packet size plus 64 KiB) and handles them in the Send call
// that sends a successful CONNACK.
func (c *Connection[ID]) Recv(chunk []byte) {
	if c.cfg.Trace != nil {
		c.traceCall(Input{Kind: InputRecv, Bytes: chunk})
	}
	first := c.enter()
	if len(chunk) == 0 {
		c.idle = true
	}
	if !c.closing {
		c.consume(chunk)
	}
	c.leave(first)
}

// consume handles the held bytes followed by chunk.
func (c *Connection[ID]) consume(chunk []byte) {
	held := c.bufs[c.cur]
	off := 0
	for off < len(held) {
		h, need, err := packet.FrameFor(held[off:], int(c.maxIn), c.version)
		if err != nil {
			if h, need, err = c.reframe(held[off:], err); err != nil {
				c.fail(c.frameError(err))
				return
			}
		}
		if need > 0 {
			if len(chunk) == 0 {
				c.keep(held[off:], nil)
				return
			}
			take := min(need, len(chunk))
			held, chunk = append(held, chunk[:take]...), chunk[take:]
			continue
		}
		if c.mustHold(h.Type) {
			c.keep(held[off:], chunk)
			return
		}
		c.pinned |= 1 << c.cur
		c.handle(h, held[off+h.Len:off+h.Size()])
		off += h.Size()
		if c.closing {
			return
		}
	}
	c.bufs[c.cur] = held[:0]
	for len(chunk) > 0 {
		h, need, err := packet.FrameFor(chunk, int(c.maxIn), c.version)
		if err != nil {
			if h, need, err = c.reframe(chunk, err); err != nil {
				c.fail(c.frameError(err))
				return
			}
		}
		if need > 0 || c.mustHold(h.Type) {
			c.keep(nil, chunk)
			return
		}
		c.handle(h, chunk[h.Len:h.Size()])
		chunk = chunk[h.Size():]
		if c.closing {
			return
		}
	}
}

// reframe answers a framing error: a server's first packet that is a
// CONNECT with invalid fixed-header flags is framed all the same, so that
// its version can be read and a v5 client told why with CONNACK 0x81
// (MQTT-3.1.4-1); the decoder refuses the flags. Other errors stand.
func (c *Connection[ID]) reframe(b []byte, err error) (packet.Header, int, error) {
	if c.role != RoleServer || c.state != StateDisconnected || packet.Type(b[0]>>4) != packet.TypeConnect {
		return packet.Header{}, 0, err
	}
	var hdr [5]byte // the fixed header, at most 5 bytes, with the flags cleared
	n := copy(hdr[:], b)
	hdr[0] &= 0xF0
	h, need, err := packet.Frame(hdr[:n], int(c.maxIn))
	if err == nil && h.Len > 0 {
		h.Flags = b[0] & 0x0F
		need = max(h.Size()-len(b), 0)
	}
	return h, need, err
}

// holdExtra bounds the bytes a server holds while it decides on a CONNECT.
const holdExtra = 64 << 10

var errHoldOverflow = &PeerError{Code: packet.QuotaExceeded,
	Msg: "client sent too much before its CONNECT was answered"}

// mustHold reports whether a packet of type t waits for the server's CONNACK.
func (c *Connection[ID]) mustHold(t packet.Type) bool {
	return c.role == RoleServer && c.state == StateConnecting &&
		t != packet.TypeAuth && t != packet.TypeDisconnect
}

// keep stores a, then b, as the bytes to handle next. a is nil or the
// unhandled rest of the held bytes. Packets of this dispatch may alias the
// held buffer; then the bytes move to the other buffer, or to a new one
// when packets alias both (a Recv nested in the dispatch of another).
func (c *Connection[ID]) keep(a, b []byte) {
	if len(a)+len(b) > int(c.maxIn)+holdExtra {
		c.fail(errHoldOverflow)
		return
	}
	if c.pinned&(1<<c.cur) != 0 {
		c.cur = 1 - c.cur
		if c.pinned&(1<<c.cur) != 0 {
			c.bufs[c.cur], c.pinned = nil, c.pinned&^(1<<c.cur)
		}
		c.bufs[c.cur] = append(append(c.bufs[c.cur][:0], a...), b...)
		return
	}
	if a == nil {
		a = c.bufs[c.cur][:0]
	}
	c.bufs[c.cur] = append(a, b...) // nothing handled from a: it starts its buffer
}

// frameError maps a framing error to the error reported for it.
func (c *Connection[ID]) frameError(err error) error {
	if !errors.Is(err, packet.ErrPacketTooLarge) {
		return err
	}
	if c.role == RoleServer {
		return errTooLargeFromClient
	}
	return errTooLargeFromServer
}

// handle decodes one whole packet and acts on it.
func (c *Connection[ID]) handle(h packet.Header, body []byte) {
	c.didRecv = true
	if sentBy[h.Type]&(1<<c.peerRole()) == 0 {
		c.fail(errWrongSender)
		return
	}
	if c.role == RoleServer && c.state == StateDisconnected && h.Type != packet.TypeConnect {
		c.fail(errFirstNotConnect)
		return
	}
	if c.version == 0 { // a server learning the version from CONNECT
		v, err := packet.ProtocolVersion(body)
		if err != nil {
			c.refuseConnect(err)
			return
		}
		c.version = v
	}
	p := c.received.get(h.Type)
	if err := p.Decode(c.version, h.Flags, body); err != nil {
		if h.Type == packet.TypeConnect && c.state == StateDisconnected && c.role == RoleServer {
			if v, verr := packet.ProtocolVersion(body); verr == nil {
				c.version = v // answer in the client's version, or not at all before v5
			}
			c.refuseConnect(err)
		} else {
			c.fail(err)
		}
		return
	}
	if c.problemInfoViolation(p) {
		c.fail(errProblemInfo)
		return
	}
	switch p := p.(type) {
	case *packet.Connect:
		c.recvConnect(p)
	case *packet.Connack:
		c.recvConnack(p)
	case *packet.PublishOf[ID]:
		c.recvPublish(p)
	case *packet.PubackOf[ID]:
		c.recvPuback(p)
	case *packet.PubrecOf[ID]:
		c.recvPubrec(p)
	case *packet.PubrelOf[ID]:
		c.recvPubrel(p)
	case *packet.PubcompOf[ID]:
		c.recvPubcomp(p)
	case *packet.SubscribeOf[ID], *packet.UnsubscribeOf[ID]:
		c.recvRequest(p)
	case *packet.SubackOf[ID]:
		c.recvListAck(p, p.PacketID, awaitSuback)
	case *packet.UnsubackOf[ID]:
		c.recvListAck(p, p.PacketID, awaitUnsuback)
	case *packet.Pingreq:
		c.recvPingreq(p)
	case *packet.Pingresp:
		c.recvPingresp(p)
	case *packet.Disconnect:
		c.recvDisconnect(p)
	case *packet.Auth:
		c.recvAuth(p)
	}
}
