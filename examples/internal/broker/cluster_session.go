package broker

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// SessionCluster is a Cluster that also moves sessions between its nodes
// (examples/cluster's Node is one): one node at a time holds the session
// of a client identifier, the node its client last connected to.
//
// Every CONNECT claims the client identifier cluster-wide first
// (ClaimSession), its CONNACK deferred meanwhile; the claim that comes
// last wins. A node that held the session and sees another node claim it
// calls Broker.HandOver: its connection of the client, if any, ends with
// DISCONNECT 0x8E Session taken over (3.1.1: closed), and the session
// (subscriptions, the Connection's exported state, the QoS 1 and QoS 2
// messages queued) goes to the claiming node, which imports it before it
// answers the CONNECT (Session Present 1). A will waiting for its Will
// Delay Interval on the node that held the session is cancelled there (the
// client reconnected, MQTT-3.1.2-26), or published if the new connection
// asked for a clean start (the session ended, MQTT-3.1.2-8): it fires on
// one node only, once.
//
// The broker also saves what the cluster needs to resume a session whose
// node has gone (SaveSession): a persistent session's subscriptions when
// its connection is accepted and when they change, the whole session
// when its connection ends and it is kept, and its end.
type SessionCluster interface {
	Cluster
	// ClaimSession makes this node the holder of the session of clientID
	// (cleanStart: the CONNECT's Clean Start), taking it from the node
	// that held it, and calls done once, from another goroutine, with the
	// outcome. Before it claims, it calls early with the session as last
	// saved, if another node saved one: the broker subscribes to its
	// filters at once, so that what is published while the session moves
	// is queued here too (see Broker.prepare). It must not block.
	ClaimSession(clientID string, cleanStart bool, early func(data []byte), done func(ClusterClaim))
	// SessionCurrent reports whether rev is still the latest claim of
	// clientID this node knows of. It is called with the broker's lock
	// held, and must not call the Broker.
	SessionCurrent(clientID string, rev uint64) bool
	// SaveSession records, for any node to resume, the session of
	// clientID that this node holds under the claim rev: data is a
	// snapshot of it, nil when the session has ended. It must not
	// block, nor call the Broker; a save of a claim that is no longer
	// the latest is dropped.
	SaveSession(clientID string, rev uint64, data []byte)
	// MaxSessionBytes is the largest snapshot SaveSession and the
	// handover take; the QoS 1 and QoS 2 messages queued beyond it are
	// left out.
	MaxSessionBytes() int
	// Position returns a lower bound of the position in the cluster that
	// a message published on this node from now on gets, and Floor one of
	// the position of any message that reaches this node from now on,
	// from any node (floor.go). Both are called often, with locks held:
	// they must be quick and must not call the Broker.
	Position() uint64
	Floor() uint64
}

// ClusterClaim is the outcome of SessionCluster.ClaimSession.
type ClusterClaim struct {
	// Rev identifies the claim: the broker gives it back to
	// SessionCurrent and SaveSession.
	Rev uint64
	// Remote: another node held the session (or last saved it), and
	// Data is the snapshot it handed over (nil: no session).
	Remote bool
	Data   []byte
	// Before: this node held the session before it was started again;
	// a session its Store restored is kept rather than Data.
	Before bool
	// Replay, when the node that held the session crashed (or handed it
	// over cut short), is what the cluster holds of its subscriptions
	// from its floor on, oldest first (replay.go: ReplayPlan): the broker
	// queues those the session does not have yet after the ones handed
	// over (at least once).
	Replay []Replayed
	// Err: the claim failed. ErrClaimSuperseded when a later claim of
	// the same client identifier, on any node, took it meanwhile.
	Err error
}

// ErrClaimSuperseded is the ClusterClaim.Err of a claim that a later one
// overtook: its connection is closed without a CONNACK, as a local
// connection waiting for a session is when a later one comes.
var ErrClaimSuperseded = errors.New("broker: a later connection of the client claimed the session")

