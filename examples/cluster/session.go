package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// sessions is a node's side of the sessions of the cluster: which client
// identifiers it holds, the claims it makes, the handovers it owes (see
// doc.go, "Sessions").
type sessions struct {
	n       *Node
	kv      jetstream.KeyValue
	w       *writer
	watch   jetstream.KeyWatcher
	ping    *nats.Subscription
	hand    *nats.Subscription // handover requests (handover.go)
	timeout time.Duration      // Config.HandoverTimeout
	started uint64             // the revision of the node's registration (custody.go)
	ctx     context.Context
	cancel  context.CancelFunc

	mu   sync.Mutex
	keys map[string]*keyState
	// asking holds the handover requests waiting for their handover,
	// answers the handovers done (handover.go).
	asking  map[handKey][]*nats.Msg
	answers map[handKey]handAnswer
	pruned  time.Time // answers last let go (handover.go)
}

// keyState is what the node knows of one client identifier's owner key,
// while it holds the session, claims it or hands it over.
type keyState struct {
	last      uint64 // the latest claim seen (this node's or another's)
	lastClean bool   // that claim asked for a clean start
	floored   bool   // this node saved a floor of the session (floor.go)
	lastOwn   uint64 // the claim this node holds the session under; 0: it does not
	claiming  bool   // a claim of this node runs (they run one at a time: turn)
	handing   bool   // a handover runs (Broker.HandOver)
	refs      int    // claims of this node waiting or running
	turn      chan struct{}
}

// pingTimeout bounds the liveness check of a node: a node whose NATS
// connection is gone has no responders at once.
const pingTimeout = 500 * time.Millisecond

// claimTries bounds the attempts at a revision-checked update of an owner
// key that other nodes keep updating (or that fails: JetStream electing a
// leader, say), claimPause the pause after a failed one times the
// attempts.
const (
	claimTries = 10
	claimPause = 10 * time.Millisecond
)

// openSessions makes the sessions bucket if it is missing, and starts
// watching the owner keys and answering liveness checks.
func openSessions(ctx context.Context, n *Node) (*sessions, error) {
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   n.cfg.SessionBucket,
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: n.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: session bucket %s: %w", n.cfg.SessionBucket, err)
	}
	// A bucket just made takes a moment to elect its leader: the node
	// starts once it answers.
	for {
		_, err := kv.Get(ctx, ownerPrefix+"-")
		if err == nil || errors.Is(err, jetstream.ErrKeyNotFound) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: session bucket %s: %w", n.cfg.SessionBucket, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s := &sessions{n: n, kv: kv, timeout: n.cfg.HandoverTimeout, keys: make(map[string]*keyState),
		asking: make(map[handKey][]*nats.Msg), answers: make(map[handKey]handAnswer)}
	s.ping, err = n.nc.Subscribe(s.nodeSubject(n.origin), func(m *nats.Msg) { _ = m.Respond(nil) })
	if err != nil {
		return nil, fmt.Errorf("cluster: liveness subject: %w", err)
	}
	if s.hand, err = n.nc.Subscribe(s.handoverSubject(n.origin), s.onHandoverRequest); err != nil {
		_ = s.ping.Unsubscribe()
		return nil, fmt.Errorf("cluster: handover subject: %w", err)
	}
	// The watch lasts as long as the node (ctx is Dial's).
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.watch, err = kv.Watch(s.ctx, ownerPrefix+">", jetstream.UpdatesOnly())
	if err != nil {
		s.cancel()
		_ = s.ping.Unsubscribe()
		_ = s.hand.Unsubscribe()
		return nil, fmt.Errorf("cluster: watch %s: %w", n.cfg.SessionBucket, err)
	}
	s.w = newWriter(kv, n.cfg.PublishTimeout, n.log.Warn)
	if err := s.register(ctx); err != nil { // custody.go
		s.cancel()
		_ = s.ping.Unsubscribe()
		_ = s.hand.Unsubscribe()
		return nil, fmt.Errorf("cluster: node registration: %w", err)
	}
	go s.watchOwners()
	go s.watchNodes()
	return s, nil
}

// nodeSubject is where node answers liveness checks.
func (s *sessions) nodeSubject(node uint64) string {
	return fmt.Sprintf("%s.node.%016x", s.n.cfg.Prefix, node)
}

// close stops the watch and the liveness answers, makes the writes
// queued (drain; else drops them) and ends the claims running.
func (s *sessions) close(drain bool) {
	_ = s.watch.Stop()
	_ = s.ping.Unsubscribe()
	_ = s.hand.Unsubscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.n.cfg.PublishTimeout)
	defer cancel()
	s.w.stop(ctx, drain)
	if drain {
		s.unregister(ctx) // custody.go
	}
	s.cancel()
}

