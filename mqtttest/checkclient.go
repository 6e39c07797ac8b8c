package mqtttest

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"pgregory.net/rapid"
)

// Client is a client program under CheckClient, behind an adapter the
// test writes. The check calls Subscribe and Publish from one goroutine,
// in the scenario's order, and Connect and Disconnect from another, so
// that a Publish waiting for room under the broker's Receive Maximum does
// not keep the client from connecting again.
type Client interface {
	// Connect connects to the broker at addr (host:port, TCP) and returns
	// once its CONNACK has come. The first call starts a session that
	// outlives the connection; each later one, made after the connection
	// ended (Disconnect, or the broker closed it), resumes it: Clean
	// Start 0 (Clean Session 0 in 3.1.1), in v5 with a Session Expiry
	// Interval above 0. A client that connects again on its own may just
	// wait until it has.
	Connect(ctx context.Context, addr string) error
	// Subscribe subscribes to filter at QoS qos and returns once the
	// SUBACK has come.
	Subscribe(ctx context.Context, filter string, qos packet.QoS) error
	// Publish publishes payload on topic at QoS qos. It returns once the
	// client has the message (sent, or queued for sending), without
	// waiting for its acknowledgement, which the broker may withhold; it
	// may wait for room under the broker's Receive Maximum. A message for
	// which it returns nil is owed to the broker; one for which it
	// returns an error is not.
	Publish(ctx context.Context, topic string, payload []byte, qos packet.QoS) error
	// Disconnect sends DISCONNECT and closes the connection; the session
	// stays for the next Connect.
	Disconnect(ctx context.Context) error
}

// ClientSetup is how CheckClient wants a new client program: the
// function the test passes to CheckClient makes one from it, for each
// scenario.
type ClientSetup struct {
	Version   packet.Version
	ClientID  string
	KeepAlive time.Duration // whole seconds
	// Received is to be called for each application message the client
	// delivers to its application (from any goroutine).
	Received func(topic string, payload []byte, qos packet.QoS)
}

// ClientOptions say what CheckClient checks of a client and how much.
// The zero ClientOptions check both versions, as many scenarios as
// rapid's -rapid.checks.
type ClientOptions struct {
	// Versions are the protocol versions the client speaks; nil means
	// packet.V311 and packet.V5.
	Versions []packet.Version
	// NoIdle leaves out the steps that wait 1.6 s for the client's
	// PINGREQ (one scenario in five has one).
	NoIdle bool
	// Checks, when positive, caps the scenarios run (and -rapid.checks
	// caps Checks).
	Checks int
	// Steps caps the steps of a scenario; 0 means 10.
	Steps int
	// Timeout bounds each wait for something the client owes; 0 means 5 s.
	Timeout time.Duration
	// Settle is how long the check waits at the end of a scenario for
	// deliveries the client should not make; 0 means 50 ms.
	Settle time.Duration
	// Prefix starts every topic; "" means "mqtttest".
	Prefix string
}

func (o *ClientOptions) versions() []packet.Version {
	if len(o.Versions) == 0 {
		return []packet.Version{packet.V311, packet.V5}
	}
	return o.Versions
}

func (o *ClientOptions) steps() int { return limit(o.Steps, 10) }

func (o *ClientOptions) timeout() time.Duration { return durationOr(o.Timeout, 5*time.Second) }

func (o *ClientOptions) settle() time.Duration { return durationOr(o.Settle, 50*time.Millisecond) }

func (o *ClientOptions) prefix() string { return cmp.Or(o.Prefix, "mqtttest") }

// clientKeepAlive is the Keep Alive CheckClient asks of clients.
const clientKeepAlive = time.Second

