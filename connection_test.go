package mqtt

import (
	"errors"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

func TestHandshakeAndQoSFlows(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			p := newPair(t, Config{Version: v}, Config{})
			p.connect(&packet.Connect{ClientID: "c1", CleanStart: true, KeepAlive: 30}, &packet.Connack{})
			if p.server.Version() != v {
				t.Fatalf("server learned version %v, want %v", p.server.Version(), v)
			}
			for _, from := range []Role{RoleClient, RoleServer} {
				for qos := packet.QoS0; qos <= packet.QoS2; qos++ {
					pub := &packet.Publish{Topic: "a/b", QoS: qos, Payload: []byte{byte(qos)}}
					p.send(from, pub)
					to := peerOf(from)
					got := p.packets(to)
					var pubs []*packet.Publish
					for _, g := range got {
						if g, ok := g.(*packet.Publish); ok {
							pubs = append(pubs, g)
						}
					}
					if len(pubs) != 1 || pubs[0].Topic != "a/b" || pubs[0].QoS != qos {
						t.Fatalf("%v QoS %d: receiver got %v", from, qos, got)
					}
					if qos > 0 {
						if p.conn(from).ids.InUse() != 0 || p.conn(from).outbound.Len() != 0 || p.conn(to).inbound.Len() != 0 {
							t.Fatalf("%v QoS %d: exchange not finished: out %v in %v", from, qos,
								p.conn(from).outbound, p.conn(to).inbound)
						}
						released := false
						for _, e := range p.got[from] {
							released = released || e.Kind == EventIDReleased && e.PacketID == pub.PacketID
						}
						if !released {
							t.Fatalf("%v QoS %d: no EventIDReleased for %d: %v", from, qos, pub.PacketID, p.got[from])
						}
						p.got[from] = nil
					}
				}
			}
		})
	}
}

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

func TestConnackMustHonourConnect(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.send(RoleClient, &packet.Connect{ClientID: "w", Will: packet.Will{Topic: "w", QoS: 2, Retain: true}})
	// MQTT-3.2.2-12, MQTT-3.2.2-13: a server that cannot honour the will
	// must refuse the connection rather than accept it.
	if _, err := p.server.Send(&packet.Connack{Props: property.Properties{MaximumQoS: 1}}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("MQTT-3.2.2-12: accepting a QoS 2 will with Maximum QoS 1: %v", err)
	}
	if _, err := p.server.Send(&packet.Connack{Props: property.Properties{Zero: property.NewSet(property.RetainAvailable)}}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("MQTT-3.2.2-13: accepting a retained will without retain: %v", err)
	}
	// MQTT-3.1.2-31: Response Information only when asked for.
	if _, err := p.server.Send(&packet.Connack{Props: property.Properties{ResponseInfo: "r/"}}); err != ErrResponseInformation {
		t.Fatalf("MQTT-3.1.2-31: unrequested response information: %v", err)
	}
	p.send(RoleServer, &packet.Connack{Reason: packet.QoSNotSupported})
	if !p.closed[RoleServer] {
		t.Fatal("refusing CONNACK did not close")
	}
}
