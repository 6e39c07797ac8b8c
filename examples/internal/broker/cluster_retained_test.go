package broker_test

import (
	"context"
	"errors"
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
)

// retainingCluster is a fakeCluster that keeps the retained messages of
// every topic but those under "local/" (broker.RetainingCluster); the
// test applies them with SetRetained, as a cluster would.
type retainingCluster struct {
	fakeCluster
	mu       sync.Mutex
	retained []string // the retained messages handed to Publish: "topic=payload"
	dropped  []string // the topics handed to DropRetained
}

func (f *retainingCluster) Retains(topic string) bool { return !strings.HasPrefix(topic, "local/") }

func (f *retainingCluster) DropRetained(topic string, done func(error)) {
	f.mu.Lock()
	f.dropped = append(f.dropped, topic)
	err := f.fail
	f.mu.Unlock()
	done(err)
}

func (f *retainingCluster) Publish(p *packet.Publish, done func(error)) {
	if p.Retain {
		f.mu.Lock()
		f.retained = append(f.retained, p.Topic+"="+string(p.Payload))
		f.mu.Unlock()
	}
	f.fakeCluster.Publish(p, done)
}

// retainedOn returns the retained messages a new subscription to filter
// gets, each "topic=payload", after checking their Retain flag
// (MQTT-3.3.1-9).
func retainedOn(t *testing.T, addr, filter string) []string {
	t.Helper()
	c := dial(t, addr, packet.V5, connect("retained-reader"))
	defer c.Drop()
	subscribe(t, c, packet.Subscription{Filter: filter, QoS: packet.QoS1}, packet.Subscription{Filter: "fence"})
	publish(t, c, "fence", packet.QoS0, false, "") // after the retained messages on the wire
	var got []string
	for {
		m := next(t, c)
		if m.Topic == "fence" {
			slices.Sort(got)
			return got
		}
		if !m.Retain {
			t.Errorf("MQTT-3.3.1-9: retained message %q without the Retain flag", m.Topic)
		}
		got = append(got, m.Topic+"="+string(m.Payload))
	}
}

// With a RetainingCluster, a retained message of a topic it keeps is
// handed to it and not stored by the node (MQTT-3.3.1-5 is the cluster's
// then): the node has what SetRetained gives it, replaced, deleted by an
// empty payload (MQTT-3.3.1-6, MQTT-3.3.1-7) or by an expiry that has
// passed (MQTT-3.3.2-5). $SYS topics and those it does not keep are
// stored by the node, as without a cluster, and RetainedTopics lists
// only the others.
func TestClusterRetained(t *testing.T) {
	t.Parallel()
	f := &retainingCluster{}
	b, addr := brokertest.Serve(t, broker.Config{Cluster: f, SysInterval: 20 * time.Millisecond,
		Logger: brokertest.Logger(t, 0)})
	pub := dial(t, addr, packet.V5, connect("pub"))
	publish(t, pub, "r/a", packet.QoS1, true, "kept by the cluster")
	publish(t, pub, "local/a", packet.QoS1, true, "kept here")
	f.mu.Lock()
	handed := slices.Clone(f.retained)
	f.mu.Unlock()
	if want := []string{"r/a=kept by the cluster", "local/a=kept here"}; !slices.Equal(handed, want) {
		t.Errorf("retained messages handed to the cluster %q, want %q", handed, want)
	}
	if got := retainedOn(t, addr, "#"); !slices.Equal(got, []string{"local/a=kept here"}) {
		t.Errorf("retained before SetRetained %q, want the local one only", got)
	}

	b.SetRetained(&packet.Publish{Topic: "r/a", Payload: []byte("one"), QoS: packet.QoS1}, time.Time{})
	b.SetRetained(&packet.Publish{Topic: "r/b", Payload: []byte("two")}, time.Time{})
	b.SetRetained(&packet.Publish{Topic: "r/a", Payload: []byte("three")}, time.Time{})
	if got, want := retainedOn(t, addr, "r/#"), []string{"r/a=three", "r/b=two"}; !slices.Equal(got, want) {
		t.Errorf("retained %q, want %q", got, want)
	}
	b.SetRetained(&packet.Publish{Topic: "r/a"}, time.Time{})
	b.SetRetained(&packet.Publish{Topic: "r/b", Payload: []byte("expired")}, time.Now().Add(-time.Millisecond))
	if got := retainedOn(t, addr, "r/#"); len(got) != 0 {
		t.Errorf("retained %q after an empty one and an expired one, want none", got)
	}

	// The expiry counts from expires, not from the Message Expiry
	// Interval of p (the one at publication).
	b.SetRetained(&packet.Publish{Topic: "r/e", Payload: []byte("e"), Props: property.Properties{MessageExpiry: 5}},
		time.Now().Add(time.Minute))
	c := dial(t, addr, packet.V5, connect("expiry"))
	subscribe(t, c, packet.Subscription{Filter: "r/e"})
	if m := next(t, c); m.Props.MessageExpiry < 58 || m.Props.MessageExpiry > 60 {
		t.Errorf("Message Expiry Interval %d, want the minute left (MQTT-3.3.2-6)", m.Props.MessageExpiry)
	}

	for deadline := time.Now().Add(5 * time.Second); b.Stats().Retained < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d retained messages, want local/a, r/e and $SYS ones", b.Stats().Retained)
		}
	}
	if topics := b.RetainedTopics(); !slices.Equal(topics, []string{"r/e"}) {
		t.Errorf("RetainedTopics %q, want the cluster's only", topics)
	}
}

