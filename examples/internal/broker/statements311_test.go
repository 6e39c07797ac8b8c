package broker_test

// The MQTT 3.1.1 statements about what a server does, each checked end to
// end against the example broker with 3.1.1 clients and named by its ID
// and "3.1.1". The helpers are in statements_test.go, the scenarios
// shared with MQTT 5.0 in scenarios_test.go.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// persistent311 is the CONNECT of a 3.1.1 client with Clean Session 0.
func persistent311(id string) *packet.Connect {
	return &packet.Connect{ClientID: id, KeepAlive: 30}
}

func TestSessionStatements311(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V311, connect("sess-pub"))

	t.Run("MQTT-3.1.2-4 3.1.1 clean session 0 creates a session, then resumes it", func(t *testing.T) {
		sessionCreatedAndResumed(t, proto311, addr, pub, "resumer")
	})

	// A clean session lasts as long as its connection: the next
	// connection, Clean Session 0, takes over one that has sent its
	// DISCONNECT and finds no session; it leaves one, which the next clean
	// connection discards.
	t.Run("MQTT-3.1.2-6 MQTT-3.1.4-2 MQTT-3.2.2-3 3.1.1 a clean session is not resumed by a client that reconnects at once", func(t *testing.T) {
		reconnectsAtOnce(t, proto311, addr, 100, &packet.Disconnect{}, connect("at-once"), persistent311("at-once"))
	})

	t.Run("MQTT-3.2.2-3 3.1.1 session present 0 without stored state", func(t *testing.T) {
		for _, cn := range []*packet.Connect{persistent311("new-persistent"), connect("new-clean")} {
			c := dial(t, addr, packet.V311, cn)
			if c.Connack().SessionPresent || c.Connack().Reason != packet.ConnectionAccepted {
				t.Errorf("%q: session present %v, return code %v", cn.ClientID, c.Connack().SessionPresent, c.Connack().Reason)
			}
		}
	})

	t.Run("MQTT-3.2.2-2 3.1.1 session present 1 with stored state", func(t *testing.T) {
		c := dial(t, addr, packet.V311, persistent311("stored"))
		c.Drop()
		c = resume(t, addr, packet.V311, persistent311("stored"), c)
		if !c.Connack().SessionPresent || c.Connack().Reason != packet.ConnectionAccepted {
			t.Errorf("session present %v, return code %v", c.Connack().SessionPresent, c.Connack().Reason)
		}
	})

	t.Run("MQTT-3.1.2-5 3.1.1 QoS 1 and 2 messages stored while disconnected", func(t *testing.T) {
		c := dial(t, addr, packet.V311, persistent311("stores"))
		subscribe(t, c, packet.Subscription{Filter: "stores/+", QoS: packet.QoS2})
		c.Drop()
		publish(t, pub, "stores/a", packet.QoS1, false, "one")
		publish(t, pub, "stores/b", packet.QoS2, false, "two")
		c = resume(t, addr, packet.V311, persistent311("stores"), c)
		expect(t, c, "stores/a", "one", packet.QoS1)
		expect(t, c, "stores/b", "two", packet.QoS2)
		quiet(t, c)
	})

	t.Run("MQTT-4.1.0-1 3.1.1 session state kept for the whole session", func(t *testing.T) {
		c := dial(t, addr, packet.V311, persistent311("whole"))
		subscribe(t, c, packet.Subscription{Filter: "whole", QoS: packet.QoS1})
		c.Drop()
		c = resume(t, addr, packet.V311, persistent311("whole"), c)
		c.Drop()
		publish(t, pub, "whole", packet.QoS1, false, "after two disconnections")
		// Raw from here, to see the packet identifiers.
		r, ack := proto311.rawConnect(t, addr, persistent311("whole"))
		if !ack.SessionPresent {
			t.Fatal("session not present")
		}
		first := readPublish(r, packet.V311, "whole", packet.QoS1)
		if string(first.Payload) != "after two disconnections" {
			t.Fatalf("payload %q", first.Payload)
		}
		r.nc.Close() // not acknowledged
		r = proto311.redelivered(t, addr, persistent311("whole"), first)
		sendAs(r, packet.V311, &packet.Puback{PacketID: first.PacketID})
		rawQuiet(r)
	})

	t.Run("MQTT-4.1.0-2 3.1.1 the session lasts as long as the connection", func(t *testing.T) {
		c := dial(t, addr, packet.V311, connect("lasting"))
		subscribe(t, c, packet.Subscription{Filter: "lasting", QoS: packet.QoS1})
		// Other clients come and go meanwhile.
		for i := range 3 {
			o := dial(t, addr, packet.V311, connect(fmt.Sprint("passing-", i)))
			o.Drop()
		}
		time.Sleep(500 * time.Millisecond)
		publish(t, pub, "lasting", packet.QoS1, false, "still here")
		expect(t, c, "lasting", "still here", packet.QoS1)
	})

	t.Run("MQTT-3.1.4-3 3.1.1 clean session 1 discards the session", func(t *testing.T) {
		c := cleanStartDiscards(t, proto311, addr, pub, "cleaned")
		subscribe(t, c, packet.Subscription{Filter: "cleaned/new", QoS: packet.QoS1})
		c.Drop()
		// Neither the old session nor the clean one is left.
		c = dial(t, addr, packet.V311, persistent311("cleaned"))
		if c.Connack().SessionPresent {
			t.Fatal("the clean session outlived its connection")
		}
		publish(t, pub, "cleaned", packet.QoS1, false, "old subscription")
		publish(t, pub, "cleaned/new", packet.QoS1, false, "clean session's subscription")
		quiet(t, c)
	})

	t.Run("MQTT-3.1.4-4 3.1.1 CONNACK return code 0", func(t *testing.T) {
		proto311.rawConnect(t, addr, connect("acked"))
	})

	t.Run("MQTT-3.1.4-2 3.1.1 the same client identifier disconnects the first connection", func(t *testing.T) {
		first := dial(t, addr, packet.V311, connect("twin"))
		subscribe(t, first, packet.Subscription{Filter: "twin", QoS: packet.QoS1})
		second := dial(t, addr, packet.V311, connect("twin"))
		select {
		case <-first.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("first connection still open")
		}
		if r, ok := disconnectedWith(first); ok {
			t.Errorf("a 3.1.1 client was sent DISCONNECT %v", r)
		}
		subscribe(t, second, packet.Subscription{Filter: "twin", QoS: packet.QoS1})
		publish(t, pub, "twin", packet.QoS1, false, "to the second")
		expect(t, second, "twin", "to the second", packet.QoS1)
	})
}

