package broker

import (
	"log/slog"
	"slices"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// delivery is one message on its way to one session.
type delivery struct {
	msg    *message
	qos    packet.QoS
	retain bool
	subIDs []uint32
	// With a Store, a delivery to a persistent session at QoS 1 or 2:
	// its sequence in the session, and the unit that records it, which
	// must be committed before it is taken (persist.go).
	seq  uint64
	unit *unit
}

// offer appends d to the session's outbox and wakes its connection. With
// no connection, a persistent session keeps QoS 1 and QoS 2 messages for
// later and drops QoS 0 ones; other sessions drop everything.
//
// Flow control (see flow.go for the publisher's side): the outbox is full
// once it holds Config.MaxQueued deliveries, and stays full until its
// connection has taken it down to the low-water mark (three quarters of
// that). A QoS 0 delivery that finds Config.MaxQueued waiting is dropped
// and counted. A QoS 1 or QoS 2 one is always kept, since the broker may
// acknowledge the message; while the outbox is full, offer reports wait
// and records pub, the publisher's connection (nil for a will), among the
// waiters, which are woken when the outbox drains: pub withholds the
// message's acknowledgement until then. A delivery to the publisher's own
// session makes it wait only past selfLimit.
func (s *session) offer(d delivery, b *Broker, pub *conn) (wait bool) {
	s.mu.Lock()
	if s.dead || !s.live && (!s.persistent || d.qos == packet.QoS0) || s.hadLocked(d) {
		s.mu.Unlock()
		return false
	}
	limit := b.cfg.MaxQueued
	if d.qos == packet.QoS0 && len(s.pending) >= limit {
		s.dropped++
		first := s.dropped == 1
		s.mu.Unlock()
		b.droppedQoS0.Add(1)
		if first {
			b.log.Warn("outbox full: QoS 0 messages dropped", "client", s.id, "max_queued", limit)
		}
		return false
	}
	if d.unit != nil { // route has a Store: the delivery is recorded if the session keeps it
		if s.persistent && storeQoS(d.qos) {
			s.ps.outSeq++
			d.seq = s.ps.outSeq
		} else {
			d.unit = nil
		}
	}
	s.pending = append(s.pending, d)
	n := len(s.pending)
	s.noteExpiryLocked(d.msg.expires)
	s.noteOfferedLocked(d) // floor.go
	if n >= limit {
		s.full = true
	}
	if s.full && d.qos > packet.QoS0 && pub != nil && (pub.sess != s || n >= s.selfLimitLocked(b)) {
		wait = true
		if !pub.waitsFor(s) {
			// Otherwise pub is a waiter already, or has been woken and
			// looks again (holds).
			s.addWaiterLocked(pub)
		}
	}
	sc := s.sc
	s.mu.Unlock()
	if d.unit != nil {
		d.unit.stage(s, d)
		sc = nil // woken once the unit is committed
	}
	b.notePeak(n)
	if n == 1 && sc != nil {
		// An outbox that was not empty has woken its connection already:
		// the connection takes batches until it finds the outbox empty,
		// has to wait for the client's acknowledgements (and looks again
		// when they come) or for its bytes to be written
		// (flushPending).
		if pub != nil {
			pub.wakeLater(sc)
		} else {
			sc.Wake()
		}
	}
	return wait
}

// selfLimitLocked is how many deliveries the outbox holds before a client
// that publishes to a topic it subscribes to waits for it: Config.MaxQueued
// more than the other publishers can have put there (MaxQueued, and a
// window each for those that wait). A client whose handler publishes and
// waits for the acknowledgement, a message of its own for each it reads,
// then never waits for itself: the messages ahead of its own are fewer.
// One that publishes to itself faster than it reads waits past it, so
// that its outbox stays bounded. s.mu is held.
func (s *session) selfLimitLocked(b *Broker) int {
	return 2*b.cfg.MaxQueued + len(s.waitersLocked())*b.window
}

// drainedLocked ends the full state of the outbox once it holds no more
// than low deliveries, or the session is dead, and wakes the publishers
// that waited. s.mu is held.
func (s *session) drainedLocked(low int) {
	if !s.full || len(s.pending) > low && !s.dead {
		return
	}
	s.full, s.dropped = false, 0
	ws := s.waitersLocked()
	s.waiters = nil // a full outbox is rare: the list goes with it
	for _, w := range ws {
		w.wakeUnblocked()
	}
}

// waiter is what waits for a full outbox: the connection of a publisher
// (its acknowledgements withheld), or the cluster's delivery of the other
// nodes' messages (remote.go). wakeUnblocked is called, with s.mu held,
// when the outbox drains.
type waiter interface{ wakeUnblocked() }

// waitersLocked returns the publishers' connections, and the cluster,
// that wait for the outbox. s.mu is held.
func (s *session) waitersLocked() []waiter {
	if s.waiters == nil {
		return nil
	}
	return *s.waiters
}

// addWaiterLocked adds w to those that wait for the outbox. s.mu is
// held.
func (s *session) addWaiterLocked(w waiter) {
	if s.waiters == nil {
		s.waiters = new([]waiter)
	}
	*s.waiters = append(*s.waiters, w)
}

// holds reports whether w, a publisher's connection or the cluster, is to
// go on waiting for the session, when w looks again: the session lives
// and its outbox is still full once the messages that have expired are
// dropped (and, for a publisher's own session, past selfLimitLocked). If
// so, w is among the waiters.
func (s *session) holds(w waiter, now time.Time, b *Broker) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full && s.purgeLocked(now) {
		s.drainedLocked(b.lowWater)
	}
	if c, _ := w.(*conn); !s.full || s.dead || c != nil && c.sess == s && len(s.pending) < s.selfLimitLocked(b) {
		return false
	}
	if !slices.Contains(s.waitersLocked(), w) {
		s.addWaiterLocked(w)
	}
	return true
}

