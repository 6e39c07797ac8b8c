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
// write, so that the client, PUBACK in hand, finds it when it subscribes
// here; a QoS 0 one is in this node's copy a NATS round trip later.

// The value of a retained message in the bucket.
//
//	format    1 byte, retainedFormat
//	origin    8 bytes: the node that wrote it
//	seq       8 bytes: the node's count of retained messages written
//	expires   8 bytes: Unix time in nanoseconds when its Message Expiry
//	          Interval ends, counted from its publication; 0 for none
//	publish   the MQTT v5 PUBLISH (core codec), Retain set; none in a
//	          delete marker's value
const (
	retainedFormat    = 1
	retainedHeaderLen = 1 + 8 + 8 + 8
)

var _ broker.RetainingCluster = (*Node)(nil)

// retainedState is the node's side of the bucket of retained messages.
type retainedState struct {
	prefix  string // "$KV.<bucket>.": a key's subject is prefix+key
	w       jetstream.KeyWatcher
	initial []jetstream.KeyValueEntry // read by Dial, loaded by Attach
	seq     atomic.Uint64             // the retained messages this node wrote
	running bool                      // mirror runs (Attach was called)
	done    chan struct{}             // closed when mirror has returned

	// mu guards waiting: this node's writes that an acknowledgement
	// waits for, by seq, until the watch brings them back.
	mu      sync.Mutex
	waiting map[uint64]*retainWait
}

// retainWait is a write of this node's that a done waits for.
type retainWait struct {
	done  func(error)
	timer *time.Timer // Config.PublishTimeout
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
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("cluster: watch bucket %s: %w", n.cfg.Retained, err)
	}
	r := &n.ret
	r.prefix, r.w = "$KV."+n.cfg.Retained+".", w
	r.waiting = make(map[uint64]*retainWait)
	r.done = make(chan struct{})
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
// empty payload), and calls done once the watch has brought the write
// back to this node (mirror) or it failed.
func (n *Node) putRetained(p *packet.Publish, key string, done func(error)) {
	r := &n.ret
	seq := r.seq.Add(1)
	var expires int64
	if p.Props.Has(property.MessageExpiryInterval) {
		expires = time.Now().Add(time.Duration(p.Props.MessageExpiry) * time.Second).UnixNano()
	}
	data := make([]byte, retainedHeaderLen, retainedHeaderLen+p.Size(packet.V5))
	data[0] = retainedFormat
	binary.BigEndian.PutUint64(data[1:], n.origin)
	binary.BigEndian.PutUint64(data[9:], seq)
	binary.BigEndian.PutUint64(data[17:], uint64(expires))
	m := &nats.Msg{Subject: r.prefix + key, Header: nats.Header{}}
	if len(p.Payload) == 0 {
		m.Header.Set("KV-Operation", "DEL") // what jetstream.KeyValue's Delete writes (ADR-8)
	} else {
		wire := *p
		wire.PacketID = 0
		if wire.QoS > packet.QoS0 {
			wire.PacketID = 1 // a PUBLISH of QoS 1 or 2 has one on the wire; ignored
		}
		var err error
		if data, err = wire.AppendTo(data, packet.V5); err != nil {
			done(fmt.Errorf("cluster: encode: %w", err))
			return
		}
	}
	m.Data = data
	w := &retainWait{done: done}
	r.mu.Lock()
	r.waiting[seq] = w
	w.timer = time.AfterFunc(n.cfg.PublishTimeout, func() { n.resolveRetained(seq, ErrTimeout) })
	r.mu.Unlock()
	f, err := n.js.PublishMsgAsync(m)
	if err != nil {
		n.resolveRetained(seq, fmt.Errorf("cluster: retain: %w", err))
		return
	}
	n.confirms <- confirm{f: f, deadline: time.Now().Add(n.cfg.PublishTimeout), done: func(err error) {
		if err != nil {
			n.resolveRetained(seq, err)
		} // else the watch brings it back
	}}
}

// resolveRetained calls the done of this node's write seq, if it still waits.
func (n *Node) resolveRetained(seq uint64, err error) {
	r := &n.ret
	r.mu.Lock()
	w := r.waiting[seq]
	delete(r.waiting, seq)
	r.mu.Unlock()
	if w != nil {
		w.timer.Stop()
		w.done(err)
	}
}

// mirror applies the changes of the bucket to the broker until the watch
// ends (Close), and then fails the writes still waiting.
func (n *Node) mirror() {
	r := &n.ret
	defer close(r.done)
	for e := range r.w.Updates() {
		if e != nil {
			n.applyRetained(e)
		}
	}
	r.mu.Lock()
	waiting := r.waiting
	r.waiting = make(map[uint64]*retainWait)
	r.mu.Unlock()
	for _, w := range waiting {
		w.timer.Stop()
		w.done(ErrClosed)
	}
}

// applyRetained applies one value (or delete marker) of the bucket to the
// broker; a value it cannot read deletes the topic's retained message.
func (n *Node) applyRetained(e jetstream.KeyValueEntry) {
	name, err := KeyTopic(e.Key())
	if err != nil {
		n.log.Warn("cluster: retained message under a key of no topic: ignored", "key", e.Key(), "err", err)
		return
	}
	p, expires, origin, seq, err := decodeRetained(e)
	if err == nil && p.Topic != "" && p.Topic != name {
		err = fmt.Errorf("topic %q", p.Topic)
	}
	if err != nil {
		n.log.Warn("cluster: retained message unreadable: deleted", "topic", name, "err", err)
		p = packet.Publish{}
	}
	p.Topic = name
	n.b.SetRetained(&p, expires)
	if origin == n.origin {
		n.resolveRetained(seq, nil)
	}
}

// decodeRetained reads an entry of the bucket: its PUBLISH (none for a
// delete marker), which aliases the entry's value, and its header.
func decodeRetained(e jetstream.KeyValueEntry) (p packet.Publish, expires time.Time, origin, seq uint64, err error) {
	d := e.Value()
	if len(d) >= retainedHeaderLen && d[0] == retainedFormat {
		origin, seq = binary.BigEndian.Uint64(d[1:]), binary.BigEndian.Uint64(d[9:])
		if ns := int64(binary.BigEndian.Uint64(d[17:])); ns != 0 {
			expires = time.Unix(0, ns)
		}
	}
	if e.Operation() != jetstream.KeyValuePut {
		return packet.Publish{}, time.Time{}, origin, seq, nil // deleted, or purged
	}
	if len(d) < retainedHeaderLen || d[0] != retainedFormat {
		return p, expires, origin, seq, errors.New("not a retained message of this format")
	}
	pk, _, err := packet.Decode[uint16](packet.V5, d[retainedHeaderLen:], 0)
	pub, ok := pk.(*packet.Publish)
	if err != nil || !ok {
		return p, expires, origin, seq, fmt.Errorf("not a PUBLISH: %v", err)
	}
	return *pub, expires, origin, seq, nil
}

// drainRetained makes sure that the watch is read until it ends (Close
// calls it before it drains the connection, which ends the watch): by
// mirror, or, if Attach was never called, here.
func (n *Node) drainRetained() {
	if n.ret.running {
		return
	}
	go func() {
		for range n.ret.w.Updates() {
		}
		close(n.ret.done)
	}()
}