// CheckClient plays an MQTT broker on a loopback port for client
// programs that newClient makes, one per scenario, and drives each
// through random scenarios drawn with rapid: the application subscribes
// and publishes at QoS 0 to 2, the broker sends messages (again with DUP
// before completing them, at times), withholds acknowledgements, ends
// the connection, the client disconnects and connects again to resume
// its session, and stays idle. It fails t when the client breaks a
// promise of the specifications, naming the statement, and rapid shrinks
// the scenario to a small one.
//
// The check holds the client to: acknowledgements (PUBACK, PUBREC,
// PUBREL, PUBCOMP, in order), QoS 2 messages delivered to the
// application exactly once even when the broker sends them again, QoS 1
// at least once and QoS 0 at most once, unacknowledged PUBLISH and PUBREL
// packets sent again with DUP and their identifiers on resuming the
// session, in order, packet identifiers in use not taken for new
// packets, Keep Alive, the broker's Receive Maximum and Topic Alias
// Maximum, Topic Aliases from the broker, and well-formed packets.
//
// The broker keeps the client's session (subscriptions, messages in
// flight both ways) across connections. It grants each subscription the
// QoS asked for and sends the client only messages of its own, on topics
// of the client's subscriptions; it does not send the client's messages
// back.
//
// t is a *testing.T or *testing.B, or anything else with their methods
// (rapid.TB).
func CheckClient(t rapid.TB, newClient func(ClientSetup) Client, o ClientOptions) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mqtttest: listen: %v", err)
		return
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	id := runID()
	checkScenarios(t, o.Checks, func(rt *rapid.T, n int64) (*failure, fmt.Stringer) {
		s := drawClientScenario(rt, &o)
		r := newClientRun(&o, s, ln.Addr().String(), accepted,
			fmt.Sprintf("%s/%s-%d", o.prefix(), id, n), fmt.Sprintf("mt%s-%d", id, n))
		r.cl = newClient(ClientSetup{Version: s.Version, ClientID: r.clientID, KeepAlive: clientKeepAlive, Received: r.received})
		defer r.cleanup()
		return r.play(), s
	})
}

// clientRun plays one scenario: the application's calls on two
// goroutines, the broker's side in the goroutine of play.
type clientRun struct {
	o        *ClientOptions
	s        *clientScenario
	addr     string
	accepted chan net.Conn
	prefix   string
	clientID string
	cl       Client
	step     int

	app, life chan *op         // calls waiting for their goroutine
	opDone    chan *op         // calls that returned
	in        chan brokerIn    // what the connections' readers read
	quit      chan struct{}    // closed at the end: the readers stop
	wake      chan struct{}    // the application received something
	mu        sync.Mutex       // guards got
	got       []appDelivery    // what the application received
	ops       []*op            // every call made
	pubs      map[string]*cpub // the application's messages, by payload
	pubOrder  []string

	b brokerState
}

// op is one call of the Client.
type op struct {
	name string
	f    func(ctx context.Context) error
	done bool
	err  error
}

// appDelivery is a message as the application received it.
type appDelivery struct {
	topic, payload string
	qos            packet.QoS
}

// cpub is a message the application published.
type cpub struct {
	key      string
	topic    string
	qos      packet.QoS
	epoch    int // the connection when Publish was called
	op       *op
	arrived  int  // PUBLISH packets with it
	complete bool // its exchange ended: the broker owns it
	step     int
}

func newClientRun(o *ClientOptions, s *clientScenario, addr string, accepted chan net.Conn, prefix, clientID string) *clientRun {
	r := &clientRun{o: o, s: s, addr: addr, accepted: accepted, prefix: prefix, clientID: clientID,
		app: make(chan *op, 64), life: make(chan *op, 4), opDone: make(chan *op, 128),
		in: make(chan brokerIn, 256), quit: make(chan struct{}), wake: make(chan struct{}, 1), pubs: map[string]*cpub{}}
	r.b.init()
	var wg sync.WaitGroup
	for _, q := range []chan *op{r.app, r.life} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range q {
				ctx, cancel := context.WithTimeout(context.Background(), 4*r.o.timeout())
				o.err = o.f(ctx)
				cancel()
				r.opDone <- o
			}
		}()
	}
	go func() { wg.Wait(); close(r.opDone) }()
	return r
}