// watchOwners follows the owner keys: another node's claim of a client
// identifier this node holds makes it hand the session over.
func (s *sessions) watchOwners() {
	for e := range s.watch.Updates() {
		if e == nil || e.Operation() != jetstream.KeyValuePut {
			continue
		}
		node, clean, ok := parseOwner(e.Value())
		if !ok || node == s.n.origin {
			continue
		}
		id, err := clientID(strings.TrimPrefix(e.Key(), ownerPrefix))
		if err != nil {
			continue
		}
		s.mu.Lock()
		ks := s.keys[id]
		var h func()
		if ks != nil && e.Revision() > ks.last {
			ks.last, ks.lastClean = e.Revision(), clean
			h = s.handOverLocked(id, ks)
		}
		s.mu.Unlock()
		if h != nil {
			h()
		}
	}
}

// handOverLocked returns the handover of the session of id, if this node
// holds it, a later claim of another node took it, and no claim or
// handover of this node runs (those look again when they end). s.mu is
// held.
func (s *sessions) handOverLocked(id string, ks *keyState) func() {
	if ks.lastOwn == 0 || ks.last == ks.lastOwn || ks.handing || ks.claiming {
		return nil
	}
	ks.handing = true
	holder, clean := ks.lastOwn, ks.lastClean
	return func() {
		s.n.b.HandOver(id, clean, func(data []byte) {
			s.w.add(kvWrite{id: id, value: sessionValue(true, holder, data)})
			s.mu.Lock()
			s.answerLocked(handKey{id, holder}, data) // handover.go
			ks.handing = false
			if ks.lastOwn == holder {
				ks.lastOwn = 0
			}
			s.pruneLocked(id, ks)
			s.mu.Unlock()
		})
	}
}

// pruneLocked forgets a client identifier the node neither holds nor
// claims. s.mu is held.
func (s *sessions) pruneLocked(id string, ks *keyState) {
	if ks.lastOwn == 0 && ks.refs == 0 && !ks.handing && s.keys[id] == ks {
		delete(s.keys, id)
		s.notHeldLocked(id) // handover.go
	}
}

// ClaimSession implements broker.SessionCluster.
func (n *Node) ClaimSession(clientID string, cleanStart bool, early func([]byte), done func(broker.ClusterClaim)) {
	go n.sess.claim(clientID, cleanStart, 0, early, done)
}

// SessionCurrent implements broker.SessionCluster.
func (n *Node) SessionCurrent(clientID string, rev uint64) bool {
	s := n.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[clientID]
	return ks != nil && rev != 0 && ks.last == rev && ks.lastOwn == rev
}

// SaveSession implements broker.SessionCluster.
func (n *Node) SaveSession(clientID string, rev uint64, data []byte) {
	s := n.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[clientID]
	if ks == nil || rev == 0 || ks.lastOwn != rev || ks.last != rev || ks.handing {
		return // not this node's any more: the handover writes it
	}
	if data != nil {
		s.w.add(kvWrite{id: clientID, value: sessionValue(false, rev, data)})
		return
	}
	s.w.add(kvWrite{id: clientID, end: true, rev: rev, floor: boolFloor(ks.floored)})
	ks.lastOwn = 0
	s.pruneLocked(clientID, ks)
}

// MaxSessionBytes implements broker.SessionCluster: what a NATS message
// carries, less room for the record's header and the message's.
func (n *Node) MaxSessionBytes() int { return int(n.nc.MaxPayload()) - 1024 }

// previous is the owner key a claim replaced.
type previous struct {
	node uint64
	rev  uint64
}

// claim claims id for this node (ClaimSession), one claim of id at a
// time on the node, and calls done. from, when not 0, is the node the
// claim takes the session from, and only from (custody.go).
func (s *sessions) claim(id string, clean bool, from uint64, early func([]byte), done func(broker.ClusterClaim)) {
	s.mu.Lock()
	ks := s.keys[id]
	if ks == nil {
		ks = &keyState{turn: make(chan struct{}, 1)}
		s.keys[id] = ks
	}
	ks.refs++
	s.mu.Unlock()
	select {
	case ks.turn <- struct{}{}:
	case <-s.ctx.Done():
		s.mu.Lock()
		ks.refs--
		s.pruneLocked(id, ks)
		s.mu.Unlock()
		done(broker.ClusterClaim{Err: ErrClosed})
		return
	}
	s.mu.Lock()
	ks.claiming = true
	s.mu.Unlock()

	res := s.take(id, clean, from, early, ks)
	s.mu.Lock()
	if res.Err == nil && ks.last != res.Rev {
		// A later claim of another node came meanwhile: what this one
		// got is handed on to it, as this node would hand over a
		// session it held.
		if res.Remote {
			s.w.add(kvWrite{id: id, value: sessionValue(true, res.Rev, res.Data)})
			s.answerLocked(handKey{id, res.Rev}, res.Data) // handover.go
			ks.lastOwn = 0
		}
		res = broker.ClusterClaim{Err: broker.ErrClaimSuperseded}
	}
	s.mu.Unlock()
	done(res) // the broker adopts what came before the next claim or handover
	s.mu.Lock()
	ks.claiming = false
	ks.refs--
	h := s.handOverLocked(id, ks)
	s.pruneLocked(id, ks)
	s.mu.Unlock()
	<-ks.turn
	if h != nil {
		h()
	}
}

