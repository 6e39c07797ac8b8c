package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// startBroker serves a broker on a free loopback port for the test.
func startBroker(t *testing.T) string {
	t.Helper()
	return startBrokerConfig(t, broker.Config{})
}

func startBrokerConfig(t *testing.T, cfg broker.Config) string {
	t.Helper()
	cfg.Logger = brokertest.Logger(t, slog.LevelInfo)
	return brokertest.Start(t, cfg)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dial connects a client of version v with the CONNECT cn; the
// connection is dropped at the end of the test.
func dial(t *testing.T, addr string, v packet.Version, cn *packet.Connect) *brokertest.Client {
	t.Helper()
	return brokertest.Dial(t, brokertest.Config("tcp://"+addr, v, cn))
}

// resume connects a client of version v with the CONNECT cn that carries
// on the session of prev, an earlier client.
func resume(t *testing.T, addr string, v packet.Version, cn *packet.Connect, prev *brokertest.Client) *brokertest.Client {
	t.Helper()
	cfg := brokertest.Config("tcp://"+addr, v, cn)
	cfg.Store = prev.Store()
	return brokertest.Dial(t, cfg)
}

func subscribe(t *testing.T, c *brokertest.Client, subs ...packet.Subscription) {
	t.Helper()
	ack, err := c.SubscribeWith(testContext(t), &packet.Subscribe{Subscriptions: subs}, nil)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	for i, r := range ack.Reasons {
		if r != packet.ReasonCode(subs[i].QoS) {
			t.Fatalf("SUBACK for %q: %v, want granted QoS %d", subs[i].Filter, r, subs[i].QoS)
		}
	}
}

func publish(t *testing.T, c *brokertest.Client, topic string, qos packet.QoS, retain bool, payload string) {
	t.Helper()
	m := client.Message{Topic: topic, QoS: qos, Retain: retain}
	if payload != "" {
		m.Payload = []byte(payload)
	}
	if err := c.Publish(testContext(t), m); err != nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
}

// next returns the next message c receives.
func next(t *testing.T, c *brokertest.Client) client.Message {
	t.Helper()
	select {
	case m := <-c.Messages():
		return m
	case <-c.Done():
		t.Fatalf("connection ended: %v", c.Err())
	case <-time.After(3 * time.Second):
		t.Fatal("no message within 3s")
	}
	return client.Message{}
}

// expect checks that c receives a message on topic with payload and qos.
func expect(t *testing.T, c *brokertest.Client, topic, payload string, qos packet.QoS) client.Message {
	t.Helper()
	m := next(t, c)
	if m.Topic != topic || string(m.Payload) != payload || m.QoS != qos {
		t.Fatalf("received %q qos=%d %q, want %q qos=%d %q", m.Topic, m.QoS, m.Payload, topic, qos, payload)
	}
	return m
}

// quiet checks that c receives nothing more for a moment. A message the
// broker would send is sent before anything that follows it on the
// publisher's connection, so a short wait after a later round trip
// suffices.
func quiet(t *testing.T, c *brokertest.Client) {
	t.Helper()
	select {
	case m := <-c.Messages():
		t.Fatalf("unexpected message %q qos=%d %q", m.Topic, m.QoS, m.Payload)
	case <-time.After(100 * time.Millisecond):
	}
}

// disconnectedWith returns the reason code of the DISCONNECT that ended
// c's connection, or false if the connection ended otherwise.
func disconnectedWith(c *brokertest.Client) (packet.ReasonCode, bool) {
	var lost *client.ConnectionLostError
	if errors.As(c.Err(), &lost) && lost.Err == nil {
		return lost.Reason, true
	}
	return 0, false
}

func connect(id string) *packet.Connect {
	return &packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
}

func TestWildcardRouting(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	plus := dial(t, addr, packet.V311, connect("plus"))
	hash := dial(t, addr, packet.V5, connect("hash"))
	exact := dial(t, addr, packet.V5, connect("exact"))
	pub := dial(t, addr, packet.V311, connect("pub"))
	subscribe(t, plus, packet.Subscription{Filter: "home/+/temp", QoS: packet.QoS1})
	subscribe(t, hash, packet.Subscription{Filter: "home/#", QoS: packet.QoS1})
	subscribe(t, exact, packet.Subscription{Filter: "home/kitchen/temp", QoS: packet.QoS1})

	publish(t, pub, "home/kitchen/temp", packet.QoS1, false, "21")
	expect(t, plus, "home/kitchen/temp", "21", packet.QoS1)
	expect(t, hash, "home/kitchen/temp", "21", packet.QoS1)
	expect(t, exact, "home/kitchen/temp", "21", packet.QoS1)

	publish(t, pub, "home/hall/temp", packet.QoS1, false, "19")
	expect(t, plus, "home/hall/temp", "19", packet.QoS1)
	expect(t, hash, "home/hall/temp", "19", packet.QoS1)

	publish(t, pub, "home", packet.QoS1, false, "parent") // "home/#" matches its parent level
	expect(t, hash, "home", "parent", packet.QoS1)

	publish(t, pub, "home/kitchen/temp/raw", packet.QoS1, false, "x")
	expect(t, hash, "home/kitchen/temp/raw", "x", packet.QoS1)

	publish(t, pub, "garden/temp", packet.QoS1, false, "no")
	quiet(t, plus)
	quiet(t, hash)
	quiet(t, exact)

	// After UNSUBSCRIBE nothing more arrives.
	ack, err := hash.UnsubscribeWith(testContext(t), &packet.Unsubscribe{Filters: []string{"home/#", "never/subscribed"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted}; len(ack.Reasons) != 2 ||
		ack.Reasons[0] != want[0] || ack.Reasons[1] != want[1] {
		t.Fatalf("UNSUBACK reasons %v, want %v", ack.Reasons, want)
	}
	publish(t, pub, "home/hall/temp", packet.QoS0, false, "18")
	expect(t, plus, "home/hall/temp", "18", packet.QoS0)
	quiet(t, hash)
}

func TestDollarTopics_MQTT_4_7_2_1(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	all := dial(t, addr, packet.V5, connect("all"))
	plus := dial(t, addr, packet.V5, connect("plus"))
	sys := dial(t, addr, packet.V311, connect("sys"))
	pub := dial(t, addr, packet.V5, connect("pub"))
	subscribe(t, all, packet.Subscription{Filter: "#", QoS: packet.QoS1})
	subscribe(t, plus, packet.Subscription{Filter: "+/x", QoS: packet.QoS1})
	subscribe(t, sys, packet.Subscription{Filter: "$app/#", QoS: packet.QoS1})

	publish(t, pub, "$app/x", packet.QoS1, false, "hidden")
	expect(t, sys, "$app/x", "hidden", packet.QoS1)
	quiet(t, all)
	quiet(t, plus)

	publish(t, pub, "a/x", packet.QoS1, false, "seen")
	expect(t, all, "a/x", "seen", packet.QoS1)
	expect(t, plus, "a/x", "seen", packet.QoS1)
	quiet(t, sys)
}

// The QoS of a delivery is the lower of the message's and the
// subscription's (MQTT-3.8.4-8), and QoS 2 delivers exactly once.
func TestDeliveryQoS_MQTT_3_8_4_8(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			subs := map[packet.QoS]*brokertest.Client{}
			for q := packet.QoS0; q <= packet.QoS2; q++ {
				c := dial(t, addr, v, connect("sub-"+v.String()+"-"+string('0'+byte(q))))
				subscribe(t, c, packet.Subscription{Filter: "qos/" + v.String(), QoS: q})
				subs[q] = c
			}
			pub := dial(t, addr, v, connect("pub-"+v.String()))
			for pq := packet.QoS0; pq <= packet.QoS2; pq++ {
				payload := "published at " + string('0'+byte(pq))
				publish(t, pub, "qos/"+v.String(), pq, false, payload)
				for sq, c := range subs {
					m := expect(t, c, "qos/"+v.String(), payload, min(pq, sq))
					if m.Dup {
						t.Errorf("sub QoS %d: DUP set on a first delivery", sq)
					}
				}
			}
			for _, c := range subs {
				quiet(t, c) // each message once: MQTT-4.3.3-10 for QoS 2
			}
		})
	}
}

