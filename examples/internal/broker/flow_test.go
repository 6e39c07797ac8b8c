package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// Flow control against a slow subscriber: eight publishers at full
// speed, one subscriber that reads ten times slower than they publish.
// The broker acknowledges no more than it can queue within its limits,
// so the publishers slow down to the subscriber's pace, and every message
// it acknowledged reaches the subscriber, once at QoS 2.
//
// The runs are CI-sized (well under a second of publishing each);
// BROKER_FLOW_LONG=1 runs them with the broker's default limits for ten
// seconds each.

// flowSize is the size of a run.
type flowSize struct {
	maxQueued  int           // Config.MaxQueued
	receiveMax int           // Config.ReceiveMaximum
	calibrate  time.Duration // how long the publishers' full speed is measured
	run        time.Duration // how long they publish to the slow subscriber
	away       time.Duration // how long the subscriber is offline (TestFlowControlOffline)
}

func flowSizes() flowSize {
	if os.Getenv("BROKER_FLOW_LONG") != "" {
		return flowSize{maxQueued: 10000, receiveMax: 256, calibrate: time.Second, run: 10 * time.Second, away: 5 * time.Second}
	}
	return flowSize{maxQueued: 1000, receiveMax: 64, calibrate: 200 * time.Millisecond, run: 600 * time.Millisecond, away: 300 * time.Millisecond}
}

const (
	flowPublishers = 8
	flowPayload    = 64
	// subscriberPipeline is what the broker holds for a connected
	// subscriber besides its outbox: the messages in flight to it (at
	// most 4,096, maxInFlight) and those its Connection queues for its
	// Receive Maximum (at most 64, connQueueMax). The subscriber's own
	// inbox is part of what is in flight: it acknowledges each message
	// once its handler has returned.
	subscriberPipeline = 4096 + 64
)

// window is how many messages one publisher may have the broker hold
// unacknowledged: the Receive Maximum for a v5 client; for a 3.1.1
// client, which cannot be told, the broker stops reading at that many,
// and the piece of a read it is handling (4 KiB) may hold more PUBLISH
// packets.
func (s flowSize) window(v packet.Version, topic string) int {
	if v == packet.V5 {
		return s.receiveMax
	}
	publish := 2 + 2 + len(topic) + 2 + flowPayload
	return s.receiveMax + (4<<10)/publish + 1
}

// selfLimit is how many messages a client's outbox may hold before the
// client waits for its own messages to itself: twice MaxQueued, and the
// most each waiting publisher may add (the broker counts the smallest
// 3.1.1 PUBLISH, 7 bytes, for all).
func (s flowSize) selfLimit(waiting int) int {
	return 2*s.maxQueued + waiting*(s.receiveMax+(4<<10)/7+1)
}

// queueBound is the most the broker may queue for the subscriber: its
// outbox holds up to MaxQueued before the publishers wait, and each may
// have a window's worth more.
func (s flowSize) queueBound(v packet.Version, topic string) int {
	return s.maxQueued + flowPublishers*s.window(v, topic)
}

// flowPublisherGroup is eight publishers that publish as fast as the
// broker acknowledges, each message numbered, and keep what was
// acknowledged.
type flowPublisherGroup struct {
	t       *testing.T
	qos     packet.QoS
	clients []*client.Client

	acked      atomic.Int64
	cancel     context.CancelFunc // stops publishing
	waitCancel context.CancelFunc // stops waiting for acknowledgements
	wg         sync.WaitGroup
	seqs       [][]uint32 // per publisher, the messages acknowledged, in order
	next       []uint32   // per publisher, the next sequence number
	mu         sync.Mutex
	errs       []error
}

