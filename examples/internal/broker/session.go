package broker

import (
	"sync"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// neverExpires is the Session Expiry Interval of a session that does not
// expire (section 3.1.2.11.2), and the one used for 3.1.1 sessions.
const neverExpires = 0xFFFFFFFF

// session is the broker's state for one client identifier. It outlives
// network connections when the client asks for that.
type session struct {
	id string

	// Guarded by Broker.mu.
	owner *conn    // the connection serving the session; nil while offline
	off   *offline // what it keeps while offline; nil while live (and offline with nothing)
	gen   uint64   // tells an offline timer whether the session was claimed since it was armed
	crev  uint64   // in a cluster: the claim of the client identifier it is held under (cluster_session.go)

	// Guarded by mu, which only the methods of session take: written by
	// the publishers' goroutines (pending) and by the owning connection.
	mu         sync.Mutex
	live       bool // a connection has accepted the session and delivers its outbox
	persistent bool // the session outlives its connection
	dead       bool // discarded: deliveries are dropped
	// Flow control (outbox.go): full from when the outbox reaches
	// Config.MaxQueued until it drains to lowWater; waiters are the
	// connections of the publishers whose acknowledgements wait for that
	// (and the cluster, remote.go);
	// dropped counts the QoS 0 deliveries lost meanwhile, for the log;
	// no delivery in the outbox expires before firstExpiry, in Unix
	// nanoseconds (0: none has a Message Expiry Interval).
	full        bool
	dropped     int32
	waiters     *[]waiter // made when the first publisher waits (outbox.go)
	firstExpiry int64
	pending     []delivery
	filters     map[string]filterSub // this session's subscriptions in the tree, by the filter subscribed to (nil: none yet)
	// sc is the connection of the session while live, woken when pending
	// grows.
	sc *server.Conn

	ps *sessionPersist // with a Store: its records (persist.go)
	fl *floorState     // in a SessionCluster, a persistent session's floor (floor.go); under mu
	// moved is, for a session that came from another node, what it had
	// there: a later copy of one of those messages is dropped (floor.go).
	// Under mu.
	moved *movedFrom
}

// offline is what a session keeps while no connection serves it, guarded
// by Broker.mu.
type offline struct {
	state []byte // the Connection's exported session
	// blockedBy is the full outboxes the last connection waited for
	// (flow.go): the next one waits for them too before it completes
	// what the client sends again.
	blockedBy []*session
	// The will waiting for its Will Delay Interval or for the end of the
	// session, whichever comes first (MQTT-3.1.2-8), and the timers that
	// end the wait and the session (MQTT-4.1.0-2).
	will        *message
	willTimer   *time.Timer
	willAt      time.Time // when willTimer fires
	expiryTimer *time.Timer
	expiresAt   time.Time // when expiryTimer fires; zero for never
}

// offline returns s.off, made on first use. Broker.mu is held.
func (s *session) offline() *offline {
	if s.off == nil {
		s.off = new(offline)
	}
	return s.off
}

// keepLocked keeps state and blockedBy for the session's next
// connection. Broker.mu is held.
func (s *session) keepLocked(state []byte, blockedBy []*session) {
	if state != nil || blockedBy != nil {
		o := s.offline()
		o.state, o.blockedBy = state, blockedBy
	}
}

func newSession(id string) *session {
	return &session{id: id}
}

// goLive records that sc, a connection that has accepted the session,
// delivers its outbox; persistent tells whether the session outlives it.
func (s *session) goLive(persistent bool, sc *server.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live, s.persistent, s.sc = true, persistent, sc
}

// reach reports whether a delivery at qos would reach the session's client:
// live, the session is connected; keeps, it is not but keeps the message
// for later.
func (s *session) reach(qos packet.QoS) (live, keeps bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live && !s.dead, s.persistent && !s.dead && qos > packet.QoS0
}

// queued returns the number of deliveries in the outbox.
func (s *session) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// filterSub is a subscription of the session: its place in the topic tree
// and its options.
type filterSub struct {
	k   filterKey
	sub subscription
}

// addFilter records the session's subscription sub to filter, k in the
// topic tree.
func (s *session) addFilter(filter string, k filterKey, sub subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.filters == nil {
		s.filters = make(map[string]filterSub) // on first use: most idle clients subscribe to nothing
	}
	s.filters[filter] = filterSub{k, sub}
}

// removeFilter forgets the session's subscription to filter.
func (s *session) removeFilter(filter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.filters, filter)
}

// mayAdd reports whether the session may subscribe to filter without
// holding more than limit subscriptions: it has it already (subscribing
// again replaces the subscription), or has fewer than limit.
func (s *session) mayAdd(filter string, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.filters[filter]
	return ok || len(s.filters) < limit
}

// kill makes the session deaf to further deliveries and drops its outbox;
// it returns its subscriptions, for the caller to take out of the topic
// tree.
func (s *session) kill() map[string]filterSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead, s.sc = true, nil
	s.pending = nil
	s.drainedLocked(0)
	filters := s.filters
	s.filters = nil
	return filters
}

// goOffline records the end of the session's connection: a persistent
// session keeps its QoS 1 and QoS 2 deliveries; any other is discarded by
// the caller.
//
// Publishers waiting for a session that is discarded are released; those
// waiting for a persistent one go on waiting until its client comes back
// and reads, or it expires.
func (s *session) goOffline(persistent bool, low int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live, s.persistent, s.sc = false, persistent, nil
	kept := s.pending[:0]
	for _, d := range s.pending {
		if persistent && d.qos > packet.QoS0 {
			kept = append(kept, d)
		}
	}
	clear(s.pending[len(kept):])
	s.pending = kept
	s.drainedLocked(low)
}

// stopTimersLocked cancels the offline timers and returns the will that
// was waiting. Broker.mu is held.
func (s *session) stopTimersLocked() *message {
	s.gen++
	o := s.off
	if o == nil {
		return nil
	}
	if o.willTimer != nil {
		o.willTimer.Stop()
		o.willTimer = nil
	}
	if o.expiryTimer != nil {
		o.expiryTimer.Stop()
		o.expiryTimer = nil
	}
	w := o.will
	o.will = nil
	return w
}
