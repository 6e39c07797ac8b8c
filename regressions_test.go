package mqtt

// Regression tests for bugs found while writing the Connection's tests.
// Each states the bug as it was, how it was reproduced, and what is
// expected now.

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

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