// clusterSessions is the broker's side of a SessionCluster.
type clusterSessions struct {
	link  SessionCluster
	limit int
	// away holds, by client identifier, the handovers that wait for the
	// end of the session's connection (Broker.mu).
	away map[string]handoff
	// early holds, by client identifier, the sessions made from what
	// another node last saved while this one claims them (prepare;
	// Broker.mu).
	early map[string]*session
}

// handoff is a handover waiting for a connection to end.
type handoff struct {
	cleanStart bool
	done       func([]byte)
}

// connClaim is a connection's claim of its client identifier.
type connClaim struct {
	res  ClusterClaim // written before done
	done atomic.Bool
}

// newClusterSessions returns the broker's side of link, if it moves
// sessions.
func newClusterSessions(link Cluster) *clusterSessions {
	sc, ok := link.(SessionCluster)
	if !ok {
		return nil
	}
	return &clusterSessions{link: sc, limit: sc.MaxSessionBytes(), away: make(map[string]handoff),
		early: make(map[string]*session)}
}

// claimCluster claims the client identifier cluster-wide before the
// session is taken (take): it starts the claim (wait: the connection is
// woken, wakeClusterClaimed, when it is done), or reports how it ended.
func (c *conn) claimCluster(p *packet.Connect) (refuse packet.ReasonCode, wait bool) {
	cs := c.b.cs
	if cs == nil {
		return 0, false
	}
	x := c.extra()
	if x.claim == nil {
		cl := &connClaim{}
		x.claim = cl
		id, b := c.clientID, c.b
		early := func(data []byte) { b.prepare(id, data) }
		cs.link.ClaimSession(id, p.CleanStart, early, func(r ClusterClaim) {
			switch {
			case r.Err == nil && r.Remote:
				if will := b.adopt(id, r, false); will != nil {
					b.route(will, nil, nil)
				}
			default:
				b.unprepare(id)
			}
			cl.res = r
			cl.done.Store(true)
			c.wake(wakeClusterClaimed)
		})
		return 0, true
	}
	if !x.claim.done.Load() {
		return 0, true
	}
	switch err := x.claim.res.Err; {
	case errors.Is(err, ErrClaimSuperseded):
		c.sc.Close(packet.SessionTakenOver) // not connected: just closed
		return superseded, false
	case err != nil:
		c.logf("session not claimed in the cluster: %v", err)
		return refusal(c.version, packet.ServerUnavailable), false
	}
	return 0, false
}

// clusterClaimed goes on with the CONNECT once its claim is done (OnWake).
func (c *conn) clusterClaimed() {
	if c.x.claim != nil && c.x.claim.done.Load() {
		c.claimWaiting(false)
	}
}

// claimRev returns the claim the connection holds its client identifier
// under; 0 for none.
func (c *conn) claimRev() uint64 {
	if c.x == nil || c.x.claim == nil || !c.x.claim.done.Load() {
		return 0
	}
	return c.x.claim.res.Rev
}

// clusterCurrent reports whether c may take its session: its claim is the
// latest this node knows of (Broker.claim; b.mu is held).
func (b *Broker) clusterCurrent(c *conn) bool {
	if b.cs == nil {
		return true
	}
	return b.cs.link.SessionCurrent(c.clientID, c.claimRev())
}

// prepare makes an offline session with the subscriptions of the snapshot
// data, the session as another node last saved it, while this node
// claims it: its filters are subscribed to at once, here and in the
// cluster, before the claim makes the other node give the session up;
// what is published meanwhile is queued in it, and adopt puts that after
// what the other node hands over (a QoS 1 or QoS 2 message may then come
// twice: at least once). Nothing is done if this node has a session of
// the client.
func (b *Broker) prepare(clientID string, data []byte) {
	snap, err := decodeSnapshot(data)
	if err != nil || snap == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing || b.sessions[clientID] != nil {
		return
	}
	s := newSession(clientID)
	s.persistent = true
	for _, f := range snap.subs {
		b.tree.subscribe(f.k, s, f.sub)
		s.addFilter(f.filter, f.k, f.sub)
	}
	b.sessions[clientID] = s
	b.cs.early[clientID] = s
}

