package broker

import "github.com/mqttcore/mqtt/packet"

// Floors: what a session lost when its node crashed.
//
// In a SessionCluster, a node that crashes takes with it what was queued
// for its sessions and in flight to their clients. The cluster keeps its
// QoS 1 and QoS 2 messages in one order (examples/cluster: a JetStream
// stream, the position a stream sequence), so what a session lost is
// among the messages of its subscriptions from a position on: its floor,
// below which its client has acknowledged every message it was to get.
// The broker computes it (Broker.SessionFloors, and in every snapshot);
// the cluster saves it now and then, and the node that resumes the
// session after the crash gives it what the cluster holds from the
// floor on (ClusterClaim.Replay, Broker.adopt): at least once, as the
// floor saved may be older than the last.
//
// A persistent session's floor is the lowest position among:
//   - the QoS 1 and QoS 2 deliveries in its outbox (message.pos: the
//     cluster's position of a message of another node; for one
//     published here, SessionCluster.Position when it was routed, below
//     the position it gets);
//   - the messages sent to its client and not yet acknowledged, by PUBACK
//     (QoS 1) or PUBREC (QoS 2; once the client has it, a replay would be
//     a second copy). A client acknowledges the messages of each QoS in
//     the order it received them (MQTT-4.6.0-2, MQTT-4.6.0-3), so each
//     acknowledgement retires the oldest position of its QoS;
//   - SessionCluster.Floor: no message that reaches the node from then on
//     lies below it.
//
// An extra position never acknowledged only holds the floor down (a
// longer replay); a position missing would raise it above a message
// not yet acknowledged. So whenever the client has nothing in flight,
// the positions are dropped; and a session whose Connection state came
// without them (restored from a Store, or a snapshot of format 1) has no
// floor until then.

// floorState is what a persistent session's floor is made of, in a
// SessionCluster; guarded by session.mu.
type floorState struct {
	sent    [2]positions // the messages sent and not yet acknowledged: QoS 1, QoS 2
	transit uint64       // the lowest position of a batch taken from the outbox and not yet sent (0: none)
	unknown bool         // the Connection has messages in flight whose positions are not known
	dirty   bool         // the floor may have moved since SessionFloors last reported it
}

// exactBit marks, in a position kept in a queue or a snapshot, one that is
// the message's own (message.exact); positions are stream sequences,
// far below it.
const exactBit = 1 << 63

// posOf returns the position of m as kept: with exactBit if exact.
func posOf(m *message) uint64 {
	if m.exact {
		return m.pos | exactBit
	}
	return m.pos
}

// positions is a queue of message positions (posOf), oldest first.
type positions struct {
	q    []uint64
	head int
}

func (p *positions) push(pos uint64) {
	if p.head > 64 && p.head > len(p.q)/2 {
		n := copy(p.q, p.q[p.head:])
		p.q, p.head = p.q[:n], 0
	}
	p.q = append(p.q, pos)
}

// pop retires the oldest position, if any.
func (p *positions) pop() {
	if p.head < len(p.q) {
		p.head++
	}
	if p.head == len(p.q) {
		p.q, p.head = p.q[:0], 0
	}
}

func (p *positions) items() []uint64 { return p.q[p.head:] }

func (p *positions) reset() { p.q, p.head = nil, 0 }

// lowest returns the lowest of floor and the known positions of ps.
func lowest(floor uint64, ps []uint64) uint64 {
	for _, pos := range ps {
		if pos &^= exactBit; pos != 0 && pos < floor {
			floor = pos
		}
	}
	return floor
}

// trackFloor makes the session keep what its floor is made of, from now
// on: a persistent session of a SessionCluster. imported: its Connection
// took a state with messages in flight whose positions are not known.
func (s *session) trackFloor(imported bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fl == nil {
		s.fl = &floorState{dirty: true, unknown: imported}
	}
}

