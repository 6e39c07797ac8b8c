package cluster

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Retained messages whose Message Expiry Interval ends.
//
// An expired retained message is sent to no new subscription (the broker
// checks as it delivers: MQTT-3.3.2-5), but its value would stay in the
// bucket, and in every node's copy, until its topic is retained to again:
// the bucket would grow without bound. So every node keeps, for each key
// whose value the mirror applied last has an expiry, that value's
// revision and end (expiries), and once the end has passed, and a little
// more (expiryStagger: a share of it, different for each node and key),
// deletes the key from the bucket, revision-checked: only if its last
// revision is still that value's, so a newer retained message written
// meanwhile is never deleted. The delete marker reaches every node
// through the watch, as an empty retained message does, and ends the
// node's copy (Broker.SetRetained) and its timer. The nodes' staggered
// ends make one node delete the key, usually: a node whose end comes
// after the marker reached it does not try, and of two that try at once
// one fails the revision check and lets it be. A value already expired
// when the mirror applies it (a node that starts later, a value written
// before the nodes did this) is deleted at once. The bucket then keeps
// the key's delete marker (an empty message), not the value.

// expiryStagger bounds how long after a retained message's end a node
// deletes it; each node waits a share of it of its own for each key, so
// that the node whose share is least deletes it and the others, having
// seen the marker by then, do not try.
const expiryStagger = 500 * time.Millisecond

// expiryRetry is how long a node waits to try again a delete that failed
// for another reason than a newer revision (NATS unreachable).
const expiryRetry = 5 * time.Second

// expiries are the values of the bucket that the mirror applied last and
// that expire, by when this node deletes them. Safe for concurrent use.
type expiries struct {
	mu    sync.Mutex
	byKey map[string]*expiring
	queue expiryQueue
	wake  chan struct{} // 1 buffered: the earliest end may have changed
}

// expiring is a value of the bucket that expires: its key and revision,
// and when this node is to delete it (its end and this node's stagger).
type expiring struct {
	key   string
	rev   uint64
	at    time.Time
	index int // in expiryQueue
}

// expiryQueue is a min-heap of values by when they are to be deleted
// (container/heap).
type expiryQueue []*expiring

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q expiryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *expiryQueue) Push(x any) {
	e := x.(*expiring)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *expiryQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// note records that the value the mirror applied last under key is of
// revision rev and is to be deleted at at; a zero at (no expiry, or a
// delete marker) forgets the key.
func (x *expiries) note(key string, rev uint64, at time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.byKey[key]
	switch {
	case at.IsZero() && ok:
		heap.Remove(&x.queue, e.index)
		delete(x.byKey, key)
		return
	case at.IsZero():
		return
	case ok:
		e.rev, e.at = rev, at
		heap.Fix(&x.queue, e.index)
	default:
		if x.byKey == nil {
			x.byKey = make(map[string]*expiring)
		}
		e = &expiring{key: key, rev: rev, at: at}
		x.byKey[key] = e
		heap.Push(&x.queue, e)
	}
	if x.queue[0] == e {
		x.poke()
	}
}

// poke wakes the loop that waits for the earliest end.
func (x *expiries) poke() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// due removes and returns the values to be deleted by now, and returns
// when the next one is (zero: none left).
func (x *expiries) due(now time.Time) (out []expiring, next time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for len(x.queue) > 0 && !x.queue[0].at.After(now) {
		e := heap.Pop(&x.queue).(*expiring)
		delete(x.byKey, e.key)
		out = append(out, *e)
	}
	if len(x.queue) > 0 {
		next = x.queue[0].at
	}
	return out, next
}

// retry notes a value again, at, unless the mirror has applied another
// of its key meanwhile.
func (x *expiries) retry(e expiring, at time.Time) {
	x.mu.Lock()
	_, newer := x.byKey[e.key]
	x.mu.Unlock()
	if !newer {
		x.note(e.key, e.rev, at)
	}
}

// stagger returns this node's share of expiryStagger for a key.
func (n *Node) stagger(key string) time.Duration {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n.origin)
	h.Write(b[:])
	h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(expiryStagger))
}

// noteExpiry records what the mirror applied under key (revision rev):
// a value that expires at expires, or (zero) one that does not, or a
// delete marker.
func (n *Node) noteExpiry(key string, rev uint64, expires time.Time) {
	at := expires
	if !at.IsZero() {
		at = at.Add(n.stagger(key))
	}
	n.ret.exp.note(key, rev, at)
}

// expireRetained deletes the values of the bucket whose time has come,
// until the node closes (n.ctx); it closes expireDone as it returns.
func (n *Node) expireRetained() {
	x := &n.ret.exp
	defer close(n.ret.expireDone)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		due, next := x.due(now)
		for _, e := range due {
			n.deleteExpired(e)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		t.Reset(wait)
		select {
		case <-t.C:
		case <-x.wake:
		case <-n.ctx.Done():
			return
		}
	}
}

// deleteExpired deletes e's key from the bucket if its last revision is
// still e's; a delete that failed for another reason is tried again
// later.
func (n *Node) deleteExpired(e expiring) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.PublishTimeout)
	defer cancel()
	err := n.ret.kv.Delete(ctx, e.key, jetstream.LastRevision(e.rev))
	switch {
	case err == nil:
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		// A newer value, or another node's delete marker: kept.
	case n.ctx.Err() != nil:
		// Closing.
	default:
		n.log.Warn("cluster: expired retained message not deleted from the bucket; trying again",
			"key", e.key, "err", err)
		n.ret.exp.retry(e, time.Now().Add(expiryRetry))
	}
}
