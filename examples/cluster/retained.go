package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Retained messages, cluster-wide (broker.RetainingCluster).
//
// They are kept in the JetStream key-value bucket Config.Retained, one
// key per topic (retainkey.go), its last value only (History 1). The
// node a retained message is published on writes it: the value (below)
// for a message, a delete marker for an empty one (MQTT-3.3.1-6,
// MQTT-3.3.1-7). Every node watches all the keys, and applies what the
// watch brings, in the order of the bucket's revisions, to its broker's
// retained messages (Broker.SetRetained), its own writes included: the
// broker does not store the retained messages the cluster keeps when
// they are published, so every node's copy goes through the same
// sequence, and ends with the same last revision of each key, however
// many nodes retain to one topic at once.
//
// Dial reads the bucket's current values (the initial values of the
// watch) before it returns, and Attach loads them into the broker (and
// deletes the retained messages the broker holds, from its Store, that
// the bucket no longer has) before New returns: a node serves its first
// SUBSCRIBE with every retained message the bucket held when it dialed.
//
// The acknowledgement of a retained QoS 1 or QoS 2 message waits both for
// the stream (as any) and for this node's watch to have applied the
// bucket up to the write's revision (the write itself, or a later one of
// the topic that replaced it before the watch brought it), so that the
// client, PUBACK in hand, finds it when it subscribes here; a QoS 0 one
// is in this node's copy a NATS round trip later.
//
// A value whose Message Expiry Interval has ended is deleted from the
// bucket by one of the nodes (retainexpiry.go).

// The value of a retained message in the bucket.
//
//	format    1 byte, retainedFormat
//	expires   8 bytes: Unix time in nanoseconds when its Message Expiry
//	          Interval ends, counted from its publication; 0 for none
//	publish   the MQTT v5 PUBLISH (core codec), Retain set
//
// A delete marker's value is empty.
const (
	retainedFormat    = 1
	retainedHeaderLen = 1 + 8
)

var _ broker.RetainingCluster = (*Node)(nil)

// retainedState is the node's side of the bucket of retained messages.
type retainedState struct {
	prefix  string // "$KV.<bucket>.": a key's subject is prefix+key
	kv      jetstream.KeyValue
	w       jetstream.KeyWatcher
	initial []jetstream.KeyValueEntry // read by Dial, loaded by Attach
	running bool                      // mirror runs (Attach was called)
	closing atomic.Bool               // Close was called
	done    chan struct{}             // closed when the watch has been read to its end

	// exp are the values that expire, which expireRetained deletes from
	// the bucket (retainexpiry.go); it closes expireDone as it returns.
	exp        expiries
	expireDone chan struct{}

	// mu guards applied, the revision of the last value (or marker)
	// applied to the broker, and waiting, the writes of this node that an
	// acknowledgement waits for until applied reaches them.
	mu      sync.Mutex
	applied uint64
	waiting []revisionWait
}

// revisionWait is a write of this node's, whose revision the bucket gave;
// ready is closed once the broker has it.
type revisionWait struct {
	rev   uint64
	ready chan struct{}
}

// openRetained makes the bucket if it is missing, starts watching it and
// reads its current values.
func (n *Node) openRetained(ctx context.Context) error {
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      n.cfg.Retained,
		Description: "MQTT retained messages",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    n.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("cluster: bucket %s: %w", n.cfg.Retained, err)
	}
	// Not ctx: the watch ends when its context does. Close ends it.
	w, err := kv.WatchAll(context.Background())
	if err != nil {
		return fmt.Errorf("cluster: watch bucket %s: %w", n.cfg.Retained, err)
	}
	r := &n.ret
	r.prefix, r.kv, r.w = "$KV."+n.cfg.Retained+".", kv, w
	r.done, r.expireDone = make(chan struct{}), make(chan struct{})
	r.exp.wake = make(chan struct{}, 1)
	for {
		select {
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return fmt.Errorf("cluster: watch bucket %s: ended", n.cfg.Retained)
			case e == nil: // the initial values are all in
				return nil
			}
			r.initial = append(r.initial, e)
		case <-ctx.Done():
			_ = w.Stop()
			return fmt.Errorf("cluster: bucket %s: reading the retained messages: %w", n.cfg.Retained, ctx.Err())
		}
	}
}

