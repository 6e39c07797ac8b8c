package broker_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// fakeCluster records what the broker tells its Cluster.
type fakeCluster struct {
	mu        sync.Mutex
	b         *broker.Broker
	calls     []string      // "+share/filter" and "-share/filter"
	published []string      // the topics handed to Publish, with their QoS
	fail      error         // what Publish reports to done
	hold      chan struct{} // when set, done waits for it to close
}

func (f *fakeCluster) Attach(b *broker.Broker) { f.b = b }

func (f *fakeCluster) Subscribe(share, filter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "+"+share+"/"+filter)
}

func (f *fakeCluster) Unsubscribe(share, filter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "-"+share+"/"+filter)
}

func (f *fakeCluster) Publish(p *packet.Publish, done func(error)) {
	f.mu.Lock()
	f.published = append(f.published, p.Topic+"@"+string('0'+byte(p.QoS)))
	f.mu.Unlock()
	if f.hold != nil {
		go func() { <-f.hold; done(f.fail) }()
		return
	}
	done(f.fail)
}

// take returns the calls and publications so far, and forgets them.
func (f *fakeCluster) take() (calls, published []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls, published = f.calls, f.published
	f.calls, f.published = nil, nil
	return calls, published
}

// The broker tells its Cluster of the first subscription to each filter
// and of the last, never of $SYS ones; it hands over what its clients
// publish, but not $SYS topics nor messages that came from the cluster.
func TestClusterInterest(t *testing.T) {
	t.Parallel()
	f := &fakeCluster{}
	b, addr := brokertest.Serve(t, broker.Config{Cluster: f, SysInterval: 20 * time.Millisecond,
		Logger: brokertest.Logger(t, 0)})
	if f.b != b {
		t.Fatal("Attach not called with the broker")
	}
	one := dial(t, addr, packet.V5, connect("one"))
	two := dial(t, addr, packet.V5, connect("two"))
	subscribe(t, one, packet.Subscription{Filter: "a/+", QoS: packet.QoS1}, packet.Subscription{Filter: "$SYS/#"})
	subscribe(t, two, packet.Subscription{Filter: "a/+", QoS: packet.QoS1}, packet.Subscription{Filter: "$share/g/x"})
	if err := one.Unsubscribe(testContext(t), "a/+"); err != nil {
		t.Fatal(err)
	}
	calls, _ := f.take()
	if want := []string{"+/a/+", "+g/x"}; !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}

	publish(t, one, "a/b", packet.QoS1, false, "local")
	expect(t, two, "a/b", "local", packet.QoS1)
	f.b.Deliver(&packet.Publish{Topic: "a/c", QoS: packet.QoS1, Payload: []byte("remote")})
	expect(t, two, "a/c", "remote", packet.QoS1)
	// In a cluster a share group is served through it: the local
	// publication does not reach the member here, DeliverShared does.
	publish(t, one, "x", packet.QoS0, false, "shared")
	quiet(t, two)
	f.b.DeliverShared("g", "x", &packet.Publish{Topic: "x", Payload: []byte("picked")})
	expect(t, two, "x", "picked", packet.QoS0)
	f.b.DeliverShared("h", "x", &packet.Publish{Topic: "x", Payload: []byte("no such group")})
	quiet(t, two)

	two.Drop() // a clean session: it ends, and its subscriptions with it
	deadline := time.Now().Add(3 * time.Second)
	var gone, published []string
	for len(gone) < 2 && time.Now().Before(deadline) {
		calls, pubs := f.take()
		gone, published = append(gone, calls...), append(published, pubs...)
		time.Sleep(5 * time.Millisecond)
	}
	slices.Sort(gone)
	if want := []string{"-/a/+", "-g/x"}; !slices.Equal(gone, want) {
		t.Errorf("calls when the session ended %q, want %q", gone, want)
	}
	_, pubs := f.take()
	published = append(published, pubs...)
	if want := []string{"a/b@1", "x@0"}; !slices.Equal(published, want) {
		t.Errorf("published to the cluster %q, want %q (no $SYS, nothing delivered from it)", published, want)
	}
}

// A QoS 1 message the cluster could not take is not acknowledged: the
// connection is closed, and the client sends it again once reconnected.
func TestClusterPublishFailure(t *testing.T) {
	t.Parallel()
	f := &fakeCluster{fail: errors.New("no cluster")}
	addr := startBrokerConfig(t, broker.Config{Cluster: f})
	c := dial(t, addr, packet.V5, connect("pub"))
	publish(t, c, "q0", packet.QoS0, false, "lost") // at most once: acknowledged by nothing
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Publish(ctx, client.Message{Topic: "q1", QoS: packet.QoS1, Payload: []byte("kept")}); err == nil {
		t.Fatal("QoS 1 publish acknowledged though the cluster refused it")
	}
	if r, ok := disconnectedWith(c); !ok || r != packet.ServerBusy {
		t.Errorf("connection ended by %v (DISCONNECT %v), want DISCONNECT 0x89 Server busy", c.Err(), r)
	}
}

// The acknowledgements of QoS 1 and QoS 2 messages wait, in order, for
// the cluster to hold them; the local subscribers have them meanwhile.
func TestClusterAcksWait(t *testing.T) {
	t.Parallel()
	f := &fakeCluster{hold: make(chan struct{})}
	addr := startBrokerConfig(t, broker.Config{Cluster: f})
	sub := dial(t, addr, packet.V5, connect("sub"))
	subscribe(t, sub, packet.Subscription{Filter: "q/+", QoS: packet.QoS2})
	pub := dial(t, addr, packet.V5, connect("pub"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var pending []*client.Pending
	for _, q := range []packet.QoS{packet.QoS1, packet.QoS2, packet.QoS1} {
		p, err := pub.PublishAsync(ctx, client.Message{Topic: "q/x", QoS: q, Payload: []byte{'0' + byte(q)}})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
		expect(t, sub, "q/x", string('0'+byte(q)), q)
	}
	time.Sleep(50 * time.Millisecond)
	for i, p := range pending {
		select {
		case <-p.Done():
			t.Fatalf("message %d acknowledged before the cluster held it", i)
		default:
		}
	}
	close(f.hold)
	for i, p := range pending {
		if err := p.Wait(ctx); err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
}
