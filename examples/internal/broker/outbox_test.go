package broker

import (
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// A full outbox drops QoS 0 deliveries and counts them, keeps every QoS 1
// and QoS 2 one and makes its publisher wait (a delivery to the
// publisher's own session only past twice the limit); taken down to the
// low-water mark, it wakes the publishers.
func TestOutboxFlowControl(t *testing.T) {
	b := New(Config{MaxQueued: 4}) // low-water mark 3
	b.window = 1                   // the own session's limit: 8, and 1 a waiting publisher
	s := newSession("sub")
	s.goLive(false, nil)
	pub := &conn{b: b, sess: newSession("pub")}
	self := &conn{b: b, sess: s}
	offer := func(from *conn, topic string, qos packet.QoS) bool {
		t.Helper()
		wait := s.offer(delivery{msg: &message{topic: topic}, qos: qos}, b, from)
		if wait && from != nil {
			from.block(s)
		}
		return wait
	}
	topics := func() (out []string) {
		for _, d := range s.pending {
			out = append(out, d.msg.topic)
		}
		return out
	}
	for _, m := range []struct {
		topic string
		qos   packet.QoS
		from  *conn
		wait  bool
	}{
		{"a0", 0, pub, false},
		{"b1", 1, pub, false},
		{"c0", 0, nil, false},
		{"d1", 1, pub, true},   // the fourth: full, the publisher waits
		{"e0", 0, pub, false},  // full: dropped
		{"f2", 2, pub, true},   // kept all the same
		{"g1", 1, nil, false},  // a will: kept, nobody to wait
		{"h1", 1, self, false}, // the session's own client: not yet
		{"i1", 1, self, false}, // twice the limit, and a window for the waiting publisher
		{"j1", 1, self, true},  // past that: waits too
	} {
		if got := offer(m.from, m.topic, m.qos); got != m.wait {
			t.Fatalf("offer %s: wait %v, want %v", m.topic, got, m.wait)
		}
	}
	if got, want := topics(), []string{"a0", "b1", "c0", "d1", "f2", "g1", "h1", "i1", "j1"}; !slices.Equal(got, want) {
		t.Fatalf("outbox %v, want %v", got, want)
	}
	if n := b.droppedQoS0.Load(); n != 1 {
		t.Fatalf("%d QoS 0 deliveries counted dropped, want 1", n)
	}
	if !slices.Equal(s.waitersLocked(), []waiter{pub, self}) {
		t.Fatalf("waiters %v, want the publisher once and the session's own client", s.waitersLocked())
	}
	if !s.holds(pub, time.Now(), b) || len(s.waitersLocked()) != 2 {
		t.Fatal("a full outbox does not hold its publisher, or lists it twice")
	}

	batch := s.take(nil, 3, b.lowWater) // a0 b1 c0 d1 f2: four left, above the mark
	if pub.why.Load()&wakeUnblocked != 0 || !s.full {
		t.Fatal("the publisher was woken above the low-water mark")
	}
	batch = s.take(batch[:0], 1, b.lowWater) // g1: three left
	if len(batch) != 1 || pub.why.Load()&wakeUnblocked == 0 || self.why.Load()&wakeUnblocked == 0 || s.full || len(s.waitersLocked()) != 0 {
		t.Fatalf("took %d; at the low-water mark the publishers were not woken", len(batch))
	}
	if s.holds(pub, time.Now(), b) {
		t.Fatal("a drained outbox holds its publisher")
	}
	if offer(pub, "j0", 0) {
		t.Fatal("a QoS 0 delivery with room waits")
	}
}

// A publisher waiting for an outbox that has filled with messages that
// then expire is released when it looks again (MQTT-3.3.2-5), as it is by
// the end of the session.
func TestOutboxFlowControlExpiryAndEnd(t *testing.T) {
	b := New(Config{MaxQueued: 2})
	s := newSession("sub")
	s.goLive(true, nil)
	pub := &conn{b: b, sess: newSession("pub")}
	now := time.Now()
	soon := &message{topic: "soon", expires: now.Add(time.Second)}
	s.offer(delivery{msg: &message{topic: "never"}, qos: packet.QoS1}, b, pub)
	if !s.offer(delivery{msg: soon, qos: packet.QoS1}, b, pub) {
		t.Fatal("the publisher does not wait for a full outbox")
	}
	if !s.holds(pub, now, b) {
		t.Fatal("released before the message expired")
	}
	if s.holds(pub, now.Add(time.Second), b) || len(s.pending) != 1 || s.pending[0].msg.topic != "never" || pub.why.Load()&wakeUnblocked == 0 {
		t.Fatalf("not released once the message expired; outbox of %d", len(s.pending))
	}
	pub.why.And(^wakeUnblocked)

	s.offer(delivery{msg: &message{topic: "again"}, qos: packet.QoS2}, b, pub)
	if !s.holds(pub, now, b) {
		t.Fatal("a full outbox does not hold its publisher")
	}
	s.goOffline(true, b.lowWater) // a persistent session keeps its messages
	if !s.holds(pub, now, b) {
		t.Fatal("an offline persistent session does not hold its publisher")
	}
	s.kill()
	if s.holds(pub, now, b) || pub.why.Load()&wakeUnblocked == 0 {
		t.Fatal("the end of the session does not release its publisher")
	}
}

// inFlight counts in constant time what Connection.InFlight counts, with
// and without a Receive Maximum from the client.
func TestInFlight(t *testing.T) {
	for _, receiveMax := range []uint16{0, 5} {
		br := New(Config{})
		cn := &packet.Connect{ClientID: "sub", CleanStart: true}
		cn.Props.ReceiveMaximum = receiveMax
		sub := connectPiped(t, br, cn)
		feed(sub, encode(t, packet.V5, &packet.Subscribe{PacketID: 1,
			Subscriptions: []packet.Subscription{{Filter: "t", QoS: packet.QoS1}}}))
		pub := benchClient(t, br, "pub")
		check := func(when string) {
			t.Helper()
			var got, want int
			locked(sub, func() { got, want = sub.inFlight(), sub.mc().InFlight() })
			if got != want {
				t.Fatalf("Receive Maximum %d, %s: inFlight %d, Connection.InFlight %d", receiveMax, when, got, want)
			}
		}
		check("before")
		for id := 1; id <= 8; id++ {
			// The subscriber's connection takes its outbox when woken.
			feed(pub, encode(t, packet.V5, &packet.Publish{Topic: "t", QoS: packet.QoS1, PacketID: uint16(id)}))
		}
		check("8 sent")
		feed(sub, encode(t, packet.V5, &packet.Puback{PacketID: 1}, &packet.Puback{PacketID: 2}))
		check("2 acknowledged")
	}
}
