package broker_test

// Scenarios that check the same server behaviour under MQTT 5.0 and
// MQTT 3.1.1. Each is run from a subtest in statements_test.go and in
// statements311_test.go, whose name carries that version's statement ID:
// the statement numbers differ between the versions.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// proto is the protocol version a scenario runs with.
type proto struct {
	v packet.Version
	// persistent returns the CONNECT of a client whose session outlives
	// its connection.
	persistent func(id string) *packet.Connect
}

var (
	proto5 = proto{v: packet.V5,
		persistent: func(id string) *packet.Connect { return persistent(id, 60) }}
	proto311 = proto{v: packet.V311, persistent: persistent311}
)

// dial connects a client with cn.
func (p proto) dial(t *testing.T, addr string, cn *packet.Connect) *brokertest.Client {
	t.Helper()
	return dial(t, addr, p.v, cn)
}

// resume reconnects the persistent client id, whose last connection was c.
func (p proto) resume(t *testing.T, addr, id string, c *brokertest.Client) *brokertest.Client {
	t.Helper()
	return resume(t, addr, p.v, p.persistent(id), c)
}

// rawConnect opens a raw connection, connects it with cn and checks that
// the broker accepts it.
func (p proto) rawConnect(t *testing.T, addr string, cn *packet.Connect) (*raw, *packet.Connack) {
	t.Helper()
	r := dialRaw(t, addr)
	sendAs(r, p.v, cn)
	ack := readType[*packet.Connack](r, p.v)
	if ack.Reason != packet.Success {
		t.Fatalf("CONNACK %v, want 0x00", ack.Reason)
	}
	return r, ack
}

// redelivered connects the session of cn again (Clean Start 0) on a new
// raw connection, checks that the broker kept it and that what it sends
// first is first again, with DUP, its packet identifier, topic and
// payload (MQTT-4.4.0-1), and returns the connection.
func (p proto) redelivered(t *testing.T, addr string, cn *packet.Connect, first *packet.Publish) *raw {
	t.Helper()
	again := *cn
	again.CleanStart = false
	r, ack := p.rawConnect(t, addr, &again)
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	m := readType[*packet.Publish](r, p.v)
	if !m.Dup || m.PacketID != first.PacketID || m.Topic != first.Topic || !bytes.Equal(m.Payload, first.Payload) {
		t.Fatalf("re-sent %+v, want DUP, packet id %d, %q %q", m, first.PacketID, first.Topic, first.Payload)
	}
	return r
}

// rawSubscribe sends a SUBSCRIBE with packet identifier 1 for subs on r
// and returns the SUBACK.
func rawSubscribe(r *raw, v packet.Version, subs ...packet.Subscription) *packet.Suback {
	r.t.Helper()
	sendAs(r, v, &packet.Subscribe{PacketID: 1, Subscriptions: subs})
	return readType[*packet.Suback](r, v)
}

// readPublish reads the next packet on r, which must be a PUBLISH on
// topic at qos.
func readPublish(r *raw, v packet.Version, topic string, qos packet.QoS) *packet.Publish {
	r.t.Helper()
	m := readType[*packet.Publish](r, v)
	if m.Topic != topic || m.QoS != qos {
		r.t.Fatalf("got %q at QoS %d, want %s at QoS %d", m.Topic, m.QoS, topic, qos)
	}
	return m
}

// withWill gives cn a will on wills/<client id> at qos, with the payload
// "<client id> is gone".
func withWill(cn *packet.Connect, qos packet.QoS, retain bool) *packet.Connect {
	cn.Will = packet.Will{Topic: "wills/" + cn.ClientID, QoS: qos, Retain: retain,
		Payload: []byte(cn.ClientID + " is gone")}
	return cn
}

// authenticateTestUsers refuses the client identifier "banned" and the
// user name "mallory".
func authenticateTestUsers() broker.Config {
	return broker.Config{Authenticate: func(c *packet.Connect) packet.ReasonCode {
		switch {
		case c.ClientID == "banned":
			return packet.ClientIdentifierNotValid
		case c.Username == "mallory":
			return packet.BadUserNameOrPassword
		}
		return 0
	}}
}

