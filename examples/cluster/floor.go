package cluster

import (
	"context"
	"sync/atomic"
	"time"
)

// The node's side of the sessions' floors (see the broker's floor.go):
// the positions are stream sequences. Position and Floor give the broker
// the bounds it computes them from; saveFloors saves, every
// Config.FloorInterval, the floor of each session whose floor moved, in
// the sessions bucket ("f.<id>", sessionkv.go), for a node that resumes
// the session after this one crashed (replay.go).
type floors struct {
	seen   atomic.Uint64 // the highest stream sequence the node has seen
	routed atomic.Uint64 // the node's own consumer: every message at or below it was handed to the broker
	floor  atomic.Uint64 // Floor, as last computed (0: not yet)
	done   chan struct{} // closed when saveFloors has returned
}

// observe notes a stream sequence the node has seen: a message published
// from then on gets a higher one.
func (f *floors) observe(seq uint64) {
	for {
		cur := f.seen.Load()
		if seq <= cur || f.seen.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Position implements broker.SessionCluster: above every stream sequence
// the node has seen.
func (n *Node) Position() uint64 { return n.fl.seen.Load() + 1 }

// Floor implements broker.SessionCluster: the higher of the floor last
// computed by computeFloor and one known at once: a message the node's
// consumer gives from now on comes after what it has handed the broker
// (routed), and one published here after what the node has seen.
func (n *Node) Floor() uint64 {
	return max(n.fl.floor.Load(), min(n.fl.routed.Load(), n.fl.seen.Load())+1)
}

// maxFloorWrites bounds the writes queued to the sessions bucket above
// which a round of floors is skipped (the floors saved before stay, lower:
// a longer replay, nothing lost).
const maxFloorWrites = 4096

// saveFloors computes the node's floor and saves the sessions' floors
// that moved, every Config.FloorInterval, until the node closes.
func (n *Node) saveFloors() {
	defer close(n.fl.done)
	t := time.NewTicker(n.cfg.FloorInterval)
	defer t.Stop()
	for {
		n.computeFloor()
		if n.sess.w.queued() < maxFloorWrites {
			n.b.SessionFloors(n.sess.saveFloor)
		}
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
	}
}

// computeFloor sets the stream sequence below which no message reaches
// the node from now on. A message published here gets one above the
// stream's last now. One of the node's consumer comes after what it has
// handed the broker (the consumer gives them in order, and one given
// again was handed over before: position.go), or, when the consumer has
// nothing pending nor unacknowledged, after the stream's last sequence
// read before that was checked. (The share groups' messages are not
// given again to a session after a crash: they do not count.)
func (n *Node) computeFloor() {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.PublishTimeout)
	defer cancel()
	info, err := n.stream.Info(ctx)
	if err != nil {
		return
	}
	last := info.State.LastSeq
	n.fl.observe(last)
	floor := n.fl.routed.Load() + 1
	if c, err := n.js.Consumer(ctx, n.cfg.Stream, n.own.name); err == nil {
		if ci, err := c.Info(ctx); err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 {
			floor = max(floor, last+1)
		}
	}
	n.fl.floor.Store(floor)
}

// saveFloor queues the write of the floor of the session of id, held
// under the claim rev, unless the node no longer holds it
// (Broker.SessionFloors).
func (s *sessions) saveFloor(id string, rev, floor uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[id]
	if ks == nil || ks.lastOwn != rev || ks.last != rev || ks.handing {
		return
	}
	s.w.add(kvWrite{id: id, floor: floor, rev: rev})
}