func TestClientIDStatements311(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, authenticateTestUsers())
	pub := dial(t, addr, packet.V311, connect("id-pub"))
	watcher := dial(t, addr, packet.V311, connect("id-watcher"))
	subscribe(t, watcher, packet.Subscription{Filter: "refused/#", QoS: packet.QoS1})

	t.Run("MQTT-3.1.3-2 3.1.1 the client identifier keys the session", func(t *testing.T) {
		identifierKeysSession(t, proto311, addr, pub)
	})

	t.Run("MQTT-3.1.3-5 3.1.1 identifiers of 1 to 23 letters and digits", func(t *testing.T) {
		ids := []string{"7", "q", "Q", "abcdefghijklmnopqrstuvw", "XYZ0123456789xyzABCDEFG"}
		var cs []*brokertest.Client
		for _, id := range ids {
			c := dial(t, addr, packet.V311, connect(id))
			if c.Connack().Reason != packet.ConnectionAccepted {
				t.Fatalf("%q: return code %v", id, c.Connack().Reason)
			}
			cs = append(cs, c)
		}
		for i, c := range cs { // all still connected: distinct clients
			subscribe(t, c, packet.Subscription{Filter: "id/" + ids[i], QoS: packet.QoS1})
		}
	})

	t.Run("MQTT-3.1.3-6 3.1.1 an empty identifier is replaced by a unique one", func(t *testing.T) {
		var cs []*brokertest.Client
		for i := range 3 {
			c := dial(t, addr, packet.V311, connect(""))
			subscribe(t, c, packet.Subscription{Filter: fmt.Sprint("anon/", i), QoS: packet.QoS1})
			cs = append(cs, c)
		}
		// Had they shared an identifier, each would have taken the one
		// before over.
		for i, c := range cs {
			publish(t, pub, fmt.Sprint("anon/", i), packet.QoS1, false, "hi")
			expect(t, c, fmt.Sprint("anon/", i), "hi", packet.QoS1)
		}
	})

	t.Run("MQTT-3.1.3-9 3.1.1 refused identifier: 0x02, then close", func(t *testing.T) {
		refused(t, addr, packet.V311, connect("banned"), packet.RefusedIdentifierRejected)
		// The broker's own rule: an empty identifier with Clean Session 0.
		refused(t, addr, packet.V311, &packet.Connect{KeepAlive: 30}, packet.RefusedIdentifierRejected)
	})

	t.Run("3.1.1 refused user name: 0x04, then close", func(t *testing.T) {
		cn := connect("mallorys-client")
		cn.Username, cn.Password = "mallory", []byte("guess")
		refused(t, addr, packet.V311, cn, packet.RefusedBadUserNameOrPassword)
	})

	t.Run("MQTT-3.1.4-5 3.1.1 nothing processed after a refused CONNECT", func(t *testing.T) {
		for _, cn := range []*packet.Connect{connect("banned"), {KeepAlive: 30}} {
			r := dialRaw(t, addr)
			sendAs(r, packet.V311, cn,
				&packet.Publish{Topic: "refused/x", QoS: packet.QoS0, Retain: true, Payload: []byte("q0")},
				&packet.Publish{Topic: "refused/y", QoS: packet.QoS1, PacketID: 1, Payload: []byte("q1")},
				&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "#"}}})
			if ack := readType[*packet.Connack](r, packet.V311); ack.Reason != packet.RefusedIdentifierRejected {
				t.Fatalf("CONNACK %v", ack.Reason)
			}
			if p := readAs(r, packet.V311); p != nil {
				t.Fatalf("broker sent %T after refusing the CONNECT", p)
			}
		}
		quiet(t, watcher)
		late := dial(t, addr, packet.V311, connect("refused-late"))
		subscribe(t, late, packet.Subscription{Filter: "refused/#", QoS: packet.QoS1})
		quiet(t, late)
	})
}

