package mqtt

import (
	"errors"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"github.com/mqttcore/mqtt/topicalias"
)

// Role is the side of the connection a Connection plays.
type Role uint8

// The two roles.
const (
	RoleClient Role = iota + 1
	RoleServer
)

// State is where a Connection is in the life of a network connection.
type State uint8

// The states. A Connection starts Disconnected; a client moves to
// Connecting when it sends CONNECT, a server when it receives one; both are
// Connected once a successful CONNACK has passed, and Disconnected again
// after EventClose or Closed.
const (
	StateDisconnected State = iota
	StateConnecting
	StateConnected
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	}
	return "disconnected"
}

// Connection is the MQTT protocol state of one side of a connection. It
// does no I/O, starts no goroutine and reads no clock: the caller feeds it
// bytes from the transport (Recv), packets to send (Send), timer firings
// (TimerFired) and the transport's end (Closed), and carries out the
// events each call returns.
//
// A Connection is not safe for concurrent use.
type Connection[ID packetid.ID] struct {
	role    Role
	cfg     Config
	version packet.Version
	state   State
	closing bool // EventClose was returned; input is ignored until Closed

	// Receiving: a partial packet waits in one of two buffers. Packets
	// decoded in a call alias the chunk or the buffer they came from, so the
	// tail of a chunk goes to the buffer no packet of this call uses.
	bufs     [2][]byte
	cur      int
	usedBuf  bool // bufs[cur] holds a packet delivered in this call
	received pools[ID]
	aliasIn  topicalias.Receiver

	// Output of the current call.
	events []Event[ID]
	out    []byte
	sent   pools[ID] // automatic packets sent in this call
	didSend,
	didRecv bool

	// Packet identifiers and the exchanges awaiting them.
	ids        packetid.Allocator[ID]
	outbound   packetid.Map[ID, exchange] // our PUBLISH, SUBSCRIBE, UNSUBSCRIBE awaiting the peer
	inbound    packetid.Map[ID, exchange] // the peer's PUBLISH, SUBSCRIBE, UNSUBSCRIBE awaiting our answer
	inflightIn int                        // inbound exchanges counting toward our Receive Maximum

	// The session (session.go).
	sess   session
	stored packetid.Map[ID, message] // encodings of our PUBLISH packets in outbound, when the session persists
	queue  []message                 // PUBLISH packets not yet sent: no quota, or offline

	// Limits negotiated at CONNECT / CONNACK.
	keepAlive       time.Duration // client: ping interval; server: the client's Keep Alive
	pingTimeout     time.Duration
	recvMax         int // ours: unacknowledged QoS 1/2 PUBLISH we accept
	sendQuota       int // the peer's Receive Maximum less our unacknowledged QoS 1/2 PUBLISH
	maxIn           int // largest packet accepted
	maxOut          int // largest packet the peer accepts
	aliasOut        topicalias.Sender
	caps            capabilities // what the server announced in CONNACK (capabilities.go)
	problemInfo     bool         // the client did not ask for Request Problem Information 0
	cleanStart      bool         // the CONNECT of this network connection asked for a new session
	began           bool         // a CONNECT was sent or received on this network connection
	pingOutstanding bool
	emptyClientID   bool         // server: the CONNECT had an empty Client Identifier
	auth            auth         // enhanced authentication (auth.go)
	responseInfo    bool         // server: the client asked for Response Information
	will            capabilities // server: what the client's will needs
}

// exchange is the step a packet identifier's exchange is at.
type exchange uint8

// Our exchanges (outbound) and the peer's (inbound).
const (
	awaitPuback   exchange = iota + 1 // we sent QoS 1 PUBLISH
	awaitPubrec                       // we sent QoS 2 PUBLISH
	owePubrel                         // the peer sent PUBREC, we have not sent PUBREL
	awaitPubcomp                      // we sent PUBREL
	awaitSuback                       // we sent SUBSCRIBE
	awaitUnsuback                     // we sent UNSUBSCRIBE
	owePuback                         // the peer sent QoS 1 PUBLISH, we have not acknowledged it
	owePubrec                         // the peer sent QoS 2 PUBLISH, we have not sent PUBREC
	awaitPubrel                       // we sent PUBREC
	owePubcomp                        // the peer sent PUBREL, we have not sent PUBCOMP
	oweSuback                         // the peer sent SUBSCRIBE
	oweUnsuback                       // the peer sent UNSUBSCRIBE
)

// counted marks an inbound PUBLISH exchange that counts toward our Receive
// Maximum on this network connection. Exchanges resumed from an earlier
// connection do not: the peer re-sends them under its own new quota.
const counted exchange = 0x80

