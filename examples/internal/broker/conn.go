package broker

import (
	"sync"
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
	sc *server.Conn // its Core is the Connection (mc)

	// why the connection was woken: wake* bits, set from any goroutine.
	why atomic.Uint32

	version      packet.Version
	assigned     bool // the broker chose clientID
	present      bool // the session existed and is resumed
	cleanStart   bool
	connected    bool // the CONNECT was accepted
	normal       bool // a DISCONNECT with reason 0x00 arrived: no will (MQTT-3.14.4-3)
	paused       bool // the connection's reading is paused (PauseReading; flow.go)
	recheckArmed bool // recheckTimer is armed (flow.go)

	// From the CONNECT.
	sess     *session
	clientID string
	expiry   uint32 // v5 Session Expiry Interval
	// The client's Receive Maximum (65,535 when it gives none, and in
	// 3.1.1), for inFlight.
	clientReceiveMax int32

	// unreleased counts the QoS 2 messages routed whose PUBREL has not
	// come (flow.go).
	unreleased int32
	// More than trimEvents packets since the last trim arm quietTimer;
	// if none comes before it fires, the Connection is told to let go of
	// the values of that burst (trim). events counts the packets, and
	// quietMark is its value when the timer was armed.
	events, quietMark int32

	// s is the scratch space of the Handler call running, borrowed for
	// its length (scratch.go); x what few connections use, made on first
	// use (extra). An idle connection holds neither: that keeps it small.
	s *scratch
	x *connExtra
}

// connExtra is the part of a conn that few connections use, or use for a
// while: a client that publishes to full outboxes, a will, a 3.1.1 client
// watched for its idle time, a connection waiting for its session, a
// burst of packets.
type connExtra struct {
	// Flow control of what the client publishes (flow.go): the
	// acknowledgements withheld, in order, and the full outboxes they
	// wait for; wakeUnblocked wakes it when one of those drains, and
	// recheckTimer looks again meanwhile.
	acks         []heldAck
	blockers     []*session
	recheckTimer *time.Timer
	clusterWaits int // the waits for the cluster in acks (cluster.go)

	prevState []byte // the Connection state imported from the session
	will      *message
	willDelay uint32 // v5 Will Delay Interval
	// waiting is the CONNECT of a connection waiting for its client's
	// credentials to be checked, or for another connection to hand its
	// session over (its CONNACK deferred).
	waiting *packet.Connect
	// auth is the client's authentication and its ACL rules (auth.go);
	// nil when the broker has neither Passwords nor an ACL.
	auth *authState

	// A 3.1.1 client whose Keep Alive is 0 or above Config.MaxKeepAlive
	// is closed when no packet comes from it for idle (0: the Connection
	// watches the Keep Alive itself). heard is when one last came; the
	// timer, armed for idle, looks at it when it fires.
	idle      time.Duration
	heard     time.Time
	idleTimer *time.Timer

	quietTimer *time.Timer // see conn.events

	ps *connPersist // with a Store: the unit being recorded (persist.go)

	claim *connClaim // in a cluster that moves sessions: the claim of the client identifier (cluster_session.go)
}

// probes, set by the package's tests, holds for a conn a function the
// next OnWake runs (a look at the connection's state with its lock held);
// probing counts those set, so that OnWake looks only while there are.
var (
	probes  sync.Map // *conn -> func()
	probing atomic.Int32
)

// runProbe runs the function the tests set for c, if any.
func (c *conn) runProbe() {
	if probing.Load() == 0 {
		return
	}
	if f, ok := probes.LoadAndDelete(c); ok {
		probing.Add(-1)
		f.(func())()
	}
}

// Why a connection is woken (conn.why).
const (
	wakeHandOver       uint32 = 1 << iota // another connection claims the session (takeover.go)
	wakeClaimable                         // the session this one waits for is free (takeover.go)
	wakeUnblocked                         // an outbox it waits for has drained (flow.go)
	wakeRecheck                           // recheckTimer fired (flow.go)
	wakeIdle                              // idleTimer fired
	wakeQuiet                             // quietTimer fired
	wakeAuthDone                          // the client's password checked out (auth.go)
	wakeAuthLate                          // authState.timer fired (auth.go)
	wakeClusterClaimed                    // the claim of the client identifier in the cluster is done (cluster_session.go)
)

// woken reports whether the connection was woken for why since the last
// look, and clears it.
func (c *conn) woken(why uint32) bool { return c.why.And(^why)&why != 0 }

// extra returns c.x, made on first use.
func (c *conn) extra() *connExtra {
	if c.x == nil {
		c.x = new(connExtra)
	}
	return c.x
}

// blocked reports whether c waits for a full outbox (flow.go).
func (c *conn) blocked() bool { return c.x != nil && len(c.x.blockers) > 0 }

// withholds reports whether c has acknowledgements withheld (flow.go).
func (c *conn) withholds() bool { return c.x != nil && len(c.x.acks) > 0 }

func newConn(b *Broker, sc *server.Conn) *conn {
	return &conn{b: b, sc: sc}
}

// mc returns the connection's core Connection.
func (c *conn) mc() *mqtt.Connection[uint16] { return c.sc.Core() }

// wake asks for OnWake; flag says why. Any goroutine may call it. (A
// conn of the package's tests may have no connection.)
func (c *conn) wake(why uint32) {
	c.why.Or(why)
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
	s := c.scratch()
	if n := len(s.toWake); n > 0 && s.toWake[n-1] == sc {
		return
	}
	s.toWake = append(s.toWake, sc)
}

// wakeOthers wakes the connections wakeLater listed.
func (c *conn) wakeOthers() {
	if c.s == nil {
		return
	}
	for i, sc := range c.s.toWake {
		sc.WakeShared()
		c.s.toWake[i] = nil
	}
	c.s.toWake = c.s.toWake[:0]
}

// after starts *t, made on first use, to wake the connection with flag
// after d.
func (c *conn) after(t **time.Timer, why uint32, d time.Duration) {
	if *t == nil {
		*t = time.AfterFunc(d, func() { c.wake(why) })
		return
	}
	(*t).Reset(d)
}

// stopTimers stops the connection's own timers: it has ended.
func (c *conn) stopTimers() {
	if c.x == nil {
		return
	}
	for _, t := range []*time.Timer{c.x.idleTimer, c.x.quietTimer, c.x.recheckTimer} {
		if t != nil {
			t.Stop()
		}
	}
}