func TestWillStatements311(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	watcher := dial(t, addr, packet.V311, connect("will-watcher"))
	subscribe(t, watcher, packet.Subscription{Filter: "wills/#", QoS: packet.QoS2})
	lateRetained := func(t *testing.T, id string) *client.Message {
		t.Helper()
		late := dial(t, addr, packet.V311, connect("late-"+id))
		subscribe(t, late, packet.Subscription{Filter: "wills/" + id, QoS: packet.QoS2})
		select {
		case m := <-late.Messages():
			return &m
		case <-time.After(200 * time.Millisecond):
			return nil
		}
	}

	t.Run("MQTT-3.1.2-8 3.1.1 will published when the connection closes", func(t *testing.T) {
		c := dial(t, addr, packet.V311, withWill(connect("crash"), packet.QoS1, false))
		c.Drop()
		expect(t, watcher, "wills/crash", "crash is gone", packet.QoS1)
	})

	t.Run("MQTT-3.14.4-3 3.1.1 DISCONNECT discards the will", func(t *testing.T) {
		c := dial(t, addr, packet.V311, withWill(connect("polite"), packet.QoS1, false))
		if err := c.Disconnect(testContext(t), nil); err != nil {
			t.Fatal(err)
		}
		quiet(t, watcher)
	})

	t.Run("MQTT-3.14.4-3 3.1.1 DISCONNECT then at once a new connection: no will", func(t *testing.T) {
		disconnectThenTakeOver(t, proto311, addr, watcher)
	})

	t.Run("MQTT-3.1.2-9 3.1.1 will QoS and retain used", func(t *testing.T) {
		for q := packet.QoS0; q <= packet.QoS2; q++ {
			id := fmt.Sprint("qos", q)
			c := dial(t, addr, packet.V311, withWill(connect(id), q, q == packet.QoS2))
			c.Drop()
			expect(t, watcher, "wills/"+id, id+" is gone", q)
			if m := lateRetained(t, id); (m != nil) != (q == packet.QoS2) {
				t.Errorf("will retain %v: later subscriber got %v", q == packet.QoS2, m)
			}
		}
	})

	t.Run("MQTT-3.1.2-10 3.1.1 will removed once published", func(t *testing.T) {
		willRemovedOncePublished(t, proto311, addr, watcher, "published")
	})

	t.Run("MQTT-3.1.2-10 3.1.1 will removed by DISCONNECT", func(t *testing.T) {
		c := dial(t, addr, packet.V311, withWill(persistent311("leaving"), packet.QoS1, false))
		if err := c.Disconnect(testContext(t), nil); err != nil {
			t.Fatal(err)
		}
		c = resume(t, addr, packet.V311, persistent311("leaving"), c)
		c.Drop()
		quiet(t, watcher)
	})

	t.Run("MQTT-3.1.2-12 3.1.1 no will flag, no will", func(t *testing.T) {
		noWillWithoutFlag(t, proto311, addr, watcher, packet.QoS0)
	})

	t.Run("MQTT-3.1.2-16 3.1.1 will retain 0: not retained", func(t *testing.T) {
		c := dial(t, addr, packet.V311, withWill(connect("fleeting"), packet.QoS1, false))
		c.Drop()
		expect(t, watcher, "wills/fleeting", "fleeting is gone", packet.QoS1)
		if m := lateRetained(t, "fleeting"); m != nil {
			t.Errorf("a non-retained will was retained: %q", m.Payload)
		}
	})

	t.Run("MQTT-3.1.2-17 3.1.1 will retain 1: retained", func(t *testing.T) {
		c := dial(t, addr, packet.V311, withWill(connect("lasting"), packet.QoS1, true))
		c.Drop()
		expect(t, watcher, "wills/lasting", "lasting is gone", packet.QoS1)
		m := lateRetained(t, "lasting")
		if m == nil || string(m.Payload) != "lasting is gone" || !m.Retain {
			t.Errorf("later subscriber got %v, want the retained will", m)
		}
	})
}