func TestRetained(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("pub"))

	t.Run("MQTT-3.3.1-5 stored and sent to a later subscriber", func(t *testing.T) {
		publish(t, pub, "status/door", packet.QoS1, true, "closed")
		publish(t, pub, "status/door", packet.QoS2, true, "open") // replaces
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			late := dial(t, addr, v, connect("late-"+v.String()))
			subscribe(t, late, packet.Subscription{Filter: "status/+", QoS: packet.QoS2})
			m := expect(t, late, "status/door", "open", packet.QoS2)
			if !m.Retain {
				t.Errorf("%v: retained message without the retain flag", v)
			}
			quiet(t, late)
		}
	})

	t.Run("MQTT-3.3.1-12 live delivery clears the retain flag", func(t *testing.T) {
		c := dial(t, addr, packet.V5, connect("live"))
		subscribe(t, c, packet.Subscription{Filter: "live/#", QoS: packet.QoS1, RetainHandling: 2})
		publish(t, pub, "live/x", packet.QoS1, true, "v")
		if m := expect(t, c, "live/x", "v", packet.QoS1); m.Retain {
			t.Error("retain flag set on a live delivery without Retain As Published")
		}
	})

	t.Run("MQTT-3.3.1-13 retain as published", func(t *testing.T) {
		c := dial(t, addr, packet.V5, connect("rap"))
		subscribe(t, c, packet.Subscription{Filter: "rap/#", QoS: packet.QoS1, RetainAsPublished: true, RetainHandling: 2})
		publish(t, pub, "rap/x", packet.QoS1, true, "v")
		if m := expect(t, c, "rap/x", "v", packet.QoS1); !m.Retain {
			t.Error("retain flag cleared despite Retain As Published")
		}
	})

	t.Run("MQTT-3.3.1-11 retain handling 2", func(t *testing.T) {
		c := dial(t, addr, packet.V5, connect("rh2"))
		subscribe(t, c, packet.Subscription{Filter: "status/door", QoS: packet.QoS1, RetainHandling: 2})
		quiet(t, c)
	})

	t.Run("MQTT-3.3.1-10 retain handling 1", func(t *testing.T) {
		c := dial(t, addr, packet.V5, connect("rh1"))
		s := packet.Subscription{Filter: "status/door", QoS: packet.QoS1, RetainHandling: 1}
		subscribe(t, c, s)
		expect(t, c, "status/door", "open", packet.QoS1)
		subscribe(t, c, s) // exists already: nothing
		quiet(t, c)
	})

	t.Run("MQTT-3.3.1-6 cleared by an empty retained message", func(t *testing.T) {
		watcher := dial(t, addr, packet.V5, connect("watcher"))
		subscribe(t, watcher, packet.Subscription{Filter: "status/door", QoS: packet.QoS1, RetainHandling: 2})
		publish(t, pub, "status/door", packet.QoS1, true, "")
		expect(t, watcher, "status/door", "", packet.QoS1) // delivered normally
		later := dial(t, addr, packet.V311, connect("later"))
		subscribe(t, later, packet.Subscription{Filter: "status/#", QoS: packet.QoS1})
		quiet(t, later)
	})
}

