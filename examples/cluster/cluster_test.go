package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
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

// testCluster is three broker nodes, each on its own server of a
// three-server NATS cluster (JetStream, the stream replicated three
// times).
type testCluster struct {
	nats    []string         // the NATS client URLs
	addrs   []string         // the brokers' MQTT addresses, node A first
	brokers []*broker.Broker // the brokers, node A first
	nodes   []*Node          // their nodes
}

func startCluster(t testing.TB, cfg broker.Config) *testCluster {
	t.Helper()
	return startClusterOn(t, 3, cfg)
}

// startClusterOn is startCluster on natsServers NATS servers (1 or 3),
// the stream replicated on each; with one, the three brokers share it.
func startClusterOn(t testing.TB, natsServers int, cfg broker.Config) *testCluster {
	t.Helper()
	tc := &testCluster{nats: startNATS(t, natsServers)}
	for i := range 3 {
		n := dialNode(t, tc.nats[i%natsServers], natsServers)
		c := cfg
		c.Cluster = n
		c.Logger = brokertest.Logger(t, slog.LevelWarn)
		c.Version = fmt.Sprintf("node %c", 'A'+i)
		b, addr := brokertest.Serve(t, c)
		tc.addrs, tc.brokers, tc.nodes = append(tc.addrs, addr), append(tc.brokers, b), append(tc.nodes, n)
	}
	return tc
}

// dial connects a v5 client with a clean session to node i (0 is A).
func (tc *testCluster) dial(t testing.TB, i int, id string) *brokertest.Client {
	t.Helper()
	return dialAddr(t, tc.addrs[i], id)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func subscribe(t testing.TB, c *brokertest.Client, qos packet.QoS, filters ...string) {
	t.Helper()
	subs := make([]packet.Subscription, len(filters))
	for i, f := range filters {
		subs[i] = packet.Subscription{Filter: f, QoS: qos}
	}
	ack, err := c.SubscribeWith(ctx(t), &packet.Subscribe{Subscriptions: subs}, nil)
	if err != nil {
		t.Fatalf("subscribe %q: %v", filters, err)
	}
	for i, r := range ack.Reasons {
		if r != packet.ReasonCode(qos) {
			t.Fatalf("SUBACK for %q: %v", filters[i], r)
		}
	}
}

func publish(t testing.TB, c *brokertest.Client, topic string, qos packet.QoS, payload string) {
	t.Helper()
	if err := c.Publish(ctx(t), client.Message{Topic: topic, QoS: qos, Payload: []byte(payload)}); err != nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
}

// probeTopic is where awaitRoute's probes go: every test's filters match it.
const probeTopic = "probe"

// awaitRoute publishes probes from pub, at QoS 0 and QoS 1, until sub
// receives one of each: the subscriptions of sub's node have reached
// pub's NATS server (NATS spreads interest between its servers
// asynchronously), and the filters of its consumer (a JetStream update).
// Probes that come later are skipped by receive.
func awaitRoute(t testing.TB, pub, sub *brokertest.Client) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seen := map[string]bool{}
	for {
		publish(t, pub, probeTopic, packet.QoS0, "probe0")
		publish(t, pub, probeTopic, packet.QoS1, "probe1")
		for wait := true; wait; {
			select {
			case m := <-sub.Messages():
				if m.Topic != probeTopic {
					t.Fatalf("got %q %q before any probe", m.Topic, m.Payload)
				}
				if seen[string(m.Payload)] = true; len(seen) == 2 {
					return
				}
			case <-tick.C:
				wait = false
			case <-deadline:
				t.Fatalf("no probe of each QoS crossed the cluster in 10 s: %v", seen)
			}
		}
	}
}

// receive returns the next n messages c receives, probes skipped.
func receive(t testing.TB, c *brokertest.Client, n int) []client.Message {
	t.Helper()
	var got []client.Message
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case m := <-c.Messages():
			if m.Topic != probeTopic {
				got = append(got, m)
			}
		case <-deadline:
			t.Fatalf("received %d of %d messages: %v", len(got), n, got)
		}
	}
	return got
}