func newFlowPublishers(t *testing.T, addr string, v packet.Version, qos packet.QoS, size flowSize) *flowPublisherGroup {
	t.Helper()
	g := &flowPublisherGroup{t: t, qos: qos, seqs: make([][]uint32, flowPublishers), next: make([]uint32, flowPublishers)}
	for i := range flowPublishers {
		cfg := client.Config{Servers: []string{"tcp://" + addr}, Version: v,
			ClientID: fmt.Sprint("flow-pub-", i), CleanStart: true, NoReconnect: true}
		if v != packet.V5 {
			// A 3.1.1 client has no Receive Maximum to keep to: it keeps
			// twice the broker's in flight, and the broker stops reading
			// it (see window).
			cfg.MaxInFlight = 2 * size.receiveMax
		}
		c, err := client.Connect(testContext(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { disconnectSoon(c) })
		g.clients = append(g.clients, c)
	}
	return g
}

// payload numbers a message: its publisher and sequence number.
func flowMessage(pub int, seq uint32) []byte {
	b := make([]byte, flowPayload)
	binary.BigEndian.PutUint32(b, uint32(pub))
	binary.BigEndian.PutUint32(b[4:], seq)
	return b
}

func (g *flowPublisherGroup) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = append(g.errs, err)
}

// start has every publisher publish on topic as fast as it can, until
// stop.
func (g *flowPublisherGroup) start(topic string) {
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	wait, waitCancel := context.WithCancel(context.Background())
	for i, c := range g.clients {
		type inFlight struct {
			seq uint32
			p   *client.Pending
		}
		pending := make(chan inFlight, 1<<16)
		g.wg.Add(2)
		go func() {
			defer g.wg.Done()
			defer close(pending)
			for {
				seq := g.next[i]
				p, err := c.PublishAsync(ctx, client.Message{Topic: topic, QoS: g.qos, Payload: flowMessage(i, seq)})
				if err != nil {
					if ctx.Err() == nil {
						g.fail(fmt.Errorf("publisher %d: %w", i, err))
					}
					return
				}
				g.next[i]++
				pending <- inFlight{seq, p}
			}
		}()
		go func() {
			defer g.wg.Done()
			for f := range pending {
				if err := f.p.Wait(wait); err != nil {
					g.fail(fmt.Errorf("publisher %d, message %d: %w", i, f.seq, err))
					continue
				}
				g.seqs[i] = append(g.seqs[i], f.seq)
				g.acked.Add(1)
			}
		}()
	}
	g.waitCancel = waitCancel
}

// stop stops publishing and waits until every message published has been
// acknowledged, for up to 20 seconds.
func (g *flowPublisherGroup) stop() {
	g.t.Helper()
	g.cancel()
	t := time.AfterFunc(20*time.Second, g.waitCancel)
	defer t.Stop()
	g.wg.Wait()
	g.waitCancel()
	if len(g.errs) > 0 {
		g.t.Fatalf("%d publishing errors, the first: %v", len(g.errs), g.errs[0])
	}
}

// fullSpeed measures the messages per second the publishers have
// acknowledged on a topic nobody subscribes to.
func (g *flowPublisherGroup) fullSpeed(d time.Duration) float64 {
	g.t.Helper()
	g.start("flow/calibrate")
	time.Sleep(d)
	n := g.acked.Load()
	g.stop()
	g.acked.Store(0)
	clear(g.seqs)
	clear(g.next)
	return float64(n) / d.Seconds()
}

// flowSubscriber counts the messages it receives, by publisher and
// sequence number, and takes them at a set pace.
type flowSubscriber struct {
	mu    sync.Mutex
	seen  [][]uint8
	got   int64
	rate  float64 // messages per second; 0: as they come
	since time.Time
	base  int64 // got at since
}

func (s *flowSubscriber) handle(m client.Message) {
	if len(m.Payload) != flowPayload {
		return
	}
	pub, seq := int(binary.BigEndian.Uint32(m.Payload)), int(binary.BigEndian.Uint32(m.Payload[4:]))
	s.mu.Lock()
	for len(s.seen) <= pub {
		s.seen = append(s.seen, nil)
	}
	for len(s.seen[pub]) <= seq {
		s.seen[pub] = append(s.seen[pub], 0)
	}
	s.seen[pub][seq]++
	s.got++
	due := s.since.Add(time.Duration(float64(s.got-s.base) / s.rate * float64(time.Second)))
	paced := s.rate > 0
	s.mu.Unlock()
	if d := time.Until(due); paced && d > 0 {
		time.Sleep(d)
	}
}

// pace has the subscriber take rate messages a second from now on.
func (s *flowSubscriber) pace(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate, s.since, s.base = rate, time.Now(), s.got
}

func (s *flowSubscriber) received() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

