package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/packet"
	"github.com/nats-io/nats.go/jetstream"
)

// durable is a JetStream consumer a node pulls the QoS 1 and QoS 2
// messages of the stream from: the node's own, whose filter subjects are
// those of its ordinary subscriptions (interest.go), or a share group's,
// which every node with a member pulls from, so that JetStream gives each
// message to one of them. A message is acknowledged once the broker holds
// it (Broker.DeliverTaken); while outboxes it went to are full, the node
// pulls no more from that consumer, and at most Config.MaxInFlight
// messages are given to the node unacknowledged (MaxAckPending).
type durable struct {
	n     *Node
	name  string    // the consumer's
	group filterKey // a share group's; zero for the node's own
	// mark is the key under which the broker's Store records the stream
	// sequence of the last message taken, with its deliveries; "" for a
	// share group's (see last).
	mark string
	// ensure makes the consumer, or finds it, and returns it; cons, when
	// set, is the consumer to start with.
	ensure func(ctx context.Context) (jetstream.Consumer, error)
	cons   jetstream.Consumer

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	mu   sync.Mutex
	iter jetstream.MessagesContext // the one run reads, to stop it

	// run's: the consumer it pulls from; for the node's own, what it has
	// taken (position.go; at start, the broker's Store says) and when it
	// last asked for the ack floor. Not for a share group's consumer: the
	// node sees only some of its messages, and one given again may have
	// gone to another node first (at least once).
	cur   jetstream.Consumer
	pos   position
	asked time.Time
}

// retryEvery is how long a node waits before it tries again what NATS
// refused: making or updating a consumer, pulling from it.
const retryEvery = 250 * time.Millisecond

// Consumer names: the node's own is "node-" and the node's name; a share
// group's "share-" and a hash of its ShareName and filter, the same on
// every node.
func ownConsumerName(node string) string { return "node-" + nameToken(node) }

func shareConsumerName(k filterKey) string {
	h := fnv.New64a()
	h.Write([]byte(k.share))
	h.Write([]byte{0})
	h.Write([]byte(k.filter))
	return fmt.Sprintf("share-%016x", h.Sum64())
}

// nameToken writes s with what a consumer name may hold (letters,
// digits, '-' and '_'), every other byte as "_XX" in hex.
func nameToken(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "_%02X", c)
	}
	return b.String()
}

// consumerConfig is the configuration of a consumer of the node's: it
// starts at the stream's next message, is acknowledged message by
// message, and JetStream deletes it once no node has pulled from it for
// idle.
func (n *Node) consumerConfig(name string, filters []string, idle time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:           name,
		DeliverPolicy:     jetstream.DeliverNewPolicy,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           n.cfg.AckWait,
		MaxAckPending:     n.cfg.MaxInFlight,
		FilterSubjects:    filters,
		InactiveThreshold: idle,
	}
}

// newDurable returns a durable of n, not yet running.
func (n *Node) newDurable(name string, group filterKey, mark string, ensure func(context.Context) (jetstream.Consumer, error)) *durable {
	ctx, cancel := context.WithCancel(n.ctx)
	return &durable{n: n, name: name, group: group, mark: mark, ensure: ensure,
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// shareDurable returns the durable of the share group k, whose filter
// maps to subjs.
func (n *Node) shareDurable(k filterKey, subjs []string) *durable {
	name := shareConsumerName(k)
	filters := make([]string, len(subjs))
	for i, s := range subjs {
		filters[i] = n.cfg.Prefix + ".1." + s
	}
	cfg := n.consumerConfig(name, filters, shareIdle)
	return n.newDurable(name, k, "", func(ctx context.Context) (jetstream.Consumer, error) {
		// Made only if missing: an update, even to the same
		// configuration, would lose the pulls of the other nodes waiting.
		c, err := n.js.Consumer(ctx, n.cfg.Stream, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			c, err = n.js.CreateConsumer(ctx, n.cfg.Stream, cfg)
		}
		return c, err
	})
}

// shareIdle is how long a share group's consumer outlives the last node
// that pulled from it: a group whose members come back within it gets
// what was published meanwhile.
const shareIdle = time.Minute

// stop makes run return, without waiting for it.
func (d *durable) stop() {
	d.cancel()
	d.mu.Lock()
	if d.iter != nil {
		d.iter.Stop()
	}
	d.mu.Unlock()
}

// setIter records the iterator run reads, unless the durable is stopped.
func (d *durable) setIter(it jetstream.MessagesContext) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		it.Stop()
		return false
	}
	d.iter = it
	return true
}

