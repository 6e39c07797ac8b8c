package broker

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// The publish path, measured without the network: a client's PUBLISH
// packets go through its server Connection and the broker (copy, topic
// tree, outbox) to a subscriber's Connection, whose bytes are written to a
// net.Conn that discards them. Each benchmark reports one message per op.
//
//	go test ./examples/internal/broker -run '^$' -bench . -benchmem

// benchTopic is a topic like the load generator's (bench/ and a random
// suffix); benchPayload is 64 bytes, its default size.
const benchTopic = "bench/5f0c3a9e1b7d"

var benchPayload = bytes.Repeat([]byte{'x'}, 64)

// pipe is a client's transport for a connection the broker's server
// serves with no network (its goroutine path): feed hands it bytes as
// read from the client and returns once the server has handled them (it
// reads again); what the server writes is counted and dropped.
type pipe struct {
	in      chan []byte
	handled chan struct{}
	closed  chan struct{}
	once    sync.Once
	written atomic.Int64

	// The server's reader's.
	rest []byte
	fed  bool
}

func newPipe() *pipe {
	return &pipe{in: make(chan []byte), handled: make(chan struct{}), closed: make(chan struct{})}
}

func (p *pipe) Read(b []byte) (int, error) {
	if len(p.rest) == 0 {
		if p.fed {
			p.fed = false
			select {
			case p.handled <- struct{}{}:
			case <-p.closed:
				return 0, io.EOF
			}
		}
		select {
		case p.rest = <-p.in:
			p.fed = true
		case <-p.closed:
			return 0, io.EOF
		}
	}
	n := copy(b, p.rest)
	p.rest = p.rest[n:]
	return n, nil
}

func (p *pipe) Write(b []byte) (int, error) {
	select {
	case <-p.closed:
		return 0, net.ErrClosed
	default:
	}
	p.written.Add(int64(len(b)))
	return len(b), nil
}

func (p *pipe) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func (p *pipe) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (p *pipe) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (p *pipe) SetDeadline(time.Time) error      { return nil }
func (p *pipe) SetReadDeadline(time.Time) error  { return nil }
func (p *pipe) SetWriteDeadline(time.Time) error { return nil }

// piped is a connection of the broker over a pipe.
type piped struct {
	*conn
	p *pipe
}

