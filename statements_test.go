package mqtt

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Behaviour the Connection owes one normative statement each, checked
// directly; the statement is in each case's name.
func TestStatements(t *testing.T) {
	basic := func(t *testing.T) *pair { return pairFor(t, packet.V5, Config{}, Config{}) }

	t.Run("MQTT-4.13.2-1/a failure CONNACK or DISCONNECT closes", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "s", CleanStart: true})
		p.send(RoleServer, &packet.Connack{Reason: packet.NotAuthorized})
		if !p.closed[RoleServer] || !p.closed[RoleClient] {
			t.Fatalf("after CONNACK 0x87: server closed %v, client closed %v", p.closed[RoleServer], p.closed[RoleClient])
		}
		q := basic(t)
		q.send(RoleServer, &packet.Disconnect{Reason: packet.ServerShuttingDown})
		if !q.closed[RoleServer] || !q.closed[RoleClient] {
			t.Fatalf("after DISCONNECT 0x8B: server closed %v, client closed %v", q.closed[RoleServer], q.closed[RoleClient])
		}
	})
	t.Run("MQTT-4.3.3-6/after PUBREL only PUBREL is re-sent", func(t *testing.T) {
		p := connectedPair(t, Config{}, Config{ManualPubcomp: true}, &packet.Connect{ClientID: "s", CleanStart: true,
			Props: property.Properties{SessionExpiry: 60}}, &packet.Connack{})
		p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2})
		p.packets(RoleServer)
		p.client.Closed()
		p.server.Closed()
		p.send(RoleClient, &packet.Connect{ClientID: "s", Props: property.Properties{SessionExpiry: 60}})
		p.packets(RoleServer)
		p.send(RoleServer, &packet.Connack{SessionPresent: true})
		for _, g := range p.packets(RoleServer) {
			if _, ok := g.(*packet.Publish); ok {
				t.Fatal("the PUBLISH was re-sent after its PUBREL")
			}
		}
	})
}
