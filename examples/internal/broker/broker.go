package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// Config configures a Broker. The zero Config is usable.
type Config struct {
	// Logger, when set, receives the broker's structured records (log.go):
	// clients connecting, refused and leaving, connections ended by
	// errors, messages dropped.
	Logger *slog.Logger
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
	// TopicAliasesOut is how many Topic Aliases the broker uses, at most,
	// towards a v5 client that announced a Topic Alias Maximum (and no
	// more than it): the hottest topics delivered to the client go as
	// aliases (aliases.go). 0 means 16, a negative value none.
	TopicAliasesOut int
	// SysInterval is how often the broker publishes its $SYS topics
	// (sys.go: version, uptime, clients, messages, bytes,
	// subscriptions, retained messages, load averages), each retained
	// and only when its value changed; 0 publishes none. Clients cannot
	// publish to $SYS: such a message is dropped as one MayPublish
	// refuses, and a will on it refused.
	SysInterval time.Duration
	// Version is the value of $SYS/broker/version; "" means "mqttcore
	// example broker".
	Version string
	// Passwords, when set, authenticates every client: by the User Name
	// and Password of its CONNECT, or by SCRAM-SHA-256 enhanced
	// authentication (v5), against the password file (auth.go). A
	// client with bad credentials is refused with 0x86 Bad User Name or
	// Password (4 in 3.1.1) after AuthDelay; one without a user name
	// with 0x87 Not authorized (5 in 3.1.1), unless AllowAnonymous.
	Passwords *Passwords
	// AllowAnonymous lets clients without a user name (and without an
	// Authentication Method) connect when Passwords is set.
	AllowAnonymous bool
	// AuthDelay is the least time a refusal for bad credentials waits,
	// and up to as much again at random, against guessing; 0 means 1
	// second, a negative value none.
	AuthDelay time.Duration
	// ACL, when set, says which topics each client may publish on and
	// receive messages of (acl.go): a PUBLISH refused is answered with
	// 0x87 Not authorized in v5 (and dropped), a will refused refuses the
	// CONNECT, a filter refused gets 0x87 in the SUBACK (0x80 in 3.1.1),
	// and a message the subscriber may not read is not sent to it. The
	// rules apply to the authenticated user (Passwords), or else to the
	// user name the client gave.
	ACL *ACL
	// Store, when set, keeps sessions, retained messages and wills
	// across restarts (OpenStore; persist.go says what is recorded and
	// when): New restores what it holds, and a QoS 1 or QoS 2 message is
	// acknowledged to its publisher once it is durable. Close it after
	// Shutdown.
	Store *Store
	// Cluster, when set, makes the broker a node of a cluster
	// (cluster.go): the messages published on any node reach the
	// subscribers of every node, and each message to a share group one
	// member cluster-wide. A Cluster that is also a SessionCluster moves
	// sessions between the nodes (cluster_session.go). The $SYS topics
	// stay on their node, and so do retained messages unless it is a
	// RetainingCluster. Close it after Shutdown.
	Cluster Cluster
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Broker is an MQTT broker. Serve accepts connections; Shutdown ends it.
type Broker struct {
	cfg      Config
	log      *slog.Logger // Config.Logger, or one that discards
	lowWater int          // a full outbox that has drained to this many is no longer full
	window   int          // the most one publisher may add to a full outbox (flow.go)
	tree     topicTree
	retained retainedStore
	srv      *server.Server   // serves the connections; the broker is its Handler (handler.go)
	st       *Store           // nil: in memory only
	link     Cluster          // nil: a single node
	in       inbound          // the flow control of the cluster's durable delivery (remote.go)
	cs       *clusterSessions // nil: sessions stay on this node (cluster_session.go)

	// checks has a slot for each password check running (auth.go).
	checks chan struct{}
	// creds are the password file and ACL in force (reload.go).
	creds credentialsHolder

	// Flow control counters, for Stats, and the others (counters.go).
	counts      counters
	sysStop     chan struct{} // closed by Shutdown, to end runSys; nil without it
	droppedQoS0 atomic.Uint64
	withheld    atomic.Uint64
	peakQueued  atomic.Int64

	// mu guards the session table and the connections waiting to take a
	// session over; it is taken when clients connect and disconnect, never
	// on the publish path.
	mu       sync.Mutex
	sessions map[string]*session
	// takers holds, by client identifier, the connection waiting for the
	// session's connection to end (takeover.go).
	takers  map[string]*conn
	closing bool
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
	if cfg.Version == "" {
		cfg.Version = defaultBrokerString
	}
	if cfg.AuthDelay == 0 {
		cfg.AuthDelay = defaultAuthDelay
	}
	b := &Broker{cfg: cfg, lowWater: cfg.MaxQueued * 3 / 4, window: publisherWindow(cfg.ReceiveMaximum),
		sessions: make(map[string]*session), takers: make(map[string]*conn)}
	b.checks = make(chan struct{}, checkSlots)
	b.creds.Store(&credentials{passwords: cfg.Passwords, acl: cfg.ACL})
	b.counts.started = time.Now()
	b.log = newLogger(cfg.Logger)
	scfg := server.Config{Handler: (*handler)(b), Conn: coreConfig(&b.cfg)}
	if cfg.Store != nil {
		b.st = cfg.Store
		scfg.Journal = (*handler)(b) // persist.go
	}
	b.srv = server.New(scfg)
	if cfg.Cluster != nil {
		b.link = cfg.Cluster
		b.tree.link = cfg.Cluster
		b.cs = newClusterSessions(cfg.Cluster)
	}
	if b.st != nil {
		b.restore(b.st)
	}
	if b.link != nil {
		b.link.Attach(b)
	}
	if cfg.SysInterval > 0 {
		b.sysStop = make(chan struct{})
		go b.runSys(cfg.SysInterval, b.sysStop)
	}
	return b
}

// coreConfig is the configuration of each connection's core.
func coreConfig(cfg *Config) mqtt.Config {
	aliases, maxAliases := outgoingAliases(cfg.TopicAliasesOut)
	return mqtt.Config{
		TopicAliases:       aliases,
		MaxOutgoingAliases: maxAliases,
		MaxPacketSize:      cfg.MaxPacketSize,
		ConnectTimeout:     cfg.ConnectTimeout,
		// The broker acknowledges each PUBLISH once it is routed, or
		// later: flow.go.
		ManualPuback:            true,
		ManualPubcomp:           true,
		ManualPubrec:            cfg.mayRefusePublish(), // PUBREC 0x87 for v5 (publish.go)
		QueueWhenQuotaExhausted: true,
		MaxQueued:               connQueueMax + cfg.MaxQueued, // room for retained messages on SUBSCRIBE
		Clock:                   time.Now,
	}
}

// mayRefusePublish reports whether the broker may refuse a PUBLISH.
func (cfg *Config) mayRefusePublish() bool { return cfg.ACL != nil || cfg.MayPublish != nil }

// Serve accepts connections on l and serves them (package server: on
// Linux, TCP connections by its event loop, others with a goroutine each)
// until l fails or Shutdown is called; it then returns ErrServerClosed, or
// the error of Accept. l is closed when Serve returns.
func (b *Broker) Serve(l net.Listener) error {
	err := b.srv.Serve(l)
	if errors.Is(err, server.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

func (b *Broker) isClosing() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closing
}

// Shutdown stops accepting connections, disconnects every client (v5
// clients with DISCONNECT 0x8B Server shutting down) and waits for their
// connections to end, or for ctx. Wills are not published on shutdown.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.sysStop != nil && !b.closing {
		close(b.sysStop)
	}
	b.closing = true
	for _, s := range b.sessions {
		s.stopTimersLocked() // wills are not published on shutdown
	}
	b.clusterShutdownLocked()
	b.mu.Unlock()
	return b.srv.Shutdown(ctx)
}

