package mqtt

// Regression tests for bugs found while writing the Connection's tests.
// Each states the bug as it was, how it was reproduced, and what is
// expected now.

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Was: a PUBREL the caller sends itself (Config.ManualPubrel) with a
// failure reason code (0x92 Packet Identifier not found, the only one
// PUBREL has) ends the exchange through advance(), which deletes it from
// the outbound map but never releases the packet identifier, never gives
// the unit of send quota back and emits no EventIDReleased. The identifier
// and the quota are lost for the life of the connection: with Receive
// Maximum 1 the client can never publish at QoS > 0 again.
//
// Expected: either Send refuses the PUBREL with a failure code for an
// exchange awaiting it, or the exchange completes like PUBCOMP (identifier
// released with EventIDReleased, quota restored).
func TestRegressionManualPubrelWithErrorLeaksIDAndQuota(t *testing.T) {
	v := packet.V5
	c, _ := clientConn(t, v, Config{ManualPubrel: true}, connectFor(v, 0, property.Properties{}),
		connackFor(v, property.Properties{ReceiveMaximum: 1}))
	if _, err := c.Send(&packet.Publish{Topic: "a", QoS: 2}); err != nil {
		t.Fatal(err)
	}
	c.Recv(wire(t, v, &packet.Pubrec{PacketID: 1}))
	evs, err := c.Send(&packet.Pubrel{PacketID: 1, Reason: packet.PacketIdentifierNotFound})
	if err != nil {
		return // refused: fine
	}
	if r := released(evs); len(r) != 1 || c.ids.InUse() != 0 || c.SendQuota() != 1 {
		t.Fatalf("MQTT-4.3.3-5/MQTT-4.9.0-2: after PUBREL 0x92: released %v, ids in use %d, send quota %d (want 1), outbound %v",
			r, c.ids.InUse(), c.SendQuota(), c.outbound)
	}
}

// Was: the State constants say a Connection is
// "Disconnected again after EventClose or Closed", but State() keeps
// returning StateConnected (or StateConnecting) after EventClose until the
// caller calls Closed: close() only sets the closing flag. A caller that
// checks State() after a DISCONNECT from the peer, a protocol error or a
// keep-alive timeout believes the connection is still up.
//
// Expected: State() == StateDisconnected once EventClose was returned, or
// the State documentation says it changes only with Closed.
func TestRegressionStateAfterEventClose(t *testing.T) {
	v := packet.V5
	for name, trigger := range map[string]func(*tconn[uint16]) []Event[uint16]{
		"peer-DISCONNECT": func(s *tconn[uint16]) []Event[uint16] { return s.Recv(wire(t, v, &packet.Disconnect{})) },
		"protocol-error":  func(s *tconn[uint16]) []Event[uint16] { return s.Recv(wire(t, v, &packet.Connack{})) },
		"keep-alive":      func(s *tconn[uint16]) []Event[uint16] { return s.TimerFired(TimerKeepAlive) },
	} {
		t.Run(name, func(t *testing.T) {
			s := serverConn(t, v, Config{}, connectFor(v, 10, property.Properties{}), connackFor(v, property.Properties{}))
			evs := trigger(s)
			if indexOf(evs, EventClose) < 0 {
				t.Fatalf("no EventClose: %v", evs)
			}
			if s.State() != StateDisconnected {
				t.Fatalf("State() = %v after EventClose, documented as disconnected", s.State())
			}
		})
	}
}
