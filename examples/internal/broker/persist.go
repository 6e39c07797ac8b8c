package broker

import (
	"bytes"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// The broker's side of the Store (store.go): what each connection, session
// and message records, and the broker built again from a store.
//
// What is recorded, and when it is durable:
//
//   - A session, when its connection is accepted (Clean Start, Session
//     Expiry Interval, will), when that connection ends (kept with its
//     deadlines as wall-clock times, or deleted), when its will is
//     published and when it expires. The records of a session's end and
//     of its next connection are in the order of the broker's session
//     table (sealed under Broker.mu).
//   - Its subscriptions, when SUBSCRIBE and UNSUBSCRIBE change them (the
//     SUBACK waits for the commit).
//   - Each QoS 1 and QoS 2 delivery to a persistent session, in the
//     publisher's unit: its PUBACK or PUBREC is written after the commit.
//     (The Connection's journal of the publisher holds the QoS 2 exchange,
//     PUBREC sent, in the same unit: a PUBLISH sent again after a restart
//     is acknowledged and not routed twice.) The subscriber takes it from
//     the outbox only once that commit is done (take), and records in its
//     own unit that it took it (opTaken), with its Connection's journal of
//     the PUBLISH sent: the PUBLISH is written after that commit.
//   - Retained messages, in the unit of their publisher.
//
// A QoS 1 or QoS 2 message that no persistent session gets is recorded
// nowhere: the sessions it went to end with their connections, so with a
// restart. Its acknowledgement still waits for the units its publisher's
// connection recorded before.

// connPersist is a connection's side of the store; guarded by the
// connection's lock.
type connPersist struct {
	open   *unit  // the unit being recorded; nil for none
	last   uint64 // the position of the last unit sealed
	logged int    // journal bytes recorded since the last snapshot
}

// sessionPersist is a session's side of the store.
type sessionPersist struct {
	sid    uint64        // the keys of its records; never changes
	rec    sessionRecord // as last recorded: by its connection while it has one, else under Broker.mu
	outSeq uint64        // the sequence of the last delivery recorded; under session.mu
	// recorded: the store may hold a record of the session (as rec).
	// Guarded as rec.
	recorded bool
}

// compactLog is how many bytes of journal a connection records for its
// session before it replaces them by a snapshot (JournalSnapshot).
const compactLog = 1 << 20

// newUnit returns an empty unit.
func (st *Store) newUnit() *unit { return &unit{st: st} }

// unit returns the connection's open unit, made on first use.
func (c *conn) unit() *unit {
	ps := c.persist()
	if ps.open == nil {
		ps.open = c.b.st.newUnit()
	}
	return ps.open
}

// persist returns the connection's recording state, made on first use
// (behind conn.x: a broker without a Store adds nothing to a conn).
func (c *conn) persist() *connPersist {
	x := c.extra()
	if x.ps == nil {
		x.ps = &connPersist{}
	}
	return x.ps
}

// sealUnit seals the connection's open unit, and returns the position
// its bytes wait for.
func (c *conn) sealUnit() uint64 {
	if c.x == nil || c.x.ps == nil {
		return 0
	}
	ps := c.x.ps
	if u := ps.open; u != nil && (len(u.ops) > 0 || len(u.wake) > 0) {
		ps.open = nil // an empty one stays open for the next records
		ps.last = c.b.st.seal(u)
	}
	return ps.last
}

// Record, Seal and Sync make the broker the server's Journal when it has
// a Store.

// Record keeps a journal batch of the connection's Connection, for a
// persistent session whose connection was accepted (the batches before
// that are superseded by the snapshot accept records).
func (h *handler) Record(sc *server.Conn, batch []byte) {
	c, _ := sc.Value().(*conn)
	if c == nil || !c.connected || c.sess == nil || c.sess.ps == nil || !c.mc().SessionPersists() {
		return
	}
	u := c.unit()
	c.persist().logged += len(batch)
	if c.persist().logged > compactLog {
		c.persist().logged = 0
		u.ops = append(u.ops, storeOp{kind: opLogReset, sid: c.sess.ps.sid, value: c.mc().JournalSnapshot()})
		return
	}
	sid := c.sess.ps.sid
	if n := len(u.ops); n > 0 && u.ops[n-1].kind == opLog && u.ops[n-1].sid == sid {
		// The batches of one unit in one record: a journal batch is a
		// sequence of records, so batches end to end are one batch.
		u.ops[n-1].value = append(u.ops[n-1].value, batch...)
		return
	}
	u.ops = append(u.ops, storeOp{kind: opLog, sid: sid, value: bytes.Clone(batch)})
}

// Seal seals the connection's unit.
func (h *handler) Seal(sc *server.Conn) uint64 {
	if c, _ := sc.Value().(*conn); c != nil {
		return c.sealUnit()
	}
	return 0
}

// Sync waits for the commit of the units up to pos.
func (h *handler) Sync(pos uint64) error { return h.st.sync(pos) }

// Notify calls fn once the units up to pos are committed
// (server.JournalNotifier: no worker of the event loop waits for a
// commit).
func (h *handler) Notify(pos uint64, fn func()) bool { return h.st.notify(pos, fn) }

// persistNewLocked gives a new session its id. Broker.mu is held.
func (b *Broker) persistNewLocked(s *session) {
	if b.st != nil {
		sid := b.st.newSID()
		s.ps = &sessionPersist{sid: sid, rec: sessionRecord{clientID: s.id, sid: sid}}
	}
}

// persistOnline records the session of a connection just accepted, with
// its will, and the Connection's state of it as a new journal.
func (c *conn) persistOnline() {
	s := c.sess
	if c.b.st == nil || s.ps == nil {
		return
	}
	persistent := c.mc().SessionPersists()
	if !persistent && (c.x == nil || c.x.will == nil) && !s.ps.recorded {
		return // a session that ends with its connection, no will: a restart has nothing to do with it
	}
	s.ps.recorded = true
	r := &s.ps.rec
	r.version, r.persistent, r.online, r.expiry = c.version, persistent, true, c.expiry
	r.expiresAt, r.will, r.willDelay, r.willAt = time.Time{}, nil, 0, time.Time{}
	if x := c.x; x != nil {
		r.will, r.willDelay = x.will, x.willDelay
	}
	u := c.unit()
	u.ops = append(u.ops, storeOp{kind: opSession, name: s.id, value: r.encode()})
	if persistent {
		c.persist().logged = 0
		u.ops = append(u.ops, storeOp{kind: opLogReset, sid: s.ps.sid, value: c.mc().JournalSnapshot()})
	}
}

// persistEnd records the end of the connection of s (teardown): kept, the
// session with its deadlines from now and the Connection's state as a
// snapshot; else its end. On Shutdown the session stays as recorded while
// its connection was live (unless its client sent DISCONNECT 0x00 first):
// a broker started again on the store takes it for a connection lost when
// this one stopped. Broker.mu is held: the unit
// is sealed at once, before the next connection of the client records.
func (c *conn) persistEnd(s *session, kept bool) {
	if c.b.st == nil || s.ps == nil {
		return
	}
	if c.connected && (!c.b.closing || c.normal) && s.ps.recorded {
		u := c.unit()
		if kept {
			now := time.Now()
			r := &s.ps.rec
			r.online, r.expiry, r.expiresAt = false, c.expiry, time.Time{}
			if c.expiry != neverExpires {
				r.expiresAt = now.Add(seconds(c.expiry))
			}
			r.will, r.willDelay, r.willAt = nil, 0, time.Time{}
			if s.off != nil && s.off.will != nil {
				r.will, r.willDelay = s.off.will, c.x.willDelay // the connection's will, kept waiting
				r.willAt = now.Add(seconds(r.willDelay))
			}
			u.ops = append(u.ops, storeOp{kind: opSession, name: s.id, value: r.encode()},
				storeOp{kind: opLogReset, sid: s.ps.sid, value: c.mc().JournalSnapshot()})
		} else {
			u.ops = append(u.ops, dropOp(s))
			s.ps.recorded = false
		}
	}
	c.sealUnit()
}

func dropOp(s *session) storeOp {
	return storeOp{kind: opDropSession, name: s.id, sid: s.ps.sid, expect: s.ps.sid}
}

// persistLocked records, on its own, the end of an offline session
// (ended) or that its will was published. Broker.mu is held.
func (b *Broker) persistLocked(s *session, ended bool) {
	if b.st == nil || s.ps == nil || !s.ps.recorded {
		return
	}
	u := b.st.newUnit()
	if ended {
		u.ops = append(u.ops, dropOp(s))
		s.ps.recorded = false
	} else {
		s.ps.rec.will, s.ps.rec.willAt = nil, time.Time{}
		u.ops = append(u.ops, storeOp{kind: opSession, name: s.id, value: s.ps.rec.encode()})
	}
	b.st.seal(u)
}

// persistSub records a subscription of a persistent session, or
// (sub nil) its end.
func (c *conn) persistSub(filter string, sub *subscription) {
	if c.b.st == nil || c.sess.ps == nil || !c.mc().SessionPersists() {
		return
	}
	op := storeOp{kind: opUnsub, sid: c.sess.ps.sid, name: filter}
	if sub != nil {
		op.kind, op.value = opSub, encodeSubscription(*sub)
	}
	c.unit().ops = append(c.unit().ops, op)
}

// routeUnit returns the unit a message of pub (nil: a will) is recorded
// in: pub's, or one of its own, which route seals; nil without a store.
func (b *Broker) routeUnit(pub *conn) *unit {
	switch {
	case b.st == nil:
		return nil
	case pub != nil:
		return pub.unit()
	}
	return b.st.newUnit()
}

// retain records a retained message (or, empty, its deletion), the seq-th.
func (u *unit) retain(m *message, seq uint64) {
	v := be64(seq)
	v = appendMessageRecord(v, m, m.qos, true, nil)
	u.ops = append(u.ops, storeOp{kind: opRetain, name: m.topic, seq: seq, value: v})
}

// stage records d, a delivery offer put in the outbox of s (a persistent
// session) with its sequence: its connection takes it once u is
// committed, and is woken then.
func (u *unit) stage(s *session, d delivery) {
	v := appendMessageRecord(make([]byte, 0, 64+len(d.msg.topic)+len(d.msg.payload)), d.msg, d.qos, d.retain, d.subIDs)
	u.ops = append(u.ops, storeOp{kind: opOutbox, sid: s.ps.sid, seq: d.seq, value: v})
	if n := len(u.wake); n == 0 || u.wake[n-1] != s {
		u.wake = append(u.wake, s)
	}
}

// ready reports whether d may be taken from its outbox: it was not
// recorded, or its record is committed.
func (d *delivery) ready() bool { return d.unit == nil || d.unit.committed() }

// persistTaken records that the deliveries sent (taken from the outbox in
// order) are out of the outbox: the Connection's journal has them now.
func (c *conn) persistTaken(sent []delivery) {
	if c.b.st == nil || c.sess.ps == nil {
		return
	}
	for i := len(sent) - 1; i >= 0; i-- {
		if seq := sent[i].seq; seq != 0 {
			c.unit().ops = append(c.unit().ops, storeOp{kind: opTaken, sid: c.sess.ps.sid, seq: seq})
			return
		}
	}
}

// committedUnits wakes the connections of the sessions that have
// deliveries in units just committed (Store.onCommit).
func (b *Broker) committedUnits(units []*unit) {
	var wake []*session
	for _, u := range units {
		wake = append(wake, u.wake...)
		u.wake = nil
	}
	if len(wake) == 0 {
		return
	}
	go func() {
		for i, s := range wake {
			if i > 0 && wake[i-1] == s {
				continue
			}
			s.mu.Lock()
			sc := s.sc
			s.mu.Unlock()
			if sc != nil {
				sc.Wake()
			}
		}
	}()
}

// restore builds the broker's sessions, subscriptions, outboxes and
// retained messages from what st read. A session whose connection was
// live when the last broker stopped (crash or Shutdown) is taken as
// ended then, when it last committed (within a heartbeat of the stop):
// a persistent one is kept with its Session Expiry and Will Delay counted
// from then, so that the downtime counts; the others end, and their wills
// are due (MQTT-3.1.2-8: the network connection closed without a
// DISCONNECT). Wills already due are published once everything is
// restored.
func (b *Broker) restore(st *Store) {
	r := st.restored
	st.mu.Lock()
	st.restored, st.onCommit = nil, b.committedUnits
	st.mu.Unlock()
	for _, n := range r.notes {
		b.logf("broker: store: %s", n)
	}
	b.retained.seq = r.retainedSeq
	for _, m := range r.retained {
		if b.retained.msgs == nil {
			b.retained.msgs = make(map[string]*message)
		}
		b.retained.msgs[m.topic] = m
	}
	stopped := time.Unix(0, r.stopped)
	now := time.Now()
	var due []*message
	u := st.newUnit()
	b.mu.Lock()
	for _, rs := range r.sessions {
		rec := *rs.rec
		if !rec.persistent {
			if rec.will != nil {
				due = append(due, rec.will)
			}
			u.ops = append(u.ops, storeOp{kind: opDropSession, name: rec.clientID, sid: rec.sid, expect: rec.sid})
			continue
		}
		if rec.online {
			rec.online = false
			if rec.expiry != neverExpires {
				rec.expiresAt = stopped.Add(seconds(rec.expiry))
			}
			if rec.will != nil {
				rec.willAt = stopped.Add(seconds(rec.willDelay))
			}
		}
		s := newSession(rec.clientID)
		s.ps = &sessionPersist{sid: rec.sid, rec: rec, recorded: true}
		s.persistent = true
		s.keepLocked(rs.state, nil)
		if b.cs != nil {
			// The positions of what is in flight were not recorded: no
			// floor until the client has nothing in flight (floor.go).
			s.fl = &floorState{unknown: len(rs.state) > 0}
		}
		for filter, sub := range rs.subs {
			k := parseFilter(filter, rec.version)
			b.tree.subscribe(k, s, sub)
			s.addFilter(filter, k, sub)
		}
		s.pending = rs.outbox
		for _, d := range s.pending {
			s.ps.outSeq = max(s.ps.outSeq, d.seq)
			s.noteExpiryLocked(d.msg.expires)
		}
		b.sessions[rec.clientID] = s
		expiry := uint32(neverExpires)
		if rec.expiry != neverExpires {
			expiry = secondsUntil(rec.expiresAt, now)
		}
		if w := b.keepLocked(s, expiry, rec.will, secondsUntil(rec.willAt, now)); w != nil {
			due = append(due, w)
			s.ps.rec.will, s.ps.rec.willAt = nil, time.Time{}
		}
		u.ops = append(u.ops, storeOp{kind: opSession, name: rec.clientID, value: s.ps.rec.encode()})
	}
	b.mu.Unlock()
	st.seal(u)
	if len(r.sessions) > 0 || len(r.retained) > 0 {
		b.logf("broker: store: %d sessions and %d retained messages restored; down since %s",
			len(r.sessions), len(r.retained), stopped.Format(time.RFC3339))
	}
	for _, w := range due {
		b.route(w, nil, nil)
	}
}

// secondsUntil returns the whole seconds from now to t, rounded up; 0 for
// a time past.
func secondsUntil(t, now time.Time) uint32 {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return uint32(min((d+time.Second-1)/time.Second, neverExpires-1))
}

// storeQoS reports whether a delivery at qos to a session is recorded.
func storeQoS(qos packet.QoS) bool { return qos > packet.QoS0 }
