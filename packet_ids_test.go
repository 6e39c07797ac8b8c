package mqtt

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Packet identifiers (section 2.2.1): never 0, not in use, released once
// the exchange ends (or the send fails, or the connection closes), the
// same when a message is re-sent; acknowledgements carry the identifier
// of their request; a client that floods SUBSCRIBE or reuses an
// identifier in use.

func TestRulesPacketIDs(t *testing.T) {
	for _, v := range versions {
		t.Run("MQTT-2.2.1-3/"+v.String()+"/never-0-and-round-robin", func(t *testing.T) {
			c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			p := &packet.Publish{Topic: "a", QoS: 1}
			prev := uint16(0)
			n := 1000
			if v == packet.V5 { // the wrap past 65535 once is enough
				n = 65535 + 10
			}
			for i := range n {
				p.PacketID = 0
				if _, err := c.Send(p); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				id := p.PacketID
				if id == 0 || id == prev {
					t.Fatalf("send %d: id %d after %d", i, id, prev)
				}
				prev = id
				evs := c.Recv(wire(t, v, &packet.Puback{PacketID: id}))
				if r := released(evs); len(r) != 1 || r[0] != id {
					t.Fatalf("PUBACK %d released %v", id, r)
				}
			}
			if c.ids.InUse() != 0 || c.SendQuota() != 65535 || (n > 65535 && prev != 10) {
				t.Fatalf("in use %d, quota %d, last id %d", c.ids.InUse(), c.SendQuota(), prev)
			}
		})
	}

	sub := func() packet.Packet {
		return &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 1}}}
	}
	unsub := func() packet.Packet { return &packet.Unsubscribe{Filters: []string{"a/#"}} }
	cases := []struct {
		name    string
		v       packet.Version
		send    packet.Packet
		answers []packet.Packet // for id 1; the exchange ends after the last
		quota   bool            // the exchange took a unit of send quota
	}{
		{"MQTT-4.3.2-3/v5/PUBACK", packet.V5, &packet.Publish{Topic: "a", QoS: 1}, []packet.Packet{&packet.Puback{PacketID: 1}}, true},
		{"MQTT-4.3.2-1/3.1.1/PUBACK", packet.V311, &packet.Publish{Topic: "a", QoS: 1}, []packet.Packet{&packet.Puback{PacketID: 1}}, true},
		{"MQTT-4.4.0-2/v5/PUBACK-error", packet.V5, &packet.Publish{Topic: "a", QoS: 1}, []packet.Packet{&packet.Puback{PacketID: 1, Reason: packet.NotAuthorized}}, true},
		{"MQTT-4.3.3-5/v5/PUBREC-PUBCOMP", packet.V5, &packet.Publish{Topic: "a", QoS: 2}, []packet.Packet{&packet.Pubrec{PacketID: 1}, &packet.Pubcomp{PacketID: 1}}, true},
		{"MQTT-4.3.3-1/3.1.1/PUBREC-PUBCOMP", packet.V311, &packet.Publish{Topic: "a", QoS: 2}, []packet.Packet{&packet.Pubrec{PacketID: 1}, &packet.Pubcomp{PacketID: 1}}, true},
		{"MQTT-4.4.0-2/v5/PUBREC-error", packet.V5, &packet.Publish{Topic: "a", QoS: 2}, []packet.Packet{&packet.Pubrec{PacketID: 1, Reason: packet.QuotaExceeded}}, true},
		{"MQTT-2.2.1-6/v5/SUBACK", packet.V5, sub(), []packet.Packet{&packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{1}}}, false},
		{"MQTT-2.3.1-7/3.1.1/SUBACK", packet.V311, sub(), []packet.Packet{&packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{packet.SubscribeFailure}}}, false},
		{"MQTT-2.2.1-6/v5/UNSUBACK", packet.V5, unsub(), []packet.Packet{&packet.Unsuback{PacketID: 1, Reasons: []packet.ReasonCode{0}}}, false},
		{"MQTT-2.3.1-7/3.1.1/UNSUBACK", packet.V311, unsub(), []packet.Packet{&packet.Unsuback{PacketID: 1}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name+"-releases-id", func(t *testing.T) {
			v := tc.v
			c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: 5}))
			q0 := c.SendQuota()
			if _, err := c.Send(tc.send); err != nil {
				t.Fatal(err)
			}
			if c.ids.InUse() != 1 {
				t.Fatalf("in use %d", c.ids.InUse())
			}
			if q := c.SendQuota(); tc.quota != (q == q0-1) {
				t.Fatalf("quota %d -> %d", q0, q)
			}
			for i, a := range tc.answers {
				evs := c.Recv(wire(t, v, a))
				last := i == len(tc.answers)-1
				if r := released(evs); last != (len(r) == 1 && r[0] == 1) || len(r) > 1 {
					t.Fatalf("after %v: released %v", a.Type(), r)
				}
				if evErr(evs) != nil {
					t.Fatalf("%v", evs)
				}
			}
			if c.ids.InUse() != 0 || c.outbound.Len() != 0 || c.SendQuota() != q0 {
				t.Fatalf("after the exchange: in use %d, outbound %v, quota %d of %d", c.ids.InUse(), c.outbound, c.SendQuota(), q0)
			}
		})
	}

	t.Run("MQTT-2.2.1-3/failed-sends-release", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		bad := []packet.Packet{
			&packet.Publish{Topic: "a/+", QoS: 1}, // wildcard in a topic name
			&packet.Publish{Topic: "a", QoS: 2, Payload: nil, Dup: false, Props: property.Properties{SessionExpiry: 1}}, // property not allowed
			&packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a/#/b"}}},
			&packet.Subscribe{}, // no filter
			&packet.Unsubscribe{Filters: []string{""}},
		}
		for _, p := range bad {
			before := snap(c)
			if evs, err := c.Send(p); err == nil || len(evs) != 0 {
				t.Fatalf("Send(%v) = %v, %v", p.Type(), evs, err)
			}
			if !snap(c).equal(before) || c.ids.InUse() != 0 {
				t.Fatalf("%v: state changed", p.Type())
			}
			switch p := p.(type) {
			case *packet.Publish:
				if p.PacketID != 0 {
					t.Fatalf("id %d left in the refused PUBLISH", p.PacketID)
				}
			case *packet.Subscribe:
				if p.PacketID != 0 {
					t.Fatalf("id %d left in the refused SUBSCRIBE", p.PacketID)
				}
			}
		}
	})
	t.Run("MQTT-2.2.1-3/caller-chosen-id-in-use", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		if _, err := c.Send(&packet.Publish{Topic: "a", QoS: 1, PacketID: 7}); err != nil {
			t.Fatal(err)
		}
		refused(t, c, &packet.Publish{Topic: "a", QoS: 2, PacketID: 7}, ErrIDInUse)
		refused(t, c, &packet.Subscribe{PacketID: 7, Subscriptions: []packet.Subscription{{Filter: "a"}}}, ErrIDInUse)
		p := &packet.Publish{Topic: "a", QoS: 1}
		for range 3 {
			p.PacketID = 0
			if _, err := c.Send(p); err != nil || p.PacketID == 7 || p.PacketID == 0 {
				t.Fatalf("allocated %d, %v", p.PacketID, err)
			}
		}
	})
	t.Run("MQTT-2.2.1-3/Closed-releases-all", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		for _, p := range []packet.Packet{&packet.Publish{Topic: "a", QoS: 1}, &packet.Publish{Topic: "a", QoS: 2}, sub(), unsub()} {
			if _, err := c.Send(p); err != nil {
				t.Fatal(err)
			}
		}
		c.Recv(wire(t, v, &packet.Pubrec{PacketID: 2})) // id 2 now awaits PUBCOMP
		evs := c.Closed()
		r := released(evs)
		slices.Sort(r)
		if !slices.Equal(r, []uint16{1, 2, 3, 4}) || c.ids.InUse() != 0 || count(evs, EventClose) != 1 {
			t.Fatalf("Closed: %v", evs)
		}
	})
	t.Run("MQTT-2.2.1-5/late-acks-for-unknown-ids", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		if _, err := c.Send(&packet.Publish{Topic: "a", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		for _, a := range []packet.Packet{&packet.Puback{PacketID: 9}, &packet.Pubcomp{PacketID: 1},
			&packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{0}}, &packet.Unsuback{PacketID: 1, Reasons: []packet.ReasonCode{0}}} {
			evs := c.Recv(wire(t, v, a))
			if len(released(evs)) != 0 || evErr(evs) != nil {
				t.Fatalf("%v for no exchange: %v", a.Type(), evs)
			}
		}
		if c.ids.InUse() != 1 || c.outbound.Value(1) != awaitPuback {
			t.Fatalf("exchange 1 disturbed: %v", c.outbound)
		}
		// A PUBREC for an unknown id gets PUBREL 0x92 in v5.
		ps := sent(t, v, c.Recv(wire(t, v, &packet.Pubrec{PacketID: 9})))
		if len(ps) != 1 || ps[0].(*packet.Pubrel).Reason != packet.PacketIdentifierNotFound || ps[0].(*packet.Pubrel).PacketID != 9 {
			t.Fatalf("PUBREC 9: sent %v", ps)
		}
	})
}