// countHeld adds to seen the payloads of the messages c holds now,
// probes left out.
func countHeld(seen map[string]int, c *brokertest.Client) {
	for {
		select {
		case m := <-c.Messages():
			if m.Topic != probeTopic {
				seen[string(m.Payload)]++
			}
		default:
			return
		}
	}
}

// countUntil adds to seen the payloads of the messages c receives,
// probes left out, until seen holds n of them; it fails the test after
// 20 s, naming what it counted for (who).
func countUntil(t testing.TB, seen map[string]int, c *brokertest.Client, n int, who string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for len(seen) < n {
		select {
		case m := <-c.Messages():
			if m.Topic != probeTopic {
				seen[string(m.Payload)]++
			}
		case <-deadline:
			t.Fatalf("%s: %d of %d messages received (%d lost)", who, len(seen), n, n-len(seen))
		}
	}
}

// quiet fails the test if c receives anything but probes within d.
func quiet(t testing.TB, c *brokertest.Client, d time.Duration) {
	t.Helper()
	end := time.After(d)
	for {
		select {
		case m := <-c.Messages():
			if m.Topic != probeTopic {
				t.Fatalf("unexpected message %q %q", m.Topic, m.Payload)
			}
		case <-end:
			return
		}
	}
}

// expect checks that the next messages c receives, probes skipped, are
// want, each "topic=payload@qos".
func expect(t testing.TB, c *brokertest.Client, want ...string) {
	t.Helper()
	var got []string
	for _, m := range receive(t, c, len(want)) {
		got = append(got, fmt.Sprintf("%s=%s@%d", m.Topic, m.Payload, m.QoS))
	}
	if !slices.Equal(got, want) {
		t.Errorf("received %q, want %q", got, want)
	}
}

// expectSet is expect in any order.
func expectSet(t testing.TB, c *brokertest.Client, want ...string) {
	t.Helper()
	var got []string
	for _, m := range receive(t, c, len(want)) {
		got = append(got, fmt.Sprintf("%s=%s@%d", m.Topic, m.Payload, m.QoS))
	}
	slices.Sort(got)
	if want = slices.Sorted(slices.Values(want)); !slices.Equal(got, want) {
		t.Errorf("received %q, want %q", got, want)
	}
}

// TestCluster runs the cluster's cases on one three-node cluster (NATS
// and brokers start once: a few seconds).
func TestCluster(t *testing.T) {
	tc := startCluster(t, broker.Config{SysInterval: 50 * time.Millisecond})
	t.Run("CrossNodeQoS0AndQoS1", tc.testCrossNode)
	t.Run("EscapedTopicsAndWildcards", tc.testWildcards)
	t.Run("NoDuplicates", tc.testNoDuplicates)
	t.Run("SysStaysOnItsNode", tc.testSys)
	t.Run("SharedSubscriptions", tc.testShared)
}

