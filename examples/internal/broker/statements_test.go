package broker_test

// The MQTT 5.0 statements about what a server does, each checked end to
// end against the example broker and named by its ID: clients built on
// the core, or raw ones (type raw) where the test needs to see or choose
// the bytes. The 3.1.1 statements are in statements311_test.go, the
// scenarios both versions run in scenarios_test.go.

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// sendAs writes p, encoded for version v, on the raw connection.
func sendAs(r *raw, v packet.Version, ps ...packet.Packet) {
	r.t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = p.AppendTo(b, v); err != nil {
			r.t.Fatal(err)
		}
	}
	r.write(b)
}

// readAs returns the next packet the broker sends on r, decoded for
// version v, or nil once the broker has closed the connection.
func readAs(r *raw, v packet.Version) packet.Packet {
	r.t.Helper()
	h, body, ok := r.read()
	if !ok {
		return nil
	}
	p := packet.New[uint16](h.Type)
	if p == nil {
		r.t.Fatalf("packet of type %v", h.Type)
	}
	if err := p.Decode(v, h.Flags, body); err != nil {
		r.t.Fatalf("decoding %v: %v", h.Type, err)
	}
	return p
}

// readType returns the next packet the broker sends on r, which must be a
// T.
func readType[T packet.Packet](r *raw, v packet.Version) T {
	r.t.Helper()
	p := readAs(r, v)
	x, ok := p.(T)
	if !ok {
		r.t.Fatalf("broker sent %T, want %T", p, x)
	}
	return x
}

// rawQuiet checks that the broker sends nothing on r for a moment.
func rawQuiet(r *raw) {
	r.t.Helper()
	if len(r.buf) > 0 {
		r.t.Fatalf("unexpected bytes from the broker: %x", r.buf)
	}
	_ = r.nc.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	b := make([]byte, 256)
	n, err := r.nc.Read(b)
	if n > 0 {
		r.t.Fatalf("unexpected bytes from the broker: %x", b[:n])
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		r.t.Fatalf("connection ended: %v", err)
	}
}

// refused sends cn for version v on a new connection and checks that the
// broker answers with a CONNACK carrying want and then closes the
// connection.
func refused(t *testing.T, addr string, v packet.Version, cn *packet.Connect, want packet.ReasonCode) {
	t.Helper()
	r := dialRaw(t, addr)
	sendAs(r, v, cn)
	ack := readType[*packet.Connack](r, v)
	if ack.Reason != want {
		t.Fatalf("CONNACK %v, want %v", ack.Reason, want)
	}
	if p := readAs(r, v); p != nil {
		t.Fatalf("after a refusing CONNACK the broker sent %T instead of closing", p)
	}
}

func persistent(id string, expiry uint32) *packet.Connect {
	return &packet.Connect{ClientID: id, KeepAlive: 30, Props: property.Properties{SessionExpiry: expiry}}
}

func TestSessionStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("sess-pub"))

	t.Run("MQTT-3.1.2-6 clean start 0 without a session creates one", func(t *testing.T) {
		sessionCreatedAndResumed(t, proto5, addr, pub, "fresh")
	})

	t.Run("MQTT-3.1.4-4 clean start 1 discards the session", func(t *testing.T) {
		c := cleanStartDiscards(t, proto5, addr, pub, "restart")
		publish(t, pub, "restart", packet.QoS1, false, "no subscription")
		quiet(t, c)
	})

	t.Run("MQTT-3.1.4-5 CONNACK 0x00", func(t *testing.T) {
		r := dialRaw(t, addr)
		sendAs(r, packet.V5, &packet.Connect{ClientID: "acked", CleanStart: true, KeepAlive: 30})
		if ack := readType[*packet.Connack](r, packet.V5); ack.Reason != packet.Success {
			t.Fatalf("CONNACK %v, want 0x00", ack.Reason)
		}
	})

	t.Run("MQTT-3.1.3-2 the client identifier keys the session", func(t *testing.T) {
		identifierKeysSession(t, proto5, addr, pub)
	})

	t.Run("MQTT-4.1.0-1 the session is kept while the connection is open", func(t *testing.T) {
		cn := persistent("open", 1)
		c := dial(t, addr, packet.V5, cn)
		subscribe(t, c, packet.Subscription{Filter: "open/x", QoS: packet.QoS1})
		time.Sleep(1500 * time.Millisecond) // longer than the Session Expiry Interval
		publish(t, pub, "open/x", packet.QoS1, false, "still subscribed")
		expect(t, c, "open/x", "still subscribed", packet.QoS1)
		c.Drop()
		c = resume(t, addr, packet.V5, cn, c)
		if !c.Connack().SessionPresent {
			t.Fatal("session discarded although its expiry only counts once the connection closed")
		}
	})

	t.Run("MQTT-4.5.0-1 a message is added to the sessions of matching subscribers", func(t *testing.T) {
		addedToMatchingSessions(t, proto5, addr, pub)
	})

	// A DISCONNECT with Session Expiry 0 ends a session that the CONNECT
	// (Session Expiry 60) made persistent: the next connection takes over
	// a connection whose session is to end once its DISCONNECT is read
	// and the socket closed, and it finds none.
	t.Run("MQTT-3.1.4-3 MQTT-4.1.0-2 MQTT-3.2.2-3 a session ended by DISCONNECT is not resumed by a client that reconnects at once", func(t *testing.T) {
		bye := &packet.Disconnect{Props: property.Properties{Zero: property.NewSet(property.SessionExpiryInterval)}}
		reconnectsAtOnce(t, proto5, addr, 100, bye, persistent("at-once", 60))
	})
}