func TestWill(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	watcher := dial(t, addr, packet.V311, connect("watcher"))
	subscribe(t, watcher, packet.Subscription{Filter: "wills/#", QoS: packet.QoS1})
	withWill := func(id string) *packet.Connect {
		c := connect(id)
		c.Will = packet.Will{Topic: "wills/" + id, QoS: packet.QoS1, Payload: []byte(id + " is gone")}
		return c
	}

	t.Run("MQTT-3.1.2-8 published when the connection drops", func(t *testing.T) {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			id := "crash-" + v.String()
			c := dial(t, addr, v, withWill(id))
			c.Drop()
			expect(t, watcher, "wills/"+id, id+" is gone", packet.QoS1)
		}
	})

	t.Run("MQTT-3.14.4-3 not published after DISCONNECT", func(t *testing.T) {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			c := dial(t, addr, v, withWill("clean-"+v.String()))
			if err := c.Disconnect(testContext(t), &packet.Disconnect{Reason: packet.NormalDisconnection}); err != nil {
				t.Fatal(err)
			}
		}
		quiet(t, watcher)
	})

	t.Run("v5 DISCONNECT 0x04 publishes it", func(t *testing.T) {
		c := dial(t, addr, packet.V5, withWill("asked"))
		if err := c.Disconnect(testContext(t), &packet.Disconnect{Reason: packet.DisconnectWithWillMessage}); err != nil {
			t.Fatal(err)
		}
		expect(t, watcher, "wills/asked", "asked is gone", packet.QoS1)
	})

	t.Run("MQTT-3.1.2-17 retained will", func(t *testing.T) {
		cn := withWill("retained")
		cn.Will.Retain = true
		c := dial(t, addr, packet.V5, cn)
		c.Drop()
		expect(t, watcher, "wills/retained", "retained is gone", packet.QoS1)
		late := dial(t, addr, packet.V5, connect("late"))
		subscribe(t, late, packet.Subscription{Filter: "wills/retained", QoS: packet.QoS1})
		if m := expect(t, late, "wills/retained", "retained is gone", packet.QoS1); !m.Retain {
			t.Error("retained will without the retain flag")
		}
	})
}