func TestRetainedStatements311(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V311, connect("retain-pub"))
	live := dial(t, addr, packet.V311, connect("retain-live"))
	subscribe(t, live, packet.Subscription{Filter: "#", QoS: packet.QoS2})
	// publishSeen publishes and waits for the live subscriber to get it.
	publishSeen := func(t *testing.T, topic string, qos packet.QoS, retain bool, payload string) client.Message {
		t.Helper()
		publish(t, pub, topic, qos, retain, payload)
		return expect(t, live, topic, payload, qos)
	}
	late := &lateSubscribers{p: proto311, addr: addr}
	sent := func(t *testing.T, topic string, qos packet.QoS, retain bool, payload string) {
		t.Helper()
		publishSeen(t, topic, qos, retain, payload)
	}

	t.Run("MQTT-3.3.1-5 3.1.1 stored with its QoS for later subscribers", func(t *testing.T) {
		for q := packet.QoS0; q <= packet.QoS2; q++ {
			publishSeen(t, fmt.Sprint("stored/", q), q, true, fmt.Sprint("at ", q))
		}
		got := late.get(t, "stored/+", 3)
		for q := packet.QoS0; q <= packet.QoS2; q++ {
			if m := got[fmt.Sprint("stored/", q)]; m == nil || m.QoS != q || string(m.Payload) != fmt.Sprint("at ", q) {
				t.Errorf("stored/%d: got %+v, want QoS %d", q, m, q)
			}
		}
	})

	t.Run("MQTT-3.3.1-6 3.1.1 the last retained message of each matching topic", func(t *testing.T) {
		publishSeen(t, "last/a", packet.QoS1, true, "1")
		publishSeen(t, "last/a", packet.QoS1, true, "2")
		publishSeen(t, "last/b/c", packet.QoS1, true, "x")
		publishSeen(t, "lastly", packet.QoS1, true, "no match")
		got := late.get(t, "last/#", 2)
		if a, b := got["last/a"], got["last/b/c"]; a == nil || string(a.Payload) != "2" || b == nil || string(b.Payload) != "x" {
			t.Errorf("got %v, want last/a 2 and last/b/c x", got)
		}
	})

	t.Run("MQTT-3.3.1-7 3.1.1 a retained QoS 0 message replaces the one before", func(t *testing.T) {
		publishSeen(t, "zero", packet.QoS1, true, "old")
		publishSeen(t, "zero", packet.QoS0, true, "new")
		if m := late.get(t, "zero", 1)["zero"]; m == nil || string(m.Payload) != "new" || m.QoS != packet.QoS0 {
			t.Errorf("got %+v, want the QoS 0 message", m)
		}
	})

	t.Run("MQTT-3.3.1-8 3.1.1 retain flag 1 on a message sent for a new subscription", func(t *testing.T) {
		publishSeen(t, "flag/new", packet.QoS1, true, "r")
		if m := late.get(t, "flag/new", 1)["flag/new"]; m == nil || !m.Retain {
			t.Errorf("got %+v, want the retain flag", m)
		}
	})

	t.Run("MQTT-3.3.1-9 3.1.1 retain flag 0 on an established subscription", func(t *testing.T) {
		if m := publishSeen(t, "flag/live", packet.QoS1, true, "r"); m.Retain {
			t.Error("retain flag set on a message for an established subscription")
		}
	})

	t.Run("MQTT-3.3.1-10 3.1.1 an empty retained message is delivered and clears the topic", func(t *testing.T) {
		publishSeen(t, "clear", packet.QoS1, true, "something")
		if m := publishSeen(t, "clear", packet.QoS1, true, ""); m.Retain || len(m.Payload) != 0 {
			t.Errorf("delivered %+v, want an ordinary empty message", m)
		}
		late.get(t, "clear", 0)
	})

	t.Run("MQTT-3.3.1-11 3.1.1 an empty retained message is not stored", func(t *testing.T) {
		emptyRetainedNotStored(t, sent, late, "never")
	})

	t.Run("MQTT-3.3.1-12 3.1.1 retain 0 neither stores, removes nor replaces", func(t *testing.T) {
		retainZeroKeepsRetained(t, sent, late, "kept")
	})

	t.Run("MQTT-3.1.2-7 3.1.1 retained messages outlive the publisher's session", func(t *testing.T) {
		c := dial(t, addr, packet.V311, connect("short-lived"))
		publish(t, c, "outlive/clean", packet.QoS1, true, "from a clean session")
		c.Drop()
		p := dial(t, addr, packet.V311, persistent311("long-lived"))
		publish(t, p, "outlive/persistent", packet.QoS1, true, "from a persistent session")
		if err := p.Disconnect(testContext(t), nil); err != nil {
			t.Fatal(err)
		}
		p = dial(t, addr, packet.V311, connect("long-lived")) // clean session 1 ends that session
		p.Drop()
		got := late.get(t, "outlive/+", 2)
		if got["outlive/clean"] == nil || got["outlive/persistent"] == nil {
			t.Errorf("got %v", got)
		}
	})
}