// encode returns the bytes of packets.
func encode(tb testing.TB, v packet.Version, ps ...packet.Packet) []byte {
	tb.Helper()
	var out []byte
	for _, p := range ps {
		var err error
		if out, err = p.AppendTo(out, v); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// benchClient returns a connection of br, served by its server over a
// pipe, that has accepted a v5 client's CONNECT and its subscriptions:
// the caller feeds it bytes.
func benchClient(tb testing.TB, br *Broker, id string, subs ...packet.Subscription) piped {
	tb.Helper()
	c := connectPiped(tb, br, &packet.Connect{ClientID: id, CleanStart: true})
	if len(subs) > 0 {
		feed(c, encode(tb, packet.V5, &packet.Subscribe{PacketID: 1, Subscriptions: subs}))
	}
	return c
}

// connectPiped serves a pipe with br's server, sends cn and returns the
// connection once it is connected.
func connectPiped(tb testing.TB, br *Broker, cn *packet.Connect) piped {
	tb.Helper()
	p := newPipe()
	br.srv.ServeConn(p)
	tb.Cleanup(func() { p.Close() })
	feed(piped{p: p}, encode(tb, packet.V5, cn))
	br.mu.Lock()
	s := br.sessions[cn.ClientID]
	br.mu.Unlock()
	if s == nil || s.owner == nil || !s.owner.connected {
		tb.Fatalf("%s: not connected", cn.ClientID)
	}
	return piped{conn: s.owner, p: p}
}

// feed hands the connection bytes from its client, and returns once the
// server has handled them.
func feed(c piped, chunk []byte) {
	c.p.in <- chunk
	<-c.p.handled
}

// locked runs f with the connection's lock held (in its OnWake), and
// waits for it.
func locked(c piped, f func()) {
	done := make(chan struct{})
	g := func() { f(); close(done) }
	probing.Add(1)
	probes.Store(c.conn, g)
	c.sc.Wake()
	<-done
}

// written waits until what the connection sent is written, and returns
// how many bytes were.
func written(c piped) int {
	for c.sc.Backlog() > 0 {
		time.Sleep(time.Millisecond)
	}
	return int(c.p.written.Load())
}

// BenchmarkPublishQoS0FanIn is the broker's side of the load generator's
// fan-in at QoS 0 (-fanin 8 -q 0 -size 64): PUBLISH packets arrive in
// chunks of 32 KiB (the server's largest reads), are copied, routed and
// delivered to the one subscriber, whose bytes are written in batches.
func BenchmarkPublishQoS0FanIn(b *testing.B) {
	br := New(Config{})
	sub := benchClient(b, br, "sub", packet.Subscription{Filter: benchTopic})
	pub := benchClient(b, br, "pub")
	one := encode(b, packet.V5, &packet.Publish{Topic: benchTopic, Payload: benchPayload})
	per := (32 << 10) / len(one)
	chunk := bytes.Repeat(one, per)
	if want := benchFanIn(b, pub, sub, chunk, per) * len(one); written(sub) < want {
		b.Fatalf("subscriber was sent %d bytes, want at least %d", written(sub), want)
	}
}

// benchFanIn has pub receive chunk, which holds per messages, until b.N
// messages (the subscriber's connection, woken, sends what they make,
// and the server's writer writes it); it returns how many it fed. It
// waits for the subscriber to take its outbox before the next chunk: a
// subscriber that falls behind has QoS 0 messages dropped, not measured.
func benchFanIn(b *testing.B, pub, sub piped, chunk []byte, per int) (fed int) {
	b.ReportAllocs()
	b.ResetTimer()
	for ; fed < b.N; fed += per {
		feed(pub, chunk)
		for sub.sess.queued() > 0 {
			runtime.Gosched()
		}
	}
	b.StopTimer()
	return fed
}

// BenchmarkPublishQoS1FanIn is the publisher's side of the load
// generator's fan-in at QoS 1 (-fanin 8 -q 1 -size 64): QoS 1 PUBLISH
// packets arrive in chunks of 256 (the Receive Maximum), are routed to
// the one subscriber (at QoS 0, so that its acknowledgements are not
// part of the measure) and acknowledged.
func BenchmarkPublishQoS1FanIn(b *testing.B) {
	br := New(Config{})
	sub := benchClient(b, br, "sub", packet.Subscription{Filter: benchTopic})
	pub := benchClient(b, br, "pub")
	const per = 256
	var chunk []byte
	for id := 1; id <= per; id++ {
		chunk = append(chunk, encode(b, packet.V5, &packet.Publish{Topic: benchTopic, QoS: packet.QoS1,
			PacketID: uint16(id), Payload: benchPayload})...)
	}
	if want := benchFanIn(b, pub, sub, chunk, per) * 4; written(pub) < want {
		b.Fatalf("publisher was sent %d bytes, want at least %d (a PUBACK each)", written(pub), want)
	}
}

// BenchmarkRouteQoS0 is the part of the publish path that is the
// broker's own: a decoded PUBLISH is copied and routed to the one
// subscriber, which takes it from its outbox.
func BenchmarkRouteQoS0(b *testing.B) {
	br := New(Config{})
	sub := subscriber(br, "sub", benchTopic)
	pub := publisher(br, "pub")
	p := &packet.Publish{Topic: benchTopic, Payload: benchPayload}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pub.onPublish(p)
		if takeAll(sub) != 1 {
			b.Fatal("message not routed")
		}
	}
}

// BenchmarkRouteQoS0Wildcards routes in a tree of 3,000 subscriptions
// (exact, + and #); the topic matches 4 of them, of 3 sessions, one of
// which has 2 matching subscriptions with Subscription Identifiers.
func BenchmarkRouteQoS0Wildcards(b *testing.B) {
	br := New(Config{})
	var noise []*session
	for i := range 1000 {
		s := newSession(fmt.Sprint("noise", i))
		s.goLive(false, nil)
		noise = append(noise, s)
		br.tree.subscribe(filterKey{filter: fmt.Sprintf("site/%d/+/temp", i)}, s, subscription{})
		br.tree.subscribe(filterKey{filter: fmt.Sprintf("site/%d/room/#", i)}, s, subscription{})
		br.tree.subscribe(filterKey{filter: fmt.Sprintf("other/%d", i)}, s, subscription{})
	}
	a := subscriber(br, "a", "site/7/+/temp", "site/#")
	pub := publisher(br, "pub")
	p := &packet.Publish{Topic: "site/7/room/temp", Payload: benchPayload}
	sessions := []*session{a, noise[7]}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pub.onPublish(p)
		for _, s := range sessions {
			s.mu.Lock()
			clear(s.pending)
			s.pending = s.pending[:0]
			s.mu.Unlock()
		}
	}
}