func TestClientIDStatements(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, authenticateTestUsers())

	t.Run("MQTT-3.1.3-5 identifiers of 1 to 23 letters and digits", func(t *testing.T) {
		ids := []string{"0", "z", "Z", "0123456789abcdefghijklm", "nopqrstuvwxyzABCDEFGHIJ", "KLMNOPQRSTUVWXYZ"}
		var cs []*brokertest.Client
		for _, id := range ids {
			c := dial(t, addr, packet.V5, connect(id))
			if got := c.Connack().Props.AssignedClientID; got != "" {
				t.Errorf("%q: assigned %q instead", id, got)
			}
			cs = append(cs, c)
		}
		// Each is a client of its own: none took another over.
		for i, c := range cs {
			subscribe(t, c, packet.Subscription{Filter: "id/" + ids[i], QoS: packet.QoS1})
		}
	})

	t.Run("MQTT-3.1.3-6 an empty identifier gets a unique one", func(t *testing.T) {
		seen := map[string]bool{}
		for range 3 {
			c := dial(t, addr, packet.V5, connect(""))
			id := c.Connack().Props.AssignedClientID
			if id == "" || seen[id] {
				t.Fatalf("assigned %q after %v", id, seen)
			}
			seen[id] = true
			subscribe(t, c, packet.Subscription{Filter: "x", QoS: packet.QoS0})
		}
	})

	t.Run("MQTT-3.1.3-7 the assigned identifier is returned and names the session", func(t *testing.T) {
		c := dial(t, addr, packet.V5, persistent("", 60))
		id := c.Connack().Props.AssignedClientID
		if id == "" {
			t.Fatal("no Assigned Client Identifier in CONNACK")
		}
		subscribe(t, c, packet.Subscription{Filter: "assigned", QoS: packet.QoS1})
		c.Drop()
		pub := dial(t, addr, packet.V5, connect("assigned-pub"))
		publish(t, pub, "assigned", packet.QoS1, false, "kept for "+id)
		c = resume(t, addr, packet.V5, persistent(id, 60), c)
		if !c.Connack().SessionPresent {
			t.Fatalf("no session for the assigned identifier %q", id)
		}
		expect(t, c, "assigned", "kept for "+id, packet.QoS1)
	})

	t.Run("MQTT-3.1.3-8 refused identifier: 0x85, then close", func(t *testing.T) {
		refused(t, addr, packet.V5, connect("banned"), packet.ClientIdentifierNotValid)
	})

	t.Run("MQTT-3.1.4-2 failed authentication: CONNACK, then close", func(t *testing.T) {
		cn := connect("mallorys-client")
		cn.Username, cn.Password = "mallory", []byte("guess")
		refused(t, addr, packet.V5, cn, packet.BadUserNameOrPassword)
	})

	t.Run("MQTT-4.12.0-1 unsupported authentication method: 0x8C, then close", func(t *testing.T) {
		cn := connect("scram")
		cn.Props.AuthMethod = "SCRAM-SHA-1"
		refused(t, addr, packet.V5, cn, packet.BadAuthenticationMethod)
	})
}

func TestWillStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	watcher := dial(t, addr, packet.V5, connect("will-watcher"))
	subscribe(t, watcher, packet.Subscription{Filter: "#", QoS: packet.QoS1, RetainAsPublished: true})
	will := func(id string, retain bool) *packet.Connect { return withWill(connect(id), packet.QoS1, retain) }

	t.Run("MQTT-3.1.2-12 no will flag, no will", func(t *testing.T) {
		noWillWithoutFlag(t, proto5, addr, watcher, packet.QoS1)
	})

	t.Run("MQTT-3.1.2-16 will retain 0: not retained", func(t *testing.T) {
		c := dial(t, addr, packet.V5, will("plain", false))
		c.Drop()
		if m := expect(t, watcher, "wills/plain", "plain is gone", packet.QoS1); m.Retain {
			t.Error("will published as a retained message")
		}
		late := dial(t, addr, packet.V5, connect("late-plain"))
		subscribe(t, late, packet.Subscription{Filter: "wills/plain", QoS: packet.QoS1})
		quiet(t, late)
	})

	t.Run("MQTT-3.1.2-17 will retain 1: retained", func(t *testing.T) {
		c := dial(t, addr, packet.V5, will("kept", true))
		c.Drop()
		if m := expect(t, watcher, "wills/kept", "kept is gone", packet.QoS1); !m.Retain {
			t.Error("will published as a non-retained message")
		}
		late := dial(t, addr, packet.V5, connect("late-kept"))
		subscribe(t, late, packet.Subscription{Filter: "wills/kept", QoS: packet.QoS1})
		if m := expect(t, late, "wills/kept", "kept is gone", packet.QoS1); !m.Retain {
			t.Error("retained will sent without the retain flag")
		}
	})

	t.Run("MQTT-3.1.2-10 removed once published", func(t *testing.T) {
		t.Run("session ending later", func(t *testing.T) {
			cn := will("once", false)
			cn.Props.SessionExpiry = 1
			c := dial(t, addr, packet.V5, cn)
			c.Drop()
			expect(t, watcher, "wills/once", "once is gone", packet.QoS1)
			// Had the will stayed in the session, its end would publish
			// it again.
			select {
			case m := <-watcher.Messages():
				t.Fatalf("%q published again", m.Topic)
			case <-time.After(1500 * time.Millisecond):
			}
		})
		t.Run("session resumed", func(t *testing.T) {
			willRemovedOncePublished(t, proto5, addr, watcher, "resumed")
		})
	})

	t.Run("MQTT-3.14.4-3 DISCONNECT 0x00 then at once a new connection: no will", func(t *testing.T) {
		disconnectThenTakeOver(t, proto5, addr, watcher)
	})

	t.Run("MQTT-3.1.2-10 removed by DISCONNECT 0x00", func(t *testing.T) {
		cn := will("bye", false)
		cn.Props.SessionExpiry = 60
		cn.Will.Props.WillDelay = 1
		c := dial(t, addr, packet.V5, cn)
		if err := c.Disconnect(testContext(t), &packet.Disconnect{Reason: packet.NormalDisconnection}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-watcher.Messages():
			t.Fatalf("%q published after DISCONNECT 0x00", m.Topic)
		case <-time.After(1300 * time.Millisecond): // past the Will Delay Interval
		}
		c = resume(t, addr, packet.V5, persistent("bye", 60), c)
		if !c.Connack().SessionPresent {
			t.Fatal("session not present")
		}
		c.Drop()
		quiet(t, watcher)
	})
}

func TestRetainedStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("retain-pub"))
	late := &lateSubscribers{p: proto5, addr: addr}
	send := func(t *testing.T, topic string, qos packet.QoS, retain bool, payload string) {
		t.Helper()
		publish(t, pub, topic, qos, retain, payload)
	}

	t.Run("MQTT-3.3.1-7 an empty retained message is not stored", func(t *testing.T) {
		emptyRetainedNotStored(t, send, late, "empty")
	})

	t.Run("MQTT-3.3.1-8 retain 0 neither stores, removes nor replaces", func(t *testing.T) {
		retainZeroKeepsRetained(t, send, late, "keep")
	})

	t.Run("MQTT-3.3.1-9 retain handling 0 sends all matching retained messages", func(t *testing.T) {
		for _, topic := range []string{"all/a", "all/b", "all/c", "all/b/deeper", "other/a"} {
			publish(t, pub, topic, packet.QoS1, true, "r:"+topic)
		}
		got := late.get(t, "all/+", 3)
		for _, topic := range []string{"all/a", "all/b", "all/c"} {
			if m := got[topic]; m == nil || string(m.Payload) != "r:"+topic {
				t.Errorf("%q: got %v", topic, m)
			}
		}
	})

	t.Run("MQTT-3.8.4-4 retain handling 0 re-sends them on a repeated subscription", func(t *testing.T) {
		publish(t, pub, "again/x", packet.QoS1, true, "r")
		c := dial(t, addr, packet.V5, connect("retain-again"))
		s := packet.Subscription{Filter: "again/+", QoS: packet.QoS1}
		for range 3 {
			subscribe(t, c, s)
			if m := expect(t, c, "again/x", "r", packet.QoS1); !m.Retain {
				t.Error("retained message without the retain flag")
			}
		}
		quiet(t, c)
	})

	t.Run("MQTT-3.8.4-4 no publication lost while the subscription is replaced", func(t *testing.T) {
		resubscribeLosesNothing(t, proto5, addr, pub, "resub")
	})
}

func TestRoutingStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("route-pub"))

	t.Run("MQTT-3.3.2-3 topic name as published, topic alias resolved", func(t *testing.T) {
		sub := dial(t, addr, packet.V5, connect("alias-sub"))
		subscribe(t, sub, packet.Subscription{Filter: "a/+/c", QoS: packet.QoS1})
		r := dialRaw(t, addr)
		r.connect(&packet.Connect{ClientID: "alias-pub", CleanStart: true, KeepAlive: 30})
		// The topic with alias 1, then alias 1 alone.
		for i, topic := range []string{"a/b/c", ""} {
			sendAs(r, packet.V5, &packet.Publish{Topic: topic, QoS: packet.QoS1, PacketID: uint16(i + 1),
				Payload: []byte{byte(i)}, Props: property.Properties{TopicAlias: 1}})
			readType[*packet.Puback](r, packet.V5)
			m := expect(t, sub, "a/b/c", string([]byte{byte(i)}), packet.QoS1)
			if m.Props.TopicAlias != 0 {
				t.Errorf("topic alias %d sent to a client that allows none", m.Props.TopicAlias)
			}
		}
	})

	// One message with every property a server forwards, to subscribers
	// by an exact filter, by a wildcard, and by a later subscription that
	// gets it as the retained message.
	props := property.Properties{
		PayloadFormat:   1,
		ContentType:     "text/plain; charset=utf-8",
		ResponseTopic:   "replies/route",
		CorrelationData: []byte{0, 1, 2, 0xff},
		User: []property.User{{Key: "b", Value: "2"}, {Key: "a", Value: "1"},
			{Key: "b", Value: "3"}, {Key: "", Value: ""}, {Key: "a", Value: "1"}},
	}
	exact := dial(t, addr, packet.V5, connect("props-exact"))
	subscribe(t, exact, packet.Subscription{Filter: "props/x", QoS: packet.QoS2})
	wild := dial(t, addr, packet.V5, connect("props-wild"))
	subscribe(t, wild, packet.Subscription{Filter: "props/#", QoS: packet.QoS0})
	p := client.Message{Topic: "props/x", QoS: packet.QoS1, Retain: true, Payload: []byte("ping"), Props: props}
	if err := pub.Publish(testContext(t), p); err != nil {
		t.Fatal(err)
	}
	later := dial(t, addr, packet.V5, connect("props-later"))
	subscribe(t, later, packet.Subscription{Filter: "props/+", QoS: packet.QoS1})
	got := []client.Message{
		expect(t, exact, "props/x", "ping", packet.QoS1),
		expect(t, wild, "props/x", "ping", packet.QoS0),
		expect(t, later, "props/x", "ping", packet.QoS1),
	}
	each := func(t *testing.T, check func(m *property.Properties) error) {
		t.Helper()
		for i, m := range got {
			if err := check(&m.Props); err != nil {
				t.Errorf("subscriber %d: %v", i, err)
			}
		}
	}
	t.Run("MQTT-3.3.2-4 Payload Format Indicator unaltered", func(t *testing.T) {
		each(t, func(m *property.Properties) error {
			if !m.Has(property.PayloadFormatIndicator) || m.PayloadFormat != 1 {
				return fmt.Errorf("Payload Format Indicator %d (present %v), want 1", m.PayloadFormat, m.Has(property.PayloadFormatIndicator))
			}
			return nil
		})
	})
	t.Run("MQTT-3.3.2-15 Response Topic unaltered", func(t *testing.T) {
		each(t, func(m *property.Properties) error {
			if m.ResponseTopic != props.ResponseTopic {
				return fmt.Errorf("Response Topic %q, want %q", m.ResponseTopic, props.ResponseTopic)
			}
			return nil
		})
	})
	t.Run("MQTT-3.3.2-16 Correlation Data unaltered", func(t *testing.T) {
		each(t, func(m *property.Properties) error {
			if !bytes.Equal(m.CorrelationData, props.CorrelationData) {
				return fmt.Errorf("Correlation Data %x, want %x", m.CorrelationData, props.CorrelationData)
			}
			return nil
		})
	})
	t.Run("MQTT-3.3.2-17 all User Properties unaltered", func(t *testing.T) {
		each(t, func(m *property.Properties) error {
			if len(m.User) != len(props.User) {
				return fmt.Errorf("%d User Properties, want %d: %q", len(m.User), len(props.User), m.User)
			}
			for _, u := range props.User {
				if !slices.Contains(m.User, u) {
					return fmt.Errorf("User Property %q missing from %q", u, m.User)
				}
			}
			return nil
		})
	})
	t.Run("MQTT-3.3.2-18 User Properties in order", func(t *testing.T) {
		each(t, func(m *property.Properties) error {
			if !slices.Equal(m.User, props.User) {
				return fmt.Errorf("User Properties %q, want %q", m.User, props.User)
			}
			return nil
		})
	})
	t.Run("MQTT-3.3.2-20 Content Type unaltered", func(t *testing.T) {
		each(t, func(m *property.Properties) error {
			if m.ContentType != props.ContentType {
				return fmt.Errorf("Content Type %q, want %q", m.ContentType, props.ContentType)
			}
			return nil
		})
	})

	// Properties present with a zero value are present when forwarded.
	zsub := dial(t, addr, packet.V5, connect("zero-sub"))
	subscribe(t, zsub, packet.Subscription{Filter: "zero", QoS: packet.QoS1})
	zp := client.Message{Topic: "zero", QoS: packet.QoS1, Payload: []byte{0xff}, Props: property.Properties{
		Zero:            property.Set(0).With(property.PayloadFormatIndicator).With(property.ContentType),
		CorrelationData: []byte{}}}
	if err := pub.Publish(testContext(t), zp); err != nil {
		t.Fatal(err)
	}
	zm := expect(t, zsub, "zero", "\xff", packet.QoS1)
	for _, tc := range []struct {
		name string
		id   property.ID
	}{
		{"MQTT-3.3.2-4 Payload Format Indicator 0 stays present", property.PayloadFormatIndicator},
		{"MQTT-3.3.2-16 empty Correlation Data stays present", property.CorrelationData},
		{"MQTT-3.3.2-20 empty Content Type stays present", property.ContentType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !zm.Props.Has(tc.id) {
				t.Errorf("property %v left out; received %v", tc.id, zm.Props.Present())
			}
		})
	}
	if zm.Props.PayloadFormat != 0 || zm.Props.ContentType != "" || len(zm.Props.CorrelationData) != 0 {
		t.Errorf("zero values changed: %+v", zm.Props)
	}
}

func TestOverlapStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("overlap-pub"))
	subWithID := func(t *testing.T, c *brokertest.Client, id uint32, s packet.Subscription) {
		t.Helper()
		p := &packet.Subscribe{Subscriptions: []packet.Subscription{s}}
		if id != 0 {
			p.Props.SubscriptionIDs = []uint32{id}
		}
		ack, err := c.SubscribeWith(testContext(t), p, nil)
		if err != nil || len(ack.Reasons) != 1 || ack.Reasons[0] != packet.ReasonCode(s.QoS) {
			t.Fatalf("subscribe %q: %v %v", s.Filter, err, ack)
		}
	}

	t.Run("MQTT-3.3.4-2 once, at the highest QoS of the matching subscriptions", func(t *testing.T) {
		onceAtHighestQoS(t, proto5, addr, pub)
	})

	t.Run("MQTT-3.3.4-3 the Subscription Identifiers of all of them", func(t *testing.T) {
		c := dial(t, addr, packet.V5, connect("overlap-ids"))
		subWithID(t, c, 7, packet.Subscription{Filter: "ids/+", QoS: packet.QoS1})
		subWithID(t, c, 0, packet.Subscription{Filter: "ids/#", QoS: packet.QoS1})
		subWithID(t, c, 300000, packet.Subscription{Filter: "+/x", QoS: packet.QoS0})
		publish(t, pub, "ids/x", packet.QoS1, false, "three")
		m := expect(t, c, "ids/x", "three", packet.QoS1)
		ids := slices.Sorted(slices.Values(m.Props.SubscriptionIDs))
		if !slices.Equal(ids, []uint32{7, 300000}) {
			t.Errorf("Subscription Identifiers %v, want 7 and 300000", m.Props.SubscriptionIDs)
		}
		publish(t, pub, "ids/y", packet.QoS1, false, "two")
		m = expect(t, c, "ids/y", "two", packet.QoS1)
		if !slices.Equal(m.Props.SubscriptionIDs, []uint32{7}) {
			t.Errorf("Subscription Identifiers %v, want 7", m.Props.SubscriptionIDs)
		}
		publish(t, pub, "ids/y/z", packet.QoS1, false, "none")
		if m = expect(t, c, "ids/y/z", "none", packet.QoS1); len(m.Props.SubscriptionIDs) != 0 {
			t.Errorf("Subscription Identifiers %v for a subscription without one", m.Props.SubscriptionIDs)
		}
	})

	t.Run("MQTT-3.3.4-5 each PUBLISH carries the identifier of its own subscription", func(t *testing.T) {
		// The retained messages sent on subscribing are one PUBLISH per
		// subscription that matches.
		publish(t, pub, "each/x", packet.QoS1, true, "r")
		c := dial(t, addr, packet.V5, connect("overlap-each"))
		for _, s := range []struct {
			id     uint32
			filter string
		}{{1, "each/+"}, {2, "each/#"}} {
			subWithID(t, c, s.id, packet.Subscription{Filter: s.filter, QoS: packet.QoS1})
			m := expect(t, c, "each/x", "r", packet.QoS1)
			if !slices.Equal(m.Props.SubscriptionIDs, []uint32{s.id}) {
				t.Errorf("retained message for subscription %d carries %v", s.id, m.Props.SubscriptionIDs)
			}
		}
		quiet(t, c)
	})

	t.Run("MQTT-3.8.4-3 an identical filter replaces the subscription", func(t *testing.T) {
		c := dial(t, addr, packet.V5, connect("replace"))
		subWithID(t, c, 1, packet.Subscription{Filter: "rep", QoS: packet.QoS2})
		subWithID(t, c, 2, packet.Subscription{Filter: "rep", QoS: packet.QoS0, NoLocal: true})
		publish(t, pub, "rep", packet.QoS2, false, "x")
		m := expect(t, c, "rep", "x", packet.QoS0)
		if !slices.Equal(m.Props.SubscriptionIDs, []uint32{2}) {
			t.Errorf("Subscription Identifiers %v, want only the new one, 2", m.Props.SubscriptionIDs)
		}
		publish(t, c, "rep", packet.QoS1, false, "own") // the new No Local
		quiet(t, c)
	})
}

func TestSubscribeStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("subscribe-pub"))
	r := dialRaw(t, addr)
	r.connect(&packet.Connect{ClientID: "subscribe-raw", CleanStart: true, KeepAlive: 30})
	ack := subscribeThree(r, packet.V5, 0x1234)

	t.Run("MQTT-3.8.4-2 SUBACK with the packet identifier of the SUBSCRIBE", func(t *testing.T) {
		if ack.PacketID != 0x1234 {
			t.Errorf("SUBACK packet identifier %#x, want 0x1234", ack.PacketID)
		}
	})
	t.Run("MQTT-3.8.4-6 a reason code for each filter", func(t *testing.T) {
		if len(ack.Reasons) != 3 {
			t.Errorf("SUBACK reason codes %v for 3 filters", ack.Reasons)
		}
	})
	t.Run("MQTT-3.8.4-7 each the granted QoS, in order", func(t *testing.T) {
		if want := []packet.ReasonCode{1, 2, 0}; !slices.Equal(ack.Reasons, want) {
			t.Errorf("SUBACK reason codes %v, want %v", ack.Reasons, want)
		}
	})
	t.Run("MQTT-3.8.4-5 handled as a sequence of SUBSCRIBEs with one SUBACK", func(t *testing.T) {
		// One SUBACK (the PINGRESP came next); s/a was subscribed at QoS 1
		// then replaced at QoS 0.
		publish(t, pub, "s/a", packet.QoS2, false, "a")
		readPublish(r, packet.V5, "s/a", packet.QoS0)
		publish(t, pub, "s/b", packet.QoS2, false, "b")
		m := readPublish(r, packet.V5, "s/b", packet.QoS2)
		sendAs(r, packet.V5, &packet.Pubrec{PacketID: m.PacketID})
		readType[*packet.Pubrel](r, packet.V5)
		sendAs(r, packet.V5, &packet.Pubcomp{PacketID: m.PacketID})
		rawQuiet(r)
	})
}

func TestUnsubscribeStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("unsub-pub"))

	t.Run("MQTT-3.10.4-1 filters compared character by character", func(t *testing.T) {
		c := dial(t, addr, packet.V5, connect("unsub-exact"))
		for i, f := range []string{"u/+", "u/b"} {
			p := &packet.Subscribe{Props: property.Properties{SubscriptionIDs: []uint32{uint32(i + 1)}},
				Subscriptions: []packet.Subscription{{Filter: f, QoS: packet.QoS1}}}
			if _, err := c.SubscribeWith(testContext(t), p, nil); err != nil {
				t.Fatal(err)
			}
		}
		ack, err := c.UnsubscribeWith(testContext(t), &packet.Unsubscribe{Filters: []string{"U/+", "u/b", "u/#", "u/+/"}})
		if err != nil {
			t.Fatal(err)
		}
		want := []packet.ReasonCode{packet.NoSubscriptionExisted, packet.Success,
			packet.NoSubscriptionExisted, packet.NoSubscriptionExisted}
		if !slices.Equal(ack.Reasons, want) {
			t.Fatalf("UNSUBACK %v, want %v", ack.Reasons, want)
		}
		publish(t, pub, "u/b", packet.QoS1, false, "via u/+")
		if m := expect(t, c, "u/b", "via u/+", packet.QoS1); !slices.Equal(m.Props.SubscriptionIDs, []uint32{1}) {
			t.Errorf("Subscription Identifiers %v: u/+ alone should be left", m.Props.SubscriptionIDs)
		}
	})

	t.Run("MQTT-3.10.4-2 no new messages after UNSUBSCRIBE", func(t *testing.T) {
		nothingAfterUnsubscribe(t, proto5, addr, pub)
	})

	t.Run("MQTT-3.10.4-3 QoS 2 delivery in progress completes", func(t *testing.T) {
		unsubscribeCompletesQoS2(t, proto5, addr, pub)
	})

	t.Run("MQTT-3.10.4-3 QoS 1 delivery in progress completes after a reconnection", func(t *testing.T) {
		cn := &packet.Connect{ClientID: "unsub-q1", CleanStart: true, KeepAlive: 30,
			Props: property.Properties{SessionExpiry: 60}}
		r := dialRaw(t, addr)
		r.connect(cn)
		rawSubscribe(r, packet.V5, packet.Subscription{Filter: "q1", QoS: packet.QoS1})
		publish(t, pub, "q1", packet.QoS1, false, "in flight")
		m := readType[*packet.Publish](r, packet.V5)
		sendAs(r, packet.V5, &packet.Unsubscribe{PacketID: 2, Filters: []string{"q1"}})
		readType[*packet.Unsuback](r, packet.V5)
		r.nc.Close()
		r = proto5.redelivered(t, addr, cn, m)
		sendAs(r, packet.V5, &packet.Puback{PacketID: m.PacketID})
		rawQuiet(r)
	})

	r := dialRaw(t, addr)
	r.connect(&packet.Connect{ClientID: "unsub-raw", CleanStart: true, KeepAlive: 30})
	rawSubscribe(r, packet.V5, packet.Subscription{Filter: "x/a", QoS: packet.QoS1},
		packet.Subscription{Filter: "x/b", QoS: packet.QoS1})
	sendAs(r, packet.V5, &packet.Unsubscribe{PacketID: 0x4321, Filters: []string{"x/a", "never", "x/b"}})
	ack := readType[*packet.Unsuback](r, packet.V5)
	sendAs(r, packet.V5, &packet.Pingreq{})
	readType[*packet.Pingresp](r, packet.V5) // not a second UNSUBACK
	t.Run("MQTT-3.10.4-4 UNSUBACK", func(t *testing.T) {
		if ack.PacketID == 0 || len(ack.Reasons) == 0 {
			t.Errorf("UNSUBACK %+v", ack)
		}
	})
	t.Run("MQTT-3.10.4-5 with the packet identifier of the UNSUBSCRIBE", func(t *testing.T) {
		if ack.PacketID != 0x4321 {
			t.Errorf("UNSUBACK packet identifier %#x, want 0x4321", ack.PacketID)
		}
	})
	t.Run("MQTT-3.11.3-1 reason codes in the order of the filters", func(t *testing.T) {
		want := []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted, packet.Success}
		if !slices.Equal(ack.Reasons, want) {
			t.Errorf("UNSUBACK %v, want %v", ack.Reasons, want)
		}
	})
	t.Run("MQTT-3.10.4-6 handled as a sequence, with one UNSUBACK", func(t *testing.T) {
		publish(t, pub, "x/a", packet.QoS1, false, "a")
		publish(t, pub, "x/b", packet.QoS1, false, "b")
		rawQuiet(r) // both subscriptions gone; the PINGRESP came after the one UNSUBACK
	})
	t.Run("MQTT-3.10.4-5 UNSUBACK even when nothing was deleted", func(t *testing.T) {
		sendAs(r, packet.V5, &packet.Unsubscribe{PacketID: 9, Filters: []string{"none/x"}})
		a := readType[*packet.Unsuback](r, packet.V5)
		if a.PacketID != 9 || !slices.Equal(a.Reasons, []packet.ReasonCode{packet.NoSubscriptionExisted}) {
			t.Errorf("UNSUBACK %d %v, want 9 [0x11]", a.PacketID, a.Reasons)
		}
	})
}

func TestOrderStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	all := dial(t, addr, packet.V5, connect("order-all"))
	subscribe(t, all, packet.Subscription{Filter: "ord/#", QoS: packet.QoS2})
	one := dial(t, addr, packet.V5, connect("order-one"))
	subscribe(t, one, packet.Subscription{Filter: "ord/+", QoS: packet.QoS1})
	pub := dial(t, addr, packet.V5, connect("order-pub"))
	const n = 100
	publishInterleaved(t, pub, n)
	t.Run("MQTT-4.6.0-5 in the order received, per topic and QoS", func(t *testing.T) {
		receivedInOrder(t, all, n, "ord/#")
	})
	t.Run("MQTT-4.6.0-6 every topic ordered on non-shared subscriptions", func(t *testing.T) {
		receivedInOrder(t, one, n, "ord/+")
	})
}

func TestTopicMatchingStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("match-pub"))
	const nfc, nfd = "caf\u00e9/x", "cafe\u0301/x" // é composed, and e with a combining accent
	subs := subscribeEach(t, proto5, addr, nfc, nfd, "a/b", "A/B/+")
	t.Run("MQTT-4.7.3-4 no normalization of topics or filters", func(t *testing.T) {
		matchedExactly(t, pub, subs, []topicCase{
			{nfd, nfd}, {nfc, nfc}, {"CAF\u00c9/x", ""}, {"a/b/", ""}, {"a//b", ""}, {"/a/b", ""},
			{"a/b ", ""}, {"A/b", ""}, {"A/B/c", "A/B/+"}, {"a/B/c", ""}, {"a/b", "a/b"},
		})
	})
}

func TestSharedStatements(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("shared-pub"))

	// member connects a raw member of group g on topic, at qos, first in
	// the group, and a client member second; the turn starts at the raw
	// one.
	member := func(t *testing.T, id, topic string, qos packet.QoS, expiry uint32) (*raw, *brokertest.Client, *packet.Connect) {
		t.Helper()
		cn := &packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30, Props: property.Properties{SessionExpiry: expiry}}
		r := dialRaw(t, addr)
		r.connect(cn)
		if ack := rawSubscribe(r, packet.V5, packet.Subscription{Filter: "$share/g/" + topic, QoS: qos}); ack.Reasons[0] != packet.ReasonCode(qos) {
			t.Fatalf("SUBACK %v", ack.Reasons)
		}
		other := dial(t, addr, packet.V5, connect(id+"-other"))
		subscribe(t, other, packet.Subscription{Filter: "$share/g/" + topic, QoS: qos})
		return r, other, cn
	}

	t.Run("MQTT-4.8.2-4 QoS 2 delivery completed on reconnection", func(t *testing.T) {
		r, other, cn := member(t, "shared-q2", "q2", packet.QoS2, 60)
		publish(t, pub, "q2", packet.QoS2, false, "mine")
		m := readType[*packet.Publish](r, packet.V5)
		if string(m.Payload) != "mine" || m.QoS != packet.QoS2 {
			t.Fatalf("got %q at QoS %d", m.Payload, m.QoS)
		}
		r.nc.Close() // no PUBREC
		quiet(t, other)
		r = proto5.redelivered(t, addr, cn, m)
		sendAs(r, packet.V5, &packet.Pubrec{PacketID: m.PacketID})
		readType[*packet.Pubrel](r, packet.V5)
		sendAs(r, packet.V5, &packet.Pubcomp{PacketID: m.PacketID})
		rawQuiet(r)
		quiet(t, other)
	})

	for _, tc := range []struct {
		qos packet.QoS
		ack packet.Packet
	}{
		{packet.QoS1, &packet.Puback{Reason: packet.UnspecifiedError}},
		{packet.QoS2, &packet.Pubrec{Reason: packet.ImplementationSpecificError}},
	} {
		t.Run(fmt.Sprintf("MQTT-4.8.2-6 refused at QoS %d: not sent to another member", tc.qos), func(t *testing.T) {
			topic := fmt.Sprint("refuse", tc.qos)
			r, other, _ := member(t, "shared-"+topic, topic, tc.qos, 0)
			publish(t, pub, topic, tc.qos, false, "refused")
			m := readType[*packet.Publish](r, packet.V5)
			switch a := tc.ack.(type) {
			case *packet.Puback:
				a.PacketID = m.PacketID
			case *packet.Pubrec:
				a.PacketID = m.PacketID
			}
			sendAs(r, packet.V5, tc.ack)
			quiet(t, other)
			rawQuiet(r)
			// The group goes on: the next turn is the other member's.
			publish(t, pub, topic, tc.qos, false, "next")
			expect(t, other, topic, "next", tc.qos)
		})
	}
}
