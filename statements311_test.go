package mqtt

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// The MQTT 3.1.1 statements the Connection keeps, under their 3.1.1
// numbers (which differ from 5.0's); every case runs in 3.1.1.
func TestStatements311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-4.4.0-1 MQTT-4.6.0-1 MQTT-3.3.1-1 MQTT-2.3.1-3 in 3.1.1/re-sent in order, same identifiers, DUP", func(t *testing.T) {
		p, ids := sessionPair(t, v)
		reconnect(p, true)
		got := p.packets(RoleServer)
		if len(got) != len(ids) {
			t.Fatalf("re-sent %d of %d", len(got), len(ids))
		}
		for i, g := range got {
			if pub := g.(*packet.Publish); pub.PacketID != ids[i] || !pub.Dup {
				t.Fatalf("re-sent #%d: id %d DUP %v, want id %d DUP", i, pub.PacketID, pub.Dup, ids[i])
			}
		}
	})
}