func TestRoutingStatements311(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V311, connect("route-pub"))

	t.Run("MQTT-3.3.2-3 3.1.1 topic name as published, matching the filter", func(t *testing.T) {
		c := dial(t, addr, packet.V311, connect("route-sub"))
		subscribe(t, c, packet.Subscription{Filter: "a/+/c/#", QoS: packet.QoS1})
		for _, topic := range []string{"a/b/c", "a/bb/c/d/e", "a//c/"} {
			publish(t, pub, topic, packet.QoS1, false, "x")
			expect(t, c, topic, "x", packet.QoS1)
		}
		publish(t, pub, "a/b/d", packet.QoS1, false, "x")
		quiet(t, c)
	})

	t.Run("MQTT-3.3.5-1 3.1.1 once, at the highest QoS of the matching subscriptions", func(t *testing.T) {
		onceAtHighestQoS(t, proto311, addr, pub)
	})

	t.Run("MQTT-3.8.4-6 3.1.1 the lower of the message's QoS and the granted QoS", func(t *testing.T) {
		var subs []*brokertest.Client
		for q := packet.QoS0; q <= packet.QoS2; q++ {
			c := dial(t, addr, packet.V311, connect(fmt.Sprint("granted-", q)))
			subscribe(t, c, packet.Subscription{Filter: "granted", QoS: q})
			subs = append(subs, c)
		}
		for pq := packet.QoS0; pq <= packet.QoS2; pq++ {
			publish(t, pub, "granted", pq, false, fmt.Sprint(pq))
			for sq, c := range subs {
				expect(t, c, "granted", fmt.Sprint(pq), min(pq, packet.QoS(sq)))
			}
		}
	})

	t.Run("MQTT-4.5.0-1 3.1.1 added to the session of each matching subscriber", func(t *testing.T) {
		addedToMatchingSessions(t, proto311, addr, pub)
	})

	t.Run("MQTT-4.7.2-1 3.1.1 wildcards do not match $ topics", func(t *testing.T) {
		all := dial(t, addr, packet.V311, connect("dollar-all"))
		subscribe(t, all, packet.Subscription{Filter: "#", QoS: packet.QoS1},
			packet.Subscription{Filter: "+/info", QoS: packet.QoS1})
		sys := dial(t, addr, packet.V311, connect("dollar-sys"))
		subscribe(t, sys, packet.Subscription{Filter: "$app/+", QoS: packet.QoS1})
		publish(t, pub, "$app/info", packet.QoS1, false, "hidden")
		expect(t, sys, "$app/info", "hidden", packet.QoS1)
		quiet(t, all)
		publish(t, pub, "sys/info", packet.QoS1, false, "seen")
		expect(t, all, "sys/info", "seen", packet.QoS1)
		quiet(t, all) // once, for its two subscriptions
	})

	t.Run("MQTT-4.7.3-4 3.1.1 no normalization of topics or filters", func(t *testing.T) {
		const nfc, nfd = "\u00c5ngstr\u00f6m", "A\u030angstro\u0308m"
		subs := subscribeEach(t, proto311, addr, nfc, nfd, "x/y")
		matchedExactly(t, pub, subs, []topicCase{
			{nfd, nfd}, {nfc, nfc}, {"\u212bngstr\u00f6m", ""}, {"x/y/", ""}, {"x//y", ""},
			{"X/y", ""}, {"x/y\u200b", ""}, {"x/y", "x/y"},
		})
	})
}