// unprepare discards the session prepare made, if any: the claim failed,
// or the session did not come from another node.
func (b *Broker) unprepare(clientID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cs == nil {
		return
	}
	if s := b.cs.early[clientID]; s != nil {
		delete(b.cs.early, clientID)
		b.discardLocked(s)
	}
}

// adopt puts the session another node handed over (r.Data; nil for none)
// in the table, offline, for the connection that claimed it (r.Rev) to
// take, with the messages the cluster gives again (r.Replay: those it
// does not have yet; floor.go) after its own, and those the session
// prepare made has queued meanwhile after them. A session of the client
// that this node still had, offline, is replaced: the other node's is the
// latest; unless r.Before (this node held it before it was started
// again, and its Store restored it): that one is kept. One that expired
// meanwhile (its deadline passed on the wall clock) is not taken
// (MQTT-4.1.0-2).
//
// It returns the will to publish now, if any: one of a connection that
// ended with a node that crashed, with no Will Delay Interval left.
// custody: no connection claimed it; this node keeps it for a node that
// crashed (KeepSession).
func (b *Broker) adopt(clientID string, r ClusterClaim, custody bool) (will *message) {
	rev, replay := r.Rev, r.Replay
	snap, err := decodeSnapshot(r.Data)
	if err != nil {
		b.log.Warn("cluster: session handed over not readable: not resumed", "client", clientID, "err", err)
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return nil
	}
	s := b.cs.early[clientID]
	delete(b.cs.early, clientID)
	if old := b.sessions[clientID]; r.Before && old != nil && old != s && old.owner == nil {
		// Restored from the Store: as this node last had it.
		old.crev = rev
		if s != nil {
			b.discardLocked(s)
		}
		return nil
	}
	if old := b.sessions[clientID]; old != s {
		if old != nil && (old.owner != nil || b.takers[clientID] != nil) {
			return nil // a connection of this node has it: a later claim, which SessionCurrent sorts out
		}
		if old != nil {
			b.discardLocked(old)
			b.persistLocked(old, true)
		}
		if s != nil {
			b.discardLocked(s)
			s = nil
		}
	}
	expiry := uint32(0)
	if snap != nil {
		expiry = snap.expiry
		switch {
		case snap.live && snap.expiry == 0 && !custody:
			// It ended with its connection (saved for its will, due then:
			// MQTT-3.1.2-8).
			will = snap.will
			snap = nil
		case snap.live || snap.expiresAt.IsZero():
			// Saved while its connection was up (that node crashed): the
			// expiry counts from now. Or one that does not expire.
		case !snap.expiresAt.After(now):
			b.log.Info("cluster: session handed over had expired", "client", clientID)
			if custody {
				will = snap.will // not published by the node that crashed (MQTT-3.1.2-8)
			}
			snap = nil
		default:
			expiry = secondsUntil(snap.expiresAt, now)
		}
	}
	if snap == nil {
		if s != nil {
			b.discardLocked(s)
		}
		if custody {
			b.cs.link.SaveSession(clientID, rev, nil) // its end
		}
		return will
	}
	if s == nil {
		s = newSession(clientID)
		s.persistent = true
		b.sessions[clientID] = s
	}
	b.persistNewLocked(s)
	s.crev = rev
	// The subscriptions are the snapshot's; those of the early session
	// that are in it stay subscribed throughout (no gap in the cluster's
	// interest), the others go.
	want := make(map[string]bool, len(snap.subs))
	for _, f := range snap.subs {
		want[f.filter] = true
		b.tree.subscribe(f.k, s, f.sub)
		s.addFilter(f.filter, f.k, f.sub)
	}
	s.mu.Lock()
	var gone []filterSub
	for filter, f := range s.filters {
		if !want[filter] {
			gone = append(gone, f)
			delete(s.filters, filter)
		}
	}
	s.moved = snap.movedFrom(snap.exactPositions()) // moved.go
	early := s.dropHadLocked(s.pending)
	s.pending = snap.outbox
	s.fl = snap.floorState()
	s.mu.Unlock()
	for _, f := range gone {
		b.tree.unsubscribe(f.k, s)
	}
	if len(replay) > 0 {
		held := make(map[uint64]bool, len(snap.outbox)+len(early))
		for _, ds := range [][]delivery{snap.outbox, early} {
			for _, d := range ds {
				if d.msg.exact {
					held[d.msg.pos] = true
				}
			}
		}
		b.replayLocked(s, replay, held) // replay.go
	}
	s.mu.Lock()
	s.moved.add(replay) // a later copy of those is dropped too
	s.pending = append(s.pending, early...)
	s.firstExpiry = 0
	for _, d := range s.pending {
		s.noteExpiryLocked(d.msg.expires)
	}
	s.mu.Unlock()
	s.keepLocked(snap.state, nil)
	if !custody {
		b.keepLocked(s, expiry, nil, 0)
		// The will of the connection that ended with its node: one with
		// no Will Delay Interval was due then (MQTT-3.1.2-8); a delayed
		// one is cancelled by the client's return (MQTT-3.1.2-26).
		if snap.live && snap.willDelay == 0 {
			return snap.will
		}
		return nil
	}
	var willDelay uint32
	switch {
	case snap.will == nil:
	case snap.live:
		willDelay = snap.willDelay // the connection ended with the node
	case snap.willAt.IsZero():
		willDelay = expiry // due when the session ends
	default:
		willDelay = secondsUntil(snap.willAt, now)
	}
	will = b.keepLocked(s, expiry, snap.will, willDelay)
	b.cs.link.SaveSession(clientID, rev, b.snapshot(s, false, 0, nil, 0)) // for a node that keeps it if this one goes
	return will
}