// TestHostileSubscribeStorm: thousands of SUBSCRIBE packets sent without
// waiting are each delivered with their own identifier and answered; one
// reusing the identifier of a request not yet answered is a protocol error
// (0x82). A chunk full of SUBSCRIBE packets costs a bounded amount per byte.
func TestHostileSubscribeStorm(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String()+"/2000-SUBSCRIBE-in-one-chunk", func(t *testing.T) {
			s := hostileServer(t, v)
			var chunk []byte
			for id := 1; id <= 2000; id++ {
				p := &packet.Subscribe{PacketID: uint16(id)}
				for f := range 8 {
					p.Subscriptions = append(p.Subscriptions, packet.Subscription{Filter: fmt.Sprintf("s/%d/%d", id, f), QoS: 1})
				}
				chunk = append(chunk, wire(t, v, p)...)
			}
			var evs []Event[uint16]
			alloc := allocatedBy(func() { evs = s.Recv(chunk) })
			ps := received(evs)
			if evErr(evs) != nil || len(ps) != 2000 {
				t.Fatalf("%d delivered, %v", len(ps), evErr(evs))
			}
			var ids []uint16
			for i, p := range ps {
				sp := p.(*packet.Subscribe)
				if int(sp.PacketID) != i+1 || len(sp.Subscriptions) != 8 || sp.Subscriptions[7].Filter != fmt.Sprintf("s/%d/7", i+1) {
					t.Fatalf("SUBSCRIBE %d delivered as %d with %d filters", i+1, sp.PacketID, len(sp.Subscriptions))
				}
				ids = append(ids, sp.PacketID)
			}
			t.Logf("%d bytes of SUBSCRIBE: %d bytes allocated (%.0f per input byte)", len(chunk), alloc, float64(alloc)/float64(len(chunk)))
			if alloc > 200*int64(len(chunk)) {
				t.Fatalf("%d bytes allocated for %d bytes of input", alloc, len(chunk))
			}
			for _, id := range ids {
				if _, err := s.Send(&packet.Suback{PacketID: id, Reasons: make([]packet.ReasonCode, 8)}); err != nil {
					t.Fatalf("SUBACK %d: %v", id, err)
				}
			}
			if s.inbound.Len() != 0 {
				t.Fatalf("%d requests left unanswered", s.inbound.Len())
			}
		})
		name := "MQTT-2.2.1-3/" + v.String() + "/identifier-of-an-unanswered-SUBSCRIBE-reused"
		if v == packet.V311 {
			name = "MQTT-2.3.1-1/" + v.String() + "/identifier-of-an-unanswered-SUBSCRIBE-reused"
		}
		t.Run(name, func(t *testing.T) {
			s := hostileServer(t, v)
			sub := func(id uint16) *packet.Subscribe {
				return &packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: "a"}}}
			}
			evs := s.Recv(wire(t, v, sub(1), sub(2), sub(1), &packet.Pingreq{}))
			code := packet.ReasonCode(0)
			if v == packet.V5 {
				code = packet.ProtocolError
			}
			wantClose(t, v, evs, code)
			if len(received(evs)) != 2 {
				t.Fatalf("%v", evs)
			}
		})
	}
}

