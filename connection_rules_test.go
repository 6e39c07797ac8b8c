package mqtt

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// Table tests of the Connection's rules. Each case that checks a normative
// statement names it (MQTT-x.y.z-n, the ids of ../shared/spec/*.tsv; the
// version is in the case name where both have the statement), so a
// conformance matrix can be built from `go test -v -run 'Rules' | grep MQTT-`.
// Rules without a numbered statement are named after the section.

// ---- roles and states -----------------------------------------------------

// ---- framing --------------------------------------------------------------

// ---- packet identifiers ---------------------------------------------------

// ---- QoS flows at the receiver --------------------------------------------

// ---- PINGREQ / PINGRESP and keep-alive ------------------------------------

// ---- flow control ---------------------------------------------------------

// ---- topic aliases, receive side ------------------------------------------

// ---- MQTT 3.1 ("MQIsdp", level 3) -----------------------------------------

// ---- CONNECT / CONNACK ----------------------------------------------------

// ---- manual acknowledgements ----------------------------------------------

// ---- events ---------------------------------------------------------------

func TestRulesEventStrings(t *testing.T) {
	// Event.String is what a trace prints; it must not panic on any kind.
	for k := EventKind(0); k < 10; k++ {
		e := Event[uint16]{Kind: k, Err: errors.New("x"), Packet: &packet.Pingreq{}}
		if s := e.String(); s == "" || strings.Contains(s, "%!") {
			t.Fatalf("%d: %q", k, s)
		}
	}
}