// KeepSession takes into this node's keeping the session of clientID,
// which a node that has gone held (examples/cluster: found dead by the
// others), so that its Session Expiry and its will's Will Delay Interval
// run here: from the deadlines saved, or from now for a session whose
// connection was up on that node (MQTT-3.1.2-8, MQTT-4.1.0-2), with what
// was queued there given again (ClusterClaim.Replay). The session is
// offline; a client that reconnects on any node takes it from here (the
// will then cancelled, MQTT-3.1.2-26). claim makes the claim of the
// client identifier and calls early and done as ClaimSession does; it may
// fail (another node claimed it first), and nothing is kept then.
func (b *Broker) KeepSession(clientID string, claim func(early func([]byte), done func(ClusterClaim))) {
	if b.cs == nil {
		return
	}
	claim(func(data []byte) { b.prepare(clientID, data) }, func(r ClusterClaim) {
		if r.Err != nil || !r.Remote {
			b.unprepare(clientID)
			return
		}
		if will := b.adopt(clientID, r, true); will != nil {
			b.route(will, nil, nil)
		}
	})
}

// HandOver gives up this node's hold of the session of clientID, which
// another node claimed (cleanStart: with a clean start), and calls done
// with its snapshot (nil: none, or ended by the clean start) once it is
// no longer served here: at once for a session offline, after its
// connection has ended (DISCONNECT 0x8E Session taken over; the will
// published if its Will Delay Interval is 0, as for a local takeover)
// for one online. A connection of this node waiting for the session is
// closed without a CONNACK (the other node's claim is later). A will
// waiting for its delay is cancelled (the client has reconnected,
// MQTT-3.1.2-26), or published when the clean start ends the session
// (MQTT-3.1.2-8). done must not block.
func (b *Broker) HandOver(clientID string, cleanStart bool, done func(data []byte)) {
	b.mu.Lock()
	taker := b.takers[clientID]
	delete(b.takers, clientID)
	s := b.sessions[clientID]
	if s != nil && s.owner != nil && b.cs != nil {
		b.cs.away[clientID] = handoff{cleanStart: cleanStart, done: done}
		owner := s.owner
		b.mu.Unlock()
		if taker != nil {
			taker.sc.Close(packet.SessionTakenOver)
		}
		owner.askHandOver() // teardown calls done (clusterTeardownLocked)
		return
	}
	data, will := b.releaseLocked(s, cleanStart)
	b.mu.Unlock()
	if taker != nil {
		taker.sc.Close(packet.SessionTakenOver)
	}
	if will != nil {
		b.route(will, nil, nil)
	}
	done(data)
}