// received is ClientSetup.Received.
func (r *clientRun) received(topic string, payload []byte, qos packet.QoS) {
	r.mu.Lock()
	r.got = append(r.got, appDelivery{strings.Clone(topic), string(payload), qos})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// call queues a call of the Client on goroutine q.
func (r *clientRun) call(q chan *op, name string, f func(ctx context.Context) error) *op {
	o := &op{name: name, f: f}
	r.ops = append(r.ops, o)
	q <- o
	return o
}

// pump handles what happens, the broker's side, until cond holds or d
// has passed; it returns what the client did wrong.
func (r *clientRun) pump(d time.Duration, cond func() bool) (bool, *failure) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if cond != nil && cond() {
			return true, nil
		}
		select {
		case in := <-r.in:
			if f := r.handle(in); f != nil {
				return false, f
			}
		case o := <-r.opDone:
			o.done = true
		case c := <-r.accepted:
			if f := r.accept(c); f != nil {
				return false, f
			}
		case <-r.wake:
			if f := r.deliveries(false); f != nil {
				return false, f
			}
		case <-deadline.C:
			return cond != nil && cond(), nil
		}
	}
}

// await pumps until o returns.
func (r *clientRun) await(o *op) *failure {
	ok, f := r.pump(r.o.timeout(), func() bool { return o.done })
	switch {
	case f != nil:
		return f
	case !ok:
		return other("%s did not return within %v%s", o.name, r.o.timeout(), r.b.pendingHint())
	case o.err != nil:
		return other("%s: %v", o.name, o.err)
	}
	return nil
}

func (r *clientRun) topic(i int) string  { return r.prefix + "/" + clientTopics[i] }
func (r *clientRun) filter(i int) string { return r.prefix + "/" + clientFilters[i] }

// short writes name with the prefix as P.
func (r *clientRun) short(name string) string {
	if rest, ok := strings.CutPrefix(name, r.prefix); ok {
		return "P" + rest
	}
	return name
}

// play runs the scenario and returns what the client did wrong.
func (r *clientRun) play() *failure {
	if f := r.connect(); f != nil {
		return f.at("connecting")
	}
	for i, st := range r.s.Steps {
		r.step = i + 1
		if f := r.do(st); f != nil {
			return f.at("at step %d (%v)", i+1, st)
		}
	}
	r.step = len(r.s.Steps) + 1
	if _, f := r.pump(r.o.settle(), nil); f != nil {
		return f
	}
	return r.verdict()
}

// connect has the client connect, and waits for it to send again what
// it owes the session.
func (r *clientRun) connect() *failure {
	o := r.call(r.life, "Connect", func(ctx context.Context) error { return r.cl.Connect(ctx, r.addr) })
	if f := r.await(o); f != nil {
		return f
	}
	ok, f := r.pump(r.o.timeout(), func() bool { return len(r.b.resendDue()) == 0 })
	if f != nil {
		return f
	}
	if !ok {
		return fail(cruleResend, r.s.Version, "after resuming the session (Session Present 1), within %v nothing came for %s", r.o.timeout(), strings.Join(r.b.resendDue(), ", "))
	}
	return nil
}

func (r *clientRun) do(st cstep) *failure {
	switch st.Kind {
	case cstepSubscribe:
		filter := r.filter(st.Filter)
		o := r.call(r.app, fmt.Sprintf("Subscribe(%s, qos%d)", r.short(filter), st.QoS),
			func(ctx context.Context) error { return r.cl.Subscribe(ctx, filter, st.QoS) })
		return r.await(o)
	case cstepPublish:
		return r.publish(st)
	case cstepDeliver:
		return r.deliver(st)
	case cstepDrop:
		r.b.drop()
		return r.connect()
	case cstepDisconnect:
		return r.disconnect()
	case cstepIdle:
		if _, f := r.pump(clientKeepAlive*8/5, nil); f != nil {
			return f
		}
		return r.b.keepAlive(r, time.Now())
	}
	return nil
}