// TestPacketIDStatements: the identifiers a side uses and the ones its
// acknowledgements carry, checked between a client and a server.
func TestPacketIDStatements(t *testing.T) {
	basic := func(t *testing.T) *pair { return pairFor(t, packet.V5, Config{}, Config{}) }

	t.Run("MQTT-2.2.1-2/QoS 0 PUBLISH carries no packet identifier", func(t *testing.T) {
		p := basic(t)
		evs, err := p.client.Send(&packet.Publish{Topic: "t", PacketID: 9})
		if err != nil {
			t.Fatal(err)
		}
		if got := sentPublish(t, evs); got.PacketID != 0 || len(evs[0].Bytes) != 2+2+1+1 {
			t.Fatalf("QoS 0 PUBLISH on the wire: % X", evs[0].Bytes)
		}
	})
	t.Run("MQTT-2.2.1-4/MQTT-4.3.2-1/MQTT-4.3.3-1/server identifiers non-zero and unused", func(t *testing.T) {
		p := connectedPair(t, Config{ManualPuback: true, ManualPubrec: true}, Config{},
			&packet.Connect{ClientID: "s", CleanStart: true}, &packet.Connack{})
		seen := map[uint16]bool{}
		for i := 0; i < 20; i++ {
			evs, err := p.server.Send(&packet.Publish{Topic: "t", QoS: packet.QoS(1 + i%2)})
			if err != nil {
				t.Fatal(err)
			}
			id := sentPublish(t, evs).PacketID
			if id == 0 || seen[id] {
				t.Fatalf("server PUBLISH %d got identifier %d (seen %v)", i, id, seen)
			}
			seen[id] = true
		}
	})
	t.Run("MQTT-3.8.4-2/SUBACK carries the Packet Identifier of its SUBSCRIBE", func(t *testing.T) {
		p := basic(t)
		refused(t, p.server, &packet.Suback{PacketID: 3, Reasons: []packet.ReasonCode{0}}, ErrIDUnknown)
		p.send(RoleClient, &packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "t"}}})
		refused(t, p.server, &packet.Suback{PacketID: 4, Reasons: []packet.ReasonCode{0}}, ErrIDUnknown)
		p.send(RoleServer, &packet.Suback{PacketID: 3, Reasons: []packet.ReasonCode{0}})
		if got := released(p.got[RoleClient]); !slices.Equal(got, []uint16{3}) {
			t.Fatalf("client released %v", got)
		}
	})
}