func TestOrderStatements311(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	var subs []*brokertest.Client
	for q := packet.QoS0; q <= packet.QoS2; q++ {
		c := dial(t, addr, packet.V311, connect(fmt.Sprint("order-", q)))
		subscribe(t, c, packet.Subscription{Filter: "ord/+", QoS: q})
		subs = append(subs, c)
	}
	pub := dial(t, addr, packet.V311, connect("order-pub"))
	const n = 100
	publishInterleaved(t, pub, n)
	t.Run("MQTT-4.6.0-5 MQTT-4.6.0-6 3.1.1 every topic ordered: sent in the order received, per topic and QoS", func(t *testing.T) {
		for sq, c := range subs {
			receivedInOrder(t, c, n, fmt.Sprint("subscriber at QoS ", sq))
		}
	})
}

func TestSubscribeStatements311(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V311, connect("subscribe-pub"))

	r, _ := proto311.rawConnect(t, addr, connect("subscribe-raw"))
	ack := subscribeThree(r, packet.V311, 0x0102)

	t.Run("MQTT-3.8.4-1 3.1.1 a SUBACK answers the SUBSCRIBE", func(t *testing.T) {
		if ack.PacketID != 0x0102 {
			t.Errorf("SUBACK packet identifier %#x, want 0x0102", ack.PacketID)
		}
	})
	t.Run("MQTT-3.8.4-5 3.1.1 a return code for each filter, the granted QoS", func(t *testing.T) {
		if want := []packet.ReasonCode{1, 2, 0}; !slices.Equal(ack.Reasons, want) {
			t.Errorf("SUBACK return codes %v, want %v", ack.Reasons, want)
		}
	})
	t.Run("MQTT-3.8.4-4 3.1.1 handled as a sequence of SUBSCRIBEs, with one SUBACK", func(t *testing.T) {
		publish(t, pub, "s/a", packet.QoS2, false, "a") // s/a was replaced at QoS 0
		readPublish(r, packet.V311, "s/a", packet.QoS0)
		publish(t, pub, "s/b", packet.QoS1, false, "b")
		m := readPublish(r, packet.V311, "s/b", packet.QoS1)
		sendAs(r, packet.V311, &packet.Puback{PacketID: m.PacketID})
		rawQuiet(r)
	})

	t.Run("MQTT-3.8.4-3 3.1.1 an identical filter replaces the subscription and re-sends retained messages", func(t *testing.T) {
		c := dial(t, addr, packet.V311, connect("replace"))
		publish(t, pub, "rs/kept", packet.QoS2, true, "retained")
		subscribe(t, c, packet.Subscription{Filter: "rs/+", QoS: packet.QoS2})
		expect(t, c, "rs/kept", "retained", packet.QoS2)
		subscribe(t, c, packet.Subscription{Filter: "rs/+", QoS: packet.QoS1})
		if m := expect(t, c, "rs/kept", "retained", packet.QoS1); !m.Retain {
			t.Error("re-sent retained message without the retain flag")
		}
		publish(t, pub, "rs/live", packet.QoS2, false, "live")
		expect(t, c, "rs/live", "live", packet.QoS1) // the new maximum QoS, once
		quiet(t, c)
	})

	t.Run("MQTT-3.8.4-3 3.1.1 the flow of publications is not interrupted", func(t *testing.T) {
		resubscribeLosesNothing(t, proto311, addr, pub, "flow")
	})
}