// sessionCreatedAndResumed checks that a client that does not start
// clean gets a new session, which keeps its subscription and the
// messages that arrive while it is away, and which it resumes.
func sessionCreatedAndResumed(t *testing.T, p proto, addr string, pub *brokertest.Client, id string) {
	c := p.dial(t, addr, p.persistent(id))
	if c.Connack().SessionPresent {
		t.Fatal("session present for a client identifier never seen")
	}
	subscribe(t, c, packet.Subscription{Filter: id + "/#", QoS: packet.QoS1})
	c.Drop()
	publish(t, pub, id+"/x", packet.QoS1, false, "while away")
	c = p.resume(t, addr, id, c)
	if !c.Connack().SessionPresent {
		t.Fatal("session not resumed")
	}
	expect(t, c, id+"/x", "while away", packet.QoS1)
	publish(t, pub, id+"/y", packet.QoS1, false, "live")
	expect(t, c, id+"/y", "live", packet.QoS1)
}

// cleanStartDiscards checks that connecting clean discards the session
// of id and the message queued in it, and returns the clean connection.
func cleanStartDiscards(t *testing.T, p proto, addr string, pub *brokertest.Client, id string) *brokertest.Client {
	t.Helper()
	cn := p.persistent(id)
	c := p.dial(t, addr, cn)
	subscribe(t, c, packet.Subscription{Filter: id, QoS: packet.QoS1})
	c.Drop()
	publish(t, pub, id, packet.QoS1, false, "queued")
	clean := *cn
	clean.CleanStart = true
	c = p.dial(t, addr, &clean)
	if c.Connack().SessionPresent {
		t.Fatal("session present after a clean start")
	}
	quiet(t, c) // the queued message went with the session
	return c
}

// identifierKeysSession checks that two persistent clients each get
// back their own session.
func identifierKeysSession(t *testing.T, p proto, addr string, pub *brokertest.Client) {
	a := p.dial(t, addr, p.persistent("key-a"))
	b := p.dial(t, addr, p.persistent("key-b"))
	subscribe(t, a, packet.Subscription{Filter: "key/a", QoS: packet.QoS1})
	subscribe(t, b, packet.Subscription{Filter: "key/b", QoS: packet.QoS1})
	a.Drop()
	b.Drop()
	publish(t, pub, "key/a", packet.QoS1, false, "for a")
	publish(t, pub, "key/b", packet.QoS1, false, "for b")
	b = p.resume(t, addr, "key-b", b)
	expect(t, b, "key/b", "for b", packet.QoS1)
	quiet(t, b)
	a = p.resume(t, addr, "key-a", a)
	expect(t, a, "key/a", "for a", packet.QoS1)
	quiet(t, a)
}

// addedToMatchingSessions checks that a message goes to the session of
// each matching subscriber, connected or not, and to no other.
func addedToMatchingSessions(t *testing.T, p proto, addr string, pub *brokertest.Client) {
	away := p.dial(t, addr, p.persistent("owner-away"))
	subscribe(t, away, packet.Subscription{Filter: "own/+", QoS: packet.QoS2})
	here := p.dial(t, addr, connect("owner-here"))
	subscribe(t, here, packet.Subscription{Filter: "own/x", QoS: packet.QoS1})
	other := p.dial(t, addr, p.persistent("owner-other"))
	subscribe(t, other, packet.Subscription{Filter: "own/y", QoS: packet.QoS2})
	away.Drop()
	other.Drop()
	publish(t, pub, "own/x", packet.QoS2, false, "owned") // PUBREC: the broker owns it
	expect(t, here, "own/x", "owned", packet.QoS1)
	away = p.resume(t, addr, "owner-away", away)
	expect(t, away, "own/x", "owned", packet.QoS2)
	other = p.resume(t, addr, "owner-other", other)
	quiet(t, other)
}