// pause waits for retryEvery, and reports whether the durable goes on.
func (d *durable) pause() bool {
	select {
	case <-time.After(retryEvery):
		return true
	case <-d.ctx.Done():
		return false
	}
}

// run pulls the consumer's messages and hands them to the broker, until
// stop; it makes the consumer again if it has gone.
func (d *durable) run() {
	defer close(d.done)
	cons := d.cons
	for d.ctx.Err() == nil {
		if cons == nil {
			c, err := d.ensure(d.ctx)
			if err != nil {
				if d.ctx.Err() == nil {
					d.n.log.Warn("cluster: consumer", "consumer", d.name, "err", err)
				}
				if !d.pause() {
					return
				}
				continue
			}
			cons = c
		}
		d.cur = cons
		it, err := cons.Messages(jetstream.PullMaxMessages(min(d.n.cfg.MaxInFlight, pullBatch)),
			jetstream.PullExpiry(pullExpiry))
		if err != nil {
			d.n.log.Warn("cluster: pull", "consumer", d.name, "err", err)
			cons = nil
			if !d.pause() {
				return
			}
			continue
		}
		if !d.setIter(it) {
			return
		}
		for {
			m, err := it.Next()
			if err == nil {
				if !d.handle(m) {
					it.Stop()
					return
				}
				continue
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				break
			}
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				it.Stop()
				cons = nil
				break
			}
			// Missed heartbeats, a reconnection: the iterator pulls again.
		}
		if !d.pause() {
			return
		}
	}
}

// pullBatch bounds the messages a node's pull asks for at once: those
// the node has not handled yet wait in the NATS client. A pull lasts
// pullExpiry, and JetStream sends heartbeats at half of it meanwhile: a
// pull lost (its consumer's leader changed, another node made the
// consumer at the same time) is sent again after two missed.
const (
	pullBatch  = 512
	pullExpiry = 2 * time.Second
)

// handle hands one message to the broker, acknowledges it once the
// broker holds it, and waits while outboxes it went to are full; it
// reports false once the durable is stopped.
func (d *durable) handle(m jetstream.Msg) bool {
	meta, err := m.Metadata()
	if err != nil {
		d.n.log.Warn("cluster: message without metadata", "consumer", d.name, "err", err)
		_ = m.Term()
		return true
	}
	seq, again := meta.Sequence.Stream, meta.NumDelivered > 1
	own := d.mark != ""
	d.n.fl.observe(seq)
	if own {
		d.checkFloor()
		if d.pos.given(seq, meta.Sequence.Consumer, again) {
			d.ack(m) // taken before: given again
			return true
		}
	}
	var p packet.Publish
	origin, _, ok := d.n.decode(m.Subject(), m.Data(), &p)
	if !ok {
		_ = m.Term()
		return true
	}
	if own && (origin == d.n.origin || !d.n.interest.eligible(m.Subject(), seq, again)) {
		// This node's own message (delivered here when it was published),
		// or one published before the subscriptions it matches were made.
		d.ack(m)
		d.n.fl.routed.Store(d.pos.took(seq, again))
		return true
	}
	var mark broker.Mark
	if own {
		mark = broker.Mark{Key: d.mark, Seq: d.pos.took(seq, again), Pos: seq}
		// Handed to the broker once DeliverTaken has returned (floor.go).
		defer d.n.fl.routed.Store(mark.Seq)
	}
	room := d.n.b.DeliverTaken(&p, d.group.share, d.group.filter, mark, func(ok bool) {
		if !ok {
			d.n.log.Warn("cluster: message not stored by the broker: not acknowledged", "consumer", d.name, "seq", seq)
			return
		}
		d.ack(m)
	})
	if room == nil {
		return true
	}
	select {
	case <-room:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// ackFloorEvery is how often the node asks for its consumer's ack floor
// while its position waits for it.
const ackFloorEvery = time.Second

// checkFloor asks for the consumer's ack floor, if the position waits
// for it and it was not asked within ackFloorEvery.
func (d *durable) checkFloor() {
	if !d.pos.unsure() || time.Since(d.asked) < ackFloorEvery || d.cur == nil {
		return
	}
	d.asked = time.Now()
	ctx, cancel := context.WithTimeout(d.ctx, ackFloorEvery)
	defer cancel()
	info, err := d.cur.Info(ctx)
	if err != nil {
		return
	}
	d.pos.acked(info.AckFloor.Stream)
}

// ack acknowledges a message to JetStream (unless a test drops the
// acknowledgements): it is not given again.
func (d *durable) ack(m jetstream.Msg) {
	if !d.n.dropAcks.Load() {
		_ = m.Ack()
	}
}
