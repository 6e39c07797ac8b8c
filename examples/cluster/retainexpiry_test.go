package cluster

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/nats-io/nats.go/jetstream"
)

// dueKeys returns the keys and revisions expiries has due at now, as
// "key@rev", in the order given, and when the next one is.
func dueKeys(x *expiries, now time.Time) ([]string, time.Time) {
	due, next := x.due(now)
	var got []string
	for _, e := range due {
		got = append(got, e.key+"@"+string('0'+byte(e.rev)))
	}
	return got, next
}

// The values that expire come due in the order of their ends; a newer
// value of a key replaces its end and revision, one that does not expire
// (or a delete marker) forgets the key, and a delete tried again does not
// undo a newer value.
func TestExpiriesQueue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	x := &expiries{wake: make(chan struct{}, 1)}
	x.note("a", 1, t0.Add(3*time.Second))
	x.note("b", 1, t0.Add(time.Second))
	x.note("c", 1, t0.Add(2*time.Second))
	x.note("d", 1, time.Time{}) // never known: nothing
	x.note("a", 2, t0.Add(500*time.Millisecond))
	x.note("c", 2, time.Time{})
	got, next := dueKeys(x, t0.Add(1500*time.Millisecond))
	if want := []string{"a@2", "b@1"}; !slices.Equal(got, want) || !next.IsZero() {
		t.Errorf("due %q, next %v; want %q and none next", got, next, want)
	}
	if got, _ := dueKeys(x, t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("due %q after all were taken", got)
	}

	x.note("e", 1, t0.Add(time.Second))
	x.note("f", 1, t0.Add(4*time.Second))
	if got, next := dueKeys(x, t0.Add(2*time.Second)); !slices.Equal(got, []string{"e@1"}) || !next.Equal(t0.Add(4*time.Second)) {
		t.Errorf("due %q, next %v; want e@1 and f's end next", got, next)
	}
	x.retry(expiring{key: "e", rev: 1}, t0.Add(5*time.Second))
	x.note("f", 3, t0.Add(6*time.Second)) // a newer f came since f@1 was taken...
	x.retry(expiring{key: "f", rev: 1}, t0.Add(5*time.Second))
	got, _ = dueKeys(x, t0.Add(time.Hour))
	if want := []string{"e@1", "f@3"}; !slices.Equal(got, want) {
		t.Errorf("due after retries %q, want %q (f@1's retry dropped: f@3 is newer)", got, want)
	}
	if len(x.byKey) != 0 || len(x.queue) != 0 {
		t.Errorf("left: %d keys, %d queued", len(x.byKey), len(x.queue))
	}
}

// Each node waits a share of expiryStagger of its own for a key.
func TestExpiryStagger(t *testing.T) {
	a, b := &Node{origin: 1}, &Node{origin: 2}
	seen := map[time.Duration]bool{}
	for _, key := range []string{"m.a", "m.b", "m.c"} {
		for _, n := range []*Node{a, b} {
			d := n.stagger(key)
			if d < 0 || d >= expiryStagger || d != n.stagger(key) {
				t.Errorf("stagger %v for %q, want the same in [0, %v)", d, key, expiryStagger)
			}
			seen[d] = true
		}
	}
	if len(seen) < 5 {
		t.Errorf("%d distinct staggers of 6", len(seen))
	}
}

// A retained message whose Message Expiry Interval has passed, sent to
// no new subscription (MQTT-3.3.2-5), leaves the bucket and every node's
// copy; a newer retained message of a topic, written after one that
// expires, stays on every node and in the bucket.
func (tc *testCluster) testRetainedExpiredDeleted(t *testing.T) {
	pub := tc.dial(t, 0, "exp-pub")
	expiring := func(topic, payload string) {
		t.Helper()
		if err := pub.Publish(ctx(t), client.Message{Topic: topic, QoS: packet.QoS1, Retain: true,
			Payload: []byte(payload), Props: property.Properties{MessageExpiry: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	expiring("ret/exp/a", "gone")
	expiring("ret/exp/b", "old")
	retain(t, pub, "ret/exp/b", "new")
	// The PUBACK waited for A's copy.
	if !slices.Contains(tc.brokers[0].RetainedTopics(), "ret/exp/a") {
		t.Fatalf("node A's retained topics %q after the PUBACK, want ret/exp/a", tc.brokers[0].RetainedTopics())
	}
	kv := bucket(t, tc.nats[1])
	key, err := TopicKey("ret/exp/a")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := kv.Get(ctx(t), key)
		var held []int
		for i, b := range tc.brokers {
			if slices.Contains(b.RetainedTopics(), "ret/exp/a") {
				held = append(held, i)
			}
		}
		if errors.Is(err, jetstream.ErrKeyNotFound) && len(held) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired retained message still there 10 s on: bucket Get %v, on nodes %v", err, held)
		}
	}
	// Every node's end of "old" has passed (its stagger too): "new" stays.
	time.Sleep(time.Until(start.Add(time.Second + expiryStagger + 200*time.Millisecond)))
	for i := range tc.addrs {
		if got := retainedAt(t, tc.dial(t, i, fmt.Sprintf("exp-check-%d", i)), "ret/exp/#"); !slices.Equal(got, []string{"ret/exp/b=new"}) {
			t.Errorf("node %d: retained %q, want ret/exp/b=new only", i, got)
		}
	}
	clearRetained(t, pub, "ret/#")
}

// A node deletes an expired value only if it is still the key's last
// revision: a newer one written meanwhile stays.
func (tc *testCluster) testRetainedDeleteRevisionChecked(t *testing.T) {
	kv := bucket(t, tc.nats[2])
	put := func(topic, payload string) (key string, rev uint64) {
		t.Helper()
		key, err := TopicKey(topic)
		if err != nil {
			t.Fatal(err)
		}
		v, err := encodeRetained(&packet.Publish{Topic: topic, Payload: []byte(payload)}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if rev, err = kv.Put(ctx(t), key, v); err != nil {
			t.Fatal(err)
		}
		return key, rev
	}
	key, older := put("ret/rev", "older")
	_, newer := put("ret/rev", "newer")
	n := tc.nodes[1]
	n.deleteExpired(expiring{key: key, rev: older})
	// A write after the delete's: once B's mirror has it, B has applied
	// what the delete wrote, if anything (the watch is in order).
	_, fence := put("ret/rev-fence", "fence")
	select {
	case <-n.whenApplied(fence):
	case <-time.After(10 * time.Second):
		t.Fatal("B's mirror did not apply the fence in 10 s")
	}
	if got := retainedAt(t, tc.dial(t, 1, "rev-b"), "ret/rev"); !slices.Equal(got, []string{"ret/rev=newer"}) {
		t.Fatalf("after deleting revision %d (of %d): retained on B %q, want the newer kept", older, newer, got)
	}
	n.deleteExpired(expiring{key: key, rev: newer})
	for i := range tc.addrs {
		awaitRetained(t, tc.dial(t, i, fmt.Sprintf("rev-check-%d", i)), "ret/rev")
	}
	awaitKeyGone(t, kv, key)
	clearRetained(t, tc.dial(t, 0, "rev-clear"), "ret/#")
}