// releaseLocked ends this node's hold of s (nil: none), an offline
// session another node takes: its snapshot, unless cleanStart ends it,
// and the will to publish now. b.mu is held.
func (b *Broker) releaseLocked(s *session, cleanStart bool) (data []byte, will *message) {
	if s == nil {
		return nil, nil
	}
	will = s.stopTimersLocked()
	if !cleanStart {
		will = nil
		data = b.snapshot(s, false, 0, nil, 0)
	}
	b.discardLocked(s)
	b.persistLocked(s, true)
	return data, will
}

// clusterTeardownLocked is the cluster's part of the end of c's
// connection (teardown), with the session s kept or ended: a handover
// that waited for it is done; else a kept session is saved for any node
// to resume, and an ended one recorded as ended, unless a connection of
// this node (next) takes it at once. It returns what to do once b.mu is
// let go. b.mu is held.
func (b *Broker) clusterTeardownLocked(c *conn, s *session, kept bool, next *conn) (after func()) {
	cs := b.cs
	if cs == nil {
		return nil
	}
	if c.connected {
		s.crev = c.claimRev()
	}
	if h, ok := cs.away[s.id]; ok {
		delete(cs.away, s.id)
		var held *session
		if b.sessions[s.id] == s {
			held = s
		}
		data, will := b.releaseLocked(held, h.cleanStart)
		return func() {
			if will != nil {
				b.route(will, nil, nil)
			}
			h.done(data)
		}
	}
	switch {
	case next != nil || !c.connected:
	case kept:
		cs.link.SaveSession(s.id, s.crev, b.snapshot(s, false, 0, nil, 0))
	default:
		cs.link.SaveSession(s.id, s.crev, nil)
	}
	return nil
}

// clusterSaveOfflineLocked saves an offline session again once it has
// changed (its will published). b.mu is held.
func (b *Broker) clusterSaveOfflineLocked(s *session) {
	if b.cs != nil {
		b.cs.link.SaveSession(s.id, s.crev, b.snapshot(s, false, 0, nil, 0))
	}
}

// clusterEndedLocked records in the cluster the end of an offline session
// (expired). b.mu is held.
func (b *Broker) clusterEndedLocked(s *session) {
	if b.cs != nil {
		b.cs.link.SaveSession(s.id, s.crev, nil)
	}
}

// clusterSaveLive saves the session of c, whose connection is up, as far
// as a node that resumes it or keeps it after this one crashed can use
// it: its subscriptions, Session Expiry Interval and will (on accept,
// SUBSCRIBE, UNSUBSCRIBE): for a persistent session, or one with a will.
func (c *conn) clusterSaveLive() {
	if c.b.cs == nil {
		return
	}
	var will *message
	var willDelay uint32
	if x := c.x; x != nil {
		will, willDelay = x.will, x.willDelay
	}
	if !c.mc().SessionPersists() && will == nil {
		return
	}
	c.b.cs.link.SaveSession(c.clientID, c.claimRev(), c.b.snapshot(c.sess, true, c.expiry, will, willDelay))
}

// clusterShutdownLocked saves every offline session as it is now, with
// the messages queued since its connection ended (Shutdown: an orderly
// end, after which another node resumes them). b.mu is held.
func (b *Broker) clusterShutdownLocked() {
	if b.cs == nil {
		return
	}
	for id, s := range b.sessions {
		if s.owner == nil {
			b.cs.link.SaveSession(id, s.crev, b.snapshot(s, false, 0, nil, 0))
		}
	}
}