// BenchmarkTopicMatch matches one topic against the tree of
// BenchmarkRouteQoS0Wildcards.
func BenchmarkTopicMatch(b *testing.B) {
	var tree topicTree
	for i := range 1000 {
		s := newSession(fmt.Sprint("s", i))
		tree.subscribe(filterKey{filter: fmt.Sprintf("site/%d/+/temp", i)}, s, subscription{})
		tree.subscribe(filterKey{filter: fmt.Sprintf("site/%d/room/#", i)}, s, subscription{})
		tree.subscribe(filterKey{filter: fmt.Sprintf("other/%d", i)}, s, subscription{})
	}
	n := 0
	count := func(*session, subscription) { n++ }
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tree.match("site/7/room/temp", count, count)
	}
	if n != 2*b.N {
		b.Fatalf("%d matches, want %d", n, 2*b.N)
	}
}

// subscriber returns a live session of br, with no connection (its
// outbox is not taken but by takeAll), subscribed to filters at QoS 0.
func subscriber(br *Broker, id string, filters ...string) *session {
	s := newSession(id)
	s.goLive(false, nil)
	for _, f := range filters {
		k := parseFilter(f, packet.V5)
		br.tree.subscribe(k, s, subscription{})
		s.addFilter(f, k, subscription{})
	}
	return s
}

// publisher returns a connection of br with no network connection, for
// onPublish at QoS 0 (which sends nothing).
func publisher(br *Broker, id string) *conn {
	return &conn{b: br, sess: newSession(id)}
}

// takeAll empties the outbox of s and returns how many deliveries it
// held.
func takeAll(s *session) int {
	batch := s.take(takeScratch[:0], connQueueMax, 0)
	n := len(batch)
	clear(batch)
	takeScratch = batch[:0]
	return n
}

var takeScratch []delivery

// Routing a QoS 0 message to a subscriber allocates nothing: the message
// is copied once (its struct and one buffer) and shared. Over a
// connection, delivering it allocates nothing either, but for what a
// read or a write of many messages may take (the subscriber's writer
// goroutine, started when bytes wait).
func TestPublishPathAllocations(t *testing.T) {
	br := New(Config{})
	offline := subscriber(br, "offline", benchTopic)
	bare := publisher(br, "bare")
	p := &packet.Publish{Topic: benchTopic, Payload: benchPayload}
	m := newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, bare.sess)
	if got := testing.AllocsPerRun(100, func() {
		br.route(m, &bare.scratch().router, bare)
		takeAll(offline)
	}); got != 0 {
		t.Errorf("route: %v allocations per message, want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() {
		newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, bare.sess)
	}); got > 2 {
		t.Errorf("newMessage: %v allocations, want at most 2", got)
	}

	benchClient(t, br, "sub", packet.Subscription{Filter: benchTopic})
	pub := benchClient(t, br, "pub")
	one := encode(t, packet.V5, p)
	per := (32 << 10) / len(one)
	chunk := bytes.Repeat(one, per)
	feed(pub, chunk) // the buffers grown
	allocs := testing.AllocsPerRun(20, func() { feed(pub, chunk) })
	if extra := (allocs - 2*float64(per)) / float64(per); extra > 0.05 {
		t.Errorf("read, route and deliver: %.3f allocations per message besides its copy (%v per read of %d), want none but a few per read",
			extra, allocs, per)
	}
}

