package cluster

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// floorChunk is how many floors a round writes at once (asynchronously,
// then waiting for them all), for as many chunks as Config.FloorInterval
// leaves room for: the floors left out stay as saved before (lower: a
// longer replay, nothing lost) until they move again.
const floorChunk = 512

// saveFloors computes the node's floor and saves the sessions' floors
// that moved, every Config.FloorInterval, until the node closes.
func (n *Node) saveFloors() {
	defer close(n.fl.done)
	t := time.NewTicker(n.cfg.FloorInterval)
	defer t.Stop()
	for {
		n.computeFloor()
		var moved []kvWrite
		n.b.SessionFloors(func(id string, rev, floor uint64) {
			if n.sess.holds(id, rev) {
				moved = append(moved, kvWrite{id: id, rev: rev, floor: floor})
			}
		})
		n.sess.putFloors(moved, time.Now().Add(n.cfg.FloorInterval))
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
	}
}

// putFloors writes floors to the sessions bucket, floorChunk at a time
// (a KV put is a JetStream publish to the key's subject: asynchronous,
// then the acknowledgements awaited), until deadline. They are not
// ordered with the node's other writes (sessionkv.go): a floor written
// after the session's end is of a claim no session record has any more,
// and is left out (replay.go: savedFloor).
func (s *sessions) putFloors(ws []kvWrite, deadline time.Time) {
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	pre := "$KV." + s.n.cfg.SessionBucket + "." + floorPrefix
	for len(ws) > 0 && ctx.Err() == nil {
		chunk := ws[:min(len(ws), floorChunk)]
		ws = ws[len(chunk):]
		futures := make([]jetstream.PubAckFuture, 0, len(chunk))
		for _, x := range chunk {
			f, err := s.n.js.PublishAsync(pre+sessionKey(x.id), floorValue(x.rev, x.floor))
			if err != nil {
				break
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case <-f.Err():
			case <-ctx.Done():
				return
			}
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

// holds reports whether the node holds the session of id under the claim
// rev, whose floor it is about to save (Broker.SessionFloors: it must not
// block).
func (s *sessions) holds(id string, rev uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[id]
	if ks == nil || ks.lastOwn != rev || ks.last != rev || ks.handing {
		return false
	}
	ks.floored = true // its end deletes the floor (sessionkv.go)
	return true
}
