package broker

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/mqttcore/mqtt/packet"
	bolt "go.etcd.io/bbolt"
)

// The cluster's durable delivery of the other nodes' QoS 1 and QoS 2
// messages (examples/cluster reads them through a JetStream consumer of
// its own): a message is routed as Deliver and DeliverShared route one,
// and the cluster is told when the broker holds it, so that it
// acknowledges it to JetStream then and not before, and when outboxes it
// went to are full, so that it takes no more until they drain: the other
// nodes' side of flow control (the publishers' side is flow.go's).

// Mark is a position in the cluster's delivery (examples/cluster: a
// JetStream consumer's stream sequence), which DeliverTaken records with
// the message's deliveries when the broker has a Store: after a restart,
// ClusterMark tells the cluster which of the messages it delivers again
// the broker took before it stopped.
//
// Pos is the message's own position in the cluster, which a
// SessionCluster's floors are made of (floor.go); 0: not known.
type Mark struct {
	Key string // "": nothing recorded
	Seq uint64
	Pos uint64
}

// DeliverTaken routes p, a QoS 1 or QoS 2 message of the cluster, to the
// ordinary subscriptions of this node that match it, as Deliver does
// (share ""), or to one member of the share group share of filter, as
// DeliverShared does. It calls taken once the broker holds the message:
// it is in the outbox of every session it goes to and, with a Store, its
// deliveries to persistent sessions are committed, with mark
// (taken(false): the Store failed and holds nothing). taken may be called
// before DeliverTaken returns, from any goroutine, and must not block.
//
// It returns nil, or, while an outbox the message went to at QoS 1 or 2
// is full (Config.MaxQueued, as for a publisher of this node: outbox.go),
// a channel that is closed once every outbox the cluster waits for has
// drained or its session has ended. The message is queued all the same;
// the cluster is to deliver no more until then. An offline persistent
// session's full outbox holds the cluster as it holds this node's
// publishers: until its client returns or the session expires.
func (b *Broker) DeliverTaken(p *packet.Publish, share, filter string, mark Mark, taken func(ok bool)) <-chan struct{} {
	m := newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, nil)
	m.remote, m.pos, m.exact = true, mark.Pos, mark.Pos != 0
	to := reach{ordinary: share == "", remote: &b.in}
	if share != "" {
		to.group = filterKey{share: share, filter: filter}
	}
	if b.st != nil {
		to.unit = b.st.newUnit()
		if mark.Key != "" {
			to.unit.ops = append(to.unit.ops, storeOp{kind: opMark, name: mark.Key, seq: mark.Seq})
		}
	}
	b.in.init(b)
	b.routeHere(m, nil, nil, to)
	room := b.in.waiting()
	if to.unit == nil {
		taken(true)
		return room
	}
	st := b.st
	pos := st.seal(to.unit)
	done := func() { taken(pos <= st.committed.Load()) }
	if pos == 0 {
		taken(true)
	} else if !st.notify(pos, done) {
		done()
	}
	return room
}

// ClusterMark returns the position last recorded under key by
// DeliverTaken, as committed in the Store: 0 without a Store or when none
// was recorded.
func (b *Broker) ClusterMark(key string) uint64 {
	if b.st == nil {
		return 0
	}
	var seq uint64
	err := b.st.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(append(bytes.Clone(keyMark), key...)); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		b.log.Warn("cluster mark not read", "key", key, "err", err)
	}
	return seq
}

// inbound is the broker's side of the flow control of the cluster's
// durable delivery: the full outboxes that QoS 1 and QoS 2 messages of
// the cluster went to, and the channel closed when none is left. It
// waits for them as a publisher's connection does (waiter).
type inbound struct {
	once sync.Once
	b    *Broker

	mu       sync.Mutex
	blockers []*session
	room     chan struct{} // made when the first blocker is noted; closed when the last has drained
	timer    *time.Timer   // looks again every recheckEvery meanwhile (messages may expire)
}

func (in *inbound) init(b *Broker) { in.once.Do(func() { in.b = b }) }

// note records s, an outbox a QoS 1 or QoS 2 delivery of the cluster went
// to, if it is full: the cluster waits for it.
func (in *inbound) note(s *session) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if slices.Contains(in.blockers, s) || !s.holds(in, time.Now(), in.b) {
		return
	}
	in.blockers = append(in.blockers, s)
	if in.room == nil {
		in.room = make(chan struct{})
		in.timer = time.AfterFunc(recheckEvery, in.recheck)
	}
}

// waiting returns the channel closed when the outboxes the cluster waits
// for have drained; nil when it waits for none.
func (in *inbound) waiting() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.room == nil {
		return nil
	}
	return in.room
}

// wakeUnblocked implements waiter: called with the session's lock held,
// it looks again on a goroutine of its own.
func (in *inbound) wakeUnblocked() { go in.recheck() }

// recheck drops the outboxes that are no longer full (or whose sessions
// ended) from those the cluster waits for, and closes the channel when
// none is left.
func (in *inbound) recheck() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.room == nil {
		return
	}
	in.blockers = stillHolding(in.blockers, in, in.b)
	if len(in.blockers) > 0 {
		in.timer.Reset(recheckEvery)
		return
	}
	in.timer.Stop()
	close(in.room)
	in.room, in.blockers = nil, nil
}