// step returns the exchange's step without the counted mark.
func (x exchange) step() exchange { return x &^ counted }

// inStep returns the step of the peer's exchange id (0 for none).
func (c *Connection[ID]) inStep(id ID) exchange { return c.inbound.Value(id).step() }

// NewClient returns a Connection for the client side.
func NewClient[ID packetid.ID](cfg Config) *Connection[ID] { return newConnection[ID](RoleClient, cfg) }

// NewServer returns a Connection for the server side of one client's
// connection.
func NewServer[ID packetid.ID](cfg Config) *Connection[ID] { return newConnection[ID](RoleServer, cfg) }

func newConnection[ID packetid.ID](r Role, cfg Config) *Connection[ID] {
	c := &Connection[ID]{role: r, cfg: cfg}
	c.reset()
	c.sess.version = c.version
	return c
}

// reset prepares for a new network connection; the session state stays.
func (c *Connection[ID]) reset() {
	c.version = c.cfg.version(c.role)
	c.state, c.closing, c.began = StateDisconnected, false, false
	c.bufs[c.cur] = c.bufs[c.cur][:0]
	c.keepAlive, c.pingTimeout, c.pingOutstanding = 0, 0, false
	c.recvMax, c.sendQuota = 65535, 65535
	c.maxIn, c.maxOut = c.capIn(0), packet.MaxPacketSize
	c.aliasIn, c.aliasOut = topicalias.Receiver{}, topicalias.Sender{}
	c.caps, c.problemInfo = capabilities{maxQoS: packet.QoS2}, true
}

// capIn returns the incoming packet size limit given the Maximum Packet
// Size this side announced (0 for none).
func (c *Connection[ID]) capIn(announced uint32) int {
	limit := packet.MaxPacketSize
	if announced != 0 && int(announced) < limit {
		limit = int(announced)
	}
	if c.cfg.MaxPacketSize > 0 && c.cfg.MaxPacketSize < limit {
		limit = c.cfg.MaxPacketSize
	}
	return limit
}

func (c *Connection[ID]) peerRole() Role {
	if c.role == RoleServer {
		return RoleClient
	}
	return RoleServer
}

// Role returns the side this Connection plays.
func (c *Connection[ID]) Role() Role { return c.role }

// State returns where the connection is in its life: StateDisconnected
// from the EventClose on.
func (c *Connection[ID]) State() State {
	if c.closing {
		return StateDisconnected
	}
	return c.state
}

// Version returns the protocol version in use; 0 for a server that has not
// yet received CONNECT.
func (c *Connection[ID]) Version() packet.Version { return c.version }

// SendQuota returns how many more QoS 1 and QoS 2 PUBLISH packets may be
// sent before the peer's Receive Maximum is reached.
func (c *Connection[ID]) SendQuota() int { return max(c.sendQuota, 0) }

// InFlight returns the number of our QoS 1 and QoS 2 PUBLISH exchanges not
// yet completed by the peer (PUBACK, or PUBREC then PUBCOMP).
func (c *Connection[ID]) InFlight() int {
	n := 0
	for _, x := range c.outbound.All() {
		if x <= awaitPubcomp {
			n++
		}
	}
	return n
}

// Queued returns the number of PUBLISH packets waiting to be sent (for
// send quota, or while offline).
func (c *Connection[ID]) Queued() int { return len(c.queue) }

// SessionPersists reports whether the session outlives the current
// network connection, as the CONNECT, the CONNACK and any DISCONNECT have
// settled it.
func (c *Connection[ID]) SessionPersists() bool { return c.sess.persists }

// SessionExpiry returns the v5 Session Expiry Interval in force, in
// seconds, as the CONNECT, the CONNACK and any DISCONNECT have settled it
// (0 before v5).
func (c *Connection[ID]) SessionExpiry() uint32 { return c.sess.expiry }

// begin starts a call: the previous call's events and buffers are free.
// With trim, the pools keep no more than their minimum.
func (c *Connection[ID]) begin(trim bool) {
	shrunk := c.received.reset(trim)
	shrunk = c.sent.reset(trim) || shrunk
	if cap(c.events) > keepEvents || trim && cap(c.events) > keepPooled {
		c.events = nil
	} else if shrunk {
		// The events of a flood point to packet values the pools let go
		// of: forget them, or the kept slice would keep them alive.
		clear(c.events)
	}
	if cap(c.out) > keepOut {
		c.out = nil
	}
	if other := 1 - c.cur; cap(c.bufs[other]) > keepOut {
		c.bufs[other] = nil // held a large packet once: not kept for ever
	}
	c.events, c.out = c.events[:0], c.out[:0]
	c.usedBuf, c.didSend, c.didRecv = false, false, false
}