// floorLocked returns the session's floor, with base the cluster's
// (SessionCluster.Floor); ok is false when it has none (not tracked, or
// not known). s.mu is held.
func (s *session) floorLocked(base uint64) (floor uint64, ok bool) {
	f := s.fl
	if f == nil || f.unknown {
		return 0, false
	}
	floor = base
	if f.transit != 0 {
		floor = min(floor, f.transit)
	}
	floor = lowest(floor, f.sent[0].items())
	floor = lowest(floor, f.sent[1].items())
	for _, d := range s.pending {
		if d.qos > packet.QoS0 && d.msg.pos != 0 {
			floor = min(floor, d.msg.pos)
		}
	}
	return floor, true
}

// floorState returns what the floor of a session handed over is made of:
// the positions of the messages in flight in its state.
func (snap *snapshot) floorState() *floorState {
	f := &floorState{dirty: true, unknown: snap.floorUnknown && len(snap.state) > 0}
	for qos, sent := range snap.sent {
		for _, pos := range sent {
			f.sent[qos].push(pos)
		}
	}
	return f
}

// noteOfferedLocked notes a delivery put in the outbox. s.mu is held.
func (s *session) noteOfferedLocked(d delivery) {
	if s.fl != nil && d.qos > packet.QoS0 {
		s.fl.dirty = true
	}
}

// noteTakenLocked notes a batch taken from the outbox to be sent: its
// positions count until noteSent has them. s.mu is held.
func (s *session) noteTakenLocked(batch []delivery) {
	f := s.fl
	if f == nil {
		return
	}
	f.transit = 0
	for _, d := range batch {
		if d.qos > packet.QoS0 && d.msg.pos != 0 && (f.transit == 0 || d.msg.pos < f.transit) {
			f.transit = d.msg.pos
		}
	}
}

// noteSent records the positions of the QoS 1 and QoS 2 messages of a
// batch that were sent (sent[i]: delivery i was), in the order sent.
func (s *session) noteSent(batch []delivery, sent []bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fl
	if f == nil {
		return
	}
	for i, d := range batch {
		if d.qos > packet.QoS0 && sent[i] {
			f.sent[d.qos-1].push(posOf(d.msg))
		}
	}
	f.transit = 0
	f.dirty = true
}

// noteAcked records an acknowledgement from the client: a PUBACK (qos 1)
// or a PUBREC (qos 2) retires the oldest position of its QoS; a PUBCOMP
// (qos 0 here) none. settled: the client has nothing in flight any more,
// so that no position is left to retire.
func (s *session) noteAcked(qos packet.QoS, settled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fl
	if f == nil {
		return
	}
	if qos > packet.QoS0 {
		f.sent[qos-1].pop()
	}
	if settled {
		f.sent[0].reset()
		f.sent[1].reset()
		f.unknown = false
	}
	f.dirty = true
}

// ackedByClient is the floor's side of an acknowledgement of the client's
// (handler.go): qos as for noteAcked.
func (c *conn) ackedByClient(qos packet.QoS) {
	if c.b.cs == nil || c.sess == nil {
		return
	}
	c.sess.noteAcked(qos, c.inFlight() == 0 && c.mc().Queued() == 0)
}

// SessionFloors calls fn with the floor of each persistent session this
// node holds whose floor may have moved since the last call, and the
// claim it holds the session under (SessionCluster: the cluster saves
// them, for a node that resumes one of them after this one crashed). A
// session whose floor is not known is left out. fn is called with the
// broker's lock held: it must not block, nor call the Broker.
func (b *Broker) SessionFloors(fn func(clientID string, rev, floor uint64)) {
	if b.cs == nil {
		return
	}
	base := b.cs.link.Floor()
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, s := range b.sessions {
		s.mu.Lock()
		if s.moved != nil && base >= s.moved.top {
			s.moved = nil // no copy of what it had comes any more
		}
		floor, ok := s.floorLocked(base)
		if ok {
			ok = s.fl.dirty
			s.fl.dirty = false
		}
		s.mu.Unlock()
		if ok && s.crev != 0 {
			fn(id, s.crev, floor)
		}
	}
}
