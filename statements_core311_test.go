package mqtt

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// MQTT 3.1.1 statements the Connection keeps, under their 3.1.1 numbers
// (which differ from 5.0's), one subtest each; every case runs in 3.1.1.
// The helpers are in statements_core_test.go.
func TestCoreStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-3.1.2-4 3.1.1/CleanSession 0: the session is stored after the connection and resumed", func(t *testing.T) {
		c := newTestClient[uint16](Config{Version: v})
		if _, err := c.Send(&packet.Connect{ClientID: "r"}); err != nil {
			t.Fatal(err)
		}
		c.Recv(wire(t, v, &packet.Connack{}))
		pub := &packet.Publish{Topic: "t", QoS: 1}
		if _, err := c.Send(pub); err != nil {
			t.Fatal(err)
		}
		evs := c.Closed()
		if count(evs, EventDropped) != 0 || len(released(evs)) != 0 || !c.SessionPersists() || c.InFlight() != 1 {
			t.Fatalf("closing a CleanSession 0 connection: %v", evs)
		}
		if _, err := c.Send(&packet.Connect{ClientID: "r"}); err != nil {
			t.Fatal(err)
		}
		again := sentOf[*packet.Publish](t, v, c.Recv(wire(t, v, &packet.Connack{SessionPresent: true})))
		if len(again) != 1 || again[0].PacketID != pub.PacketID || !again[0].Dup {
			t.Fatalf("re-sent %v", again)
		}
	})

	t.Run("MQTT-3.1.4-3 3.1.1/the server processes CleanSession", func(t *testing.T) {
		cleanStartProcessed(t, v)
	})
	t.Run("MQTT-3.3.1-3 3.1.1/DUP is set by retransmission only, not copied from the incoming PUBLISH", func(t *testing.T) {
		dupSetByRetransmission(t, v)
	})

	t.Run("MQTT-4.1.0-1 MQTT-4.1.0-2 3.1.1/the session and its state last as long as the connection", func(t *testing.T) {
		stateKeptWhileConnected(t, v)
	})
}