// A message published on A reaches subscribers on B and C, at the lower
// of its QoS and theirs (MQTT-3.8.4-8), in order from one publisher; the
// QoS 1 ones are in the JetStream stream.
func (tc *testCluster) testCrossNode(t *testing.T) {
	pub := tc.dial(t, 0, "cross-pub")
	subB := tc.dial(t, 1, "cross-sub-b")
	subC := tc.dial(t, 2, "cross-sub-c")
	subscribe(t, subB, packet.QoS1, "cross/#", probeTopic)
	subscribe(t, subC, packet.QoS0, "cross/+", probeTopic)
	awaitRoute(t, pub, subB)
	awaitRoute(t, pub, subC)

	nc, err := nats.Connect(tc.nats[2])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx(t), "MQTT")
	if err != nil {
		t.Fatal(err)
	}

	publish(t, pub, "cross/a", packet.QoS0, "zero")
	publish(t, pub, "cross/a", packet.QoS1, "one")
	publish(t, pub, "cross/b/c", packet.QoS1, "deep")
	// QoS 0 and QoS 1 cross on two paths (subscriptions, the consumer):
	// each in order, not in order with each other.
	expectSet(t, subB, "cross/a=zero@0", "cross/a=one@1", "cross/b/c=deep@1")
	expectSet(t, subC, "cross/a=zero@0", "cross/a=one@0")
	quiet(t, subC, 100*time.Millisecond)

	// The properties a server forwards cross the cluster unchanged
	// (MQTT-3.3.2-4 Payload Format Indicator, MQTT-3.3.2-20 Content Type,
	// MQTT-3.3.2-15 Response Topic, MQTT-3.3.2-16 Correlation Data,
	// MQTT-3.3.2-17 User Properties), the Message Expiry Interval counted
	// down (MQTT-3.3.2-6); a 3.1.1 subscriber on another node gets the
	// message without them.
	v311 := brokertest.Dial(t, brokertest.Config("tcp://"+tc.addrs[2], packet.V311, &packet.Connect{ClientID: "cross-311", CleanStart: true}))
	subscribe(t, v311, packet.QoS1, "cross/#", probeTopic)
	awaitRoute(t, pub, v311)
	props := property.Properties{PayloadFormat: 1, ContentType: "text/plain", ResponseTopic: "reply/to",
		CorrelationData: []byte{1, 2}, User: []property.User{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}},
		MessageExpiry: 60}
	if err := pub.Publish(ctx(t), client.Message{Topic: "cross/p", QoS: packet.QoS1, Payload: []byte("props"), Props: props}); err != nil {
		t.Fatal(err)
	}
	got := receive(t, subB, 1)[0].Props
	if got.PayloadFormat != 1 || got.ContentType != "text/plain" || got.ResponseTopic != "reply/to" ||
		!slices.Equal(got.CorrelationData, []byte{1, 2}) || !slices.Equal(got.User, props.User) ||
		got.MessageExpiry == 0 || got.MessageExpiry > 60 {
		t.Errorf("properties on B: %+v, want those published (expiry 60 counted down)", got)
	}
	expect(t, v311, "cross/p=props@1")
	info, err := stream.Info(ctx(t), jetstream.WithSubjectFilter("mqtt.*.m.cross.>"))
	if err != nil {
		t.Fatal(err)
	}
	var held uint64
	for _, n := range info.State.Subjects {
		held += n
	}
	if held != 3 {
		t.Errorf("the stream holds %d messages of cross/#, want the 3 QoS 1 ones", held)
	}
}

// Topics with what NATS reserves ('.', '*', '>', spaces, empty levels, a
// leading '$') cross the cluster intact and match as in MQTT, '$' topics
// not matched by filters that begin with a wildcard (MQTT-4.7.2-1).
func (tc *testCluster) testWildcards(t *testing.T) {
	pub := tc.dial(t, 0, "wild-pub")
	sub := tc.dial(t, 1, "wild-sub")
	dollar := tc.dial(t, 2, "wild-dollar")
	subscribe(t, sub, packet.QoS0, "w.x/+/*", "w.x//#", "#")
	subscribe(t, dollar, packet.QoS0, "$app/>/#", probeTopic)
	awaitRoute(t, pub, sub)
	awaitRoute(t, pub, dollar)
	for _, topic := range []string{"w.x/a b/*", "w.x//", "w.x/a/>", "$app/>/1", "$app/>", "w.y"} {
		publish(t, pub, topic, packet.QoS0, "m")
	}
	// "#" takes every one but the '$' topics (MQTT-4.7.2-1): one copy
	// each, however many filters match.
	expect(t, sub, "w.x/a b/*=m@0", "w.x//=m@0", "w.x/a/>=m@0", "w.y=m@0")
	expect(t, dollar, "$app/>/1=m@0", "$app/>=m@0")
	quiet(t, sub, 100*time.Millisecond)
}