// connect connects the subscriber (client identifier flow-sub) and
// subscribes it to topic at qos; persistent makes its session outlive
// the connection, and store carries it from one connection to the next.
func (s *flowSubscriber) connect(t *testing.T, addr string, v packet.Version, qos packet.QoS, topic string,
	persistent bool, store client.Store) *client.Client {
	t.Helper()
	cfg := client.Config{Servers: []string{"tcp://" + addr}, Version: v, ClientID: "flow-sub",
		CleanStart: !persistent, NoReconnect: true, OnMessage: s.handle, Store: store}
	if persistent && v == packet.V5 {
		cfg.SessionExpiry = time.Minute
	}
	c, err := client.Connect(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disconnectSoon(c) })
	if err := c.Subscribe(testContext(t), packet.Subscription{Filter: topic, QoS: qos}, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor waits until the subscriber has received n messages, as long
// as more keep coming.
func (s *flowSubscriber) waitFor(t *testing.T, n int64) {
	t.Helper()
	last, since := s.received(), time.Now()
	for got := last; got < n; got = s.received() {
		if got != last {
			last, since = got, time.Now()
		}
		if time.Since(since) > 3*time.Second {
			t.Fatalf("%d messages received, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// check checks that every message the publishers had acknowledged
// reached the subscriber, and, at QoS 2, once (MQTT-4.3.3-10); it
// reports what it found.
func (s *flowSubscriber) check(t *testing.T, g *flowPublisherGroup) {
	t.Helper()
	s.waitFor(t, g.acked.Load())
	time.Sleep(50 * time.Millisecond) // anything more, such as duplicates
	s.mu.Lock()
	defer s.mu.Unlock()
	lost, dup := 0, 0
	for i, seqs := range g.seqs {
		for _, seq := range seqs {
			switch n := s.count(i, int(seq)); {
			case n == 0:
				lost++
			case n > 1:
				dup += int(n) - 1
			}
		}
	}
	t.Logf("%d messages acknowledged: %d received, %d lost, %d duplicated", g.acked.Load(), s.got, lost, dup)
	if lost > 0 {
		t.Errorf("MQTT-4.5.0-1: %d messages acknowledged by the broker never reached the subscriber", lost)
	}
	if dup > 0 && g.qos == packet.QoS2 {
		t.Errorf("MQTT-4.3.3-10: %d QoS 2 messages delivered more than once", dup)
	}
	if extra := s.got - g.acked.Load() - int64(dup); extra != 0 {
		t.Errorf("%d messages received that were never acknowledged", extra)
	}
}

func (s *flowSubscriber) count(pub, seq int) uint8 {
	if pub >= len(s.seen) || seq >= len(s.seen[pub]) {
		return 0
	}
	return s.seen[pub][seq]
}

// flowCase is one version and QoS of the flow-control runs; the names
// carry the statements the runs check for that version.
type flowCase struct {
	name string
	v    packet.Version
	qos  packet.QoS
}

var flowCases = []flowCase{
	{"MQTT-4.5.0-1 MQTT-4.3.2-2 3.1.1 QoS 1", packet.V311, packet.QoS1},
	{"MQTT-4.5.0-1 MQTT-4.3.3-2 3.1.1 QoS 2", packet.V311, packet.QoS2},
	{"MQTT-4.5.0-1 MQTT-4.3.2-4 MQTT-3.3.4-7 5.0 QoS 1", packet.V5, packet.QoS1},
	{"MQTT-4.5.0-1 MQTT-4.3.3-10 MQTT-3.3.4-7 5.0 QoS 2", packet.V5, packet.QoS2},
}

func startFlowBroker(t *testing.T, size flowSize) (*broker.Broker, string) {
	t.Helper()
	return brokertest.Serve(t, broker.Config{MaxQueued: size.maxQueued, ReceiveMaximum: size.receiveMax, Logger: brokertest.Logger(t, slog.LevelInfo)})
}

// calibrated connects the eight publishers of tc and measures their full
// speed; it returns them, and the subscriber's pace: ten times slower.
func calibrated(t *testing.T, addr string, tc flowCase, size flowSize) (g *flowPublisherGroup, full, rate float64) {
	t.Helper()
	g = newFlowPublishers(t, addr, tc.v, tc.qos, size)
	full = g.fullSpeed(size.calibrate)
	return g, full, full / 10
}

// Eight publishers at full speed, one subscriber ten times slower: the
// publishers are slowed to the subscriber's pace, the broker's queue
// stays within its bound, and every message acknowledged arrives (once,
// at QoS 2).
func TestFlowControlSlowSubscriber(t *testing.T) {
	size := flowSizes()
	for _, tc := range flowCases {
		t.Run(tc.name, func(t *testing.T) {
			b, addr := startFlowBroker(t, size)
			const topic = "flow/slow"
			g, full, rate := calibrated(t, addr, tc, size)

			var s flowSubscriber
			s.pace(rate)
			s.connect(t, addr, tc.v, tc.qos, topic, false, nil)
			g.start(topic)
			time.Sleep(size.run)
			acked, received, st := g.acked.Load(), s.received(), b.Stats()
			g.stop()
			t.Logf("full speed %.0f msg/s, subscriber %.0f msg/s; in %v the publishers had %d acknowledged (%.0f msg/s), "+
				"the subscriber received %d; stats %+v", full, rate, size.run, acked, float64(acked)/size.run.Seconds(), received, st)

			bound := size.queueBound(tc.v, topic)
			if st.PeakQueued > bound {
				t.Errorf("the outbox held up to %d messages, over the bound of %d", st.PeakQueued, bound)
			}
			if ahead := acked - received; ahead > int64(bound+subscriberPipeline) {
				t.Errorf("the broker acknowledged %d messages more than the subscriber had taken, over %d: the publishers were not slowed to its pace",
					ahead, bound+subscriberPipeline)
			}
			// A 3.1.1 publisher at QoS 2 may be stopped before its PUBREL
			// packets are read, with nothing withheld yet.
			if st.Withheld == 0 && (tc.v == packet.V5 || tc.qos == packet.QoS1) || st.DroppedQoS0 != 0 {
				t.Errorf("%d acknowledgements withheld, %d QoS 0 messages dropped: want some, and none", st.Withheld, st.DroppedQoS0)
			}
			s.check(t, g)
		})
	}
}

// The same with the subscriber offline for a while, its session kept:
// its queue fills up to the limit, the publishers wait meanwhile, and
// when it is back it gets every message acknowledged.
func TestFlowControlOffline(t *testing.T) {
	size := flowSizes()
	for _, tc := range []flowCase{
		{"MQTT-3.1.2-5 MQTT-4.5.0-1 3.1.1 QoS 1", packet.V311, packet.QoS1},
		{"MQTT-3.1.2-5 MQTT-4.3.3-2 3.1.1 QoS 2", packet.V311, packet.QoS2},
		{"MQTT-3.1.2-5 MQTT-4.5.0-1 5.0 QoS 1", packet.V5, packet.QoS1},
		{"MQTT-3.1.2-5 MQTT-4.3.3-10 5.0 QoS 2", packet.V5, packet.QoS2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, addr := startFlowBroker(t, size)
			const topic = "flow/away"
			g, full, rate := calibrated(t, addr, tc, size)

			var s flowSubscriber
			store := new(client.MemoryStore)
			sub := s.connect(t, addr, tc.v, tc.qos, topic, true, store)
			if err := sub.Close(testContext(t)); err != nil {
				t.Fatal(err)
			}
			g.start(topic)
			time.Sleep(size.away)
			acked, st := g.acked.Load(), b.Stats()
			bound := size.queueBound(tc.v, topic)
			t.Logf("subscriber away for %v: %d acknowledged, %d queued (bound %d)", size.away, acked, st.Queued, bound)
			if st.Queued > bound || acked > int64(st.Queued) {
				t.Errorf("with the subscriber away %d messages acknowledged and %d queued, want at most %d queued and no more acknowledged",
					acked, st.Queued, bound)
			}

			s.pace(rate)
			s.connect(t, addr, tc.v, tc.qos, topic, true, store)
			time.Sleep(size.run / 2)
			g.stop()
			st = b.Stats()
			t.Logf("full speed %.0f msg/s, subscriber %.0f msg/s; stats %+v", full, rate, st)
			if st.PeakQueued > bound {
				t.Errorf("the outbox held up to %d messages, over the bound of %d", st.PeakQueued, bound)
			}
			s.check(t, g)
		})
	}
}

// A subscriber that does not acknowledge: its publisher's
// acknowledgements are withheld once the subscriber's queue is full
// (MQTT-3.3.4-7: the publisher may send no more than the Receive
// Maximum), QoS 0 messages for it are dropped and counted, other clients
// are not held up, and the publisher is released when the subscriber's
// session ends.
func TestFlowControlStalledSubscriber(t *testing.T) {
	t.Parallel()
	b, addr := brokertest.Serve(t, broker.Config{MaxQueued: 20, Logger: brokertest.Logger(t, slog.LevelInfo)})
	r := dialStalled(t, addr, "stalled/#", packet.QoS1)
	fine := dial(t, addr, packet.V5, connect("fine"))
	subscribe(t, fine, packet.Subscription{Filter: "stalled/#", QoS: packet.QoS1})
	pub := dial(t, addr, packet.V5, connect("stalled-pub"))

	// 1 in flight to the stalled client, 64 queued by its Connection,
	// then its outbox: the 85th message fills it, and is not acknowledged.
	// (Sooner if the stalled client's connection is slow to take them
	// from the outbox: full, it stays full until it has drained to three
	// quarters, 15, which it cannot.)
	const most, least = 1 + 64 + 20 - 1, 20 - 1
	var pending []*client.Pending
	ctx := testContext(t)
	for i := range most + 10 {
		p, err := pub.PublishAsync(ctx, client.Message{Topic: "stalled/1", QoS: packet.QoS1, Payload: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
		expect(t, fine, "stalled/1", fmt.Sprint(i), packet.QoS1) // the other subscriber keeps up
	}
	time.Sleep(500 * time.Millisecond)
	acked := 0
	for i, p := range pending {
		select {
		case <-p.Done():
			if acked != i {
				t.Fatalf("message %d acknowledged after %d was withheld", i, acked)
			}
			acked++
		default:
		}
	}
	if acked < least || acked > most {
		t.Fatalf("%d messages acknowledged, want %d to %d: the stalled client's outbox is full after that", acked, least, most)
	}
	// QoS 0 has nothing to withhold: dropped, counted.
	publish(t, pub, "stalled/0", packet.QoS0, false, "q0")
	expect(t, fine, "stalled/0", "q0", packet.QoS0)
	if st := b.Stats(); st.DroppedQoS0 != 1 || st.Withheld == 0 {
		t.Fatalf("stats %+v, want 1 QoS 0 message dropped and acknowledgements withheld", st)
	}
	// Others are not held up: another publisher, and the stalled
	// publisher's own subscriptions.
	other := dial(t, addr, packet.V5, connect("other-pub"))
	subscribe(t, pub, packet.Subscription{Filter: "elsewhere", QoS: packet.QoS1})
	publish(t, other, "elsewhere", packet.QoS1, false, "unaffected")
	expect(t, pub, "elsewhere", "unaffected", packet.QoS1)

	// The stalled client goes, and its session with it: the publisher
	// gets its acknowledgements.
	r.nc.Close()
	for i, p := range pending {
		if err := p.Wait(ctx); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

// A publisher whose acknowledgements are withheld may lose its
// connection and resume its session: its QoS 2 messages are not
// delivered twice (MQTT-4.3.3-10), and the new connection waits for the
// full outbox as the old one did before it completes them. The broker
// shuts down with acknowledgements withheld.
func TestFlowControlReconnectAndShutdown(t *testing.T) {
	t.Parallel()
	b, addr := brokertest.Serve(t, broker.Config{MaxQueued: 20, Logger: brokertest.Logger(t, slog.LevelInfo)})
	dialStalled(t, addr, "held/#", packet.QoS2)
	fine := dial(t, addr, packet.V5, connect("fine"))
	subscribe(t, fine, packet.Subscription{Filter: "held/#", QoS: packet.QoS2})

	pcn := &packet.Connect{ClientID: "held-pub", KeepAlive: 30}
	pcn.Props.SessionExpiry = 60
	pub := dial(t, addr, packet.V5, pcn)
	ctx := testContext(t)
	const n = 100
	for i := range n {
		if _, err := pub.PublishAsync(ctx, client.Message{Topic: "held/1", QoS: packet.QoS2, Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		expect(t, fine, "held/1", fmt.Sprint(i), packet.QoS2)
	}
	var withheld uint64
	for deadline := time.Now().Add(3 * time.Second); withheld == 0; withheld = b.Stats().Withheld {
		if time.Now().After(deadline) {
			t.Fatal("no acknowledgement withheld")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pub.Drop()
	pub = resume(t, addr, packet.V5, pcn, pub)
	// It sends its PUBRELs again, whose PUBCOMPs wait as before.
	for deadline := time.Now().Add(time.Second); b.Stats().Withheld <= withheld; {
		if time.Now().After(deadline) {
			t.Fatalf("withheld %d before the publisher came back and after: its PUBRELs were completed at once", withheld)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p, err := pub.PublishAsync(ctx, client.Message{Topic: "held/1", QoS: packet.QoS2, Payload: []byte("after")})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, fine, "held/1", "after", packet.QoS2) // and nothing twice before it
	select {
	case <-p.Done():
		t.Fatal("acknowledged while the outbox is full")
	case <-time.After(200 * time.Millisecond):
	}

	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with acknowledgements withheld: %v", err)
	}
}

// dialStalled connects a v5 client that subscribes to filter at qos,
// with a Receive Maximum of 1, and then neither reads nor acknowledges
// anything.
func dialStalled(t *testing.T, addr, filter string, qos packet.QoS) *raw {
	t.Helper()
	r := dialRaw(t, addr)
	cn := &packet.Connect{ClientID: "stalled", CleanStart: true}
	cn.Props.ReceiveMaximum = 1
	r.connect(cn)
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	if h, _, ok := r.read(); !ok || h.Type != packet.TypeSuback {
		t.Fatalf("no SUBACK: %v", h.Type)
	}
	return r
}

// A 3.1.1 client cannot be told a Receive Maximum: one that writes
// thousands of QoS 1 messages for a stalled subscriber is not read once
// the broker withholds Config.ReceiveMaximum acknowledgements (and a
// piece of a read more), so the broker holds no more of its messages; when the
// subscriber goes it gets every acknowledgement, in order
// (MQTT-4.3.2-2).
func TestFlowControlStops311Publisher(t *testing.T) {
	t.Parallel()
	const receiveMax, maxQueued = 16, 20
	b, addr := brokertest.Serve(t, broker.Config{MaxQueued: maxQueued, ReceiveMaximum: receiveMax, Logger: brokertest.Logger(t, slog.LevelInfo)})
	r := dialStalled(t, addr, "t", packet.QoS1)

	p := dialHostile(t, addr, packet.V311)
	p.connect(&packet.Connect{ClientID: "flood-311", CleanStart: true})
	const n = 20000
	var all []byte
	for id := 1; id <= n; id++ {
		all = append(all, p.encode(&packet.Publish{Topic: "t", QoS: packet.QoS1, PacketID: uint16(id), Payload: []byte("x")})...)
	}
	written := make(chan error, 1)
	go func() { written <- p.write(all) }()
	time.Sleep(300 * time.Millisecond)
	// The stalled client has 1 message in flight and 64 queued by its
	// Connection; its outbox holds up to maxQueued, the publisher's
	// withheld acknowledgements up to receiveMax, and the piece of a read
	// being handled (4 KiB) more.
	one := len(p.encode(&packet.Publish{Topic: "t", QoS: packet.QoS1, PacketID: 1, Payload: []byte("x")}))
	bound := maxQueued + receiveMax + (4<<10)/one + 1
	if st := b.Stats(); st.PeakQueued > bound {
		t.Fatalf("the broker queued up to %d messages of the 3.1.1 publisher, over %d: it read on", st.PeakQueued, bound)
	}
	r.nc.Close()
	for id := 1; id <= n; id++ {
		a, ok := p.expect(packet.TypePuback).(*packet.Puback)
		if !ok || int(a.PacketID) != id {
			t.Fatalf("acknowledgement %d: %v, want PUBACK %d", id, a, id)
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
}

// A client whose handler publishes to its own topic and waits for the
// acknowledgement, while others flood that topic, and one that publishes
// to a topic it subscribes to and reads slowly, do not deadlock: a
// client's messages to its own session are withheld only past what the
// other publishers can have queued and MaxQueued more (selfLimit), and
// the broker reads on while it waits for the client's acknowledgements.
// The second is slowed to its own pace.
func TestFlowControlOwnTopic(t *testing.T) {
	size := flowSizes()
	for _, tc := range []flowCase{
		{"3.1.1 QoS 1", packet.V311, packet.QoS1},
		{"5.0 QoS 2", packet.V5, packet.QoS2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, addr := startFlowBroker(t, size)

			// Handler that publishes: it answers each message of the
			// others with one of its own, and waits for it.
			var self *client.Client
			var echoed atomic.Int64
			var echoErr atomic.Value // the first error of the handler
			var mu sync.Mutex
			ready := make(chan struct{})
			cfg := client.Config{Servers: []string{"tcp://" + addr}, Version: tc.v, ClientID: "flow-echo",
				CleanStart: true, NoReconnect: true, OnMessage: func(m client.Message) {
					<-ready
					if string(m.Payload) == "echo" {
						echoed.Add(1)
						return
					}
					mu.Lock()
					c := self
					mu.Unlock()
					if err := c.Publish(context.Background(), client.Message{Topic: "flow/own", QoS: tc.qos, Payload: []byte("echo")}); err != nil {
						echoErr.CompareAndSwap(nil, err)
					}
				}}
			c, err := client.Connect(testContext(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { disconnectSoon(c) })
			mu.Lock()
			self = c
			mu.Unlock()
			close(ready)
			if err := c.Subscribe(testContext(t), packet.Subscription{Filter: "flow/own", QoS: tc.qos}, nil); err != nil {
				t.Fatal(err)
			}
			g := newFlowPublishers(t, addr, tc.v, tc.qos, size)
			g.start("flow/own")
			// Until the others' messages fill the handler's outbox (how
			// long depends on the machine's speed), and a little more.
			time.Sleep(size.run / 8)
			for end := time.Now().Add(10 * time.Second); b.Stats().Withheld == 0 && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond)
			}
			g.stop()
			acked := g.acked.Load()
			last, since := int64(0), time.Now()
			for got := echoed.Load(); got < acked; got = echoed.Load() {
				if got != last {
					last, since = got, time.Now()
				}
				if time.Since(since) > 3*time.Second {
					t.Fatalf("%d of %d messages answered, and no more: the client waits for itself", got, acked)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := echoErr.Load(); err != nil {
				t.Fatalf("answering: %v", err)
			}
			st := b.Stats()
			t.Logf("answering: %d messages answered; stats %+v", acked, st)
			if st.Withheld == 0 {
				t.Fatal("the others' messages never filled the outbox: nothing tested")
			}
			if st.PeakQueued > size.selfLimit(flowPublishers+1) {
				t.Errorf("the outbox held up to %d messages, over %d", st.PeakQueued, size.selfLimit(flowPublishers+1))
			}

			// Publishing to itself at full speed while reading slowly.
			var s flowSubscriber
			cfg = client.Config{Servers: []string{"tcp://" + addr}, Version: tc.v, ClientID: "flow-self",
				CleanStart: true, NoReconnect: true, OnMessage: s.handle}
			if tc.v != packet.V5 {
				cfg.MaxInFlight = 2 * size.receiveMax
			}
			c, err = client.Connect(testContext(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { disconnectSoon(c) })
			one := &flowPublisherGroup{t: t, qos: tc.qos, clients: []*client.Client{c}, seqs: make([][]uint32, 1), next: make([]uint32, 1)}
			rate := one.fullSpeed(size.calibrate) / 10
			if err := c.Subscribe(testContext(t), packet.Subscription{Filter: "flow/self", QoS: tc.qos}, nil); err != nil {
				t.Fatal(err)
			}
			s.pace(rate)
			one.start("flow/self")
			time.Sleep(size.run / 2)
			acked, received := one.acked.Load(), s.received()
			one.stop()
			t.Logf("publishing to itself: %d acknowledged, %d received, subscriber %.0f msg/s", acked, received, rate)
			if ahead := acked - received; ahead > int64(size.selfLimit(1)+size.window(tc.v, "flow/self")+subscriberPipeline) {
				t.Errorf("the broker acknowledged %d messages more than the client had taken", ahead)
			}
			s.check(t, one)
		})
	}
}

// disconnectSoon disconnects c, giving up on what it has in flight after
// a moment.
func disconnectSoon(c *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Disconnect(ctx, nil)
}
