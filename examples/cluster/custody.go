package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/nats-io/nats.go/jetstream"
)

// Custody: the sessions of a node that has gone.
//
// Each node registers itself in the sessions bucket ("n.<origin>", its
// origin number in hex; the value its name) and every node checks the
// others every Config.NodeCheck: a node that does not answer a liveness
// check (a NATS request to "<prefix>.node.<origin>") for
// Config.NodeTimeout is gone (crashed, or shut down while it still held
// sessions). The first node to delete its registration (revision-checked:
// one of them) keeps its sessions: it claims each client identifier whose
// owner key still names the gone node (only from that node: a client that
// reconnected elsewhere meanwhile keeps its claim) and holds the session
// offline (Broker.KeepSession), given again what was queued there
// (replay.go). So the session's expiry and its will run on a live node:
// a will fires once, cluster-wide, after its Will Delay Interval counted
// from the custody (the gone node's connection ended with it), unless the
// client reconnects first, on any node, which takes the session from the
// keeper as from any node.
//
// A node that stops in order deletes its registration only if it holds no
// session: the sessions it saved on the broker's Shutdown are kept by
// another, their wills and expiry included. A node started again on the
// same name registers again: a revision the others' delete does not
// match, so they keep nothing of it.

const nodePrefix = "n."

// errNotHeld: a custody claim found the client identifier held by another
// node than the one gone, or by none.
var errNotHeld = errors.New("cluster: the session is no longer held by the node that went")

// nodeKey is the registration of node.
func nodeKey(node uint64) string { return fmt.Sprintf("%s%016x", nodePrefix, node) }

// register writes the node's registration; its revision is above every
// claim made before the node started (session.go: take).
func (s *sessions) register(ctx context.Context) error {
	rev, err := s.kv.Put(ctx, nodeKey(s.n.origin), []byte(s.n.cfg.NodeName))
	s.started = rev
	return err
}

// unregister deletes the node's registration if it holds no session.
func (s *sessions) unregister(ctx context.Context) {
	s.mu.Lock()
	holds := false
	for _, ks := range s.keys {
		if ks.lastOwn != 0 {
			holds = true
			break
		}
	}
	s.mu.Unlock()
	if !holds {
		_ = s.kv.Delete(ctx, nodeKey(s.n.origin))
	}
}

// watchNodes checks the other nodes every Config.NodeCheck until the node
// closes, and keeps the sessions of those gone.
func (s *sessions) watchNodes() {
	t := time.NewTicker(s.n.cfg.NodeCheck)
	defer t.Stop()
	suspect := make(map[uint64]time.Time) // nodes not answering, since
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		s.checkNodes(suspect)
	}
}

// checkNodes checks each registered node once; one that has not answered
// since Config.NodeTimeout is gone, and its sessions are kept here if this
// node deletes its registration first.
func (s *sessions) checkNodes(suspect map[uint64]time.Time) {
	ctx, cancel := context.WithTimeout(s.ctx, s.n.cfg.PublishTimeout)
	defer cancel()
	keys, err := s.kv.ListKeysFiltered(ctx, nodePrefix+">")
	if err != nil {
		return
	}
	var nodes []uint64
	for k := range keys.Keys() {
		node, err := strconv.ParseUint(strings.TrimPrefix(k, nodePrefix), 16, 64)
		if err == nil && node != s.n.origin {
			nodes = append(nodes, node)
		}
	}
	now := time.Now()
	seen := make(map[uint64]bool, len(nodes))
	for _, node := range nodes {
		seen[node] = true
		if s.alive(node) {
			delete(suspect, node)
			continue
		}
		since, ok := suspect[node]
		if !ok {
			suspect[node] = now
			continue
		}
		if now.Sub(since) < s.n.cfg.NodeTimeout {
			continue
		}
		delete(suspect, node)
		e, err := s.kv.Get(ctx, nodeKey(node))
		if err != nil {
			continue
		}
		if err := s.kv.Delete(ctx, nodeKey(node), jetstream.LastRevision(e.Revision())); err != nil {
			continue // another node keeps them, or the node registered again
		}
		s.n.log.Warn("cluster: node gone: its sessions are kept here", "node", string(e.Value()),
			"silent", now.Sub(since).Round(time.Millisecond))
		go s.keepAll(node)
	}
	for node := range suspect {
		if !seen[node] {
			delete(suspect, node)
		}
	}
}

// keepParallel bounds the claims custody makes at once.
const keepParallel = 16

// keepAll keeps the sessions whose owner key names node, keepParallel
// at a time.
func (s *sessions) keepAll(node uint64) {
	ids, err := s.heldBy(node)
	if err != nil {
		s.n.log.Warn("cluster: sessions of a node gone not listed", "err", err)
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, keepParallel)
	for _, id := range ids {
		select {
		case slots <- struct{}{}:
		case <-s.ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			s.n.b.KeepSession(id, func(early func([]byte), done func(broker.ClusterClaim)) {
				s.claim(id, false, node, early, done)
			})
		})
	}
	wg.Wait()
}

// heldBy returns the client identifiers whose owner key names node.
func (s *sessions) heldBy(node uint64) ([]string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 4*s.n.cfg.PublishTimeout)
	defer cancel()
	w, err := s.kv.Watch(ctx, ownerPrefix+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var ids []string
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return ids, nil // the current values are all in
			}
			if owner, _, ok := parseOwner(e.Value()); !ok || owner != node {
				continue
			}
			if id, err := clientID(strings.TrimPrefix(e.Key(), ownerPrefix)); err == nil {
				ids = append(ids, id)
			}
		case <-ctx.Done():
			return ids, ctx.Err()
		}
	}
}