// end finishes a call: the keep-alive timers follow what was sent and
// received.
func (c *Connection[ID]) end() []Event[ID] {
	if c.state == StateConnected && !c.closing && c.keepAlive > 0 {
		if c.role == RoleClient && c.didSend {
			c.emit(Event[ID]{Kind: EventTimerReset, Timer: TimerPing, Duration: c.keepAlive})
		}
		if c.role == RoleServer && c.didRecv {
			c.emit(Event[ID]{Kind: EventTimerReset, Timer: TimerKeepAlive, Duration: c.keepAlive * 3 / 2})
		}
	}
	return c.events
}

func (c *Connection[ID]) emit(e Event[ID]) { c.events = append(c.events, e) }

// Recv consumes a chunk of bytes from the transport: every complete packet
// in it is handled, and a partial packet at its end is kept for the next
// call. Any split of a byte stream into chunks gives the same events.
//
// The packet values of the events are reused from call to call: a
// Connection keeps as many of each type as the last call that received
// that type needed (at least 64, at most 256), so that a steady flow of
// chunks allocates nothing. Recv(nil) lets go of all but 64 of each and of
// a long events slice: call it when a connection goes quiet after a burst.
//
// A server that has received CONNECT handles nothing but AUTH and
// DISCONNECT until it has sent CONNACK: it holds the bytes after them (up
// to its maximum packet size plus 64 KiB) and handles them in the Send call
// that sends a successful CONNACK.
func (c *Connection[ID]) Recv(chunk []byte) []Event[ID] {
	c.begin(len(chunk) == 0)
	if !c.closing {
		c.consume(chunk)
	}
	return c.end()
}

