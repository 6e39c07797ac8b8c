package broker

import (
	"sync/atomic"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// conn is the broker's side of one network connection, which package
// server serves: the Handler's calls for it (handler.go) are made one at a
// time with the connection's lock held, and they alone touch mc and the
// fields below that are not marked otherwise. Other goroutines ask for its
// attention with wake (a publisher that filled its session's outbox, the
// end of a full outbox it waits for, a connection taking its session
// over, its timers): the flags say why, and OnWake acts on them.
type conn struct {
	b  *Broker
	sc *server.Conn
	mc *mqtt.Connection[uint16]

	// Why the connection was woken; set from any goroutine.
	handOver  atomic.Bool // another connection claims the session (takeover.go)
	claimable atomic.Bool // the session this one waits for is free (takeover.go)
	unblocked atomic.Bool // an outbox it waits for has drained (flow.go)
	recheck   atomic.Bool // recheckTimer fired (flow.go)
	idleDue   atomic.Bool // idleTimer fired
	quietDue  atomic.Bool // quietTimer fired
	// probe, set by the package's tests, is run by the next OnWake: a
	// look at the connection's state with its lock held.
	probe atomic.Pointer[func()]

	version packet.Version

	// Reused from message to message, so that the publish path allocates
	// nothing but the broker's copy of each message.
	router  router         // route's scratch space
	taken   []delivery     // the batch sendBatch takes from the outbox
	pub     packet.Publish // the PUBLISH deliver hands the Connection, which only encodes it
	puback  packet.Puback  // the acknowledgements ack hands the Connection
	pubcomp packet.Pubcomp
	toWake  []*server.Conn // the subscribers' connections to wake after the read (wakeLater)

	// Flow control of what the client publishes (flow.go): the
	// acknowledgements withheld, in order, and the full outboxes they
	// wait for; unblocked is set when one of those drains, and
	// recheckTimer looks again meanwhile. paused: the connection's
	// reading is paused (PauseReading).
	acks         []heldAck
	unreleased   int // QoS 2 messages routed whose PUBREL has not come
	blockers     []*session
	recheckTimer *time.Timer
	recheckArmed bool
	paused       bool

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
	// waiting is the CONNECT of a connection waiting for another to hand
	// its session over (its CONNACK deferred).
	waiting *packet.Connect

	// A 3.1.1 client whose Keep Alive is 0 or above Config.MaxKeepAlive
	// is closed when no packet comes from it for idle (0: the Connection
	// watches the Keep Alive itself). heard is when one last came; the
	// timer, armed for idle, looks at it when it fires.
	idle      time.Duration
	heard     time.Time
	idleTimer *time.Timer

	// More than trimEvents packets since the last trim arm quietTimer;
	// if none comes before it fires, the Connection is told to let go of
	// the values of that burst (trim). events counts the packets, and
	// quietMark is its value when the timer was armed.
	events, quietMark int
	quietTimer        *time.Timer

	ps *connPersist // with a Store: the unit being recorded (persist.go)

	connected bool // the CONNECT was accepted
	normal    bool // a DISCONNECT with reason 0x00 arrived: no will (MQTT-3.14.4-3)
}

func newConn(b *Broker, sc *server.Conn) *conn {
	return &conn{b: b, sc: sc, mc: sc.Core()}
}

// wake asks for OnWake; flag says why. Any goroutine may call it. (A
// conn of the package's tests may have no connection.)
func (c *conn) wake(flag *atomic.Bool) {
	flag.Store(true)
	if c.sc != nil {
		c.sc.Wake()
	}
}

// wakeLater has sc, the connection of a session whose outbox a message
// of this connection's client went to, woken once this connection's read
// has been handled and its answers written (settle, then OnWake:
// wakeOthers): the subscriber then takes what the read routed to it in
// one batch, not a message at a time (as it would if woken at once on
// this goroutine), and the publisher's acknowledgements do not wait for
// the subscribers' outboxes to be taken on its goroutine (which had a
// publisher feeding 8 subscribers publish at half the rate).
func (c *conn) wakeLater(sc *server.Conn) {
	if n := len(c.toWake); n > 0 && c.toWake[n-1] == sc {
		return
	}
	c.toWake = append(c.toWake, sc)
}

// wakeOthers wakes the connections wakeLater listed.
func (c *conn) wakeOthers() {
	for i, sc := range c.toWake {
		sc.Wake()
		c.toWake[i] = nil
	}
	c.toWake = c.toWake[:0]
}

// after starts *t, made on first use, to wake the connection with flag
// after d.
func (c *conn) after(t **time.Timer, flag *atomic.Bool, d time.Duration) {
	if *t == nil {
		*t = time.AfterFunc(d, func() { c.wake(flag) })
		return
	}
	(*t).Reset(d)
}

// stopTimers stops the connection's own timers: it has ended.
func (c *conn) stopTimers() {
	for _, t := range []*time.Timer{c.idleTimer, c.quietTimer, c.recheckTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

func (c *conn) logf(format string, args ...any) {
	c.b.logf("broker: %s: "+format, append([]any{c.name()}, args...)...)
}

func (c *conn) name() string {
	if c.clientID != "" {
		return "client " + c.clientID
	}
	return c.sc.RemoteAddr().String()
}