// publish has the application publish st.Count messages.
func (r *clientRun) publish(st cstep) *failure {
	var keys []string
	r.b.hold = st.Hold
	for range st.Count {
		key := fmt.Sprintf("m%d", len(r.pubs)+1)
		topic := r.topic(st.Topic)
		m := &cpub{key: key, topic: topic, qos: st.QoS, epoch: r.b.epoch, step: r.step}
		r.pubs[key] = m
		r.pubOrder = append(r.pubOrder, key)
		keys = append(keys, key)
		m.op = r.call(r.app, fmt.Sprintf("Publish(%s, %q, qos%d)", r.short(topic), key, st.QoS),
			func(ctx context.Context) error { return r.cl.Publish(ctx, topic, []byte(key), st.QoS) })
	}
	if st.Hold != holdNone {
		// Wait for as many as the broker's Receive Maximum lets through,
		// then end the hold.
		room := r.b.room(r)
		want := min(len(keys), room)
		r.pump(r.o.timeout(), func() bool { return r.b.holding(st.Hold) >= want })
		if st.Drop {
			r.b.hold = holdNone
			r.b.drop()
			if f := r.connect(); f != nil {
				return f
			}
		} else {
			r.b.release(r)
		}
	}
	r.b.hold = holdNone
	return r.settlePublished(keys)
}

// settlePublished waits until the application's messages keys are
// published and, at QoS 1 and 2, their exchanges complete.
func (r *clientRun) settlePublished(keys []string) *failure {
	done := func() bool {
		for _, k := range keys {
			m := r.pubs[k]
			if !m.op.done || m.op.err == nil && (m.qos == 0 && m.arrived == 0 || m.qos > 0 && !m.complete) {
				return false
			}
		}
		return true
	}
	ok, f := r.pump(r.o.timeout(), done)
	if f != nil || ok {
		return f
	}
	for _, k := range keys {
		m := r.pubs[k]
		switch {
		case !m.op.done:
			return other("%s did not return within %v%s", m.op.name, r.o.timeout(), r.b.pendingHint())
		case m.op.err != nil:
		case m.arrived == 0:
			rl := cruleSend
			if m.qos == 2 {
				rl = cruleSendQoS2
			}
			return fail(rl, r.s.Version, "%s returned nil; no PUBLISH with %q came within %v", m.op.name, k, r.o.timeout())
		case m.qos == 2 && !m.complete:
			return fail(cruleSendPubrel, r.s.Version, "no PUBREL for %q came within %v of the PUBREC", k, r.o.timeout())
		case m.qos == 1 && !m.complete:
			return other("the exchange of %q did not end%s", k, r.b.pendingHint())
		}
	}
	return nil
}

// deliver has the broker send st.Count messages to the client.
func (r *clientRun) deliver(st cstep) *failure {
	topic := r.topic(st.Topic)
	granted, ok := r.b.granted(topic)
	if !ok {
		return nil // no subscription: nothing to send
	}
	qos := min(st.QoS, granted)
	var keys []string
	for range st.Count {
		if qos > 0 {
			// Keep to the client's Receive Maximum.
			ok, f := r.pump(r.o.timeout(), func() bool { return r.b.clientRoom() })
			if f != nil {
				return f
			}
			if !ok {
				return r.b.missingAck(r)
			}
		}
		key := r.b.send(r, topic, qos, st.Dup)
		keys = append(keys, key)
	}
	if st.Drop && qos > 0 {
		r.b.drop()
		if f := r.connect(); f != nil {
			return f
		}
	}
	ok, f := r.pump(r.o.timeout(), func() bool { return r.b.outboundDone(keys) })
	if f != nil {
		return f
	}
	if !ok {
		return r.b.missingAck(r)
	}
	if qos == 0 {
		return nil
	}
	// What the client acknowledged is its application's.
	ok, f = r.pump(r.o.timeout(), func() bool {
		for _, k := range keys {
			if r.count(k) == 0 {
				return false
			}
		}
		return true
	})
	if f != nil || ok {
		return f
	}
	for _, k := range keys {
		if r.count(k) == 0 {
			rl := crulePuback
			if qos == 2 {
				rl = crulePubrec
			}
			return fail(rl, r.s.Version, "the client acknowledged %q (qos%d) and its application did not receive it within %v", k, qos, r.o.timeout())
		}
	}
	return nil
}

