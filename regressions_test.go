package mqtt

// Regression tests for bugs found while writing the Connection's tests.
// Each states the bug as it was, how it was reproduced, and what is
// expected now.

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// inflightConsistent checks that the count of inbound exchanges toward our
// Receive Maximum matches the exchanges themselves.
func inflightConsistent(t *testing.T, c *tconn[uint16], step string) {
	t.Helper()
	n := 0
	for _, x := range c.inbound.All() {
		if x&counted != 0 {
			n++
		}
	}
	if c.inflightIn != n {
		t.Errorf("after %s: inflightIn = %d, but %d inbound exchanges count toward Receive Maximum (%v)",
			step, c.inflightIn, n, c.inbound)
	}
}

// Was: a client that reuses the packet identifier of its own unanswered
// SUBSCRIBE (or UNSUBSCRIBE) for a QoS 1/2 PUBLISH corrupts the server's
// count of unacknowledged PUBLISH packets. recvPublish increments
// inflightIn only when the identifier has no inbound exchange (x == 0), but
// the exchange it then creates for the PUBLISH is decremented when it ends
// (advance): SUBSCRIBE 1, PUBLISH QoS 1 id 1 leaves inflightIn at -1, and
// each repetition lowers it by one more. The client can then keep more QoS 2
// PUBLISH packets unacknowledged than the server's Receive Maximum without
// the DISCONNECT 0x93 of MQTT-3.3.4-7 — flow control is bypassed. The
// caller's SUBACK for the SUBSCRIBE also fails with ErrIDUnknown, since the
// exchange was overwritten.
//
// The opposite order leaks upward: PUBLISH QoS 2 id 1 (awaiting PUBREL,
// counted), then SUBSCRIBE id 1 overwrites the exchange (recvRequest), which
// the caller's SUBACK ends without the decrement: inflightIn stays 1 for
// ever and a later, legitimate PUBLISH is refused with 0x93.
//
// Expected: the identifier collision is a protocol error (MQTT-2.2.1-3:
// the client must use an identifier not in use) answered with DISCONNECT
// (0x91 Packet Identifier in use or 0x82) and close, or at least inflightIn
// stays equal to the number of counted exchanges.
func TestRegressionReceiveMaximumCountCorruptedByIDCollision(t *testing.T) {
	v := packet.V5
	t.Run("MQTT-3.3.4-7/SUBSCRIBE-then-PUBLISH-same-id", func(t *testing.T) {
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: 1}))
		closed := false
		for i, p := range []packet.Packet{
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}},
			&packet.Publish{Topic: "a", QoS: 1, PacketID: 1},
			&packet.Publish{Topic: "a", QoS: 2, PacketID: 2}, // one unacknowledged: the maximum
			&packet.Publish{Topic: "a", QoS: 2, PacketID: 3}, // two: must be refused with 0x93
		} {
			evs := s.Recv(wire(t, v, p))
			closed = closed || indexOf(evs, EventClose) >= 0
			if !closed {
				inflightConsistent(t, s, p.Type().String()+" "+string(rune('0'+i)))
			}
		}
		if !closed {
			t.Fatalf("Receive Maximum 1, two QoS 2 PUBLISH awaiting PUBREL (%v), and no DISCONNECT", s.inbound)
		}
	})
	t.Run("MQTT-3.3.4-7/PUBLISH-then-SUBSCRIBE-same-id", func(t *testing.T) {
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: 1}))
		s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: 1}))
		evs := s.Recv(wire(t, v, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}}))
		if indexOf(evs, EventClose) >= 0 {
			return // refused as a protocol error: fine
		}
		if _, err := s.Send(&packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{0}}); err != nil {
			t.Fatal(err)
		}
		inflightConsistent(t, s, "SUBACK")
		// the client's QoS 2 exchange 1 is gone; a fresh PUBLISH is within
		// the maximum
		evs = s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 7}))
		if err := evErr(evs); err != nil {
			t.Fatalf("legitimate PUBLISH refused: %v", err)
		}
	})
}

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
