package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fenceTopic is what retainedAt publishes after its SUBSCRIBE: it comes
// after the retained messages the SUBSCRIBE brought.
const fenceTopic = "fence"

// retainedAt returns the retained messages that a SUBSCRIBE to filter
// gets from c's node now, each "topic=payload", sorted, after checking
// they carry the Retain flag (MQTT-3.3.1-9). Messages without it (routed
// ones) are skipped.
func retainedAt(t testing.TB, c *brokertest.Client, filter string) []string {
	t.Helper()
	var got []string
	for _, m := range retainedMessages(t, c, packet.QoS1, filter) {
		got = append(got, m.Topic+"="+string(m.Payload))
	}
	slices.Sort(got)
	return got
}

// retainedMessages is retainedAt's messages as received, to a
// subscription of qos.
func retainedMessages(t testing.TB, c *brokertest.Client, qos packet.QoS, filter string) []client.Message {
	t.Helper()
	subscribe(t, c, qos, filter, fenceTopic)
	fence := fmt.Sprint(time.Now().UnixNano())
	publish(t, c, fenceTopic, packet.QoS0, fence)
	var got []client.Message
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-c.Messages():
			switch {
			case m.Topic == fenceTopic && string(m.Payload) == fence:
				return got
			case m.Retain && m.Topic != fenceTopic:
				got = append(got, m)
			}
		case <-deadline:
			t.Fatalf("no fence after SUBSCRIBE %q; retained so far %v", filter, got)
		}
	}
}