// disconnect has the client disconnect and connect again.
func (r *clientRun) disconnect() *failure {
	o := r.call(r.life, "Disconnect", func(ctx context.Context) error { return r.cl.Disconnect(ctx) })
	if f := r.await(o); f != nil {
		return f
	}
	ok, f := r.pump(r.o.timeout(), func() bool { return r.b.conn == nil })
	if f != nil {
		return f
	}
	if !ok {
		return other("Disconnect returned and the connection is still open after %v", r.o.timeout())
	}
	return r.connect()
}

// count is how many times the application received message key.
func (r *clientRun) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, d := range r.got {
		if d.payload == key {
			n++
		}
	}
	return n
}

// deliveries checks what the application received: messages the broker
// sent, on their topic and QoS, QoS 2 and QoS 0 at most once. At the end
// (final) each message the client acknowledged must have been received.
func (r *clientRun) deliveries(final bool) *failure {
	r.mu.Lock()
	got := append([]appDelivery(nil), r.got...)
	r.mu.Unlock()
	seen := map[string]int{}
	for _, d := range got {
		m, ok := r.b.sent[d.payload]
		if !ok {
			return other("the application received %q on %s qos%d, which the broker never sent", d.payload, r.short(d.topic), d.qos)
		}
		if d.topic != m.topic {
			if m.aliased {
				return fail(cruleAliasAccept, r.s.Version, "the application received %q on %s; the broker sent it on %s (by Topic Alias)", d.payload, r.short(d.topic), r.short(m.topic))
			}
			return other("the application received %q on %s; the broker sent it on %s", d.payload, r.short(d.topic), r.short(m.topic))
		}
		if d.qos != m.qos {
			return other("the application received %q at qos%d; the broker sent it at qos%d", d.payload, d.qos, m.qos)
		}
		seen[d.payload]++
		if seen[d.payload] > 1 {
			switch m.qos {
			case 2:
				return fail(cruleOnce, r.s.Version, "the application received %q (qos2, step %d) %d times", d.payload, m.step, seen[d.payload])
			case 0:
				return fail(cruleAtMostOnceIn, r.s.Version, "the application received %q (qos0, step %d) %d times", d.payload, m.step, seen[d.payload])
			}
		}
	}
	if !final {
		return nil
	}
	for _, key := range r.b.sentOrder {
		if m := r.b.sent[key]; m.owned && seen[key] == 0 {
			rl := crulePuback
			if m.qos == 2 {
				rl = crulePubrec
			}
			return fail(rl, r.s.Version, "the client acknowledged %q (qos%d, step %d) and its application never received it", key, m.qos, m.step)
		}
	}
	return nil
}

// verdict checks, at the end, what the application received and that
// every message it published reached the broker.
func (r *clientRun) verdict() *failure {
	if f := r.deliveries(true); f != nil {
		return f
	}
	for _, key := range r.pubOrder {
		m := r.pubs[key]
		if m.op.done && m.op.err == nil && m.qos > 0 && !m.complete {
			return fail(cruleResend, r.s.Version, "%q (qos%d, step %d): Publish returned nil and its exchange never ended", key, m.qos, m.step)
		}
	}
	return nil
}

// cleanup disconnects the client and ends the calls' goroutines.
func (r *clientRun) cleanup() {
	// Let the calls under way end first, so that no Connect of this
	// scenario's client comes in the next one's.
	r.pump(r.o.timeout(), func() bool {
		for _, o := range r.ops {
			if !o.done {
				return false
			}
		}
		return true
	})
	if r.b.conn != nil {
		o := r.call(r.life, "Disconnect", func(ctx context.Context) error { return r.cl.Disconnect(ctx) })
		r.pump(r.o.timeout(), func() bool { return o.done })
	}
	r.b.drop()
	close(r.app)
	close(r.life)
	// Calls still running end with their context; their results are not
	// waited for.
	go func() {
		for range r.opDone {
		}
	}()
	close(r.quit) // the readers stop
}

// sortedIDs returns the keys of m in increasing order.
func sortedIDs[V any](m map[uint16]V) []uint16 {
	ids := make([]uint16, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