// take makes this node the owner of id with a revision-checked update of
// its owner key, then gets the session from the node that held it, if
// another. Before, unless clean, early has the session as last saved.
func (s *sessions) take(id string, clean bool, from uint64, early func([]byte), ks *keyState) broker.ClusterClaim {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout+2*s.n.cfg.PublishTimeout)
	defer cancel()
	if !clean {
		if data := s.read(ctx, sessionPrefix+sessionKey(id)); len(data) > 0 {
			early(data)
			// The claim waits for this node's consumer to take the early
			// session's filters: what the node that held the session no
			// longer takes once it hands over comes here (replay.go).
			if err := s.n.awaitInterest(ctx, s.n.consumerSubjects(broker.DurableFilters(data))); err != nil {
				s.n.log.Warn("cluster: session claimed before this node's consumer takes its filters", "client", id, "err", err)
			}
		}
	}
	rev, prev, err := s.own(ctx, id, clean, from)
	if err != nil {
		return broker.ClusterClaim{Err: err}
	}
	s.mu.Lock()
	ks.last, ks.lastOwn = max(ks.last, rev), rev
	s.mu.Unlock()
	res := broker.ClusterClaim{Rev: rev}
	switch {
	case prev.rev == 0 || prev.node == s.n.origin && (prev.rev > s.started || clean):
	case prev.node != s.n.origin:
		res.Remote = true
		var handed bool
		res.Data, handed = s.fetch(ctx, id, prev, rev, clean) // handover.go
		res.Replay = s.replayFor(ctx, id, res.Data, handed)   // replay.go
	default:
		// This node's, under a claim made before it was started again
		// (the claim's revision is older than its registration): it
		// resumes the session as from a node that crashed (its broker
		// keeps one its Store restored).
		res.Remote, res.Before = true, true
		res.Data = s.read(ctx, sessionPrefix+sessionKey(id))
		res.Replay = s.replayFor(ctx, id, res.Data, false)
	}
	return res
}

// own writes this node into id's owner key, in place of the owner it
// read (revision-checked: of two nodes that claim at once, one updates
// and the other reads again), and returns the claim's revision and the
// owner it replaced (rev 0: none). With from not 0, it claims only from
// that node (errNotHeld).
func (s *sessions) own(ctx context.Context, id string, clean bool, from uint64) (uint64, previous, error) {
	key := ownerPrefix + sessionKey(id)
	val := ownerValue(s.n.origin, clean)
	var err error
	for try := range claimTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return 0, previous{}, fmt.Errorf("cluster: claim of %q: %w", id, err)
			case <-time.After(time.Duration(try) * claimPause):
			}
		}
		var e jetstream.KeyValueEntry
		e, err = s.kv.Get(ctx, key)
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if from != 0 {
				return 0, previous{}, errNotHeld
			}
			if rev, err = s.kv.Create(ctx, key, val); err == nil {
				return rev, previous{}, nil
			}
		case err != nil:
		default:
			node, _, _ := parseOwner(e.Value())
			if from != 0 && node != from {
				return 0, previous{}, errNotHeld
			}
			if rev, err = s.kv.Update(ctx, key, val, e.Revision()); err == nil {
				return rev, previous{node: node, rev: e.Revision()}, nil
			}
		}
	}
	return 0, previous{}, fmt.Errorf("cluster: claim of %q: %w", id, err)
}

// alive reports whether node answers a liveness check.
func (s *sessions) alive(node uint64) bool {
	_, err := s.n.nc.Request(s.nodeSubject(node), nil, pingTimeout)
	return err == nil
}

// read returns the session last written for key, whoever wrote it.
func (s *sessions) read(ctx context.Context, key string) []byte {
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.n.log.Warn("cluster: session not read", "key", key, "err", err)
		}
		return nil
	}
	_, _, data, ok := parseSession(e.Value())
	if !ok {
		s.n.log.Warn("cluster: session record not readable", "key", key)
		return nil
	}
	return data
}
