package broker

import (
	"sync"

	"github.com/mqttcore/mqtt/packet"
)

// session is the broker's state for one client identifier. It outlives
// network connections when the client asks for that.
type session struct {
	id string

	// Guarded by Broker.mu.
	owner *conn  // the connection serving the session; nil while offline
	state []byte // the Connection's exported session while offline

	// Guarded by mu: written by the publishers' goroutines (pending) and
	// by the owning connection.
	mu         sync.Mutex
	live       bool // a connection has accepted the session and delivers its outbox
	persistent bool // the session outlives its connection
	dead       bool // discarded: deliveries are dropped
	pending    []delivery
	filters    map[string]struct{} // this session's subscriptions in the tree

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
	return &session{id: id, wake: make(chan struct{}, 1), filters: make(map[string]struct{})}
}

// offer appends d to the session's outbox and wakes its connection. With
// no connection, a persistent session keeps QoS 1 and QoS 2 messages for
// later and drops QoS 0 ones; other sessions drop everything.
func (s *session) offer(d delivery, b *Broker) {
	s.mu.Lock()
	switch {
	case s.dead, !s.live && (!s.persistent || d.qos == packet.QoS0):
		s.mu.Unlock()
		return
	case len(s.pending) >= b.cfg.MaxQueued:
		s.mu.Unlock()
		b.logf("broker: client %q: outbox full, message on %q dropped", s.id, d.msg.topic)
		return
	}
	s.pending = append(s.pending, d)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take empties the outbox.
func (s *session) take() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.pending
	s.pending = nil
	return d
}

// putBack returns deliveries a closing connection did not send to the
// front of the outbox.
func (s *session) putBack(ds []delivery) {
	if len(ds) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(ds[:len(ds):len(ds)], s.pending...)
}

// goOffline records the end of the session's connection: a persistent
// session keeps its QoS 1 and QoS 2 deliveries; any other is discarded by
// the caller.
func (s *session) goOffline(persistent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live, s.persistent = false, persistent
	kept := s.pending[:0]
	for _, d := range s.pending {
		if persistent && d.qos > packet.QoS0 {
			kept = append(kept, d)
		}
	}
	clear(s.pending[len(kept):])
	s.pending = kept
}