func TestUnsubscribeStatements311(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V311, connect("unsub-pub"))

	t.Run("MQTT-3.10.4-1 3.1.1 filters compared character by character", func(t *testing.T) {
		c := dial(t, addr, packet.V311, connect("unsub-exact"))
		subscribe(t, c, packet.Subscription{Filter: "u/+", QoS: packet.QoS0},
			packet.Subscription{Filter: "u/b", QoS: packet.QoS2})
		if _, err := c.UnsubscribeWith(testContext(t), &packet.Unsubscribe{Filters: []string{"U/+", "u/b", "u/#", "u/+/", "u/b "}}); err != nil {
			t.Fatal(err)
		}
		// u/b is gone (it would give QoS 2); u/+ is left.
		publish(t, pub, "u/b", packet.QoS2, false, "x")
		expect(t, c, "u/b", "x", packet.QoS0)
		quiet(t, c)
	})

	t.Run("MQTT-3.10.4-2 3.1.1 no new messages once the subscription is deleted", func(t *testing.T) {
		nothingAfterUnsubscribe(t, proto311, addr, pub)
	})

	t.Run("MQTT-3.10.4-3 3.1.1 QoS 2 delivery in progress completes", func(t *testing.T) {
		unsubscribeCompletesQoS2(t, proto311, addr, pub)
	})

	r, _ := proto311.rawConnect(t, addr, connect("unsub-raw"))
	rawSubscribe(r, packet.V311, packet.Subscription{Filter: "x/a", QoS: packet.QoS1},
		packet.Subscription{Filter: "x/b", QoS: packet.QoS1})

	t.Run("MQTT-3.10.4-5 3.1.1 UNSUBACK even when nothing was deleted", func(t *testing.T) {
		sendAs(r, packet.V311, &packet.Unsubscribe{PacketID: 0x0909, Filters: []string{"none"}})
		if a := readType[*packet.Unsuback](r, packet.V311); a.PacketID != 0x0909 {
			t.Errorf("UNSUBACK packet identifier %#x, want 0x0909", a.PacketID)
		}
	})

	t.Run("MQTT-3.10.4-6 3.1.1 handled as a sequence of UNSUBSCRIBEs, with one UNSUBACK", func(t *testing.T) {
		sendAs(r, packet.V311, &packet.Unsubscribe{PacketID: 3, Filters: []string{"x/a", "never", "x/b"}})
		if a := readType[*packet.Unsuback](r, packet.V311); a.PacketID != 3 {
			t.Errorf("UNSUBACK packet identifier %d, want 3", a.PacketID)
		}
		sendAs(r, packet.V311, &packet.Pingreq{})
		readType[*packet.Pingresp](r, packet.V311) // not a second UNSUBACK
		publish(t, pub, "x/a", packet.QoS1, false, "a")
		publish(t, pub, "x/b", packet.QoS1, false, "b")
		rawQuiet(r)
	})
}