// TestPacketIDStatementsV311: the identifier statements of 3.1.1, under
// their 3.1.1 numbers.
func TestPacketIDStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-2.3.1-2 MQTT-4.3.2-1 MQTT-4.3.3-1 MQTT-2.3.1-5 MQTT-4.3.1-1 in 3.1.1/identifiers and DUP", func(t *testing.T) {
		p := pairFor(t, v, Config{}, Config{ManualPuback: true, ManualPubrec: true})
		seen := map[uint16]bool{}
		for i := 0; i < 6; i++ {
			pub := &packet.Publish{Topic: "t", QoS: packet.QoS(i % 3), PacketID: 0}
			evs, err := p.client.Send(pub)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := packet.Decode[uint16](v, evs[0].Bytes, 0)
			if err != nil {
				t.Fatal(err)
			}
			g := got.(*packet.Publish)
			if g.Dup || (g.QoS == 0) != (g.PacketID == 0) || g.PacketID != 0 && seen[g.PacketID] {
				t.Fatalf("PUBLISH %d: DUP %v QoS %d id %d (seen %v)", i, g.Dup, g.QoS, g.PacketID, seen)
			}
			seen[g.PacketID] = g.PacketID != 0
		}
	})
	t.Run("MQTT-2.3.1-4 3.1.1/the server re-sends with the same identifiers, free only after the acknowledgement", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v, &packet.Connect{ClientID: "r"})) // CleanSession 0
		if _, err := s.Send(&packet.Connack{}); err != nil {
			t.Fatal(err)
		}
		q1, q2 := &packet.Publish{Topic: "t", QoS: 1}, &packet.Publish{Topic: "t", QoS: 2}
		for _, q := range []*packet.Publish{q1, q2} {
			if _, err := s.Send(q); err != nil {
				t.Fatal(err)
			}
		}
		s.Closed()
		s.Recv(wire(t, v, &packet.Connect{ClientID: "r"}))
		evs, err := s.Send(&packet.Connack{SessionPresent: true})
		if err != nil {
			t.Fatal(err)
		}
		again := sentOf[*packet.Publish](t, v, evs)
		if len(again) != 2 || again[0].PacketID != q1.PacketID || again[1].PacketID != q2.PacketID || !again[0].Dup || !again[1].Dup {
			t.Fatalf("re-sent %v, want identifiers %d and %d with DUP", again, q1.PacketID, q2.PacketID)
		}
		refused(t, s, &packet.Publish{Topic: "t", QoS: 1, PacketID: q1.PacketID}, ErrIDInUse)
		if got := released(s.Recv(wire(t, v, &packet.Puback{PacketID: q1.PacketID}))); !slices.Equal(got, []uint16{q1.PacketID}) {
			t.Fatalf("PUBACK released %v", got)
		}
		evs = s.Recv(wire(t, v, &packet.Pubrec{PacketID: q2.PacketID}))
		if rel := sentOf[*packet.Pubrel](t, v, evs); len(rel) != 1 || rel[0].PacketID != q2.PacketID || len(released(evs)) != 0 {
			t.Fatalf("PUBREC: %v", evs)
		}
		refused(t, s, &packet.Publish{Topic: "t", QoS: 2, PacketID: q2.PacketID}, ErrIDInUse)
		if got := released(s.Recv(wire(t, v, &packet.Pubcomp{PacketID: q2.PacketID}))); !slices.Equal(got, []uint16{q2.PacketID}) {
			t.Fatalf("PUBCOMP released %v", got)
		}
	})
	t.Run("MQTT-3.8.4-2 MQTT-3.10.4-4 in 3.1.1/SUBACK and UNSUBACK answer their request", func(t *testing.T) {
		p := pairFor(t, v, Config{}, Config{})
		if _, err := p.server.Send(&packet.Suback{PacketID: 3, Reasons: []packet.ReasonCode{0}}); err != ErrIDUnknown {
			t.Fatalf("SUBACK with no SUBSCRIBE: %v", err)
		}
		p.send(RoleClient, &packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "t"}}})
		p.send(RoleServer, &packet.Suback{PacketID: 3, Reasons: []packet.ReasonCode{0}})
		p.send(RoleClient, &packet.Unsubscribe{PacketID: 4, Filters: []string{"t"}})
		p.send(RoleServer, &packet.Unsuback{PacketID: 4})
		if p.client.ids.InUse() != 0 {
			t.Fatalf("%d identifiers still in use", p.client.ids.InUse())
		}
	})
}