// Stats are the broker's counts: of its flow control (see the package
// documentation, "Flow control"), and of its clients and messages (the
// $SYS topics and the metrics show them).
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
	// Conns is the number of network connections served now.
	Conns int

	// Uptime is the time since the broker was made.
	Uptime time.Duration
	// Connected is the number of clients connected now (their CONNECT
	// accepted), MaxConnected the most there have been at once, and
	// Connections the number of CONNECTs accepted.
	Connected, MaxConnected int
	Connections             uint64
	// Sessions is the number of sessions held, their clients connected
	// or not; Expired the number discarded when their Session Expiry
	// Interval passed.
	Sessions int
	Expired  uint64
	// Received is the number of PUBLISH packets received from clients,
	// Sent the number handed to the clients' connections to send (one
	// for each subscriber a message reached; a QoS 1 or 2 one may wait
	// there for the client's Receive Maximum).
	Received, Sent uint64
	// BytesIn and BytesOut are the bytes read from and written to the
	// clients' transports (inside TLS and WebSocket).
	BytesIn, BytesOut uint64
	// Subscriptions is the number of subscriptions of every session,
	// Retained the number of retained messages ($SYS topics included).
	Subscriptions, Retained int
}

// Stats returns the counts of the broker's flow control so far.
func (b *Broker) Stats() Stats {
	st := Stats{DroppedQoS0: b.droppedQoS0.Load(), Withheld: b.withheld.Load(), PeakQueued: int(b.peakQueued.Load()),
		Conns: b.srv.Conns(), Subscriptions: b.tree.count(), Retained: b.retained.count()}
	b.counts.fill(&st)
	t := b.srv.Traffic()
	st.BytesIn, st.BytesOut = t.BytesIn, t.BytesOut
	b.mu.Lock()
	defer b.mu.Unlock()
	st.Sessions = len(b.sessions)
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

// claim makes c the connection of the session of clientID; a clean start
// discards the existing session (MQTT-3.1.2-4). It returns the session,
// whether it existed and is resumed (MQTT-3.1.2-5), and the Connection
// state exported when its last connection ended.
//
// When another connection has the session, claim returns busy: c waits
// for it (b.takers), the other is asked to hand it over (MQTT-3.1.4-3,
// takeover.go), and c is woken to claim it again once it has. A
// connection that waits already is closed: the later CONNECT wins.
// again is that second claim, which finds c superseded (err) if a later
// connection has come meanwhile.
//
// A will waiting for its delay is cancelled by the new connection
// (MQTT-3.1.2-26), or published when a clean start ends the session
// (MQTT-3.1.2-8).
func (b *Broker) claim(c *conn, clientID string, cleanStart, again bool) (s *session, present bool, state []byte, busy bool, err error) {
	var will *message
	var owner, superseded *conn
	defer func() {
		if will != nil {
			b.route(will, nil, nil)
		}
		if superseded != nil {
			superseded.sc.Close(packet.SessionTakenOver) // not connected: just closed
		}
		if owner != nil {
			owner.askHandOver()
		}
	}()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return nil, false, nil, false, ErrServerClosed
	}
	switch t := b.takers[clientID]; {
	case again && t != c:
		return nil, false, nil, false, errSuperseded
	case !b.clusterCurrent(c):
		superseded = c // a later claim on another node, or on this one
		return nil, false, nil, false, errSuperseded
	case t != nil && t != c:
		superseded = t
	}
	delete(b.takers, clientID)
	s = b.sessions[clientID]
	if s != nil && s.owner != nil {
		b.takers[clientID] = c
		owner = s.owner
		return nil, false, nil, true, nil
	}
	if s != nil {
		will = s.stopTimersLocked()
		if !cleanStart {
			will = nil
		}
	}
	if s != nil && cleanStart {
		b.discardLocked(s)
		b.persistLocked(s, true)
		s = nil
	}
	present = s != nil
	if s == nil {
		s = newSession(clientID)
		b.persistNewLocked(s)
		b.sessions[clientID] = s
	}
	s.owner = c
	if b.cs != nil {
		s.crev = c.claimRev() // the claim its floors are saved under (floor.go)
	}
	if o := s.off; o != nil { // its timers stopped above
		state = o.state
		if o.blockedBy != nil {
			c.extra().blockers = o.blockedBy
		}
		s.off = nil
	}
	return s, present, state, false, nil
}

