package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// Config configures a Broker. The zero Config is usable.
type Config struct {
	// Logf, when set, receives a line for each connection that ends in an
	// error and for messages dropped.
	Logf func(format string, args ...any)
	// MaxPacketSize is the largest packet accepted from a client, and is
	// announced to v5 clients; 0 means 1 MiB.
	MaxPacketSize int
	// MaxQueued is how many messages may wait for one session (its
	// outbox: filled while its client is offline, or reads too slowly, or
	// leaves QoS 1 and 2 messages unacknowledged) before the broker pushes
	// back on the publishers that feed it; 0 means 10,000. A QoS 0
	// message beyond it is dropped (Stats counts them). A QoS 1 or QoS 2
	// message is never dropped: it is queued all the same, and its
	// publisher's acknowledgement (PUBACK, PUBREC) is withheld until the
	// outbox has drained to three quarters of MaxQueued, which stops the
	// publisher once its Receive Maximum of messages waits (see the
	// package documentation, "Flow control").
	MaxQueued int
	// ConnectTimeout is how long a new connection may take to send its
	// CONNECT; 0 means 10 seconds.
	ConnectTimeout time.Duration
	// MaxSubscriptions caps the subscriptions of one session (each
	// distinct topic filter, shared ones included; subscribing again to
	// a filter replaces its subscription and does not count twice); 0
	// means 1,000, a negative value no limit. A filter beyond it is
	// refused in the SUBACK with 0x97 Quota exceeded (0x80 Failure in
	// 3.1.1), the other filters of the SUBSCRIBE being granted as usual.
	MaxSubscriptions int
	// MaxKeepAlive is the longest Keep Alive, in seconds, a client may
	// have; 0 means 300, a negative value no limit; at most 65,535. A v5
	// client asking for 0 (none) or for more is sent this value as Server
	// Keep Alive in the CONNACK, which it must use (MQTT-3.2.2-21) and the
	// broker enforces. A 3.1.1 client asking for 0 or for more cannot be
	// told: the broker closes its connection when no packet has come from
	// it for one and a half times this maximum.
	MaxKeepAlive int
	// ReceiveMaximum is the Receive Maximum announced to v5 clients: how
	// many QoS 1 and QoS 2 messages a client may have sent and not had
	// acknowledged (PUBACK, or PUBREC and then PUBCOMP); one more ends the
	// connection with DISCONNECT 0x93 Receive Maximum exceeded. 0 means
	// 256; at most 65,535. 3.1.1 has no way to announce it: the broker
	// stops reading a 3.1.1 client that has this many acknowledgements
	// withheld (and none of its own to wait for from the client), until
	// they are sent.
	ReceiveMaximum int
	// Authenticate, when set, is asked about each CONNECT before its
	// session is touched. It returns 0 to accept the client, or the MQTT
	// 5.0 reason code (0x80 or above) to refuse it with: 0x85 Client
	// Identifier not valid, 0x86 Bad User Name or Password, 0x87 Not
	// authorized, ... A 3.1.1 client is refused with the matching return
	// code (0x02, 0x03 or 0x04; 0x05 Not authorized for the others). The
	// connection is closed after the refusing CONNACK (MQTT-3.1.4-2).
	Authenticate func(c *packet.Connect) packet.ReasonCode
	// MayPublish, when set, reports whether a client may publish on a
	// topic. A PUBLISH it refuses is acknowledged as usual and dropped:
	// neither routed nor retained (MQTT-3.3.5-2 of 3.1.1). A CONNECT whose
	// will it refuses is refused with 0x87 Not authorized (0x05 in 3.1.1).
	MayPublish func(clientID, topic string) bool
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Broker is an MQTT broker. Serve accepts connections; Shutdown ends it.
type Broker struct {
	cfg      Config
	lowWater int // a full outbox that has drained to this many is no longer full
	window   int // the most one publisher may add to a full outbox (flow.go)
	tree     topicTree
	retained retainedStore

	// Flow control counters, for Stats.
	droppedQoS0 atomic.Uint64
	withheld    atomic.Uint64
	peakQueued  atomic.Int64

	// mu guards the session table and the set of connections and
	// listeners; it is taken when clients connect and disconnect, never
	// on the publish path.
	mu        sync.Mutex
	sessions  map[string]*session
	conns     map[*conn]struct{}
	listeners map[net.Listener]struct{}
	closing   bool
	wg        sync.WaitGroup
}

// New returns a Broker.
func New(cfg Config) *Broker {
	if cfg.MaxPacketSize <= 0 {
		cfg.MaxPacketSize = 1 << 20
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 10000
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.MaxSubscriptions == 0 {
		cfg.MaxSubscriptions = 1000
	}
	switch {
	case cfg.MaxKeepAlive == 0:
		cfg.MaxKeepAlive = 300
	case cfg.MaxKeepAlive > 0xFFFF:
		cfg.MaxKeepAlive = 0xFFFF
	}
	switch {
	case cfg.ReceiveMaximum <= 0:
		cfg.ReceiveMaximum = 256
	case cfg.ReceiveMaximum > 0xFFFF:
		cfg.ReceiveMaximum = 0xFFFF
	}
	return &Broker{cfg: cfg, lowWater: cfg.MaxQueued * 3 / 4, window: publisherWindow(cfg.ReceiveMaximum),
		sessions: make(map[string]*session),
		conns:    make(map[*conn]struct{}), listeners: make(map[net.Listener]struct{})}
}

func (b *Broker) logf(format string, args ...any) {
	if b.cfg.Logf != nil {
		b.cfg.Logf(format, args...)
	}
}

// Serve accepts connections on l and serves each on its own goroutines
// until l fails or Shutdown is called; it then returns ErrServerClosed, or
// the error of Accept.
func (b *Broker) Serve(l net.Listener) error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return ErrServerClosed
	}
	b.listeners[l] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.listeners, l)
		b.mu.Unlock()
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			if b.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		b.mu.Lock()
		if b.closing {
			b.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		c := newConn(b, nc)
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go func() {
			defer b.wg.Done()
			c.run()
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
		}()
	}
}