// attachRetained loads the bucket's values that Dial read into b, and
// starts applying its changes.
func (n *Node) attachRetained(b *broker.Broker) {
	r := &n.ret
	have := make(map[string]bool, len(r.initial))
	for _, e := range r.initial {
		if name, err := KeyTopic(e.Key()); err == nil && e.Operation() == jetstream.KeyValuePut {
			have[name] = true
		}
	}
	for _, name := range b.RetainedTopics() {
		if !have[name] {
			b.SetRetained(&packet.Publish{Topic: name}, time.Time{}) // deleted while this node was away
		}
	}
	for _, e := range r.initial {
		n.applyRetained(e)
	}
	r.initial, r.running = nil, true
	go n.mirror()
	go n.expireRetained() // retainexpiry.go
}

// Retains implements broker.RetainingCluster: the cluster keeps the
// retained messages of every topic that has a key (TopicKey).
func (n *Node) Retains(topic string) bool {
	_, err := TopicKey(topic)
	return err == nil
}

// retainThen writes a retained message p of a topic the cluster keeps to
// the bucket (Publish calls it), and returns the done of the rest of the
// message: done is called once both have been, with the first error. For
// any other message it returns done.
func (n *Node) retainThen(p *packet.Publish, done func(error)) func(error) {
	if !p.Retain {
		return done
	}
	key, err := TopicKey(p.Topic)
	if err != nil {
		return done // the broker stored it: it stays on this node
	}
	rest, put := join(done)
	n.putRetained(p, key, put)
	return rest
}

// DropRetained implements broker.RetainingCluster: it writes a delete
// marker for the topic, and calls done once this node's copy has it, as
// for an empty retained message.
func (n *Node) DropRetained(topic string, done func(error)) {
	key, err := TopicKey(topic)
	if err != nil {
		done(err) // not a topic the cluster Retains
		return
	}
	n.putRetained(&packet.Publish{Topic: topic, Retain: true}, key, done)
}

// join returns two functions to be called once each: done is called
// after the second, with the first error.
func join(done func(error)) (a, b func(error)) {
	var mu sync.Mutex
	left := 2
	var first error
	f := func(err error) {
		mu.Lock()
		left--
		if first == nil {
			first = err
		}
		last := left == 0
		mu.Unlock()
		if last {
			done(first)
		}
	}
	return f, f
}

// putRetained writes p to the bucket under key (a delete marker for an
// empty payload), and calls done once the broker has it (awaitRetained).
func (n *Node) putRetained(p *packet.Publish, key string, done func(error)) {
	m := &nats.Msg{Subject: n.ret.prefix + key}
	if len(p.Payload) == 0 {
		m.Header = nats.Header{"KV-Operation": {"DEL"}} // what jetstream.KeyValue's Delete writes (ADR-8)
	} else {
		var expires time.Time
		if p.Props.Has(property.MessageExpiryInterval) {
			expires = time.Now().Add(time.Duration(p.Props.MessageExpiry) * time.Second)
		}
		var err error
		if m.Data, err = encodeRetained(p, expires); err != nil {
			done(err)
			return
		}
	}
	f, err := n.js.PublishMsgAsync(m)
	if err != nil {
		done(fmt.Errorf("cluster: retain: %w", err))
		return
	}
	go n.awaitRetained(f, done)
}

// encodeRetained returns the value of a retained message p in the
// bucket, which expires at expires (zero: never).
func encodeRetained(p *packet.Publish, expires time.Time) ([]byte, error) {
	var ns int64
	if !expires.IsZero() {
		ns = expires.UnixNano()
	}
	data := make([]byte, retainedHeaderLen, retainedHeaderLen+p.Size(packet.V5))
	data[0] = retainedFormat
	binary.BigEndian.PutUint64(data[1:], uint64(ns))
	wire := *p
	wire.PacketID = 0
	if wire.QoS > packet.QoS0 {
		wire.PacketID = 1 // a PUBLISH of QoS 1 or 2 has one on the wire; ignored
	}
	data, err := wire.AppendTo(data, packet.V5)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode: %w", err)
	}
	return data, nil
}

