package broker

import (
	"sync"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// neverExpires is the Session Expiry Interval of a session that does not
// expire (section 3.1.2.11.2), and the one used for 3.1.1 sessions.
const neverExpires = 0xFFFFFFFF

// session is the broker's state for one client identifier. It outlives
// network connections when the client asks for that.
type session struct {
	id string

	// Guarded by Broker.mu.
	owner *conn  // the connection serving the session; nil while offline
	state []byte // the Connection's exported session while offline
	// While offline: the will waiting for its Will Delay Interval or for
	// the end of the session, whichever comes first (MQTT-3.1.2-8), and
	// the timers that end the wait and the session (MQTT-4.1.0-2). gen
	// tells a timer whether the session was claimed since it was armed.
	will        *message
	willTimer   *time.Timer
	expiryTimer *time.Timer
	gen         uint64

	// Guarded by mu: written by the publishers' goroutines (pending) and
	// by the owning connection.
	mu         sync.Mutex
	live       bool // a connection has accepted the session and delivers its outbox
	persistent bool // the session outlives its connection
	dead       bool // discarded: deliveries are dropped
	overflow   bool // the client's QoS 1 and 2 backlog passed the cap: disconnect it
	pending    []delivery
	filters    map[string]filterKey // this session's subscriptions in the tree, by the filter subscribed to

	// wake tells the owning connection that pending has grown.
	wake chan struct{}
}

// delivery is one message on its way to one session.
type delivery struct {
	msg    *message
	qos    packet.QoS
	retain bool
	subIDs []uint32
}

func newSession(id string) *session {
	return &session{id: id, wake: make(chan struct{}, 1), filters: make(map[string]filterKey)}
}

// offer appends d to the session's outbox and wakes its connection. With
// no connection, a persistent session keeps QoS 1 and QoS 2 messages for
// later and drops QoS 0 ones; other sessions drop everything.
//
// The outbox holds at most cfg.MaxQueued deliveries. When it is full a
// QoS 0 message is lost first: a new one is dropped, or else the oldest
// queued one makes room. A full outbox of QoS 1 and QoS 2 messages means
// the client cannot keep up: the new message is dropped and a connected
// client is disconnected with 0x97 Quota exceeded.
func (s *session) offer(d delivery, b *Broker) {
	s.mu.Lock()
	if s.dead || !s.live && (!s.persistent || d.qos == packet.QoS0) {
		s.mu.Unlock()
		return
	}
	if len(s.pending) >= b.cfg.MaxQueued {
		oldest := -1
		if d.qos > packet.QoS0 {
			for i, p := range s.pending {
				if p.qos == packet.QoS0 {
					oldest = i
					break
				}
			}
		}
		if oldest < 0 {
			if d.qos > packet.QoS0 && s.live {
				s.overflow = true
			}
			s.mu.Unlock()
			s.signal()
			b.logf("broker: client %q: outbox full, message on %q dropped", s.id, d.msg.topic)
			return
		}
		lost := s.pending[oldest].msg.topic
		s.pending = append(s.pending[:oldest], s.pending[oldest+1:]...)
		b.logf("broker: client %q: outbox full, message on %q dropped", s.id, lost)
	}
	s.pending = append(s.pending, d)
	first := len(s.pending) == 1
	s.mu.Unlock()
	if first {
		// An outbox that was not empty has woken its connection already:
		// after each batch it takes, the connection wakes itself for the
		// next, until it finds the outbox empty or has to wait for the
		// client's acknowledgements (and looks again when they come).
		s.signal()
	}
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// keepOutbox bounds the array an empty outbox keeps, and the one its
// connection keeps for the next batch once the outbox is empty: while the
// outbox is busy the two arrays go back and forth, whatever their size.
const keepOutbox = 1024

// take moves the deliveries at the front of the outbox that may go to the
// client now into batch, which is empty: every QoS 0 one, and at most room
// QoS 1 and QoS 2 ones, up to the first one past room. When it takes the
// whole outbox it swaps it for batch's array, so a connection that hands
// its batches back allocates nothing. overflow reports that the client is
// to be disconnected.
func (s *session) take(batch []delivery, room int) (_ []delivery, overflow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		return batch, true
	}
	if len(s.pending) == 0 && cap(s.pending) > keepOutbox {
		s.pending = nil // a burst is over
	}
	n := 0
	for _, d := range s.pending {
		if d.qos > packet.QoS0 {
			if room <= 0 {
				break
			}
			room--
		}
		n++
	}
	switch {
	case n == 0:
	case n == len(s.pending):
		batch, s.pending = s.pending, batch[:0]
	default:
		batch = append(batch, s.pending[:n]...)
		clear(s.pending[:n])
		s.pending = s.pending[n:]
	}
	return batch, false
}

// giveBack puts deliveries taken but not sent back at the front of the
// outbox.
func (s *session) giveBack(ds []delivery) {
	if len(ds) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return
	}
	s.pending = append(append(make([]delivery, 0, len(ds)+len(s.pending)), ds...), s.pending...)
}

// next removes and returns the first delivery of the outbox if ready
// accepts its QoS (take does the same for many at once). overflow reports
// that the client is to be disconnected.
func (s *session) next(ready func(packet.QoS) bool) (d delivery, ok, overflow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		return d, false, true
	}
	if len(s.pending) == 0 || !ready(s.pending[0].qos) {
		return d, false, false
	}
	d = s.pending[0]
	s.pending[0] = delivery{}
	s.pending = s.pending[1:]
	if len(s.pending) == 0 {
		s.pending = nil
	}
	return d, true, false
}

// goOffline records the end of the session's connection: a persistent
// session keeps its QoS 1 and QoS 2 deliveries; any other is discarded by
// the caller.
func (s *session) goOffline(persistent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live, s.persistent, s.overflow = false, persistent, false
	kept := s.pending[:0]
	for _, d := range s.pending {
		if persistent && d.qos > packet.QoS0 {
			kept = append(kept, d)
		}
	}
	clear(s.pending[len(kept):])
	s.pending = kept
}

// stopTimersLocked cancels the offline timers and returns the will that
// was waiting. Broker.mu is held.
func (s *session) stopTimersLocked() *message {
	if s.willTimer != nil {
		s.willTimer.Stop()
		s.willTimer = nil
	}
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
		s.expiryTimer = nil
	}
	s.gen++
	w := s.will
	s.will = nil
	return w
}