func (b *Broker) isClosing() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closing
}

// Shutdown stops accepting connections, disconnects every client (v5
// clients with DISCONNECT 0x8B Server shutting down) and waits for their
// goroutines to end, or for ctx. Wills are not published on shutdown.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	b.closing = true
	for l := range b.listeners {
		l.Close()
	}
	for _, s := range b.sessions {
		s.stopTimersLocked() // wills are not published on shutdown
	}
	conns := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	for _, c := range conns {
		c.post(ctlShutdown)
	}
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.nc.Close()
		}
		<-done
		return ctx.Err()
	}
}

// Stats are counts of the broker's flow control (see the package
// documentation, "Flow control").
type Stats struct {
	// DroppedQoS0 is the number of QoS 0 deliveries dropped because the
	// outbox of their session was full.
	DroppedQoS0 uint64
	// Withheld is the number of PUBACK and PUBREC packets withheld for a
	// while because a matching session's outbox was full.
	Withheld uint64
	// Queued is the number of deliveries in every outbox now, and
	// PeakQueued the most one outbox has held.
	Queued, PeakQueued int
}

// Stats returns the counts of the broker's flow control so far.
func (b *Broker) Stats() Stats {
	st := Stats{DroppedQoS0: b.droppedQoS0.Load(), Withheld: b.withheld.Load(), PeakQueued: int(b.peakQueued.Load())}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.sessions {
		st.Queued += s.queued()
	}
	return st
}

// notePeak records n deliveries in one outbox for Stats.PeakQueued.
func (b *Broker) notePeak(n int) {
	for {
		p := b.peakQueued.Load()
		if int64(n) <= p || b.peakQueued.CompareAndSwap(p, int64(n)) {
			return
		}
	}
}

// newClientID returns a fresh client identifier for a client that sent an
// empty one.
func newClientID() string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return "auto-" + hex.EncodeToString(r[:])
}