// A node with a Store records what SetRetained gives it: a broker
// started again on the store, without a cluster, has it.
func TestClusterRetainedStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := broker.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	b := broker.New(broker.Config{Cluster: &retainingCluster{}, Store: st, Logger: brokertest.Logger(t, 0)})
	b.SetRetained(&packet.Publish{Topic: "r/s", Payload: []byte("stored")}, time.Time{})
	b.SetRetained(&packet.Publish{Topic: "r/gone", Payload: []byte("x")}, time.Time{})
	b.SetRetained(&packet.Publish{Topic: "r/gone"}, time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	sb := startStoreBroker(t, path)
	if got := retainedOn(t, sb.addr, "r/#"); !slices.Equal(got, []string{"r/s=stored"}) {
		t.Errorf("retained after the restart %q, want r/s", got)
	}
}

// A retained message with a Message Expiry Interval of 0 expired as it
// arrived: it is sent to no one (MQTT-3.3.2-5), but it replaces the
// topic's retained message all the same (MQTT-3.3.1-5): of a topic the
// cluster keeps, the broker hands the cluster DropRetained, not the
// message, and acknowledges once the cluster holds the change; of a
// topic stored here, it deletes the topic's.
func TestClusterRetainedExpiryZero(t *testing.T) {
	t.Parallel()
	f := &retainingCluster{}
	_, addr := brokertest.Serve(t, broker.Config{Cluster: f, Logger: brokertest.Logger(t, 0)})
	pub := dial(t, addr, packet.V5, connect("pub"))
	publish(t, pub, "local/z", packet.QoS1, true, "old")
	zero := property.Properties{Zero: property.NewSet(property.MessageExpiryInterval)}
	for _, topic := range []string{"r/z", "local/z"} {
		if err := pub.Publish(testContext(t), client.Message{Topic: topic, QoS: packet.QoS1, Retain: true,
			Payload: []byte("expired"), Props: zero}); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	dropped, retained := slices.Clone(f.dropped), slices.Clone(f.retained)
	f.mu.Unlock()
	if !slices.Equal(dropped, []string{"r/z"}) || !slices.Equal(retained, []string{"local/z=old"}) {
		t.Errorf("handed to the cluster: DropRetained %q, Publish %q; want DropRetained r/z only", dropped, retained)
	}
	if got := retainedOn(t, addr, "local/#"); len(got) != 0 {
		t.Errorf("retained here %q, want none: replaced by one that expired", got)
	}

	// The PUBACK waits for DropRetained's done, and its error closes the
	// connection unacknowledged.
	f.mu.Lock()
	f.fail = errors.New("refused")
	f.mu.Unlock()
	if err := pub.Publish(testContext(t), client.Message{Topic: "r/z", QoS: packet.QoS1, Retain: true,
		Payload: []byte("expired"), Props: zero}); err == nil {
		t.Error("PUBACK although the cluster could not drop the retained message")
	}
}
