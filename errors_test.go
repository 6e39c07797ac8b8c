package mqtt

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// The Connection's errors: what the peer broke is a *PeerError, printed as
// the Connection's ("mqtt: ...") and matched like the codec's errors; what
// the caller asked wrongly is a sentinel with one meaning. And how events
// and roles print.

// peerErrors are the Connection's own findings, one per rule.
var peerErrors = []*PeerError{
	ErrKeepAliveTimeout, errSecondConnect, errFirstNotConnect, errEmptyClientID, errUnexpected,
	errWrongSender, errReceiveMaximum, errClientSubscriptionID, errIDInUse, ErrNoSession,
	errDisconnectExpiry, errTooLargeFromClient, errTooLargeFromServer, errVersionRefused,
	errHoldOverflow, errServerSessionExpiry, errProblemInfo, errAuthNoMethod, errAuthMethod,
	errAuthStep, errConnackMethod, errCapQoS, errCapRetain, errCapWildcard, errCapSubID, errCapShared,
	errAliasFromClient, errAliasFromServer, errAliasUnmapped, errServerDisconnect, errEmptyClientID31,
}

func TestErrorFamily(t *testing.T) {
	t.Run("every-PeerError-prints-as-mqtt-and-matches-as-packet.Error", func(t *testing.T) {
		for _, e := range peerErrors {
			var err error = e
			if s := err.Error(); !strings.HasPrefix(s, "mqtt: ") || strings.Contains(s, "packet:") {
				t.Errorf("%q: not the Connection's text", s)
			}
			var pe *packet.Error
			if !errors.As(err, &pe) || pe.Code != e.Code || pe.Statement != e.Statement {
				t.Errorf("%v: errors.As *packet.Error gives %v", err, pe)
			}
			if code, ok := packet.ReasonOf(err); !ok || code != e.Code {
				t.Errorf("%v: ReasonOf = %v, %v", err, code, ok)
			}
		}
	})
	t.Run("MQTT-3.1.0-2/found-by-the-Connection-is-a-PeerError", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		err := evErr(s.Recv(wire(t, v, connectFor(v, 0, property.Properties{}))))
		var ce *PeerError
		if !errors.As(err, &ce) || !errors.Is(err, packet.ErrProtocol) || statement(err) != "MQTT-3.1.0-2" {
			t.Fatalf("%v (%T)", err, err)
		}
		if !strings.HasPrefix(err.Error(), "mqtt: ") {
			t.Fatalf("%q", err)
		}
	})
	t.Run("MQTT-3.3.1-4/found-by-the-codec-is-a-packet.Error", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		err := evErr(s.Recv([]byte{0x36, 0x03, 0x00, 0x01, 'a'})) // PUBLISH QoS 3
		var ce *PeerError
		var pe *packet.Error
		if errors.As(err, &ce) || !errors.As(err, &pe) || pe.Statement != "MQTT-3.3.1-4" {
			t.Fatalf("%v (%T)", err, err)
		}
	})
	t.Run("PeerError.StatementFor", func(t *testing.T) {
		e := &PeerError{Statement: "MQTT-3.3.2-8", Statement311: "MQTT-3.3.2-2"}
		if e.StatementFor(packet.V5) != "MQTT-3.3.2-8" || e.StatementFor(packet.V311) != "MQTT-3.3.2-2" {
			t.Fatal(e.StatementFor(packet.V5), e.StatementFor(packet.V311))
		}
		if (&PeerError{Statement311: "MQTT-4.8.0-1", Msg: "m"}).Error() != "mqtt: m (MQTT-4.8.0-1)" ||
			(&PeerError{Msg: "m"}).Error() != "mqtt: m" {
			t.Fatal("text")
		}
	})
}

func TestRoleString(t *testing.T) {
	for r, want := range map[Role]string{RoleClient: "client", RoleServer: "server", 0: "Role(0)", 7: "Role(7)"} {
		if r.String() != want {
			t.Errorf("Role(%d).String() = %q, want %q", byte(r), r.String(), want)
		}
	}
}

func TestRulesEventStrings(t *testing.T) {
	// Event.String is what a trace prints; it must not panic on any kind.
	for k := EventKind(0); k < 10; k++ {
		e := Event[uint16]{Kind: k, Err: errors.New("x"), Packet: &packet.Pingreq{}}
		if s := e.String(); s == "" || strings.Contains(s, "%!") {
			t.Fatalf("%d: %q", k, s)
		}
	}
}