// noWillWithoutFlag checks that a client without a will leaves none: the
// first message watcher gets after it is the will of the next client.
func noWillWithoutFlag(t *testing.T, p proto, addr string, watcher *brokertest.Client, qos packet.QoS) {
	c := p.dial(t, addr, connect("no-will"))
	c.Drop()
	quiet(t, watcher)
	c = p.dial(t, addr, withWill(connect("after"), qos, false))
	c.Drop()
	expect(t, watcher, "wills/after", "after is gone", qos)
}

// willRemovedOncePublished checks that a will published when the
// connection closes is not published again when the resumed session
// ends.
func willRemovedOncePublished(t *testing.T, p proto, addr string, watcher *brokertest.Client, id string) {
	c := p.dial(t, addr, withWill(p.persistent(id), packet.QoS1, false))
	c.Drop()
	expect(t, watcher, "wills/"+id, id+" is gone", packet.QoS1)
	c = p.resume(t, addr, id, c)
	if !c.Connack().SessionPresent {
		t.Fatal("session not present")
	}
	c.Drop()
	quiet(t, watcher)
}

// disconnectThenTakeOver checks that a DISCONNECT followed at once by a
// new connection with the same client identifier publishes no will. The
// new connection may reach the broker before the old one's DISCONNECT
// has been read: the broker reads it before the take over.
func disconnectThenTakeOver(t *testing.T, p proto, addr string, watcher *brokertest.Client) {
	for range 20 {
		c := p.dial(t, addr, withWill(connect("quick"), packet.QoS1, false))
		if err := c.Disconnect(testContext(t), &packet.Disconnect{Reason: packet.NormalDisconnection}); err != nil {
			t.Fatal(err)
		}
		p.dial(t, addr, connect("quick"))
	}
	quiet(t, watcher)
}

// lateSubscribers subscribes new clients to see the retained messages.
type lateSubscribers struct {
	p    proto
	addr string
	n    int
}

// get subscribes a new client to filter, checks that it gets want
// retained messages and then nothing, and returns them by topic.
func (l *lateSubscribers) get(t *testing.T, filter string, want int) map[string]*client.Message {
	t.Helper()
	l.n++
	c := l.p.dial(t, l.addr, connect(fmt.Sprint("retain-late-", l.n)))
	subscribe(t, c, packet.Subscription{Filter: filter, QoS: packet.QoS2})
	got := map[string]*client.Message{}
	for range want {
		m := next(t, c)
		if !m.Retain {
			t.Errorf("%q sent on subscription without the retain flag", m.Topic)
		}
		got[m.Topic] = &m
	}
	quiet(t, c)
	return got
}

// publishFunc publishes a message for a retained message scenario.
type publishFunc func(t *testing.T, topic string, qos packet.QoS, retain bool, payload string)

// emptyRetainedNotStored checks that a retained message with no payload
// is not stored, under prefix.
func emptyRetainedNotStored(t *testing.T, pub publishFunc, late *lateSubscribers, prefix string) {
	pub(t, prefix+"/full", packet.QoS1, true, "here")
	pub(t, prefix+"/empty", packet.QoS1, true, "")
	if got := late.get(t, prefix+"/+", 1); got[prefix+"/full"] == nil {
		t.Fatalf("got %v, want only %s/full", got, prefix)
	}
}

// retainZeroKeepsRetained checks that a message with retain 0 neither
// stores, removes nor replaces a retained message, under prefix.
func retainZeroKeepsRetained(t *testing.T, pub publishFunc, late *lateSubscribers, prefix string) {
	pub(t, prefix+"/a", packet.QoS1, true, "one")
	pub(t, prefix+"/a", packet.QoS1, false, "two")
	pub(t, prefix+"/a", packet.QoS1, false, "")
	pub(t, prefix+"/b", packet.QoS1, false, "not stored")
	got := late.get(t, prefix+"/#", 1)
	if m := got[prefix+"/a"]; m == nil || string(m.Payload) != "one" {
		t.Fatalf("got %v, want %s/a \"one\"", got, prefix)
	}
}

