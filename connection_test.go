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
