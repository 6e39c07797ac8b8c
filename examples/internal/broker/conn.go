package broker

import (
	"net"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/examples/internal/netio"
	"github.com/mqttcore/mqtt/packet"
)

// ctl is a request another goroutine makes of a connection's owner.
type ctl uint8

const (
	ctlTakeover ctl = iota + 1 // another connection claims the client identifier
	ctlShutdown                // the broker is shutting down
)

// writeTimeout bounds a write to a client that does not read.
const writeTimeout = 10 * time.Second

// conn is one network connection. Its run goroutine owns mc: every call
// on it, and every field below that is not marked otherwise, belongs to
// that goroutine.
type conn struct {
	b  *Broker
	nc net.Conn // Close may be called from any goroutine

	ctl  chan ctl      // requests from other goroutines
	stop chan struct{} // closed when the connection ends: stops the helpers
	done chan struct{} // closed when run has returned the session

	mc      *mqtt.Connection[uint16]
	reader  *netio.Reader
	rest    []byte // the part of the reader's chunk not handled yet (handleRead)
	timers  *netio.Timers
	version packet.Version
	wbuf    []byte
	batch   bool // in batched: write once at the end

	// What the handler (event) notes during a call on mc, for carryOut to
	// act on once the call has returned.
	todo     []any // copies of the packets received
	closeNow bool  // the Connection asked to close the socket
	events   int   // events handed to the handler since recv reset it
	packetIn bool  // a whole packet came since recv reset it: see event

	// Reused from message to message, so that the publish path allocates
	// nothing but the broker's copy of each message.
	router  router         // route's scratch space
	taken   []delivery     // the batch flushPending takes from the outbox
	pub     packet.Publish // the PUBLISH deliver hands the Connection, which only encodes it
	puback  packet.Puback  // the acknowledgements ack hands the Connection
	pubcomp packet.Pubcomp

	// Flow control of what the client publishes (flow.go): the
	// acknowledgements withheld, in order, and the full outboxes they
	// wait for; unblock is signalled when one of those drains, and
	// recheckTimer looks again meanwhile.
	acks         []heldAck
	unreleased   int // QoS 2 messages routed whose PUBREL has not come
	blockers     []*session
	unblock      chan struct{}
	recheckTimer *time.Timer

	// From the CONNECT.
	sess       *session
	clientID   string
	assigned   bool   // the broker chose clientID
	present    bool   // the session existed and is resumed
	prevState  []byte // the Connection state imported from the session
	cleanStart bool
	expiry     uint32 // v5 Session Expiry Interval
	will       *message
	willDelay  uint32 // v5 Will Delay Interval
	// The client's Receive Maximum (65,535 when it gives none, and in
	// 3.1.1), for inFlight.
	clientReceiveMax int

	// A 3.1.1 client whose Keep Alive is 0 or above Config.MaxKeepAlive
	// is closed when no packet comes from it for idle (0: the Connection
	// watches the Keep Alive itself). heard is when one last came; the
	// timer, armed for idle, looks at it when it fires.
	idle      time.Duration
	heard     time.Time
	idleTimer *time.Timer

	// A read whose calls on the Connection made more than trimEvents
	// events arms quietTimer; if no read comes before it fires, the
	// Connection is told to let go of the values of that burst.
	peakEvents int
	quietTimer *time.Timer

	connected bool // a successful CONNACK was sent
	closing   bool // the socket is closed or closing: leave the loop
	normal    bool // a DISCONNECT with reason 0x00 arrived: no will (MQTT-3.14.4-3)
	shutdown  bool // closed by Shutdown: no will
}

func newConn(b *Broker, nc net.Conn) *conn {
	return &conn{b: b, nc: nc, ctl: make(chan ctl, 2), unblock: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// post asks the owner to act; it never blocks.
func (c *conn) post(r ctl) {
	select {
	case c.ctl <- r:
	default:
	}
}

func (c *conn) logf(format string, args ...any) {
	c.b.logf("broker: %s: "+format, append([]any{c.name()}, args...)...)
}

func (c *conn) name() string {
	if c.clientID != "" {
		return "client " + c.clientID
	}
	return c.nc.RemoteAddr().String()
}
