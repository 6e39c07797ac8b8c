package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/nats-io/nats.go/jetstream"
)

// sessionCluster is a testCluster with its nodes and brokers at hand.
type sessionCluster struct {
	*testCluster
	nodes   []*Node
	brokers []*broker.Broker
}

func startSessionCluster(t testing.TB) *sessionCluster {
	t.Helper()
	sc := &sessionCluster{testCluster: &testCluster{nats: startNATS(t, 3)}}
	for i := range 3 {
		n := dialNodeConfig(t, Config{URL: sc.nats[i], Replicas: 3, HandoverTimeout: 20 * time.Second,
			FloorInterval: 50 * time.Millisecond, NodeCheck: 100 * time.Millisecond, NodeTimeout: 500 * time.Millisecond})
		b, addr := brokertest.Serve(t, broker.Config{Cluster: n, Logger: brokertest.Logger(t, slog.LevelWarn),
			Version: fmt.Sprintf("node %c", 'A'+i)})
		sc.nodes, sc.brokers, sc.addrs = append(sc.nodes, n), append(sc.brokers, b), append(sc.addrs, addr)
	}
	return sc
}

// TestSessions runs the cases of sessions and wills across nodes on one
// three-node cluster; the last one crashes node A.
func TestSessions(t *testing.T) {
	sc := startSessionCluster(t)
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		name := "MQTT-3.1.4-3 MQTT-3.2.2-3 MQTT-4.4.0-1 moves to another node mid-stream, nothing lost"
		if v == packet.V311 {
			name = "MQTT-3.1.4-2 MQTT-3.2.2-2 MQTT-4.4.0-1 3.1.1 moves to another node mid-stream, nothing lost"
		}
		t.Run(name, func(t *testing.T) { sc.testMove(t, v, packet.QoS1) })
	}
	t.Run("MQTT-4.3.3-1 QoS 2 moves to another node mid-stream, each message once", func(t *testing.T) {
		sc.testMove(t, packet.V5, packet.QoS2)
	})
	t.Run("simultaneous connects on two nodes end with one connection", sc.testSimultaneous)
	t.Run("MQTT-3.1.2-26 will delay cancelled by a reconnection on another node", sc.testWillCancelled)
	t.Run("MQTT-3.1.2-8 will with delay published once cluster-wide", func(t *testing.T) { sc.testWillOnce(t, packet.V5) })
	t.Run("MQTT-3.1.2-8 3.1.1 will published once cluster-wide", func(t *testing.T) { sc.testWillOnce(t, packet.V311) })
	t.Run("MQTT-3.1.2-4 clean start discards the session cluster-wide", func(t *testing.T) { sc.testCleanStart(t, packet.V5) })
	t.Run("MQTT-3.1.2-6 3.1.1 clean session discards the session cluster-wide", func(t *testing.T) { sc.testCleanStart(t, packet.V311) })
	t.Run("MQTT-4.4.0-1 MQTT-3.1.2-8 a node crashes mid-stream: its clients resume on another, nothing lost; its wills fire once", sc.testCrash)
}

// persistent is the CONNECT of a client of version v whose session
// outlives its connection (clean start 0; a minute's Session Expiry in v5).
func persistent(v packet.Version, id string) *packet.Connect {
	cn := &packet.Connect{ClientID: id, KeepAlive: 30}
	if v == packet.V5 {
		cn.Props.SessionExpiry = 60
	}
	return cn
}

// connectTo connects a client of version v with cn to node i; store (nil:
// a new one) holds the session it resumes.
func (sc *sessionCluster) connectTo(t *testing.T, i int, v packet.Version, cn *packet.Connect, store client.Store) *brokertest.Client {
	t.Helper()
	cfg := brokertest.Config("tcp://"+sc.addrs[i], v, cn)
	cfg.Store = store
	return brokertest.Dial(t, cfg)
}

