package mqtt

import (
	"errors"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Capabilities: what a CONNACK announces (Maximum QoS, Retain, wildcard
// and shared subscriptions, Subscription Identifiers) and a CONNECT asks
// (Request Problem Information) bind the other side: it does not send
// what is not available, and a peer that does is disconnected.

func TestCapabilitiesFromConnack(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.connect(&packet.Connect{ClientID: "m"}, &packet.Connack{Props: property.Properties{MaximumQoS: 1,
		Zero: property.NewSet(property.RetainAvailable, property.WildcardSubscriptionAvailable,
			property.SubscriptionIdentifierAvailable, property.SharedSubscriptionAvailable)}})
	refused := []struct {
		name string
		p    packet.Packet
		code packet.ReasonCode
	}{
		{"MQTT-3.2.2-11/QoS above the maximum", &packet.Publish{Topic: "t", QoS: 2}, packet.QoSNotSupported},
		{"MQTT-3.2.2-14/retain not available", &packet.Publish{Topic: "t", Retain: true}, packet.RetainNotSupported},
		{"wildcard subscription", &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a/+"}}}, packet.WildcardSubscriptionsNotSupported},
		{"shared subscription", &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "$share/g/a"}}}, packet.SharedSubscriptionsNotSupported},
		{"subscription identifier", &packet.Subscribe{Props: property.Properties{SubscriptionIDs: []uint32{7}},
			Subscriptions: []packet.Subscription{{Filter: "a"}}}, packet.SubscriptionIdentifiersNotSupported},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			// The client refuses to send it, with a typed error.
			evs, err := p.client.Send(c.p)
			var ce *CapabilityError
			if !errors.As(err, &ce) || ce.Code != c.code || !errors.Is(err, ErrNotSupported) || evs != nil {
				t.Fatalf("client Send = %v, %v; want code %v", evs, err, c.code)
			}
			// The server answers a client that sends it anyway with
			// DISCONNECT and that code.
			srv := newPair(t, Config{}, Config{})
			srv.connect(&packet.Connect{ClientID: "m"}, &packet.Connack{Props: property.Properties{MaximumQoS: 1,
				Zero: property.NewSet(property.RetainAvailable, property.WildcardSubscriptionAvailable,
					property.SubscriptionIdentifierAvailable, property.SharedSubscriptionAvailable)}})
			switch pk := c.p.(type) {
			case *packet.Subscribe:
				pk.PacketID = 1
			case *packet.Publish:
				if pk.QoS > 0 {
					pk.PacketID = 1
				}
			}
			if code := disconnectCode(srv.server.Recv(wire(t, packet.V5, c.p))); code != c.code {
				t.Fatalf("server answered %v, want %v", code, c.code)
			}
		})
	}
}

func TestRequestProblemInformationZero(t *testing.T) {
	// MQTT-3.1.2-32: no Reason String or User Properties except on PUBLISH,
	// CONNACK and DISCONNECT.
	p := newPair(t, Config{}, Config{ManualPuback: true})
	p.connect(&packet.Connect{ClientID: "r", Props: property.Properties{Zero: property.NewSet(property.RequestProblemInformation)}},
		&packet.Connack{Props: property.Properties{ReasonString: "welcome"}})
	p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1})
	pub := p.packets(RoleServer)[0].(*packet.Publish)
	ack := &packet.Puback{PacketID: pub.PacketID, Reason: packet.NoMatchingSubscribers,
		Props: property.Properties{ReasonString: "nobody", User: []property.User{{Key: "k", Value: "v"}}}}
	p.send(RoleServer, ack)
	got := p.packets(RoleClient)[0].(*packet.Puback)
	if got.Props.ReasonString != "" || len(got.Props.User) != 0 || got.Reason != packet.NoMatchingSubscribers {
		t.Fatalf("MQTT-3.1.2-32: client got %+v", got)
	}
	// A client receiving them anyway answers with a protocol error.
	c := newPair(t, Config{}, Config{})
	c.connect(&packet.Connect{ClientID: "r", Props: property.Properties{Zero: property.NewSet(property.RequestProblemInformation)}}, &packet.Connack{})
	c.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1})
	evs := c.client.Recv(wire(t, packet.V5, &packet.Puback{PacketID: 1, Props: property.Properties{ReasonString: "x"}}))
	if code := disconnectCode(evs); code != packet.ProtocolError {
		t.Fatalf("client answered %v", code)
	}
}