// awaitRetained polls c's node until a SUBSCRIBE to filter gets the
// retained messages want ("topic=payload", sorted), and fails the test if
// it does not within 10 s.
func awaitRetained(t testing.TB, c *brokertest.Client, filter string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := retainedAt(t, c, filter)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("retained for %q: %q, want %q", filter, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitKeyGone polls kv until key is deleted, and fails the test if it
// is not within 10 s. (A Get may be answered by a replica that has yet
// to apply the delete.)
func awaitKeyGone(t testing.TB, kv jetstream.KeyValue, key string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := kv.Get(ctx(t), key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket: key %q: Get %v 10 s on, want ErrKeyNotFound (deleted)", key, err)
		}
	}
}

// bucket opens the bucket of retained messages on NATS url.
func bucket(t testing.TB, url string) jetstream.KeyValue {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx(t), "MQTT_RETAINED")
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// TestRetained runs the cases of retained messages on one three-node
// cluster.
func TestRetained(t *testing.T) {
	tc := startCluster(t, broker.Config{SysInterval: 50 * time.Millisecond})
	t.Run("CrossNode_MQTT_3_3_1_5_MQTT_3_3_1_9", tc.testRetainedCrossNode)
	t.Run("ClearedEverywhere_MQTT_3_3_1_6_MQTT_3_3_1_7", tc.testRetainedCleared)
	t.Run("ConcurrentRetainsConverge", tc.testRetainedConverge)
	t.Run("LateNodeAndExpiry_MQTT_3_3_2_5", tc.testRetainedLateNode)
	t.Run("SysNotReplicated", tc.testRetainedSys)
	t.Run("ExpiredLeaveTheBucket_MQTT_3_3_2_5", tc.testRetainedExpiredDeleted)
	t.Run("ExpiredDeleteRevisionChecked", tc.testRetainedDeleteRevisionChecked)
	t.Run("ExpiryZeroReplaces_MQTT_3_3_1_5_MQTT_3_3_2_5", tc.testRetainedExpiryZero)
}

// A retained message published on A (MQTT-3.3.1-5) is sent, with the
// Retain flag (MQTT-3.3.1-9), to a new subscription on B and C, with its
// properties and at the lower QoS; the publisher's own node has a QoS 1
// one as soon as the PUBACK came. Topics with what NATS subjects and keys
// reserve cross too.
func (tc *testCluster) testRetainedCrossNode(t *testing.T) {
	pub := tc.dial(t, 0, "ret-pub")
	onB := tc.dial(t, 1, "ret-on-b")
	onC := tc.dial(t, 2, "ret-on-c")
	props := property.Properties{ContentType: "text/plain", User: []property.User{{Key: "k", Value: "v"}}}
	if err := pub.Publish(ctx(t), client.Message{Topic: "ret/x/a", QoS: packet.QoS1, Retain: true,
		Payload: []byte("A1"), Props: props}); err != nil {
		t.Fatal(err)
	}
	// The PUBACK waited for A's copy: no polling.
	if got, want := retainedAt(t, pub, "ret/x/a"), []string{"ret/x/a=A1"}; !slices.Equal(got, want) {
		t.Errorf("retained on the publisher's node after the PUBACK %q, want %q", got, want)
	}
	publish(t, pub, "ret/x/b", packet.QoS0, "A0")
	retain(t, pub, "ret/w.x/a b/*", "odd")
	retain(t, pub, "ret//ü=", "odder")
	for _, c := range []*brokertest.Client{onB, onC} {
		awaitRetained(t, c, "ret/#", "ret//ü==odder", "ret/w.x/a b/*=odd", "ret/x/a=A1")
	}
	ms := retainedMessages(t, onB, packet.QoS1, "ret/x/a")
	if len(ms) != 1 || ms[0].QoS != packet.QoS1 || ms[0].Props.ContentType != "text/plain" ||
		!slices.Equal(ms[0].Props.User, props.User) {
		t.Errorf("retained on B: %+v, want QoS 1 with the properties published", ms)
	}
	retain(t, pub, "ret/q0", "low")
	awaitRetained(t, onC, "ret/q0", "ret/q0=low")
	if ms := retainedMessages(t, onC, packet.QoS0, "ret/q0"); len(ms) != 1 || ms[0].QoS != packet.QoS0 {
		t.Errorf("retained on C to a QoS 0 subscription: %+v, want QoS 0 (MQTT-3.8.4-8)", ms)
	}
	for _, c := range []*brokertest.Client{pub, onB, onC} {
		clearRetained(t, c, "ret/#")
	}
}

// retain publishes a retained QoS 1 message from c.
func retain(t testing.TB, c *brokertest.Client, topic, payload string) {
	t.Helper()
	if err := c.Publish(ctx(t), client.Message{Topic: topic, QoS: packet.QoS1, Retain: true, Payload: []byte(payload)}); err != nil {
		t.Fatalf("retain %q: %v", topic, err)
	}
}

// clearRetained deletes every retained message of filter (empty retained
// messages from c) once its node has them all, and waits for c's node
// to have none, so that the next case starts afresh.
func clearRetained(t testing.TB, c *brokertest.Client, filter string) {
	t.Helper()
	for _, m := range retainedMessages(t, c, packet.QoS1, filter) {
		retain(t, c, m.Topic, "")
	}
	awaitRetained(t, c, filter)
}

// An empty retained message published on C deletes the topic's retained
// message on every node (MQTT-3.3.1-6) and in the bucket, and is stored
// nowhere (MQTT-3.3.1-7).
func (tc *testCluster) testRetainedCleared(t *testing.T) {
	var cs []*brokertest.Client
	for i := range 3 {
		cs = append(cs, tc.dial(t, i, fmt.Sprintf("clear-%d", i)))
	}
	retain(t, cs[0], "ret/c/a", "a")
	retain(t, cs[0], "ret/c/b", "b")
	for _, c := range cs {
		awaitRetained(t, c, "ret/c/#", "ret/c/a=a", "ret/c/b=b")
	}
	retain(t, cs[2], "ret/c/a", "")
	for _, c := range cs {
		awaitRetained(t, c, "ret/c/#", "ret/c/b=b")
	}
	if _, err := bucket(t, tc.nats[1]).Get(ctx(t), "m.ret.c.a"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("bucket: key of the cleared topic: %v, want ErrKeyNotFound (deleted)", err)
	}
	clearRetained(t, cs[1], "ret/#")
}

// Two nodes retaining to one topic at once: every node ends with the
// bucket's last value (the last revision wins), however the writes
// interleaved.
func (tc *testCluster) testRetainedConverge(t *testing.T) {
	pubs := []*brokertest.Client{tc.dial(t, 0, "race-a"), tc.dial(t, 1, "race-b")}
	var cs []*brokertest.Client
	for i := range 3 {
		cs = append(cs, tc.dial(t, i, fmt.Sprintf("race-%d", i)))
	}
	kv := bucket(t, tc.nats[2])
	for round := range 3 {
		var wg sync.WaitGroup
		for i, pub := range pubs {
			wg.Go(func() {
				for j := range 30 {
					m := client.Message{Topic: "ret/race", QoS: packet.QoS(j % 2), Retain: true,
						Payload: fmt.Appendf(nil, "%d-%c-%d", round, 'A'+i, j)}
					if err := pub.Publish(ctx(t), m); err != nil {
						t.Errorf("publish: %v", err)
					}
				}
			})
		}
		wg.Wait()
		// The last write of each publisher is QoS 1 and acknowledged: the
		// bucket has its final value.
		e, err := kv.Get(ctx(t), "m.ret.race")
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := decodeRetained(e)
		if err != nil {
			t.Fatal(err)
		}
		final := "ret/race=" + string(p.Payload)
		for _, c := range cs {
			awaitRetained(t, c, "ret/race", final)
		}
		// It stays so: nothing older comes after it.
		for _, c := range cs {
			if got := retainedAt(t, c, "ret/race"); !slices.Equal(got, []string{final}) {
				t.Errorf("round %d: retained %q after %q", round, got, final)
			}
		}
	}
	clearRetained(t, cs[0], "ret/#")
}

// lateNode is a broker started during a test, which the test stops.
type lateNode struct {
	addr   string
	b      *broker.Broker
	n      *Node // nil: not a node of the cluster
	st     *broker.Store
	served chan error
}

// startLate starts a broker with a Store at path: node D of the cluster
// on NATS url, or, url "", a broker of its own.
func startLate(t testing.TB, url, path string) *lateNode {
	t.Helper()
	ln := &lateNode{served: make(chan error, 1)}
	cfg := broker.Config{Logger: brokertest.Logger(t, slog.LevelWarn), Version: "node D"}
	var err error
	if url != "" {
		if ln.n, err = Dial(ctx(t), Config{URL: url, Replicas: 3}); err != nil {
			t.Fatal(err)
		}
		cfg.Cluster = ln.n
	}
	if cfg.Store, err = broker.OpenStore(path); err != nil {
		t.Fatal(err)
	}
	ln.st = cfg.Store
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.addr = l.Addr().String()
	ln.b = broker.New(cfg)
	go func() { ln.served <- ln.b.Serve(l) }()
	t.Cleanup(func() { ln.stop(t) })
	return ln
}

// stop shuts the node down (once).
func (ln *lateNode) stop(t testing.TB) {
	if ln.b == nil {
		return
	}
	if err := ln.b.Shutdown(ctx(t)); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	<-ln.served
	if ln.n != nil {
		if err := ln.n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if err := ln.st.Close(); err != nil {
		t.Errorf("store Close: %v", err)
	}
	ln.b = nil
}

// A node started after retained messages were published has them all at
// its first SUBSCRIBE (Dial reads the bucket, Attach loads it before New
// returns): no polling. A Message Expiry Interval counts from the
// publication, on every node, and an expired message is sent to no new
// subscription anywhere (MQTT-3.3.2-5). A node with a Store records the
// retained messages it mirrors, and drops from it, when it starts again,
// those the bucket no longer has.
func (tc *testCluster) testRetainedLateNode(t *testing.T) {
	pub := tc.dial(t, 0, "late-pub")
	retain(t, pub, "ret/late/a", "a")
	if err := pub.Publish(ctx(t), client.Message{Topic: "ret/late/exp", QoS: packet.QoS1, Retain: true,
		Payload: []byte("exp"), Props: property.Properties{MessageExpiry: 4}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a second of the expiry passes before D starts

	path := filepath.Join(t.TempDir(), "store.db")
	d := startLate(t, tc.nats[1], path)
	onD := dialAddr(t, d.addr, "late-on-d")
	ms := retainedMessages(t, onD, packet.QoS1, "ret/late/#")
	got := make(map[string]client.Message)
	for _, m := range ms {
		got[m.Topic] = m
	}
	if len(ms) != 2 || string(got["ret/late/a"].Payload) != "a" || string(got["ret/late/exp"].Payload) != "exp" {
		t.Fatalf("first SUBSCRIBE on the late node: %v, want both retained messages", ms)
	}
	if e := got["ret/late/exp"].Props.MessageExpiry; e == 0 || e > 3 {
		t.Errorf("Message Expiry Interval on the late node %d, want at most 3 (4, a second gone before it started)", e)
	}
	onB := tc.dial(t, 1, "late-on-b")
	for _, c := range []*brokertest.Client{onD, onB} {
		awaitRetained(t, c, "ret/late/#", "ret/late/a=a") // the expiry passes
	}

	// D's Store has what D mirrored: a broker on it alone has it.
	d.stop(t)
	alone := startLate(t, "", path)
	if got := retainedAt(t, dialAddr(t, alone.addr, "alone"), "ret/late/#"); !slices.Equal(got, []string{"ret/late/a=a"}) {
		t.Errorf("retained in D's Store %q, want ret/late/a", got)
	}
	alone.stop(t)
	// Cleared while D is away, and its delete marker gone from the bucket
	// too: D, started again on its Store, drops it.
	clearRetained(t, pub, "ret/late/#")
	if err := bucket(t, tc.nats[0]).PurgeDeletes(ctx(t), jetstream.DeleteMarkersOlderThan(-1)); err != nil {
		t.Fatal(err)
	}
	d = startLate(t, tc.nats[2], path)
	if got := retainedAt(t, dialAddr(t, d.addr, "late-again"), "ret/late/#"); len(got) != 0 {
		t.Errorf("restarted on its Store, D has %q, which the bucket no longer has", got)
	}
}

// The retained $SYS topics stay on their node: B has its own, and the
// bucket none.
func (tc *testCluster) testRetainedSys(t *testing.T) {
	onB := tc.dial(t, 1, "sys-ret-b")
	awaitRetained(t, onB, "$SYS/broker/version", "$SYS/broker/version=node B")
	keys, err := bucket(t, tc.nats[0]).ListKeys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys.Keys() {
		if name, err := KeyTopic(k); err != nil || strings.HasPrefix(name, "$") {
			t.Errorf("bucket key %q (topic %q, %v)", k, name, err)
		}
	}
}

// A retained message with a Message Expiry Interval of 0 (a valid value:
// expired as it arrives) is sent to no one (MQTT-3.3.2-5), but replaces
// the topic's retained message (MQTT-3.3.1-5) on every node and in the
// bucket, as on a single broker: the PUBACK waits for the publisher's
// node to have dropped the old one.
func (tc *testCluster) testRetainedExpiryZero(t *testing.T) {
	pub := tc.dial(t, 0, "zero-pub")
	onB := tc.dial(t, 1, "zero-on-b")
	onC := tc.dial(t, 2, "zero-on-c")
	retain(t, pub, "ret/zero", "old")
	for _, c := range []*brokertest.Client{onB, onC} {
		awaitRetained(t, c, "ret/zero", "ret/zero=old")
	}
	sub := tc.dial(t, 1, "zero-sub")
	subscribe(t, sub, packet.QoS1, "ret/zero", probeTopic)
	expect(t, sub, "ret/zero=old@1") // the retained one
	awaitRoute(t, pub, sub)
	if err := pub.Publish(ctx(t), client.Message{Topic: "ret/zero", QoS: packet.QoS1, Retain: true, Payload: []byte("new"),
		Props: property.Properties{Zero: property.NewSet(property.MessageExpiryInterval)}}); err != nil {
		t.Fatal(err)
	}
	if got := retainedAt(t, pub, "ret/zero"); len(got) != 0 {
		t.Errorf("retained on the publisher's node after the PUBACK %q, want none (MQTT-3.3.1-5)", got)
	}
	for _, c := range []*brokertest.Client{onB, onC} {
		awaitRetained(t, c, "ret/zero")
	}
	awaitKeyGone(t, bucket(t, tc.nats[0]), "m.ret.zero")
	publish(t, pub, "ret/zero", packet.QoS1, "after") // not retained
	expect(t, sub, "ret/zero=after@1")                // and nothing before it (MQTT-3.3.2-5)
}
