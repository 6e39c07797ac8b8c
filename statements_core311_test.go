package mqtt

import (
	"bytes"
	"slices"
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
	t.Run("MQTT-3.1.4-4 3.1.1/an accepted CONNECT is acknowledged with return code 0", func(t *testing.T) {
		acceptedWithSuccess(t, v, []byte{0x20, 0x02, 0x00, 0x00})
	})
	t.Run("MQTT-3.1.4-5 3.1.1/after a refused CONNECT nothing the client sent is processed", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		evs := s.Recv(wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true},
			&packet.Publish{Topic: "t", QoS: 1, PacketID: 1}, &packet.Pingreq{},
			&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "t"}}}))
		if got := received(evs); len(got) != 1 || got[0].Type() != packet.TypeConnect {
			t.Fatalf("before CONNACK: %v", evs)
		}
		evs, err := s.Send(&packet.Connack{Reason: packet.RefusedNotAuthorized})
		if err != nil || !slices.Equal(sentTypes(evs), []packet.Type{packet.TypeConnack}) || len(received(evs)) != 0 || indexOf(evs, EventClose) < 0 {
			t.Fatalf("refusing CONNACK: %v, %v", evs, err)
		}
		if evs := s.Recv(wire(t, v, &packet.Publish{Topic: "t", QoS: 1, PacketID: 3}, &packet.Pingreq{})); len(evs) != 0 {
			t.Fatalf("after the refusal: %v", evs)
		}
		// The Connection's own refusal (an empty ClientId without
		// CleanSession) drops what follows the CONNECT in the same chunk.
		s = newTestServer[uint16](Config{})
		evs = s.Recv(wire(t, v, &packet.Connect{}, &packet.Publish{Topic: "t", QoS: 1, PacketID: 1}, &packet.Pingreq{}))
		if !bytes.Equal(sentBytes(evs), []byte{0x20, 0x02, 0x00, 0x02}) || len(received(evs)) != 0 || indexOf(evs, EventClose) < 0 {
			t.Fatalf("empty ClientId without CleanSession: %v", evs)
		}
	})
	t.Run("MQTT-3.2.2-6 3.1.1/when no return code applies the server closes without CONNACK", func(t *testing.T) {
		// A v5 reason code has no 3.1.1 return code: no CONNACK carries it,
		// and the server closes.
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true}))
		if evs, err := s.Send(&packet.Connack{Reason: packet.NotAuthorized}); err == nil || len(evs) != 0 {
			t.Fatalf("CONNACK 0x87 in 3.1.1: %v, %v", evs, err)
		}
		if evs := s.Closed(); count(evs, EventClose) != 1 || len(sentTypes(evs)) != 0 {
			t.Fatalf("Closed: %v", evs)
		}
		// A CONNECT that breaks the protocol has no return code either.
		bad := wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true})
		bad[9] |= 0x18 // Will QoS 3
		wantClose(t, v, newTestServer[uint16](Config{}).Recv(bad), 0)
	})
	t.Run("MQTT-3.3.1-3 3.1.1/DUP is set by retransmission only, not copied from the incoming PUBLISH", func(t *testing.T) {
		dupSetByRetransmission(t, v)
	})

	t.Run("MQTT-4.1.0-1 MQTT-4.1.0-2 3.1.1/the session and its state last as long as the connection", func(t *testing.T) {
		stateKeptWhileConnected(t, v)
	})
	t.Run("MQTT-4.8.0-2 3.1.1/running out of room for what the client sent closes the connection", func(t *testing.T) {
		// Before its CONNACK the server holds what the client sends after
		// CONNECT, up to a bound; beyond it, it closes without an answer.
		s := newTestServer[uint16](Config{MaxPacketSize: 1024})
		s.Recv(wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true}))
		flood := wire(t, v, &packet.Publish{Topic: "t", Payload: make([]byte, 1000)})
		var evs []Event[uint16]
		for i := 0; i < 200 && indexOf(evs, EventClose) < 0; i++ {
			evs = s.Recv(flood)
		}
		wantClose(t, v, evs, 0)
		if code, _ := packet.ReasonOf(evErr(evs)); code != packet.QuotaExceeded {
			t.Fatalf("error %v", evErr(evs))
		}
	})
}