// newMessage copies everything it keeps: the read buffer the PUBLISH was
// decoded from is reused at once.
func TestNewMessageCopies(t *testing.T) {
	// Decoded packets' strings alias the read buffer too.
	buf := []byte("topic/apayloadctrespcorrkv")
	alias := func(b []byte) string { return unsafe.String(&b[0], len(b)) }
	props := &property.Properties{PayloadFormat: 1, ContentType: alias(buf[14:16]),
		ResponseTopic: alias(buf[16:20]), CorrelationData: buf[20:24],
		User: []property.User{{Key: alias(buf[24:25]), Value: alias(buf[25:26])}}, MessageExpiry: 10, TopicAlias: 3,
		SubscriptionIDs: []uint32{9}}
	before := time.Now()
	m := newMessage(alias(buf[:7]), buf[7:14], packet.QoS1, true, props, nil)
	after := time.Now()
	for i := range buf {
		buf[i] = '!'
	}
	want := &property.Properties{PayloadFormat: 1, ContentType: "ct", ResponseTopic: "resp",
		CorrelationData: []byte("corr"), User: []property.User{{Key: "k", Value: "v"}}}
	if m.topic != "topic/a" || string(m.payload) != "payload" || m.qos != packet.QoS1 || !m.retain {
		t.Errorf("message %q %q qos %d retain %v", m.topic, m.payload, m.qos, m.retain)
	}
	if m.props == nil || m.props.ContentType != want.ContentType || m.props.ResponseTopic != want.ResponseTopic ||
		!bytes.Equal(m.props.CorrelationData, want.CorrelationData) || !slices.Equal(m.props.User, want.User) ||
		m.props.PayloadFormat != 1 || m.props.TopicAlias != 0 || m.props.SubscriptionIDs != nil {
		t.Errorf("forwarded properties %+v, want %+v", m.props, want)
	}
	if m.expires.Before(before.Add(10*time.Second)) || m.expires.After(after.Add(10*time.Second)) {
		t.Errorf("expires %v, want 10s after %v", m.expires, before)
	}
	// Appending to the payload cannot reach the bytes of the topic.
	_ = append(m.payload, "more"...)
	if m.topic != "topic/a" || m.props.ContentType != "ct" {
		t.Errorf("topic %q content type %q after an append to the payload", m.topic, m.props.ContentType)
	}

	// Present but empty Correlation Data stays present; an empty payload
	// is nil, and no properties to forward are none.
	m = newMessage("t", []byte{}, 0, false, &property.Properties{CorrelationData: []byte{}}, nil)
	if m.payload != nil || m.props == nil || m.props.CorrelationData == nil || !m.expires.IsZero() {
		t.Errorf("payload %v props %+v expires %v", m.payload, m.props, m.expires)
	}
	if m = newMessage("t", nil, 0, false, &property.Properties{TopicAlias: 1}, nil); m.props != nil {
		t.Errorf("forwarded properties %+v, want none", m.props)
	}
}

// fill leaves nothing of an earlier delivery in the PUBLISH it reuses.
func TestFillReusesPacket(t *testing.T) {
	props := &property.Properties{PayloadFormat: 1, ContentType: "ct", ResponseTopic: "r",
		CorrelationData: []byte("c"), User: []property.User{{Key: "k", Value: "v"}}, MessageExpiry: 60}
	rich := newMessage("a/b", []byte("rich"), packet.QoS2, true, props, nil)
	plain := newMessage("c", []byte("plain"), packet.QoS0, false, &property.Properties{}, nil)
	var p packet.Publish
	if !rich.fill(&p, packet.V5, packet.QoS1, true, []uint32{4}, time.Now()) {
		t.Fatal("message expired")
	}
	if p.Props.MessageExpiry != 60 || p.Props.ContentType != "ct" || len(p.Props.SubscriptionIDs) != 1 || !p.Retain {
		t.Fatalf("first PUBLISH %+v", p)
	}
	p.PacketID, p.Dup = 7, true // what Send may have written
	plain.fill(&p, packet.V5, packet.QoS0, false, nil, time.Now())
	want := packet.Publish{Topic: "c", Payload: []byte("plain")}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("second PUBLISH\n%+v, want\n%+v", p, want)
	}
	// A 3.1.1 PUBLISH has no properties.
	rich.fill(&p, packet.V311, packet.QoS1, false, []uint32{4}, time.Now())
	want = packet.Publish{Topic: "a/b", QoS: packet.QoS1, Payload: []byte("rich")}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("3.1.1 PUBLISH\n%+v, want\n%+v", p, want)
	}
}

