package mqtt

import (
	"errors"
	"fmt"
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

// String returns "client" or "server".
func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	}
	return fmt.Sprintf("Role(%d)", byte(r))
}

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
// (TimerFired) and the transport's end (Closed), and its Handler carries
// out the events of each call.
//
// A Connection is not safe for concurrent use.
type Connection[ID packetid.ID] struct {
	cfg          *Config // read only: the caller's copy (NewServer), or shared (NewSharedServer)
	handler      Handler[ID]
	*scratch[ID] // what calls work in (call.go); nil while idle
	*flight[ID]  // exchanges in progress and messages waiting (flight.go); nil while idle with none

	role    Role
	version packet.Version
	state   State
	closing bool // EventClose was returned; input is ignored until Closed
	lastID  ID   // the packet identifier handed out last, while flight is nil

	// Timers (keepalive.go): those armed, and with Config.Clock their
	// deadlines in Unix nanoseconds, by kind (allocated with the first).
	armed     uint8
	deadlines *[timerLast]int64

	aliasIn   topicalias.Receiver
	aliasOut  *topicalias.Sender // nil while the peer takes no alias
	sess      session            // what of the session is not in flight (session.go)
	journaled journaledSession   // the session as the last journal batch described it

	// Limits negotiated at CONNECT / CONNACK.
	keepAlive   time.Duration // client: ping interval; server: the client's Keep Alive
	pingTimeout time.Duration
	recvMax     int32 // ours: unacknowledged QoS 1/2 PUBLISH we accept
	sendQuota   int32 // the peer's Receive Maximum less our unacknowledged QoS 1/2 PUBLISH
	maxIn       int32 // largest packet accepted
	maxOut      int32 // largest packet the peer accepts

	caps            capabilities // what the server announced in CONNACK (capabilities.go)
	will            capabilities // server: what the client's will needs
	problemInfo     bool         // the client did not ask for Request Problem Information 0
	cleanStart      bool         // the CONNECT of this network connection asked for a new session
	began           bool         // a CONNECT was sent or received on this network connection
	pingOutstanding bool
	emptyClientID   bool   // server: the CONNECT had an empty Client Identifier
	responseInfo    bool   // server: the client asked for Response Information
	clientID        string // the Client Identifier in force (ClientID)
	auth            auth   // enhanced authentication (auth.go)
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

// NewClient returns a Connection for the client side, which hands its
// events to h. It panics if h is nil.
func NewClient[ID packetid.ID](cfg Config, h Handler[ID]) *Connection[ID] {
	return newConnection(RoleClient, &cfg, h)
}

// NewServer returns a Connection for the server side of one client's
// connection, which hands its events to h. It panics if h is nil.
func NewServer[ID packetid.ID](cfg Config, h Handler[ID]) *Connection[ID] {
	return newConnection(RoleServer, &cfg, h)
}

// NewSharedServer is NewServer for a server of many connections: the
// Connections it returns all read cfg, where NewServer gives each a copy
// of its Config (88 bytes).
func NewSharedServer[ID packetid.ID](cfg *SharedConfig, h Handler[ID]) *Connection[ID] {
	return newConnection(RoleServer, &cfg.cfg, h)
}

// SharedConfig is a Config that many Connections read (NewSharedServer).
// It cannot change once made.
type SharedConfig struct{ cfg Config }

// ShareConfig returns a SharedConfig holding a copy of cfg, without its
// Trace: a Tracer records one Connection (give such a Connection a Config
// of its own, with NewServer).
func ShareConfig(cfg Config) *SharedConfig {
	cfg.Trace = nil
	return &SharedConfig{cfg}
}

func newConnection[ID packetid.ID](r Role, cfg *Config, h Handler[ID]) *Connection[ID] {
	if h == nil {
		panic("mqtt: a Connection needs a Handler for its events")
	}
	c := &Connection[ID]{role: r, cfg: cfg, handler: h}
	c.reset()
	c.sess.version = c.version
	if cfg.Trace != nil {
		cfg.Trace.Start(r, cfg, packetid.Size[ID]())
	}
	return c
}

// reset prepares for a new network connection; the session state stays.
func (c *Connection[ID]) reset() {
	c.version = c.cfg.version(c.role)
	c.state, c.closing, c.began = StateDisconnected, false, false
	if c.scratch != nil {
		c.bufs[c.cur] = c.bufs[c.cur][:0] // a partial packet of the old transport
	}
	c.keepAlive, c.pingTimeout, c.pingOutstanding = 0, 0, false
	c.recvMax, c.sendQuota = 65535, 65535
	c.maxIn, c.maxOut = c.capIn(0), packet.MaxPacketSize
	c.aliasIn, c.aliasOut = topicalias.Receiver{}, nil
	c.caps, c.problemInfo = capabilities{maxQoS: packet.QoS2}, true
}

// capIn returns the incoming packet size limit given the Maximum Packet
// Size this side announced (0 for none).
func (c *Connection[ID]) capIn(announced uint32) int32 {
	limit := packet.MaxPacketSize
	if announced != 0 && int(announced) < limit {
		limit = int(announced)
	}
	if c.cfg.MaxPacketSize > 0 && c.cfg.MaxPacketSize < limit {
		limit = c.cfg.MaxPacketSize
	}
	return int32(limit) // at most packet.MaxPacketSize
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

// ClientID returns the Client Identifier in force on the current or last
// network connection: the CONNECT's, or the one the server assigned to a
// client that sent an empty one.
//
// A server assigns one as soon as it receives such a CONNECT, so the
// caller has it while handling the CONNECT (to find the client's session):
// Config.AssignClientID's, or a random one. A v5 CONNACK then names it in
// its Assigned Client Identifier (MQTT-3.2.2-16): Send sends a copy of a
// successful CONNACK that carries it, leaving the caller's packet as it
// was, unless the caller set one itself, which then is the identifier in
// force. A 3.1.1 client is not told (MQTT-3.1.3-6: the server treats the
// CONNECT as if the client had given that identifier). A client returns
// the identifier of its CONNECT, or the one its CONNACK assigned.
func (c *Connection[ID]) ClientID() string { return c.clientID }

// Version returns the protocol version in use; 0 for a server that has not
// yet received CONNECT.
func (c *Connection[ID]) Version() packet.Version { return c.version }

// SendQuota returns how many more QoS 1 and QoS 2 PUBLISH packets may be
// sent before the peer's Receive Maximum is reached.
func (c *Connection[ID]) SendQuota() int { return int(max(c.sendQuota, 0)) }

// InFlight returns the number of our QoS 1 and QoS 2 PUBLISH exchanges not
// yet completed by the peer (PUBACK, or PUBREC then PUBCOMP).
func (c *Connection[ID]) InFlight() int {
	if c.flight == nil {
		return 0
	}
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
func (c *Connection[ID]) Queued() int {
	if c.flight == nil {
		return 0
	}
	return len(c.queue)
}

// SessionPersists reports whether the session outlives the current
// network connection, as the CONNECT, the CONNACK and any DISCONNECT have
// settled it.
func (c *Connection[ID]) SessionPersists() bool { return c.sess.persists }

// HoldsSession reports whether this side holds the state of a session that
// a CONNECT with Clean Start 0 may resume: from an earlier connection, a
// clean start that began a session that outlives it, ImportSession or
// Replay. A client that holds none refuses a CONNACK with Session Present
// 1 (ErrNoSession, MQTT-3.2.2-4), so it asks for a clean start instead,
// unless it means to learn that the server kept a session.
func (c *Connection[ID]) HoldsSession() bool {
	return c.sess.present || c.flight != nil && c.outbound.Len() > 0
}

// SessionExpiry returns the v5 Session Expiry Interval in force, in
// seconds, as the CONNECT, the CONNACK and any DISCONNECT have settled it
// (0 before v5).
func (c *Connection[ID]) SessionExpiry() uint32 { return c.sess.expiry }

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
	for k := TimerPing; k <= timerLast; k++ {
		c.disarm(k)
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
func (c *Connection[ID]) Closed() {
	if c.cfg.Trace != nil {
		c.traceCall(Input{Kind: InputClosed})
	}
	first := c.enter()
	c.idle = true
	if !c.closing && c.state != StateDisconnected {
		c.close()
	}
	c.disarm(TimerConnect) // a server that got no CONNECT
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
				c.logTheirs(id, x)
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
	c.leave(first)
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

// encodeError maps the codec's refusal to encode a packet to Send's error:
// a packet over the protocol's size limit is ErrPacketTooLarge, as one over
// the peer's Maximum Packet Size is.
func encodeError(err error) error {
	if errors.Is(err, packet.ErrPacketTooLarge) {
		return ErrPacketTooLarge
	}
	return err
}

// write encodes p, checks it against the peer's Maximum Packet Size, and
// emits EventSend. On error nothing is written and p is as it was.
func (c *Connection[ID]) write(p packet.Packet) error {
	if c.role == RoleServer && !c.problemInfo {
		return c.writeNoProblemInfo(p)
	}
	return c.encode(p)
}

// writeNoProblemInfo is write for a server whose client asked for no
// problem information: a packet that may not carry it goes without its
// Reason String and User Properties (MQTT-3.1.2-32).
func (c *Connection[ID]) writeNoProblemInfo(p packet.Packet) error {
	if props := droppable(p); props != nil && !problemInfoAllowed(p.Type()) && hasProblemInfo(props) {
		return c.writeWithout(p, props, true)
	}
	return c.encode(p)
}

// encode is write once the problem information is settled: a packet too
// large for the peer goes without its Reason String, else without its
// User Properties too, where the specification has the sender leave them
// out rather than exceed the peer's maximum (MQTT-3.4.2-2, MQTT-3.4.2-3
// and their twins for the other packets).
func (c *Connection[ID]) encode(p packet.Packet) error {
	start := len(c.out)
	out, err := p.AppendTo(c.out, c.version)
	if err != nil {
		return encodeError(err)
	}
	if len(out)-start > int(c.maxOut) {
		c.out = out[:start]
		if props := droppable(p); props != nil && c.version == packet.V5 && hasProblemInfo(props) {
			return c.writeWithout(p, props, false)
		}
		return ErrPacketTooLarge
	}
	c.out = out
	c.sentBytes(p, start)
	return nil
}

// writeWithout encodes p without its Reason String, and without its User
// Properties too when all is set or it has no Reason String (encode drops
// them next if p is still too large). The packet sent keeps them out, in
// the caller's value too; a packet refused all the same gets them back.
func (c *Connection[ID]) writeWithout(p packet.Packet, props *property.Properties, all bool) error {
	reason, user, zero := props.ReasonString, props.User, props.Zero
	if reason != "" {
		props.ReasonString = ""
		props.Zero.Remove(property.ReasonString)
	}
	if all || reason == "" {
		props.User = user[:0]
	}
	err := c.encode(p)
	if err != nil {
		props.ReasonString, props.User, props.Zero = reason, user, zero
	}
	return err
}