// resubscribeLosesNothing checks that no publication on topic is lost
// or repeated while the client subscribes to it again and again.
func resubscribeLosesNothing(t *testing.T, p proto, addr string, pub *brokertest.Client, topic string) {
	c := p.dial(t, addr, connect(topic))
	s := packet.Subscription{Filter: topic, QoS: packet.QoS1}
	subscribe(t, c, s)
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for resubscribed := 0; ; resubscribed++ {
			select {
			case <-stop:
				if resubscribed == 0 {
					done <- errors.New("never resubscribed")
				}
				close(done)
				return
			default:
			}
			if err := c.Subscribe(context.Background(), s, nil); err != nil {
				done <- err
				return
			}
		}
	}()
	const n = 100
	for i := range n {
		publish(t, pub, topic, packet.QoS1, false, fmt.Sprint(i))
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		expect(t, c, topic, fmt.Sprint(i), packet.QoS1)
	}
	quiet(t, c)
}

// onceAtHighestQoS checks that a message matching several subscriptions
// of a client is sent once, at the highest of their QoS.
func onceAtHighestQoS(t *testing.T, p proto, addr string, pub *brokertest.Client) {
	c := p.dial(t, addr, connect("overlap-qos"))
	subscribe(t, c, packet.Subscription{Filter: "ov/+", QoS: packet.QoS0},
		packet.Subscription{Filter: "ov/#", QoS: packet.QoS2},
		packet.Subscription{Filter: "ov/x", QoS: packet.QoS1})
	for q := packet.QoS0; q <= packet.QoS2; q++ {
		publish(t, pub, "ov/x", q, false, fmt.Sprint(q))
		expect(t, c, "ov/x", fmt.Sprint(q), q)
	}
	publish(t, pub, "ov/y", packet.QoS2, false, "y") // ov/+ and ov/#
	expect(t, c, "ov/y", "y", packet.QoS2)
	quiet(t, c)
}

// subscribeEach connects a client per filter, subscribed to it at QoS 1,
// and returns them by filter.
func subscribeEach(t *testing.T, p proto, addr string, filters ...string) map[string]*brokertest.Client {
	t.Helper()
	subs := map[string]*brokertest.Client{}
	for _, f := range filters {
		c := p.dial(t, addr, connect(fmt.Sprintf("match-%x", f)))
		subscribe(t, c, packet.Subscription{Filter: f, QoS: packet.QoS1})
		subs[f] = c
	}
	return subs
}

// topicCase is a topic published and the filter of subs that matches
// it, or "" for none.
type topicCase struct{ topic, filter string }