// route gives a session one delivery however many of its subscriptions
// match, at the highest QoS they grant, with all their Subscription
// Identifiers, both when it looks sessions up in a list and in a map (more
// than linearTargets matches).
func TestRouteOverlapping(t *testing.T) {
	for _, sessions := range []int{2, linearTargets} {
		t.Run(fmt.Sprintf("MQTT-3.3.4-2 MQTT-3.3.4-3 MQTT-3.3.4-4 %d sessions", sessions), func(t *testing.T) {
			br := New(Config{})
			var ss []*session
			for i := range sessions {
				s := newSession(fmt.Sprint("s", i))
				s.goLive(false, nil)
				ss = append(ss, s)
				br.tree.subscribe(filterKey{filter: "a/b"}, s, subscription{qos: 0, ids: subscriptionIDs(uint32(10 + i))})
				br.tree.subscribe(filterKey{filter: "a/+"}, s, subscription{qos: 1})
				br.tree.subscribe(filterKey{filter: "#"}, s, subscription{qos: 0, ids: subscriptionIDs(uint32(100 + i))})
			}
			var r router
			for range 2 { // the second time with the router's lists reused
				br.route(newMessage("a/b", []byte("x"), packet.QoS2, false, &property.Properties{}, nil), &r, nil)
			}
			for i, s := range ss {
				if len(s.pending) != 2 {
					t.Fatalf("session %d: %d deliveries, want 2", i, len(s.pending))
				}
				for _, d := range s.pending {
					var p packet.Publish
					if !d.msg.fill(&p, packet.V5, d.qos, d.retain, d.subIDs, time.Now()) {
						t.Fatal("message expired")
					}
					ids := slices.Sorted(slices.Values(p.Props.SubscriptionIDs))
					if p.QoS != packet.QoS1 || !slices.Equal(ids, []uint32{uint32(10 + i), uint32(100 + i)}) {
						t.Errorf("session %d: PUBLISH at QoS %d with identifiers %v, want QoS 1 with %d and %d",
							i, p.QoS, p.Props.SubscriptionIDs, 10+i, 100+i)
					}
				}
			}
			// The subscriptions' own lists are shared read-only, never
			// appended to in place.
			check := func(s *session, sub subscription) {
				if len(sub.ids) > 1 {
					t.Errorf("%s: subscription identifiers grew to %v", s.id, sub.ids)
				}
			}
			br.tree.match("a/b", check, check)
			if len(r.hits) != 0 || len(r.targets) != 0 {
				t.Errorf("router kept %d hits and %d targets", len(r.hits), len(r.targets))
			}
		})
	}
}

// take hands over the outbox in batches, stopping at the QoS 1 or QoS 2
// message past room; giveBack puts what was not sent back in front.
func TestTakeAndGiveBack(t *testing.T) {
	b := New(Config{})
	s := newSession("x")
	s.goLive(false, nil)
	for i, q := range []packet.QoS{0, 1, 0, 2, 0, 1} {
		s.offer(delivery{msg: &message{topic: fmt.Sprint(i)}, qos: q}, b, nil)
	}
	topics := func(ds []delivery) (out string) {
		for _, d := range ds {
			out += d.msg.topic
		}
		return out
	}
	batch := s.take(nil, 1, 0)
	if got := topics(batch); got != "012" || topics(s.pending) != "345" {
		t.Fatalf("took %q leaving %q, want 012 leaving 345", got, topics(s.pending))
	}
	s.giveBack(batch[1:])
	if got := topics(s.pending); got != "12345" {
		t.Fatalf("outbox %q after giving back 12, want 12345", got)
	}
	batch = s.take(batch[:0], 0, 0)
	if got := topics(batch); got != "" {
		t.Fatalf("took %q with no room, want nothing", got)
	}
	spare := make([]delivery, 0, 8)
	batch = s.take(spare, 10, 0)
	if got := topics(batch); got != "12345" || len(s.pending) != 0 || cap(s.pending) != 8 {
		t.Fatalf("took %q leaving %d of capacity %d, want all, and the spare array in their place",
			got, len(s.pending), cap(s.pending))
	}
	// An empty outbox lets a large array go.
	s.pending = make([]delivery, 0, keepOutbox+1)
	if batch = s.take(batch[:0], 10, 0); len(batch) != 0 || s.pending != nil {
		t.Fatalf("took %d from an empty outbox, which kept capacity %d", len(batch), cap(s.pending))
	}
}

// Unsubscribing finds the subscription of each session to each filter,
// wildcards included, once; package topic tests that the tree is pruned.
func TestTopicTreeUnsubscribeWildcards(t *testing.T) {
	var tree topicTree
	s1, s2 := newSession("1"), newSession("2")
	filters := []string{"+", "#", "+/#", "a/+/#", "a/+", "/+"}
	for _, f := range filters {
		tree.subscribe(filterKey{filter: f}, s1, subscription{})
		tree.subscribe(filterKey{filter: f}, s2, subscription{})
	}
	for _, f := range filters {
		if !tree.unsubscribe(filterKey{filter: f}, s1) || !tree.unsubscribe(filterKey{filter: f}, s2) {
			t.Errorf("%q: a subscription was not found", f)
		}
		if tree.unsubscribe(filterKey{filter: f}, s1) {
			t.Errorf("%q: unsubscribed twice", f)
		}
	}
	for _, name := range []string{"a", "a/b", "/x", "a/b/c"} {
		if matched(&tree, name) {
			t.Errorf("%q still matches", name)
		}
	}
}