// The server ends a silent connection after 1.5 times its Keep Alive
// (MQTT-3.1.2-24), and that publishes the will.
func TestKeepAliveTimeout_MQTT_3_1_2_24(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	watcher := dial(t, addr, packet.V5, connect("watcher"))
	subscribe(t, watcher, packet.Subscription{Filter: "wills/#", QoS: packet.QoS0})

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cn := &packet.Connect{ClientID: "silent", CleanStart: true, KeepAlive: 1,
		Will: packet.Will{Topic: "wills/silent", Payload: []byte("timed out")}}
	b, err := cn.AppendTo(nil, packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	// Read the CONNACK, then nothing but the DISCONNECT until the close.
	var got []byte
	buf := make([]byte, 256)
	_ = nc.SetReadDeadline(time.Now().Add(4 * time.Second))
	for {
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if d := time.Since(start); d < 1400*time.Millisecond || d > 3*time.Second {
		t.Errorf("closed after %v, want about 1.5s", d)
	}
	var types []packet.Type
	var last packet.Packet
	for len(got) > 0 {
		p, n, err := packet.Decode[uint16](packet.V5, got, 0)
		if err != nil || n == 0 {
			t.Fatalf("decoding what the server sent: %v (%x)", err, got)
		}
		types, last, got = append(types, p.Type()), p, got[n:]
	}
	if len(types) != 2 || types[0] != packet.TypeConnack {
		t.Fatalf("server sent %v, want CONNACK, DISCONNECT", types)
	}
	if d, ok := last.(*packet.Disconnect); !ok || d.Reason != packet.KeepAliveTimeout {
		t.Fatalf("last packet %+v, want DISCONNECT 0x8D", last)
	}
	expect(t, watcher, "wills/silent", "timed out", packet.QoS0)
}

func TestPersistentSession_MQTT_3_1_2_5(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("pub"))
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			id := "durable-" + v.String()
			topic := "jobs/" + v.String()
			cn := &packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
			if v == packet.V5 {
				cn.Props.SessionExpiry = 3600
			} else {
				cn.CleanStart = false
			}
			sub := dial(t, addr, v, cn)
			subscribe(t, sub, packet.Subscription{Filter: "jobs/#", QoS: packet.QoS1})
			if err := sub.Disconnect(testContext(t), &packet.Disconnect{Reason: packet.NormalDisconnection}); err != nil {
				t.Fatal(err)
			}

			publish(t, pub, topic, packet.QoS1, false, "while away")
			publish(t, pub, topic, packet.QoS0, false, "qos 0 is not kept")
			publish(t, pub, topic, packet.QoS2, false, "qos 2 too")

			cn.CleanStart = false
			sub = resume(t, addr, v, cn, sub)
			if !sub.Connack().SessionPresent {
				t.Fatal("MQTT-3.2.2-3: session present 0 for a resumed session")
			}
			expect(t, sub, topic, "while away", packet.QoS1)
			expect(t, sub, topic, "qos 2 too", packet.QoS1)
			quiet(t, sub)
			// The subscription is part of the session.
			publish(t, pub, topic, packet.QoS1, false, "live again")
			expect(t, sub, topic, "live again", packet.QoS1)
			sub.Drop()

			// MQTT-3.1.2-4: a clean start discards it.
			publish(t, pub, topic, packet.QoS1, false, "lost")
			cn.CleanStart = true
			sub = dial(t, addr, v, cn)
			if sub.Connack().SessionPresent {
				t.Fatal("MQTT-3.2.2-2: session present after a clean start")
			}
			quiet(t, sub)
			publish(t, pub, topic, packet.QoS1, false, "no subscription")
			quiet(t, sub)
		})
	}
}