// consume handles the held bytes followed by chunk.
func (c *Connection[ID]) consume(chunk []byte) {
	held := c.bufs[c.cur]
	off := 0
	for off < len(held) {
		h, need, err := packet.Frame(held[off:], c.maxIn)
		if err != nil {
			c.fail(frameError(err))
			return
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
		c.usedBuf = true
		c.handle(h, held[off+h.Len:off+h.Size()])
		off += h.Size()
		if c.closing {
			return
		}
	}
	c.bufs[c.cur] = held[:0]
	for len(chunk) > 0 {
		h, need, err := packet.Frame(chunk, c.maxIn)
		if err != nil {
			c.fail(frameError(err))
			return
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

// holdExtra bounds the bytes a server holds while it decides on a CONNECT.
const holdExtra = 64 << 10

var errHoldOverflow = &packet.Error{Code: packet.QuotaExceeded,
	Msg: "client sent too much before its CONNECT was answered"}

// mustHold reports whether a packet of type t waits for the server's CONNACK.
func (c *Connection[ID]) mustHold(t packet.Type) bool {
	return c.role == RoleServer && c.state == StateConnecting &&
		t != packet.TypeAuth && t != packet.TypeDisconnect
}

// keep stores a, then b, as the bytes to handle next. a is nil or the
// unhandled rest of the held bytes. Packets of this call may alias the held
// buffer; then the bytes move to the other buffer, which no packet aliases.
func (c *Connection[ID]) keep(a, b []byte) {
	if len(a)+len(b) > c.maxIn+holdExtra {
		c.fail(errHoldOverflow)
		return
	}
	if c.usedBuf {
		c.cur, c.usedBuf = 1-c.cur, false
		c.bufs[c.cur] = append(append(c.bufs[c.cur][:0], a...), b...)
		return
	}
	if a == nil {
		a = c.bufs[c.cur][:0]
	}
	c.bufs[c.cur] = append(a, b...) // nothing handled from a: it starts its buffer
}

// frameError maps a framing error to the error reported for it.
func frameError(err error) error {
	if errors.Is(err, packet.ErrPacketTooLarge) {
		return errTooLargeIn
	}
	return err
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

// connected reports whether packets other than the handshake may flow.
func (c *Connection[ID]) connected() bool { return c.state == StateConnected && !c.closing }

// deliver reports p to the caller.
func (c *Connection[ID]) deliver(p packet.Packet) {
	c.emit(Event[ID]{Kind: EventPacket, Packet: p})
}

// fail ends the connection because the peer broke the protocol: a v5 peer
// is told why with DISCONNECT (MQTT-4.13.1-1), then the transport closes.
func (c *Connection[ID]) fail(err error) {
	if c.closing {
		return
	}
	if c.version == packet.V5 && c.state == StateConnected {
		code, ok := packet.ReasonOf(err)
		if !ok || !packet.ValidReason(packet.TypeDisconnect, packet.V5, code) {
			code = packet.ProtocolError
		}
		d := c.sent.get(packet.TypeDisconnect).(*packet.Disconnect)
		*d = packet.Disconnect{Reason: code}
		c.write(d)
	}
	c.emit(Event[ID]{Kind: EventError, Err: err})
	c.close()
}

// close asks the caller to close the transport and stops the timers. The
// Connection counts as disconnected from here; it handles nothing more
// until Closed.
func (c *Connection[ID]) close() {
	c.closing = true
	c.emit(Event[ID]{Kind: EventClose})
	if c.keepAlive > 0 {
		if c.role == RoleClient {
			c.emit(Event[ID]{Kind: EventTimerCancel, Timer: TimerPing})
			if c.pingOutstanding {
				c.emit(Event[ID]{Kind: EventTimerCancel, Timer: TimerPingResponse})
			}
		} else {
			c.emit(Event[ID]{Kind: EventTimerCancel, Timer: TimerKeepAlive})
		}
	}
}

// Closed tells the Connection that the transport has closed, whichever
// side closed it, and readies it for a new network connection (a client
// sends CONNECT again).
//
// When the session outlives the connection (clean session 0 in 3.1.1, a
// Session Expiry Interval above 0 in v5) its unfinished QoS 1 and QoS 2
// exchanges are kept, to be resumed after a reconnection that finds the
// session present, or exported with ExportSession. Otherwise their packet
// identifiers are released, each with an event. PUBLISH packets not yet sent
// (queued) are kept either way.
func (c *Connection[ID]) Closed() []Event[ID] {
	c.begin(true)
	if !c.closing && c.state != StateDisconnected {
		c.close()
	}
	if !c.began {
		// No CONNECT on this network connection: the session is as it was.
	} else if c.sess.persists {
		for _, id := range c.outbound.Keys(nil) {
			x := c.outbound.Value(id)
			if x == awaitSuback || x == awaitUnsuback {
				c.outbound.Delete(id)
				c.ids.Release(id)
				c.emit(Event[ID]{Kind: EventIDReleased, PacketID: id})
			}
		}
		// Answers the caller still owed cannot go out on a closed
		// connection. The peer re-sends what was not acknowledged: a QoS 1
		// PUBLISH is delivered again (at least once), while a QoS 2 one,
		// already delivered, is treated as acknowledged so that it is not
		// delivered twice, and a PUBREL is delivered again.
		for _, id := range c.inbound.Keys(nil) {
			x := c.inStep(id)
			switch x {
			case owePuback, oweSuback, oweUnsuback:
				c.advance(&c.inbound, id, 0, 0)
			case owePubrec, owePubcomp:
				c.inbound.Set(id, awaitPubrel)
			default:
				c.inbound.Set(id, x) // no longer counted: see counted
			}
		}
		c.inflightIn = 0
		c.sess.present = true
	} else {
		c.dropStored()
	}
	c.reset()
	return c.events
}

// droppable returns the properties of a packet whose Reason String and User
// Properties may be left out to respect the peer's Maximum Packet Size.
func droppable(p packet.Packet) *property.Properties {
	switch p := p.(type) {
	case *packet.Connack:
		return &p.Props
	case *packet.Disconnect:
		return &p.Props
	case *packet.Auth:
		return &p.Props
	case interface{ Properties() *property.Properties }:
		return p.Properties()
	}
	return nil
}

// write encodes p, checks it against the peer's Maximum Packet Size, and
// emits EventSend. Nothing is written on error.
func (c *Connection[ID]) write(p packet.Packet) error {
	c.stripProblemInfo(p)
	start := len(c.out)
	out, err := p.AppendTo(c.out, c.version)
	if err != nil {
		return err
	}
	if len(out)-start > c.maxOut {
		c.out = out[:start]
		if props := droppable(p); props != nil && c.version == packet.V5 {
			// The sender MUST NOT send Reason String or User Properties
			// that would exceed the peer's maximum (MQTT-3.4.2-2,
			// MQTT-3.4.2-3 and their twins for the other packets): drop
			// them, the Reason String first.
			if props.ReasonString != "" {
				props.ReasonString = ""
				props.Zero.Remove(property.ReasonString)
				if c.write(p) == nil {
					return nil
				}
			}
			if len(props.User) > 0 {
				props.User = props.User[:0]
				return c.write(p)
			}
		}
		return ErrPacketTooLarge
	}
	c.out = out
	c.sentBytes(p, start)
	return nil
}

// sentBytes emits EventSend for p, encoded in c.out from start on.
func (c *Connection[ID]) sentBytes(p packet.Packet, start int) {
	c.didSend = true
	end := len(c.out)
	c.emit(Event[ID]{Kind: EventSend, Bytes: c.out[start:end:end], Packet: p})
}