// A subscriber whose filters overlap gets each message once, whether it
// was published on its node or another; a subscriber on the publishing
// node gets it once (not again from the cluster).
func (tc *testCluster) testNoDuplicates(t *testing.T) {
	pubA := tc.dial(t, 0, "dup-pub-a")
	pubB := tc.dial(t, 1, "dup-pub-b")
	onA := tc.dial(t, 0, "dup-on-a")
	onB := tc.dial(t, 1, "dup-on-b")
	subscribe(t, onA, packet.QoS1, "dup/#", "dup/+", "dup/x", probeTopic)
	subscribe(t, onB, packet.QoS1, "dup/#", "+/x", "dup/x", probeTopic)
	awaitRoute(t, pubA, onB)
	awaitRoute(t, pubB, onA)
	const n = 50
	for i := range n {
		publish(t, pubA, "dup/x", packet.QoS(i%2), fmt.Sprintf("a%d", i))
		publish(t, pubB, "dup/x", packet.QoS(i%2), fmt.Sprintf("b%d", i))
	}
	for _, c := range []*brokertest.Client{onA, onB} {
		got := receive(t, c, 2*n)
		seen := make(map[string]bool)
		for _, m := range got {
			if seen[string(m.Payload)] {
				t.Errorf("%s received twice", m.Payload)
			}
			seen[string(m.Payload)] = true
		}
		quiet(t, c, 100*time.Millisecond)
	}
}

// Each node's $SYS topics stay on it: a $SYS subscriber sees its own
// node's, and nothing of them is published to NATS.
func (tc *testCluster) testSys(t *testing.T) {
	nc, err := nats.Connect(tc.nats[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	raw, err := nc.SubscribeSync("mqtt.*.d.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	sub := tc.dial(t, 1, "sys-sub")
	subscribe(t, sub, packet.QoS0, "$SYS/broker/version", "$SYS/broker/uptime")
	versions := 0
	end := time.After(300 * time.Millisecond) // six $SYS intervals
	for done := false; !done; {
		select {
		case m := <-sub.Messages():
			if m.Topic == "$SYS/broker/version" {
				versions++
				if string(m.Payload) != "node B" {
					t.Errorf("$SYS/broker/version of another node: %q", m.Payload)
				}
			}
		case <-end:
			done = true
		}
	}
	if versions == 0 {
		t.Error("no $SYS/broker/version from node B")
	}
	if m, err := raw.NextMsg(50 * time.Millisecond); err == nil {
		t.Errorf("a '$' message on NATS: %s", m.Subject)
	}
}

// A share group with members on two nodes gets each message once, at one
// member, cluster-wide (NATS queue groups pick the node).
func (tc *testCluster) testShared(t *testing.T) {
	pub := tc.dial(t, 2, "share-pub")
	probe := tc.dial(t, 0, "share-probe")
	subscribe(t, probe, packet.QoS0, probeTopic)
	members := []*brokertest.Client{tc.dial(t, 0, "share-a1"), tc.dial(t, 0, "share-a2"), tc.dial(t, 1, "share-b")}
	for _, m := range members {
		subscribe(t, m, packet.QoS1, "$share/g/job/+")
	}
	awaitRoute(t, pub, probe)
	time.Sleep(100 * time.Millisecond) // the queue subscriptions of B reach C's server too
	awaitPulls(t, tc.nats[2], shareConsumerName(filterKey{"g", "job/+"}), 2)
	const n = 60
	for i := range n {
		publish(t, pub, "job/x", packet.QoS1, fmt.Sprint(i))
	}
	seen := make(map[string]int)
	per := make([]int, len(members))
	deadline := time.After(10 * time.Second)
	for total := 0; total < n; {
		for i, m := range members {
			select {
			case msg := <-m.Messages():
				seen[string(msg.Payload)]++
				per[i]++
				total++
			case <-deadline:
				t.Fatalf("received %d of %d: %v", total, n, per)
			default:
			}
		}
		time.Sleep(time.Millisecond)
	}
	for p, k := range seen {
		if k != 1 {
			t.Errorf("section 4.8.2, one member per message: message %s delivered %d times", p, k)
		}
	}
	if per[0]+per[1] == 0 || per[2] == 0 {
		t.Errorf("messages per member %v: one node got none", per)
	}
	for _, m := range members {
		quiet(t, m, 50*time.Millisecond)
	}
}