// A QoS 1 message sent but not acknowledged before the connection dropped
// is re-sent with DUP and its packet identifier on the next connection
// (MQTT-4.4.0-1): the server Connection's state went through ExportSession
// and ImportSession. The subscriber is raw, to see the identifiers.
func TestUnacknowledgedResent_MQTT_4_4_0_1(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("pub"))
	cn := &packet.Connect{ClientID: "slow", KeepAlive: 30, Props: property.Properties{SessionExpiry: 60}}
	r, _ := proto5.rawConnect(t, addr, cn)
	rawSubscribe(r, packet.V5, packet.Subscription{Filter: "work", QoS: packet.QoS1})
	publish(t, pub, "work", packet.QoS1, false, "item 1")
	first := readPublish(r, packet.V5, "work", packet.QoS1)
	r.nc.Close() // no PUBACK

	r = proto5.redelivered(t, addr, cn, first)
	sendAs(r, packet.V5, &packet.Puback{PacketID: first.PacketID})
	rawQuiet(r)
}

func TestSessionTakeover_MQTT_3_1_4_3(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	first := dial(t, addr, packet.V5, connect("same"))
	subscribe(t, first, packet.Subscription{Filter: "t", QoS: packet.QoS1})
	second := dial(t, addr, packet.V311, connect("same"))
	select {
	case <-first.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("first connection still open")
	}
	if r, ok := disconnectedWith(first); !ok || r != packet.SessionTakenOver {
		t.Fatalf("first connection ended with %v, want DISCONNECT 0x8E", first.Err())
	}
	subscribe(t, second, packet.Subscription{Filter: "t", QoS: packet.QoS1})
	pub := dial(t, addr, packet.V5, connect("pub"))
	publish(t, pub, "t", packet.QoS1, false, "to the new one")
	expect(t, second, "t", "to the new one", packet.QoS1)
}

func TestAssignedClientID_MQTT_3_2_2_16(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	a := dial(t, addr, packet.V5, connect(""))
	b := dial(t, addr, packet.V5, connect(""))
	ida, idb := a.Connack().Props.AssignedClientID, b.Connack().Props.AssignedClientID
	if ida == "" || idb == "" || ida == idb {
		t.Fatalf("assigned client identifiers %q and %q", ida, idb)
	}
	// 3.1.1: an empty identifier with clean session 1 is accepted.
	c := dial(t, addr, packet.V311, connect(""))
	subscribe(t, c, packet.Subscription{Filter: "x", QoS: packet.QoS0})
	// ... and refused with clean session 0 (MQTT-3.1.3-8 of 3.1.1), sent
	// raw: a client Connection refuses to send it (MQTT-3.1.3-7 of 3.1.1).
	r := dialRaw(t, addr)
	refusedConnect, _ := (&packet.Connect{}).AppendTo(nil, packet.V311)
	r.write(refusedConnect)
	if h, body, ok := r.read(); !ok || h.Type != packet.TypeConnack || len(body) != 2 ||
		packet.ReasonCode(body[1]) != packet.RefusedIdentifierRejected {
		t.Fatalf("empty identifier without clean session: %v % X, want CONNACK 0x02", h.Type, body)
	}
}

