package broker

import (
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// delivery is one message on its way to one session.
type delivery struct {
	msg    *message
	qos    packet.QoS
	retain bool
	subIDs []uint32
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

// connQueueMax bounds the QoS 1 and QoS 2 PUBLISH packets a connection
// hands its Connection beyond the client's Receive Maximum; the rest wait
// in the session's outbox, where Config.MaxQueued bounds them.
const connQueueMax = 64

// flushPending sends what the session's outbox holds (one batch of it, a
// lock of the outbox each): QoS 0 messages as they come, QoS 1 and QoS 2
// ones while the Connection holds fewer than connQueueMax waiting for the
// client's Receive Maximum. A client whose outbox overflowed is
// disconnected with 0x97 Quota exceeded.
//
// It then wakes its own connection for the next batch rather than take
// it, so that a client whose messages arrive faster than they can be sent
// still has its packets read, its timers and the broker's requests served
// in between.
func (c *conn) flushPending() {
	// The messages go out in one write (or one per batchBytes), not one
	// write each.
	c.batched(c.sendBatch)
}

// sendBatch takes one batch from the outbox and sends it.
func (c *conn) sendBatch() {
	if !c.connected || c.closing {
		return
	}
	// Each QoS 1 or QoS 2 message sent adds at most one to the
	// Connection's queue.
	batch, overflow := c.sess.take(c.taken, connQueueMax-c.mc.Queued())
	if overflow {
		c.logf("disconnected: too many messages unacknowledged or unread")
		c.disconnect(packet.QuotaExceeded)
		return
	}
	if len(batch) == 0 {
		c.taken = batch
		if cap(batch) > keepOutbox {
			c.taken = nil // a burst is over
		}
		return
	}
	now := time.Now()
	for i, d := range batch {
		if c.closing {
			// What the client was not sent stays in the session.
			c.sess.giveBack(batch[i:])
			break
		}
		c.deliver(d.msg, d.qos, d.retain, d.subIDs, now)
	}
	clear(batch)
	c.taken = batch[:0]
	c.sess.signal()
}

// deliver sends one message to the client.
func (c *conn) deliver(m *message, qos packet.QoS, retain bool, subIDs []uint32, now time.Time) {
	p := &c.pub
	if !m.fill(p, c.version, qos, retain, subIDs, now) {
		return // expired
	}
	if err := c.send(p); err != nil {
		// Too large for the client (MQTT-3.1.2-25) or the connection is
		// closing; the message is not delivered.
		c.logf("message on %q not delivered: %v", m.topic, err)
	}
}
