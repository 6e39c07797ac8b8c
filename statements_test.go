package mqtt

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Behaviour the Connection owes one normative statement each, checked
// directly; the statement is in each case's name.
func TestStatements(t *testing.T) {

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
