package broker_test

import (
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// A client that resumes its session and sends DISCONNECT in the same
// write as its CONNECT finds the Connection closing when the broker
// imports the session's state: the CONNECT is refused and the session
// kept whole, so the message in flight is sent again (with DUP,
// MQTT-4.4.0-1) on the next connection, rather than lost with a state
// imported into nothing.
func TestResumeWithDisconnectInSameWrite_MQTT_4_4_0_1(t *testing.T) {
	addr := startBroker(t)
	cn := &packet.Connect{ClientID: "quick", CleanStart: true}
	cn.Props.SessionExpiry = 3600
	h := dialHostile(t, addr, packet.V5)
	h.connect(cn)
	h.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q", QoS: packet.QoS1}}})
	h.expect(packet.TypeSuback)
	pub := dial(t, addr, packet.V5, &packet.Connect{ClientID: "quick-pub", CleanStart: true})
	publish(t, pub, "q", packet.QoS1, false, "once")
	first := h.expect(packet.TypePublish).(*packet.Publish) // not acknowledged
	h.nc.Close()

	resume := *cn
	resume.CleanStart = false
	h = dialHostile(t, addr, packet.V5)
	h.send(&resume, &packet.Disconnect{Reason: packet.NormalDisconnection})
	for { // whatever it answers, the connection ends
		if _, err := h.next(3 * time.Second); err != nil {
			break
		}
	}
	h.nc.Close()

	h = dialHostile(t, addr, packet.V5)
	h.send(&resume)
	if a := h.expect(packet.TypeConnack).(*packet.Connack); !a.SessionPresent {
		t.Fatal("session not present")
	}
	p := h.expect(packet.TypePublish).(*packet.Publish)
	if p.PacketID != first.PacketID || !p.Dup || string(p.Payload) != "once" {
		t.Fatalf("got PUBLISH %d dup %v %q, want %d sent again", p.PacketID, p.Dup, p.Payload, first.PacketID)
	}
}