// claim makes c the connection of the session of clientID: an existing
// connection of that client is taken over and waited for (MQTT-3.1.4-3); a
// clean start discards the existing session (MQTT-3.1.2-4). It returns the
// session, whether it existed and is resumed (MQTT-3.1.2-5), and the
// Connection state exported when its last connection ended.
//
// A will waiting for its delay is cancelled by the new connection
// (MQTT-3.1.2-26), or published when a clean start ends the session
// (MQTT-3.1.2-8).
func (b *Broker) claim(c *conn, clientID string, cleanStart bool) (s *session, present bool, state []byte, err error) {
	var will *message
	defer func() {
		if will != nil {
			b.route(will, nil, nil)
		}
	}()
	for {
		b.mu.Lock()
		if b.closing {
			b.mu.Unlock()
			return nil, false, nil, ErrServerClosed
		}
		s = b.sessions[clientID]
		if s != nil && s.owner != nil {
			old := s.owner
			b.mu.Unlock()
			old.takeOver()
			continue
		}
		if s != nil {
			will = s.stopTimersLocked()
			if !cleanStart {
				will = nil
			}
		}
		if s != nil && cleanStart {
			b.discardLocked(s)
			s = nil
		}
		present = s != nil
		if s == nil {
			s = newSession(clientID)
			b.sessions[clientID] = s
		}
		s.owner = c
		state, s.state = s.state, nil
		c.blockers, s.blockedBy = s.blockedBy, nil
		b.mu.Unlock()
		return s, present, state, nil
	}
}

// discardLocked ends a session: out of the table, out of the topic tree,
// and deaf to further deliveries. b.mu is held.
func (b *Broker) discardLocked(s *session) {
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
	}
	for _, k := range s.kill() {
		b.tree.unsubscribe(k, s)
	}
	s.state, s.blockedBy = nil, nil
	s.stopTimersLocked()
}

// keepLocked starts the offline life of a persistent session whose
// connection ended: it is discarded when its Session Expiry Interval (in
// seconds; neverExpires for none) passes (MQTT-4.1.0-2), and will, the
// connection's will if it is to be published, waits for its Will Delay
// Interval or the end of the session, whichever is first (MQTT-3.1.2-8).
// It returns the will if it is to be published now. b.mu is held.
func (b *Broker) keepLocked(s *session, expiry uint32, will *message, willDelay uint32) (now *message) {
	s.stopTimersLocked()
	gen := s.gen
	if will != nil && willDelay == 0 {
		now, will = will, nil
	}
	if will != nil {
		s.will = will
		if expiry == neverExpires || willDelay < expiry {
			s.willTimer = time.AfterFunc(seconds(willDelay), func() { b.willDue(s, gen) })
		}
	}
	if expiry != neverExpires {
		s.expiryTimer = time.AfterFunc(seconds(expiry), func() { b.expire(s, gen) })
	}
	return now
}

func seconds(n uint32) time.Duration { return time.Duration(n) * time.Second }

// willDue publishes the will of an offline session whose Will Delay
// Interval has passed, unless the session was claimed since.
func (b *Broker) willDue(s *session, gen uint64) {
	b.mu.Lock()
	if b.closing || s.gen != gen || s.owner != nil {
		b.mu.Unlock()
		return
	}
	w := s.will
	s.will, s.willTimer = nil, nil
	b.mu.Unlock()
	if w != nil {
		b.route(w, nil, nil)
	}
}

// expire discards an offline session whose Session Expiry Interval has
// passed (MQTT-4.1.0-2), publishing the will still waiting (MQTT-3.1.2-8).
func (b *Broker) expire(s *session, gen uint64) {
	b.mu.Lock()
	if b.closing || s.gen != gen || s.owner != nil {
		b.mu.Unlock()
		return
	}
	w := s.will
	b.discardLocked(s)
	b.mu.Unlock()
	b.logf("broker: client %q: session expired", s.id)
	if w != nil {
		b.route(w, nil, nil)
	}
}