// errSuperseded: a connection waiting for a session was overtaken by a
// later one of the same client.
var errSuperseded = errors.New("broker: a later connection claimed the session")

// discardLocked ends a session: out of the table, out of the topic tree,
// and deaf to further deliveries. b.mu is held.
func (b *Broker) discardLocked(s *session) {
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
	}
	for _, f := range s.kill() {
		b.tree.unsubscribe(f.k, s)
	}
	s.stopTimersLocked()
	s.off = nil
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
		o := s.offline()
		o.will = will
		if expiry == neverExpires || willDelay < expiry {
			o.willAt = time.Now().Add(seconds(willDelay))
			o.willTimer = time.AfterFunc(seconds(willDelay), func() { b.willDue(s, gen) })
		}
	}
	if expiry != neverExpires {
		o := s.offline()
		o.expiresAt = time.Now().Add(seconds(expiry))
		o.expiryTimer = time.AfterFunc(seconds(expiry), func() { b.expire(s, gen) })
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
	var w *message
	if o := s.off; o != nil {
		w = o.will
		o.will, o.willTimer = nil, nil
	}
	b.persistLocked(s, false)
	b.clusterSaveOfflineLocked(s) // without its will: published once
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
	var w *message
	if s.off != nil {
		w = s.off.will
	}
	b.discardLocked(s)
	b.persistLocked(s, true)
	b.clusterEndedLocked(s)
	b.mu.Unlock()
	b.counts.expired.Add(1)
	b.log.Info("session expired", "client", s.id)
	if w != nil {
		b.route(w, nil, nil)
	}
}