func TestNoLocal_MQTT_3_8_3_3(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	c := dial(t, addr, packet.V5, connect("echo"))
	other := dial(t, addr, packet.V5, connect("other"))
	subscribe(t, c, packet.Subscription{Filter: "chat", QoS: packet.QoS1, NoLocal: true})
	subscribe(t, other, packet.Subscription{Filter: "chat", QoS: packet.QoS1})
	publish(t, c, "chat", packet.QoS1, false, "mine")
	expect(t, other, "chat", "mine", packet.QoS1)
	quiet(t, c)
	publish(t, other, "chat", packet.QoS1, false, "theirs")
	expect(t, c, "chat", "theirs", packet.QoS1)
}

func TestSubscriptionIdentifiers_MQTT_3_3_4_4(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	c := dial(t, addr, packet.V5, connect("ids"))
	for i, f := range []string{"a/+", "a/#"} {
		ack, err := c.SubscribeWith(testContext(t), &packet.Subscribe{
			Props:         property.Properties{SubscriptionIDs: []uint32{uint32(i + 1)}},
			Subscriptions: []packet.Subscription{{Filter: f, QoS: packet.QoS(i + 1)}}}, nil)
		if err != nil || ack.Reasons[0].IsError() {
			t.Fatalf("subscribe %q: %v %v", f, err, ack)
		}
	}
	pub := dial(t, addr, packet.V5, connect("pub"))
	publish(t, pub, "a/b", packet.QoS2, false, "both")
	m := expect(t, c, "a/b", "both", packet.QoS2) // once, at the higher QoS (MQTT-3.3.4-2)
	if ids := m.Props.SubscriptionIDs; len(ids) != 2 || ids[0]+ids[1] != 3 {
		t.Fatalf("subscription identifiers %v, want 1 and 2", ids)
	}
	quiet(t, c)
}

func TestShutdownDisconnects(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := broker.New(broker.Config{Logger: brokertest.Logger(t, slog.LevelInfo)})
	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()
	c := dial(t, l.Addr().String(), packet.V5, connect("c"))
	ctx := testContext(t)
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	<-c.Done()
	if r, ok := disconnectedWith(c); !ok || r != packet.ServerShuttingDown {
		t.Fatalf("client ended with %v, want DISCONNECT 0x8B", c.Err())
	}
}

// A subscriber with a small Receive Maximum gets every message, in order:
// the server Connection queues what exceeds the client's quota
// (MQTT-3.3.4-9) and sends it as acknowledgements return.
func TestReceiveMaximumQueue_MQTT_3_3_4_9(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	cn := connect("small")
	cn.Props.ReceiveMaximum = 2
	sub := dial(t, addr, packet.V5, cn)
	subscribe(t, sub, packet.Subscription{Filter: "flow", QoS: packet.QoS2})
	pub := dial(t, addr, packet.V311, connect("pub"))
	const n = 50
	for i := range n {
		m := client.Message{Topic: "flow", QoS: packet.QoS(1 + i%2), Payload: []byte{byte(i)}}
		if err := pub.Publish(testContext(t), m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		m := next(t, sub)
		if len(m.Payload) != 1 || m.Payload[0] != byte(i) {
			t.Fatalf("message %d: payload %v", i, m.Payload)
		}
	}
	quiet(t, sub)
}

// MQTT 3.1 ("MQIsdp") clients share the broker too. The public client
// speaks 5.0 and 3.1.1: the 3.1 client is raw.
func TestMQTT31Client(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	v31 := proto{v: packet.V31}
	old, _ := v31.rawConnect(t, addr, connect("old"))
	if ack := rawSubscribe(old, packet.V31, packet.Subscription{Filter: "legacy/#", QoS: packet.QoS1}); ack.Reasons[0] != packet.GrantedQoS1 {
		t.Fatalf("SUBACK %v", ack.Reasons)
	}
	pub := dial(t, addr, packet.V5, connect("new"))
	publish(t, pub, "legacy/x", packet.QoS2, false, "hello 3.1")
	m := readPublish(old, packet.V31, "legacy/x", packet.QoS1)
	if string(m.Payload) != "hello 3.1" {
		t.Fatalf("payload %q", m.Payload)
	}
	sendAs(old, packet.V31, &packet.Puback{PacketID: m.PacketID})
	rawQuiet(old)
}