// With an authorization hook, a PUBLISH the client may not make is
// acknowledged as usual and dropped.
func TestAuthorizationStatements311(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, broker.Config{MayPublish: func(clientID, topic string) bool {
		return clientID == "admin" || !strings.HasPrefix(topic, "secret/")
	}})
	watcher := dial(t, addr, packet.V311, connect("auth-watcher"))
	subscribe(t, watcher, packet.Subscription{Filter: "secret/#", QoS: packet.QoS2},
		packet.Subscription{Filter: "open", QoS: packet.QoS2})
	c := dial(t, addr, packet.V311, connect("user"))

	t.Run("MQTT-3.3.5-2 3.1.1 positive acknowledgement, message dropped", func(t *testing.T) {
		for q := packet.QoS0; q <= packet.QoS2; q++ {
			// PUBACK, PUBREC and PUBCOMP as usual: Publish returns nil.
			publish(t, c, "secret/x", q, true, fmt.Sprint("not allowed ", q))
		}
		publish(t, c, "open", packet.QoS1, false, "allowed")
		expect(t, watcher, "open", "allowed", packet.QoS1) // the first message the watcher gets
		late := dial(t, addr, packet.V311, connect("auth-late"))
		subscribe(t, late, packet.Subscription{Filter: "secret/#", QoS: packet.QoS1})
		quiet(t, late) // not retained either
		admin := dial(t, addr, packet.V311, connect("admin"))
		publish(t, admin, "secret/y", packet.QoS1, false, "allowed for admin")
		expect(t, watcher, "secret/y", "allowed for admin", packet.QoS1)
	})

	t.Run("3.1.1 a will on a topic not allowed refuses the CONNECT with 0x05", func(t *testing.T) {
		cn := connect("sneaky")
		cn.Will = packet.Will{Topic: "secret/x", Payload: []byte("will")}
		refused(t, addr, packet.V311, cn, packet.RefusedNotAuthorized)
	})
}