// copyStore returns a copy of what s holds, for a second client to resume
// the session while the first still runs.
func copyStore(t *testing.T, s client.Store) client.Store {
	batches, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	c := new(client.MemoryStore)
	for _, b := range batches {
		if err := c.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// disconnectedWith returns the reason code of the DISCONNECT that ended
// c's connection, if one did.
func disconnectedWith(c *brokertest.Client) (packet.ReasonCode, bool) {
	var lost *client.ConnectionLostError
	if errors.As(c.Err(), &lost) && lost.Err == nil {
		return lost.Reason, true
	}
	return 0, false
}

// ended waits for c to end.
func ended(t *testing.T, c *brokertest.Client, what string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: connection still open", what)
	}
}

// A persistent-session subscriber on A connects to B while a publisher on
// C streams QoS 1 messages: the connection on A ends (DISCONNECT 0x8E in
// v5, closed in 3.1.1), B answers Session Present 1 and every message
// arrives, those unacknowledged on A sent again from B.
//
// At QoS 2 each message arrives once: what the session prepared on B
// queued while it moved, or B's consumer delivers after, that A had
// already (in flight or queued, by its stream sequence; or below the
// floor A handed over: acknowledged) is dropped (the broker's moved.go:
// movedFrom).
func (sc *sessionCluster) testMove(t *testing.T, v packet.Version, qos packet.QoS) {
	topic := fmt.Sprintf("move%d-%d", v, qos)
	cn := persistent(v, "mover-"+topic)
	sub := sc.connectTo(t, 0, v, cn, nil)
	subscribe(t, sub, qos, topic+"/#", probeTopic)
	pub := sc.dial(t, 2, "move-pub-"+topic)
	awaitRoute(t, pub, sub)

	const n = 300
	published := make(chan error, 1)
	go func() {
		for i := range n {
			m := client.Message{Topic: topic + "/x", QoS: qos, Payload: fmt.Appendf(nil, "%d", i)}
			if err := pub.Publish(context.Background(), m); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	seen := make(map[string]int)
	for _, m := range receive(t, sub, n/4) {
		seen[string(m.Payload)]++
	}
	moved := sc.connectTo(t, 1, v, cn, copyStore(t, sub.Store()))
	if !moved.Connack().SessionPresent {
		t.Fatal("Session Present 0 on the new node")
	}
	ended(t, sub, "node A")
	if r, ok := disconnectedWith(sub); v == packet.V5 && (!ok || r != packet.SessionTakenOver) {
		t.Errorf("connection on A ended with %v, want DISCONNECT 0x8E", sub.Err())
	}
	countHeld(seen, sub)
	// A second copy sent as new (DUP 0) is the broker's; one sent again
	// from the session's state (DUP 1) that the new client takes as new is
	// the test's: its store was copied before the old client acknowledged
	// the first (a client that resumes its own session has it).
	fresh := 0
	deadline := time.After(20 * time.Second)
	for len(seen) < n {
		select {
		case m := <-moved.Messages():
			if m.Topic != probeTopic {
				if seen[string(m.Payload)]++; seen[string(m.Payload)] > 1 && !m.Dup {
					fresh++
				}
			}
		case <-deadline:
			t.Fatalf("%d of %d messages received", len(seen), n)
		}
	}
	if err := <-published; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	dups := 0
	for _, k := range seen {
		dups += k - 1
	}
	if qos == packet.QoS2 && fresh > 0 {
		t.Errorf("%d of %d QoS 2 messages sent twice as new", fresh, n)
	}
	t.Logf("%d messages at QoS %d, %d received twice, %d of them sent as new", n, qos, dups, fresh)
}

// Two connections of one client identifier to A and B at once: one of
// them survives, on the node the owner key names.
func (sc *sessionCluster) testSimultaneous(t *testing.T) {
	kv := sc.sessionKV(t)
	for round := range 5 {
		v := []packet.Version{packet.V5, packet.V311}[round%2]
		id := fmt.Sprintf("twice-%d", round)
		cs := make([]*brokertest.Client, 2)
		var wg sync.WaitGroup
		for i := range cs {
			wg.Go(func() {
				cfg := brokertest.Config("tcp://"+sc.addrs[i], v, &packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if c, err := brokertest.Connect(ctx, cfg); err == nil {
					cs[i] = c
				}
			})
		}
		wg.Wait()
		for _, c := range cs {
			if c != nil {
				t.Cleanup(c.Drop)
			}
		}
		live := func() (n, at int) {
			for i, c := range cs {
				if c == nil {
					continue // closed without a CONNACK
				}
				select {
				case <-c.Done():
				default:
					n, at = n+1, i
				}
			}
			return n, at
		}
		deadline := time.Now().Add(10 * time.Second)
		n, at := live()
		for n > 1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			n, at = live()
		}
		if n != 1 {
			t.Fatalf("round %d: %d connections live, want 1", round, n)
		}
		quiet(t, cs[at], 200*time.Millisecond)
		if _, again := live(); again != at {
			t.Fatalf("round %d: the surviving connection ended", round)
		}
		e, err := kv.Get(ctx(t), ownerPrefix+sessionKey(id))
		if err != nil {
			t.Fatal(err)
		}
		if node, _, _ := parseOwner(e.Value()); node != sc.nodes[at].origin {
			t.Errorf("round %d: the owner key names another node than the connection's", round)
		}
	}
}

// sessionKV opens the sessions bucket.
func (sc *sessionCluster) sessionKV(t *testing.T) jetstream.KeyValue {
	kv, err := sc.nodes[2].js.KeyValue(ctx(t), "MQTT_SESSIONS")
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// withWill is cn with a will on topic, delayed by delay seconds (v5).
func withWill(cn *packet.Connect, topic string, delay uint32) *packet.Connect {
	cn.Will = packet.Will{Topic: topic, QoS: packet.QoS1, Payload: []byte("gone"),
		Props: property.Properties{WillDelay: delay}}
	return cn
}

// willWatcher subscribes a client on C to the wills, and waits until what
// A publishes reaches it.
func (sc *sessionCluster) willWatcher(t *testing.T, id string) *brokertest.Client {
	w := sc.dial(t, 2, id)
	subscribe(t, w, packet.QoS1, "will/#", probeTopic)
	awaitRoute(t, sc.dial(t, 0, id+"-probe"), w)
	return w
}

// A client whose connection on A drops, with a will delayed by a second,
// connects to B at once: the session moves, and the will is not published
// on any node.
func (sc *sessionCluster) testWillCancelled(t *testing.T) {
	w := sc.willWatcher(t, "will-watch-cancel")
	cn := withWill(persistent(packet.V5, "will-back"), "will/back", 1)
	c := sc.connectTo(t, 0, packet.V5, cn, nil)
	c.Drop()
	again := persistent(packet.V5, "will-back")
	c2 := sc.connectTo(t, 1, packet.V5, again, c.Store())
	if !c2.Connack().SessionPresent {
		t.Fatal("Session Present 0 on B")
	}
	quiet(t, w, 1500*time.Millisecond)
}

// A client with a will (delayed by a second in v5) whose connection on A
// drops and who does not come back: its will reaches a subscriber on C
// once.
func (sc *sessionCluster) testWillOnce(t *testing.T, v packet.Version) {
	id := fmt.Sprintf("will-once-%d", v)
	w := sc.willWatcher(t, id+"-watch")
	var delay uint32
	if v == packet.V5 {
		delay = 1
	}
	c := sc.connectTo(t, 0, v, withWill(persistent(v, id), "will/"+id, delay), nil)
	c.Drop()
	expect(t, w, "will/"+id+"=gone@1")
	quiet(t, w, 500*time.Millisecond)
}

// A session held offline on A, with a subscription and a message queued,
// is discarded cluster-wide by a clean start on B: Session Present 0, A
// no longer holds it, and a client that resumes on C (clean start 0)
// finds neither the subscription nor the message.
func (sc *sessionCluster) testCleanStart(t *testing.T, v packet.Version) {
	id := fmt.Sprintf("clean-%d", v)
	topic := fmt.Sprintf("clean%d/x", v)
	c := sc.connectTo(t, 0, v, persistent(v, id), nil)
	subscribe(t, c, packet.QoS1, topic, probeTopic)
	pub := sc.dial(t, 2, id+"-pub")
	awaitRoute(t, pub, c)
	if err := c.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, topic, packet.QoS1, "queued")
	onA := sc.brokers[0].Stats().Sessions
	fresh := persistent(v, id)
	fresh.CleanStart = true
	c2 := sc.connectTo(t, 1, v, fresh, nil)
	if c2.Connack().SessionPresent {
		t.Fatal("Session Present 1 after a clean start")
	}
	if got := sc.brokers[0].Stats().Sessions; got != onA-1 {
		t.Errorf("node A holds %d sessions, want %d: the one discarded still there", got, onA-1)
	}
	if err := c2.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c3 := sc.connectTo(t, 2, v, persistent(v, id), c2.Store())
	publish(t, pub, topic, packet.QoS1, "after")
	quiet(t, c3, 300*time.Millisecond)
}

// kill ends the node as a crash would: its NATS connection closes, and
// nothing queued for the sessions bucket is written.
func (n *Node) kill() {
	n.sess.close(false)
	n.nc.Close()
}

// awaitWritten waits for node i to have made the writes to the sessions
// bucket it queued.
func (sc *sessionCluster) awaitWritten(t testing.TB, i int) {
	t.Helper()
	w := sc.nodes[i].sess.w
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		idle := len(w.queue) == 0 && !w.writing
		w.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: sessions not written in 10 s", i)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Node A crashes while a publisher on C streams QoS 1 messages to its
// clients, which have stopped reading: its NATS connection closes without
// handing anything over, then its listener and connections. The clients,
// persistent with a subscription, resume on B: the claim finds A gone (no
// responder to its liveness check) rather than waiting for the handover
// timeout (20 s here, beyond the 5 s the client is given to connect):
// Session Present 1, the subscription in force, and every message
// published arrives (MQTT-4.4.0-1), those queued on A or in flight there
// given again by B from the session's floor (replay.go; at least once).
func (sc *sessionCluster) testCrash(t *testing.T) {
	const n = 1500 // more than a client holds unread (1,024)
	versions := []packet.Version{packet.V5, packet.V311}
	pub := sc.dial(t, 2, "crash-pub")
	var clients []*brokertest.Client
	for _, v := range versions {
		id := fmt.Sprintf("crash-%d", v)
		c := sc.connectTo(t, 0, v, persistent(v, id), nil)
		subscribe(t, c, packet.QoS1, fmt.Sprintf("crash%d/#", v), probeTopic)
		awaitRoute(t, pub, c)
		clients = append(clients, c)
	}
	seen := make([]map[string]int, len(versions))
	for i := range seen {
		seen[i] = make(map[string]int)
	}
	wills := sc.crashWills(t)
	var wg sync.WaitGroup
	for i, v := range versions {
		for part := range 4 { // four at a time: each waits for its PUBACK
			wg.Go(func() {
				for k := part; k < n; k += 4 {
					m := client.Message{Topic: fmt.Sprintf("crash%d/x", v), QoS: packet.QoS1, Payload: fmt.Appendf(nil, "%d", k)}
					if err := pub.Publish(context.Background(), m); err != nil {
						t.Errorf("publisher: %v", err)
						return
					}
				}
			})
		}
		// The client reads a few, then no more: the rest wait on A.
		for _, m := range receive(t, clients[i], 50) {
			if m.Topic != probeTopic {
				seen[i][string(m.Payload)]++
			}
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sc.awaitWritten(t, 0)
	sc.awaitFloorSaved(t, "crash-5")
	sc.nodes[0].kill()
	crashed := time.Now()
	if err := sc.brokers[0].Shutdown(ctx(t)); err != nil {
		t.Fatal(err)
	}
	wills.check(t, crashed)
	for i, v := range versions {
		id := fmt.Sprintf("crash-%d", v)
		// What the client holds was acknowledged on A; it takes the rest
		// of what A had sent until it sees the connection end.
		deadline := time.After(10 * time.Second)
		for drained := false; !drained; {
			select {
			case m := <-clients[i].Messages():
				if m.Topic != probeTopic {
					seen[i][string(m.Payload)]++
				}
			case <-deadline:
				t.Fatal("node A: connection still open")
			default:
				select {
				case <-clients[i].Done():
					drained = true
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
		start := time.Now()
		c := sc.connectTo(t, 1, v, persistent(v, id), clients[i].Store())
		t.Logf("v%d resumed on B %v after A crashed; %d messages had reached it", v,
			time.Since(start).Round(time.Millisecond), len(seen[i]))
		if !c.Connack().SessionPresent {
			t.Fatal("Session Present 0 on B")
		}
		countUntil(t, seen[i], c, n, fmt.Sprintf("v%d", v))
		dups := 0
		for _, k := range seen[i] {
			dups += k - 1
		}
		t.Logf("v%d: %d messages, %d received twice (QoS 1: at least once)", v, n, dups)
		publish(t, pub, fmt.Sprintf("crash%d/x", v), packet.QoS1, "after")
		for m := range c.Messages() {
			if string(m.Payload) == "after" {
				break
			}
		}
	}
}

// crashWills are the clients with wills on the node that crashes, and the
// watcher of their wills on C.
type crashWills struct {
	sc    *sessionCluster
	watch *brokertest.Client
	back  *brokertest.Client // reconnects on B: its will is never published
	// returns reconnects on B too; its will, with no delay, was due when
	// its connection ended with A.
	returns *brokertest.Client
}

// crashWills connects to A a persistent v5 client whose will is delayed
// by a second, one whose session ends with its connection (will at once),
// a 3.1.1 one, a persistent one with a long delay that reconnects on B
// after the crash, a 3.1.1 one that reconnects on B too, and one whose
// session expires a second after its connection ends; a client on C
// watches their wills.
func (sc *sessionCluster) crashWills(t *testing.T) *crashWills {
	cw := &crashWills{sc: sc, watch: sc.willWatcher(t, "crash-will-watch")}
	sc.connectTo(t, 0, packet.V5, withWill(persistent(packet.V5, "crash-will-delayed"), "will/delayed", 1), nil)
	gone := persistent(packet.V5, "crash-will-now")
	gone.Props.SessionExpiry = 0
	sc.connectTo(t, 0, packet.V5, withWill(gone, "will/now", 0), nil)
	sc.connectTo(t, 0, packet.V311, withWill(persistent(packet.V311, "crash-will-311"), "will/311", 0), nil)
	brief := persistent(packet.V5, "crash-expires")
	brief.Props.SessionExpiry = 1
	sc.connectTo(t, 0, packet.V5, brief, nil)
	cw.back = sc.connectTo(t, 0, packet.V5, withWill(persistent(packet.V5, "crash-will-back"), "will/back", 30), nil)
	cw.returns = sc.connectTo(t, 0, packet.V311, withWill(persistent(packet.V311, "crash-will-returns"), "will/returns", 0), nil)
	sc.awaitWritten(t, 0)
	return cw
}

// check: once A has crashed (at crashed), another node keeps A's sessions
// and publishes each will once (MQTT-3.1.2-8), the delayed one not before
// its Will Delay Interval (counted from the custody, after the crash);
// the client with a delayed will that reconnects on B cancels it
// (MQTT-3.1.2-26), while the one with none has it published once, by
// B or by the node that keeps A's sessions, whichever comes first; the
// session that ended with its connection, and the
// one whose Session Expiry Interval passed on the node that keeps it
// (MQTT-4.1.0-2), are gone from the sessions bucket.
func (cw *crashWills) check(t *testing.T, crashed time.Time) {
	t.Helper()
	ended(t, cw.back, "node A")
	back := cw.sc.connectTo(t, 1, packet.V5, persistent(packet.V5, "crash-will-back"), cw.back.Store())
	if !back.Connack().SessionPresent {
		t.Error("crash-will-back: Session Present 0 on B")
	}
	ended(t, cw.returns, "node A")
	if !cw.sc.connectTo(t, 1, packet.V311, persistent(packet.V311, "crash-will-returns"), cw.returns.Store()).Connack().SessionPresent {
		t.Error("crash-will-returns: Session Present 0 on B")
	}
	want := []string{"will/delayed", "will/now", "will/311", "will/returns"}
	got := make(map[string]time.Duration)
	deadline := time.After(15 * time.Second)
	for len(got) < len(want) {
		select {
		case m := <-cw.watch.Messages():
			if m.Topic == probeTopic {
				continue
			}
			if !slices.Contains(want, m.Topic) {
				t.Errorf("%s published: its client reconnected (MQTT-3.1.2-26)", m.Topic)
				continue
			}
			if _, twice := got[m.Topic]; twice {
				t.Errorf("%s published twice", m.Topic)
			}
			got[m.Topic] = time.Since(crashed)
		case <-deadline:
			t.Fatalf("wills of the crashed node published: %v; want %v", got, want)
		}
	}
	quiet(t, cw.watch, time.Second) // no second copy, and not will/back
	if d := got["will/delayed"]; d < time.Second {
		t.Errorf("will/delayed published %v after the crash, before its Will Delay Interval (1 s)", d)
	}
	t.Logf("wills after the crash: %v", got)
	kv := cw.sc.sessionKV(t)
	for _, key := range []string{ownerPrefix + "crash-will-now", sessionPrefix + "crash-will-now"} {
		if _, err := kv.Get(ctx(t), key); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("%s still in the bucket (%v): the session ended with its connection", key, err)
		}
	}
	deadline = time.After(10 * time.Second)
	for _, key := range []string{ownerPrefix + "crash-expires", sessionPrefix + "crash-expires"} {
		for {
			_, err := kv.Get(ctx(t), key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				break
			}
			select {
			case <-deadline:
				t.Fatalf("%s still in the bucket (%v): its session expired", key, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// awaitFloorSaved waits until the sessions bucket holds a floor of id
// saved under the claim its session record was written under (floor.go),
// above the floor of that record.
func (sc *sessionCluster) awaitFloorSaved(t *testing.T, id string) {
	t.Helper()
	kv := sc.sessionKV(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		se, err1 := kv.Get(ctx(t), sessionPrefix+sessionKey(id))
		fe, err2 := kv.Get(ctx(t), floorPrefix+sessionKey(id))
		if err1 == nil && err2 == nil {
			_, holder, data, _ := parseSession(se.Value())
			recorded, _, _ := broker.ReplayPlan(data)
			if fh, floor, ok := parseFloor(fe.Value()); ok && fh == holder && floor > recorded {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no floor of %s saved above its record's (%v, %v)", id, err1, err2)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