// matchedExactly publishes each case's topic and checks that it reaches
// the subscriber of the case's filter, topic byte for byte, and no one
// else.
func matchedExactly(t *testing.T, pub *brokertest.Client, subs map[string]*brokertest.Client, cases []topicCase) {
	for _, tc := range cases {
		publish(t, pub, tc.topic, packet.QoS1, false, "p")
		if tc.filter != "" {
			expect(t, subs[tc.filter], tc.topic, "p", packet.QoS1)
		}
	}
	for f, c := range subs {
		select {
		case m := <-c.Messages():
			t.Errorf("%q got %q", f, m.Topic)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// publishInterleaved publishes n messages on each of ord/0, ord/1 and
// ord/2 at QoS 0, 1 and 2, interleaved, without waiting for the
// acknowledgements, and then waits for them all.
func publishInterleaved(t *testing.T, pub *brokertest.Client, n int) {
	var acks []*client.Pending
	for i := range n {
		for q := packet.QoS0; q <= packet.QoS2; q++ {
			p, err := pub.PublishAsync(testContext(t), client.Message{
				Topic: fmt.Sprint("ord/", q), QoS: q, Payload: []byte(fmt.Sprint(i))})
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, p)
		}
	}
	for _, p := range acks {
		if err := p.Wait(testContext(t)); err != nil {
			t.Fatal(err)
		}
	}
}

// receivedInOrder checks that c, named who in failures, gets the n
// messages of each topic publishInterleaved sent in order, and then
// nothing.
func receivedInOrder(t *testing.T, c *brokertest.Client, n int, who string) {
	t.Helper()
	nextOf := map[string]int{}
	for range 3 * n {
		m := next(t, c)
		if want := fmt.Sprint(nextOf[m.Topic]); string(m.Payload) != want {
			t.Fatalf("%s, %q: got message %s, want %s", who, m.Topic, m.Payload, want)
		}
		nextOf[m.Topic]++
	}
	quiet(t, c)
}

// subscribeThree sends one SUBSCRIBE with packet identifier id for s/a
// at QoS 1, s/b at QoS 2 and s/a again at QoS 0, and then a PINGREQ, and
// returns the SUBACK. The broker answers a SUBSCRIBE before it reads on:
// a second SUBACK would come before the PINGRESP.
func subscribeThree(r *raw, v packet.Version, id uint16) *packet.Suback {
	r.t.Helper()
	sendAs(r, v, &packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{
		{Filter: "s/a", QoS: packet.QoS1}, {Filter: "s/b", QoS: packet.QoS2}, {Filter: "s/a", QoS: packet.QoS0}}})
	ack := readType[*packet.Suback](r, v)
	sendAs(r, v, &packet.Pingreq{})
	readType[*packet.Pingresp](r, v)
	return ack
}

// nothingAfterUnsubscribe checks that a client gets no new messages on
// a filter once it has unsubscribed from it.
func nothingAfterUnsubscribe(t *testing.T, p proto, addr string, pub *brokertest.Client) {
	c := p.dial(t, addr, connect("unsub-stop"))
	subscribe(t, c, packet.Subscription{Filter: "stop/#", QoS: packet.QoS1})
	publish(t, pub, "stop/x", packet.QoS1, false, "before")
	expect(t, c, "stop/x", "before", packet.QoS1)
	if err := c.Unsubscribe(testContext(t), "stop/#"); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, "stop/x", packet.QoS1, false, "after")
	quiet(t, c)
}

// unsubscribeCompletesQoS2 checks that a QoS 2 delivery in progress
// completes after the client unsubscribes.
func unsubscribeCompletesQoS2(t *testing.T, p proto, addr string, pub *brokertest.Client) {
	r, _ := p.rawConnect(t, addr, connect("unsub-q2"))
	rawSubscribe(r, p.v, packet.Subscription{Filter: "q2", QoS: packet.QoS2})
	publish(t, pub, "q2", packet.QoS2, false, "in flight")
	m := readType[*packet.Publish](r, p.v)
	sendAs(r, p.v, &packet.Unsubscribe{PacketID: 2, Filters: []string{"q2"}})
	readType[*packet.Unsuback](r, p.v)
	sendAs(r, p.v, &packet.Pubrec{PacketID: m.PacketID})
	if rel := readType[*packet.Pubrel](r, p.v); rel.PacketID != m.PacketID || rel.Reason != packet.Success {
		t.Fatalf("PUBREL %d %v, want %d success", rel.PacketID, rel.Reason, m.PacketID)
	}
	sendAs(r, p.v, &packet.Pubcomp{PacketID: m.PacketID})
	rawQuiet(r)
}

// reconnectsAtOnce plays a client that, rounds times in a row, connects
// with each CONNECT of cycle in turn on a raw connection, sends bye (a
// DISCONNECT), closes the socket and at once connects again on a new one,
// as a client that restarts does. The session of each connection ends
// with it, or is discarded by the next CONNECT: every CONNACK must have
// Session Present 0, also when the broker reads the next CONNECT before
// the connection that sent bye has read it.
func reconnectsAtOnce(t *testing.T, p proto, addr string, rounds int, bye *packet.Disconnect, cycle ...*packet.Connect) {
	t.Helper()
	resumed, conns := 0, 0
	for range rounds {
		for _, cn := range cycle {
			r, ack := p.rawConnect(t, addr, cn)
			conns++
			if ack.SessionPresent {
				resumed++
			}
			sendAs(r, p.v, bye)
			r.nc.Close()
		}
	}
	if resumed > 0 {
		t.Errorf("%d of %d connections found the session that the previous one ended (Session Present 1)", resumed, conns)
	}
}