// unwait forgets w, a publisher's connection that has ended, as a waiter.
func (s *session) unwait(w waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ws := s.waitersLocked(); slices.Contains(ws, w) {
		*s.waiters = slices.DeleteFunc(ws, func(c waiter) bool { return c == w })
	}
}

// purgeLocked drops the deliveries whose messages have expired
// (MQTT-3.3.2-5), if one may have, and reports whether it dropped any.
// s.mu is held.
func (s *session) purgeLocked(now time.Time) bool {
	if s.firstExpiry == 0 || now.UnixNano() < s.firstExpiry {
		return false
	}
	s.firstExpiry = 0
	kept := s.pending[:0]
	for _, d := range s.pending {
		if e := d.msg.expires; !e.IsZero() && !now.Before(e) {
			continue
		}
		s.noteExpiryLocked(d.msg.expires)
		kept = append(kept, d)
	}
	dropped := len(s.pending) - len(kept)
	clear(s.pending[len(kept):])
	s.pending = kept
	return dropped > 0
}

// noteExpiryLocked lowers firstExpiry to e, a delivery's expiry (zero:
// none). s.mu is held.
func (s *session) noteExpiryLocked(e time.Time) {
	if e.IsZero() {
		return
	}
	if n := e.UnixNano(); s.firstExpiry == 0 || n < s.firstExpiry {
		s.firstExpiry = n
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
// its batches back allocates nothing. An outbox taken down to low
// deliveries is no longer full (drainedLocked).
func (s *session) take(batch []delivery, room, low int) []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 && cap(s.pending) > keepOutbox {
		s.pending = nil // a burst is over
	}
	n := 0
	for _, d := range s.pending {
		if !d.ready() {
			break // recorded, not yet committed (persist.go)
		}
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
		s.firstExpiry = 0
	default:
		batch = append(batch, s.pending[:n]...)
		clear(s.pending[:n])
		s.pending = s.pending[n:]
	}
	s.noteTakenLocked(batch) // floor.go
	s.drainedLocked(low)
	return batch
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
	for _, d := range ds {
		s.noteExpiryLocked(d.msg.expires)
	}
}

// connQueueMax bounds the QoS 1 and QoS 2 PUBLISH packets a connection
// hands its Connection beyond the client's Receive Maximum; the rest wait
// in the session's outbox, where Config.MaxQueued bounds them.
const connQueueMax = 64

// maxInFlight bounds the QoS 1 and QoS 2 messages sent to a client and
// not yet acknowledged, below the client's own Receive Maximum (65,535
// when it announces none, and always in 3.1.1): the messages a client is
// slow to acknowledge wait in the outbox, where they count towards
// Config.MaxQueued and share the broker's one copy of each message, rather
// than as encoded copies in its Connection and in the socket. It is enough
// to keep a fast subscriber's connection busy (20 ms of acknowledgements
// at 200,000 messages a second): with 1,024 the load generator's fan-in
// ran slower.
const maxInFlight = 4096

// flushBacklog is how many bytes may wait to be written to the client
// before flushPending stops taking its outbox; it goes on once fewer than
// flushResume wait. What a subscriber is slow to take stays in its outbox,
// where Config.MaxQueued bounds it and the message is the broker's one
// copy, not in encoded copies waiting for its socket.
const (
	flushBacklog = 256 << 10
	flushResume  = 64 << 10
)

// flushPending sends what the session's outbox holds, a batch (a lock of
// the outbox) at a time: QoS 0 messages as they come, QoS 1 and QoS 2
// ones while the Connection holds fewer than connQueueMax waiting for the
// client's Receive Maximum and fewer than maxInFlight unacknowledged. It
// stops when the outbox is empty, when what is left waits for the
// client's acknowledgements (which wake the connection: handler.go), or
// when flushBacklog bytes wait for the client: then the server wakes the
// connection once they are down to flushResume. The bytes go out in as
// few writes as the server's writer needs, not one write each.
func (c *conn) flushPending() {
	for c.sendBatch() {
		if c.sc.Backlog() >= flushBacklog {
			c.sc.WakeAtBacklog(flushResume)
			return
		}
	}
}

// sendBatch takes one batch from the outbox and sends it; it reports
// whether there was one.
func (c *conn) sendBatch() bool {
	if !c.connected || c.mc().State() != mqtt.StateConnected {
		return false
	}
	// Each QoS 1 or QoS 2 message sent adds one to the Connection's
	// queue or to what is in flight.
	room := min(connQueueMax-c.mc().Queued(), maxInFlight-c.inFlight())
	s := c.scratch()
	batch := c.sess.take(s.taken, room, c.b.lowWater)
	if len(batch) == 0 {
		s.taken = batch
		if cap(batch) > keepOutbox {
			s.taken = nil // a burst is over
		}
		return false
	}
	now := time.Now()
	sent := batch
	track := c.b.cs != nil
	ok := s.sent[:0]
	for i, d := range batch {
		if c.mc().State() != mqtt.StateConnected {
			// What the client was not sent stays in the session.
			c.sess.giveBack(batch[i:])
			sent = batch[:i]
			break
		}
		delivered := c.deliver(d.msg, d.qos, d.retain, d.subIDs, now)
		if track {
			ok = append(ok, delivered)
		}
	}
	if track {
		c.sess.noteSent(sent, ok) // floor.go
		s.sent = ok[:0]
	}
	c.persistTaken(sent)
	clear(batch)
	s.taken = batch[:0]
	return true
}

// inFlight returns how many QoS 1 and QoS 2 messages the client has not
// acknowledged: its Receive Maximum less the Connection's send quota (in
// constant time, where Connection.InFlight counts them).
func (c *conn) inFlight() int {
	return int(c.clientReceiveMax) - c.mc().SendQuota()
}

// deliver sends one message to the client, if it may read it (Config.ACL:
// checked here, when the message leaves, whether it was routed, retained
// or queued while the client was away), and reports whether it did.
func (c *conn) deliver(m *message, qos packet.QoS, retain bool, subIDs []uint32, now time.Time) bool {
	if !c.perms().MayRead(m.topic) {
		return false
	}
	p := &c.scratch().pub
	if !m.fill(p, c.version, qos, retain, subIDs, now) {
		return false // expired
	}
	if err := c.mc().Send(p); err != nil {
		// Too large for the client (MQTT-3.1.2-25) or the connection is
		// closing; the message is not delivered.
		c.logAt(slog.LevelWarn, "message not delivered", "topic", m.topic, "err", err)
		return false
	}
	c.b.counts.stripe(c).sent.Add(1)
	return true
}