// awaitRetained calls done once the bucket holds a write and this node's
// watch has applied the bucket up to its revision, or the write failed,
// or Config.PublishTimeout passed, or the node closed.
func (n *Node) awaitRetained(f jetstream.PubAckFuture, done func(error)) {
	t := time.NewTimer(n.cfg.PublishTimeout)
	defer t.Stop()
	var ready chan struct{}
	select {
	case ack := <-f.Ok():
		ready = n.whenApplied(ack.Sequence)
	case err := <-f.Err():
		done(fmt.Errorf("cluster: retain: %w", err))
		return
	case <-t.C:
		done(fmt.Errorf("cluster: retain: %w", ErrTimeout))
		return
	}
	select {
	case <-ready:
		done(nil)
	case <-t.C:
		done(fmt.Errorf("cluster: retain: applied: %w", ErrTimeout))
	case <-n.ret.done:
		done(ErrClosed)
	}
}

// whenApplied returns a channel closed once the watch has applied the
// bucket up to revision rev.
func (n *Node) whenApplied(rev uint64) chan struct{} {
	r := &n.ret
	ready := make(chan struct{})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applied >= rev {
		close(ready)
		return ready
	}
	r.waiting = append(r.waiting, revisionWait{rev: rev, ready: ready})
	return ready
}

// appliedUpTo records that the watch has applied the bucket up to
// revision rev, and closes the waits it ends.
func (n *Node) appliedUpTo(rev uint64) {
	r := &n.ret
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = max(r.applied, rev)
	kept := r.waiting[:0]
	for _, w := range r.waiting {
		if w.rev <= r.applied {
			close(w.ready)
			continue
		}
		kept = append(kept, w)
	}
	clear(r.waiting[len(kept):])
	r.waiting = kept
}

// mirror applies the changes of the bucket to the broker until the watch
// ends (Close).
func (n *Node) mirror() {
	r := &n.ret
	defer close(r.done)
	for e := range r.w.Updates() {
		if e != nil {
			n.applyRetained(e)
		}
	}
	if !r.closing.Load() {
		n.log.Error("cluster: the watch of the retained messages ended: this node's are no longer updated")
	}
}

// applyRetained applies one value (or delete marker) of the bucket to the
// broker, and notes when the value expires (retainexpiry.go); a value it
// cannot read deletes the topic's retained message.
func (n *Node) applyRetained(e jetstream.KeyValueEntry) {
	defer n.appliedUpTo(e.Revision())
	name, err := KeyTopic(e.Key())
	if err != nil {
		n.log.Warn("cluster: retained message under a key of no topic: ignored", "key", e.Key(), "err", err)
		return
	}
	p, expires, err := decodeRetained(e)
	if err == nil && p.Topic != "" && p.Topic != name {
		err = fmt.Errorf("topic %q", p.Topic)
	}
	if err != nil {
		n.log.Warn("cluster: retained message unreadable: deleted", "topic", name, "err", err)
		p, expires = packet.Publish{}, time.Time{}
	}
	p.Topic = name
	n.b.SetRetained(&p, expires)
	n.noteExpiry(e.Key(), e.Revision(), expires)
}

// decodeRetained reads an entry of the bucket: its PUBLISH (none for a
// delete marker), which aliases the entry's value, and when it expires.
func decodeRetained(e jetstream.KeyValueEntry) (p packet.Publish, expires time.Time, err error) {
	if e.Operation() != jetstream.KeyValuePut {
		return p, expires, nil // deleted, or purged
	}
	d := e.Value()
	if len(d) < retainedHeaderLen || d[0] != retainedFormat {
		return p, expires, errors.New("not a retained message of this format")
	}
	if ns := int64(binary.BigEndian.Uint64(d[1:])); ns != 0 {
		expires = time.Unix(0, ns)
	}
	pk, _, err := packet.Decode[uint16](packet.V5, d[retainedHeaderLen:], 0)
	pub, ok := pk.(*packet.Publish)
	if err != nil || !ok {
		return p, expires, fmt.Errorf("not a PUBLISH: %v", err)
	}
	return *pub, expires, nil
}

// drainRetained makes sure that the watch is read until it ends (Close
// calls it before it drains the connection, which ends the watch): by
// mirror, or, if Attach was never called, here; and waits for
// expireRetained to have returned (Close ended n.ctx).
func (n *Node) drainRetained() {
	n.ret.closing.Store(true)
	if n.ret.running {
		<-n.ret.expireDone
		return
	}
	go func() {
		for range n.ret.w.Updates() {
		}
		close(n.ret.done)
	}()
}
