package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
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

// consumerInfo returns the info of the consumer name of the stream MQTT,
// asked of the NATS server at url.
func consumerInfo(t testing.TB, url, name string) *jetstream.ConsumerInfo {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.Consumer(ctx(t), "MQTT", name)
	if err != nil {
		t.Fatalf("consumer %s: %v", name, err)
	}
	return c.CachedInfo()
}

// awaitPulls waits until the consumer name has n pulls waiting: n nodes
// pull from it.
func awaitPulls(t testing.TB, url, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info := consumerInfo(t, url, name)
		if info.NumWaiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s: %d pulls waiting, want %d", name, info.NumWaiting, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// brokerNode is a broker node that a test stops and starts again: on the
// same address, NodeName and Store file.
type brokerNode struct {
	t      testing.TB
	cfg    Config        // its Node's
	bcfg   broker.Config // its broker's, without Cluster and Store
	store  string        // the Store file; "" for none
	addr   string
	b      *broker.Broker
	n      *Node
	st     *broker.Store
	served chan error
}

// startBrokerNode starts a broker node on NATS cfg.URL; it is stopped at
// the end of the test.
func startBrokerNode(t testing.TB, cfg Config, bcfg broker.Config, store string) *brokerNode {
	t.Helper()
	bn := &brokerNode{t: t, cfg: cfg, bcfg: bcfg, store: store, addr: "127.0.0.1:0"}
	bn.start()
	t.Cleanup(bn.stop)
	return bn
}

// start starts the node (again).
func (bn *brokerNode) start() {
	t := bn.t
	t.Helper()
	bn.n = dialSettled(t, bn.cfg)
	c := bn.bcfg
	c.Cluster = bn.n
	c.Logger = brokertest.Logger(t, slog.LevelWarn)
	if bn.store != "" {
		st, err := broker.OpenStore(bn.store)
		if err != nil {
			t.Fatal(err)
		}
		bn.st, c.Store = st, st
	}
	l, err := net.Listen("tcp", bn.addr)
	if err != nil {
		t.Fatal(err)
	}
	bn.addr = l.Addr().String()
	bn.b = broker.New(c)
	bn.served = make(chan error, 1)
	go func() { bn.served <- bn.b.Serve(l) }()
}

// stop shuts the broker down, closes its Node and its Store.
func (bn *brokerNode) stop() {
	t := bn.t
	if bn.b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bn.b.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	<-bn.served
	if err := bn.n.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if bn.st != nil {
		if err := bn.st.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	}
	bn.b, bn.st = nil, nil
}

// persistentClient connects a v5 client with a session that outlives
// its connection (an hour) to addr, resuming store's session if store is
// set.
func persistentClient(t testing.TB, addr, id string, store client.Store) *brokertest.Client {
	t.Helper()
	return brokertest.Dial(t, persistentConfig(addr, id, store))
}

// persistentConfig is the Config of persistentClient.
func persistentConfig(addr, id string, store client.Store) client.Config {
	cfg := brokertest.Config("tcp://"+addr, packet.V5, &packet.Connect{ClientID: id, CleanStart: store == nil,
		Props: property.Properties{SessionExpiry: 3600}})
	cfg.Store = store
	return cfg
}

// countIDs counts the payloads received, and fails the test for any
// received more than once.
func countIDs(t testing.TB, ms []client.Message) map[string]int {
	t.Helper()
	seen := make(map[string]int)
	for _, m := range ms {
		if seen[string(m.Payload)]++; seen[string(m.Payload)] == 2 {
			t.Errorf("%s %s received twice", m.Topic, m.Payload)
		}
	}
	return seen
}

// QoS 2 crosses the cluster exactly once: publishers on two nodes, a
// subscriber on the third with overlapping filters gets each message
// once; then, its node's acknowledgements to JetStream lost (as when a
// node stops before sending them), the node is stopped and started again
// on the same NodeName and Store: JetStream gives it again what it had
// taken, which it does not deliver again, and what was published while it
// was down, which reaches the persistent session.
func TestDurableQoS2ExactlyOnce(t *testing.T) {
	urls := startNATS(t, 3)
	pubA := dialAddr(t, startBrokerNode(t, Config{URL: urls[0], Replicas: 3, NodeName: "eo-a"}, broker.Config{}, "").addr, "eo-pub-a")
	pubC := dialAddr(t, startBrokerNode(t, Config{URL: urls[2], Replicas: 3, NodeName: "eo-c"}, broker.Config{}, "").addr, "eo-pub-c")
	// JetStream gives a message again after AckWait without its
	// acknowledgement.
	const ackWait = 500 * time.Millisecond
	b := startBrokerNode(t, Config{URL: urls[1], Replicas: 3, NodeName: "eo-b", AckWait: ackWait},
		broker.Config{}, filepath.Join(t.TempDir(), "b.db"))
	sub := persistentClient(t, b.addr, "eo-sub", nil)
	subscribe(t, sub, packet.QoS2, "eo/#", "eo/+", "+/x", probeTopic)
	awaitRoute(t, pubA, sub)
	awaitRoute(t, pubC, sub)

	const n = 100
	for i := range n {
		publish(t, pubA, "eo/x", packet.QoS2, fmt.Sprintf("a%d", i))
		publish(t, pubC, "eo/x", packet.QoS2, fmt.Sprintf("c%d", i))
	}
	countIDs(t, receive(t, sub, 2*n))
	quiet(t, sub, 200*time.Millisecond)

	b.n.dropAcks.Store(true)
	for i := range n {
		publish(t, pubA, "eo/y", packet.QoS2, fmt.Sprintf("before%d", i))
	}
	got := receive(t, sub, n)
	quiet(t, sub, 3*ackWait) // given again meanwhile: not delivered again
	if info := consumerInfo(t, urls[0], ownConsumerName("eo-b")); info.NumAckPending < n {
		t.Fatalf("%d messages unacknowledged, want the %d whose acknowledgements were dropped", info.NumAckPending, n)
	}
	store := sub.Store()
	b.stop()
	sub.Drop()
	for i := range n {
		publish(t, pubA, "eo/z", packet.QoS2, fmt.Sprintf("while%d", i))
	}
	// The messages taken are due again by the time B pulls: JetStream
	// gives them before those published meanwhile, so that only the
	// Store's record of them (ClusterMark) tells B it took them.
	time.Sleep(2 * ackWait)
	b.start()
	sub = persistentClient(t, b.addr, "eo-sub", store)
	got = append(got, receive(t, sub, n)...)
	quiet(t, sub, 3*ackWait)
	seen := countIDs(t, got)
	for i := range n {
		for _, id := range []string{fmt.Sprintf("before%d", i), fmt.Sprintf("while%d", i)} {
			if seen[id] != 1 {
				t.Errorf("%s received %d times", id, seen[id])
			}
		}
	}
}

// Fan-in across nodes at QoS 1: four publishers on two nodes, as fast as
// they can, to one subscriber on a third that reads at a fraction of
// their speed. Nothing is lost; the subscriber's node stops pulling while
// its outbox is full, so the outbox stays within Config.MaxQueued (the
// backlog waits in the stream) and JetStream never has more than
// MaxInFlight messages out to the node.
func TestDurableFanInSlowSubscriber(t *testing.T) {
	urls := startNATS(t, 3)
	const maxQueued, maxInFlight = 100, 64
	a := startBrokerNode(t, Config{URL: urls[0], Replicas: 3, NodeName: "fan-a"}, broker.Config{}, "")
	c := startBrokerNode(t, Config{URL: urls[2], Replicas: 3, NodeName: "fan-c"}, broker.Config{}, "")
	b := startBrokerNode(t, Config{URL: urls[1], Replicas: 3, NodeName: "fan-b", MaxInFlight: maxInFlight},
		broker.Config{MaxQueued: maxQueued}, "")
	// Ten in flight to the subscriber (Receive Maximum), 1,024 in its
	// client: what it is slow to read waits in its outbox on node B.
	sub := brokertest.Dial(t, brokertest.Config("tcp://"+b.addr, packet.V5, &packet.Connect{ClientID: "fan-sub",
		CleanStart: true, Props: property.Properties{ReceiveMaximum: 10}}))
	subscribe(t, sub, packet.QoS1, "fan/+", probeTopic)
	var pubs []*brokertest.Client
	for i := range 4 {
		addr := a.addr
		if i%2 == 1 {
			addr = c.addr
		}
		pubs = append(pubs, dialAddr(t, addr, fmt.Sprintf("fan-pub-%d", i)))
		awaitRoute(t, pubs[i], sub)
	}
	drain(sub)

	const each = 1000
	errs := make(chan error, len(pubs))
	for i, p := range pubs {
		go func() {
			var last *client.Pending
			for j := range each {
				pd, err := p.PublishAsync(context.Background(), client.Message{Topic: fmt.Sprintf("fan/%d", i),
					QoS: packet.QoS1, Payload: fmt.Appendf(nil, "%d-%d", i, j)})
				if err != nil {
					errs <- err
					return
				}
				last = pd
			}
			errs <- last.Wait(ctx(t))
		}()
	}
	var got []client.Message
	maxPending := 0
	deadline := time.After(60 * time.Second)
	for len(got) < len(pubs)*each {
		select {
		case m := <-sub.Messages():
			if m.Topic == probeTopic {
				continue
			}
			got = append(got, m)
			if len(got)%10 == 0 {
				time.Sleep(5 * time.Millisecond) // a slow reader: at most 2,000 a second
			}
			if len(got)%500 == 0 {
				maxPending = max(maxPending, consumerInfo(t, urls[1], ownConsumerName("fan-b")).NumAckPending)
			}
		case <-deadline:
			t.Fatalf("received %d of %d", len(got), len(pubs)*each)
		}
	}
	for range pubs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := countIDs(t, got)
	for i := range pubs {
		for j := range each {
			if id := fmt.Sprintf("%d-%d", i, j); seen[id] == 0 {
				t.Errorf("%s lost", id)
			}
		}
	}
	st := b.b.Stats()
	t.Logf("outbox peak %d (MaxQueued %d), consumer's unacknowledged at most %d seen", st.PeakQueued, maxQueued, maxPending)
	if st.PeakQueued > maxQueued+1 {
		t.Errorf("the subscriber's outbox held %d, want at most %d: the node did not stop pulling", st.PeakQueued, maxQueued+1)
	}
	if maxPending > maxInFlight {
		t.Errorf("%d messages out to the node unacknowledged, want at most MaxInFlight %d", maxPending, maxInFlight)
	}
}

// A NATS server shut down during a QoS 1 stream across nodes, the one
// the subscriber's node is connected to: the node reconnects to another,
// its consumer (replicated with the stream) goes on, and nothing is lost.
func TestDurableNATSServerKilled(t *testing.T) {
	servers := startNATSServers(t, 3)
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.ClientURL()
	}
	a := startBrokerNode(t, Config{URL: urls[0], Replicas: 3, NodeName: "kill-a"}, broker.Config{}, "")
	b := startBrokerNode(t, Config{URL: urls[1], Replicas: 3, NodeName: "kill-b", AckWait: time.Second}, broker.Config{}, "")
	pub := persistentClient(t, a.addr, "kill-pub", nil)
	sub := dialAddr(t, b.addr, "kill-sub")
	subscribe(t, sub, packet.QoS1, "kill/#", probeTopic)
	awaitRoute(t, pub, sub)

	const n, killAt = 600, 200
	errs := make(chan error, 1)
	go func() {
		for i := range n {
			err := pub.Publish(context.Background(), client.Message{Topic: "kill/x", QoS: packet.QoS1, Payload: fmt.Appendf(nil, "%d", i)})
			if err == nil {
				continue
			}
			// The stream took longer than PublishTimeout to elect a
			// leader: node A closed the connection unacknowledged. The
			// client resumes its session and sends the message again.
			reconnected := false
			for range 20 {
				c, err := brokertest.Connect(ctx(t), persistentConfig(a.addr, "kill-pub", pub.Store()))
				if err == nil {
					pub, reconnected = c, true
					t.Cleanup(c.Drop)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !reconnected {
				errs <- fmt.Errorf("publish %d: %w; could not reconnect", i, err)
				return
			}
		}
		errs <- nil
	}()
	seen := make(map[string]bool)
	deadline := time.After(20 * time.Second)
	for len(seen) < n {
		select {
		case m := <-sub.Messages():
			if m.Topic == probeTopic {
				continue
			}
			seen[string(m.Payload)] = true
			if len(seen) == killAt {
				servers[1].Shutdown()
			}
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
			errs = nil
		case <-deadline:
			var lost []int
			for i := range n {
				if !seen[fmt.Sprint(i)] {
					lost = append(lost, i)
				}
			}
			t.Fatalf("received %d of %d; missing %v", len(seen), n, lost)
		}
	}
}