// TestCapabilityStatements: the Maximum QoS and the Subscription Identifier,
// checked between a client and a server.
func TestCapabilityStatements(t *testing.T) {
	v5 := packet.V5
	basic := func(t *testing.T) *pair { return pairFor(t, v5, Config{}, Config{}) }

	t.Run("MQTT-3.2.2-9/the Maximum QoS announced in CONNACK is the one enforced", func(t *testing.T) {
		for _, maxQoS := range []byte{0, 1} {
			props := property.Properties{MaximumQoS: maxQoS}
			if maxQoS == 0 {
				props.Zero = property.NewSet(property.MaximumQoS)
			}
			p := newPair(t, Config{}, Config{})
			p.send(RoleClient, &packet.Connect{ClientID: "q", CleanStart: true})
			p.packets(RoleServer)
			evs, err := p.server.Send(&packet.Connack{Props: props})
			acks := sentOf[*packet.Connack](t, v5, evs)
			if err != nil || len(acks) != 1 || !acks[0].Props.Has(property.MaximumQoS) || acks[0].Props.MaximumQoS != maxQoS {
				t.Fatalf("CONNACK %v, %v", acks, err)
			}
			p.run(RoleServer, evs)
			if _, err := p.client.Send(&packet.Publish{Topic: "t", QoS: packet.QoS(maxQoS + 1)}); !errors.Is(err, ErrNotSupported) {
				t.Fatalf("client PUBLISH above Maximum QoS %d: %v", maxQoS, err)
			}
			p.send(RoleClient, &packet.Publish{Topic: "t", QoS: packet.QoS(maxQoS)})
			if got := p.packets(RoleServer); len(got) != 1 {
				t.Fatalf("PUBLISH at Maximum QoS %d: server got %v", maxQoS, got)
			}
			evs = p.server.Recv(wire(t, v5, &packet.Publish{Topic: "t", QoS: 2, PacketID: 77}))
			wantClose(t, v5, evs, packet.QoSNotSupported)
		}
	})

	t.Run("MQTT-3.2.2-10/under Maximum QoS 0 SUBSCRIBE with Requested QoS 0, 1, 2 is accepted", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.connect(&packet.Connect{ClientID: "q", CleanStart: true},
			&packet.Connack{Props: property.Properties{Zero: property.NewSet(property.MaximumQoS)}})
		sub := &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a", QoS: 0}, {Filter: "b", QoS: 1}, {Filter: "c", QoS: 2}}}
		p.send(RoleClient, sub)
		got := p.packets(RoleServer)
		if len(got) != 1 || len(got[0].(*packet.Subscribe).Subscriptions) != 3 || p.closed[RoleServer] || evErr(p.got[RoleServer]) != nil {
			t.Fatalf("server got %v, events %v", got, p.got[RoleServer])
		}
		p.send(RoleServer, &packet.Suback{PacketID: sub.PacketID, Reasons: []packet.ReasonCode{0, 0, 0}})
		if p.client.ids.InUse() != 0 {
			t.Fatal("SUBSCRIBE not completed")
		}
	})

	t.Run("MQTT-3.3.4-6/client PUBLISH without Subscription Identifier", func(t *testing.T) {
		p := basic(t)
		pub := &packet.Publish{Topic: "t", Props: property.Properties{SubscriptionIDs: []uint32{4}}}
		if _, err := p.client.Send(pub); err != ErrSubscriptionIdentifier {
			t.Fatalf("client Send: %v", err)
		}
		// A server receiving one answers with a protocol error.
		if code := disconnectCode(p.server.Recv(wire(t, packet.V5, pub))); code != packet.ProtocolError {
			t.Fatalf("server answered %v", code)
		}
	})
}
