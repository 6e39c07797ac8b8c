package mqtttest_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/mqtttest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// invalidCases are the rules Invalid breaks, with the statements each may
// name in v5 and in 3.1.1 ("-": the rule does not exist in 3.1.1; "":
// no numbered statement).
var invalidCases = []struct {
	rule     string
	v5, v311 []string
}{
	{"remaining length not minimal", []string{"MQTT-1.5.5-1"}, []string{""}},
	{"reserved flags set", []string{"MQTT-2.1.3-1"}, []string{"MQTT-2.2.2-1"}},
	{"PUBLISH with QoS 3", []string{"MQTT-3.3.1-4"}, []string{"MQTT-3.3.1-4"}},
	{"DUP on a QoS 0 PUBLISH", []string{"MQTT-3.3.1-2"}, []string{"MQTT-3.3.1-2"}},
	{"packet identifier 0", []string{"MQTT-2.2.1-3"}, []string{"MQTT-2.3.1-1"}},
	{"wildcard in a PUBLISH topic", []string{"MQTT-3.3.2-2"}, []string{"MQTT-3.3.2-2"}},
	{"ill-formed UTF-8 in a topic", []string{"MQTT-1.5.4-1"}, []string{"MQTT-1.5.3-1"}},
	{"U+0000 in a topic", []string{"MQTT-1.5.4-2"}, []string{"MQTT-1.5.3-2"}},
	{"property twice", []string{""}, nil},
	{"property not allowed in PUBLISH", []string{""}, nil},
	{"Topic Alias 0", []string{"MQTT-3.3.2-8"}, nil},
	{"Topic Alias above the maximum", []string{"MQTT-3.2.2-18", "MQTT-3.1.2-30", "MQTT-3.3.2-9", "MQTT-3.3.2-11"}, nil},
	{"unknown Topic Alias", []string{""}, nil},
	{"packet over the Maximum Packet Size", []string{"MQTT-3.2.2-15", "MQTT-3.1.2-27"}, nil},
	{"more QoS 2 PUBLISH than Receive Maximum", []string{"MQTT-3.3.4-7", "MQTT-3.3.4-9"}, nil},
	{"Subscription Identifier from a client", []string{"MQTT-3.3.4-6"}, nil},
	{"SUBSCRIBE without a Topic Filter", []string{"MQTT-3.8.3-2"}, []string{"MQTT-3.8.3-3"}},
	{"UNSUBSCRIBE without a Topic Filter", []string{"MQTT-3.10.3-2"}, []string{"MQTT-3.10.3-2"}},
	{"misplaced wildcard in a Topic Filter", []string{"MQTT-4.7.1-1", "MQTT-4.7.1-2"}, []string{"MQTT-4.7.1-2", "MQTT-4.7.1-3"}},
	{"second CONNECT", []string{"MQTT-3.1.0-2"}, []string{"MQTT-3.1.0-2"}},
	{"first packet not CONNECT", []string{"MQTT-3.1.0-1"}, []string{"MQTT-3.1.0-1"}},
}

// TestInvalidAnswered feeds every invalid input of both versions, with two-
// and four-byte packet identifiers, to our core as the receiver (a server
// or a client that completed the handshake under the Violation's Limits),
// cut in two at a random point, and checks that it answers as the Violation
// says: DISCONNECT with its reason code and close (v5), or close without a
// word. This proves the generators' claims against our core, and each case
// names the statements it checks.
func TestInvalidAnswered(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		rules := mqtttest.InvalidRules(v)
		for _, c := range invalidCases {
			want := c.v5
			if v != packet.V5 {
				want = c.v311
			}
			if want == nil {
				if slices.Contains(rules, c.rule) {
					t.Errorf("%v: rule %q exists, the table says it does not", v, c.rule)
				}
				continue
			}
			t.Run(fmt.Sprintf("%v/%s %s", v, strings.Join(want, ","), c.rule), func(t *testing.T) {
				t.Run("uint16", func(t *testing.T) { checkInvalid[uint16](t, v, c.rule, want) })
				t.Run("uint32", func(t *testing.T) { checkInvalid[uint32](t, v, c.rule, want) })
			})
		}
		if len(rules) != count(v) {
			t.Errorf("%v: %d rules, the table has %d", v, len(rules), count(v))
		}
	}
}

func count(v packet.Version) int {
	n := 0
	for _, c := range invalidCases {
		if (v == packet.V5 && c.v5 != nil) || (v != packet.V5 && c.v311 != nil) {
			n++
		}
	}
	return n
}

func checkInvalid[ID packetid.ID](t *testing.T, v packet.Version, rule string, statements []string) {
	rapid.Check(t, func(t *rapid.T) {
		o := mqtttest.Options{Version: v, MaxPayload: 256}
		x := mqtttest.InvalidRule[ID](o, rule).Draw(t, "violation")
		if !slices.Contains(statements, x.Statement) {
			t.Fatalf("statement %q, want one of %q", x.Statement, statements)
		}
		to := x.To
		if to == mqtttest.ToEither {
			to = rapid.SampledFrom([]mqtttest.Side{mqtttest.ToServer, mqtttest.ToClient}).Draw(t, "receiver")
		}
		r := newReceiver[ID](t, v, to, x)
		cut := rapid.IntRange(0, len(x.Wire)).Draw(t, "cut")
		r.conn.Recv(x.Wire[:cut])
		if !r.closed {
			r.conn.Recv(x.Wire[cut:])
		}
		if !r.closed || r.err == nil {
			t.Fatalf("%v: the %v did not close with an error; sent %v\n% x", x, to, r.sent, x.Wire[:min(len(x.Wire), 64)])
		}
		var want []string
		if x.Reason != 0 {
			want = []string{fmt.Sprintf("DISCONNECT %v", x.Reason)}
		}
		// Packets before the offending one get their acknowledgements.
		sent := slices.DeleteFunc(slices.Clone(r.sent), func(s string) bool { return s == "PUBACK" || s == "PUBREC" })
		if !slices.Equal(sent, want) {
			t.Fatalf("%v: the %v sent %q (error %v), want %q", x, to, r.sent, r.err, want)
		}
	})
}

// receiver is our core on the receiving side of a Violation.
type receiver[ID packetid.ID] struct {
	conn   *mqtt.Connection[ID]
	sent   []string // the packets sent after the handshake
	err    error
	closed bool
}

func newReceiver[ID packetid.ID](t *rapid.T, v packet.Version, to mqtttest.Side, x mqtttest.Violation) *receiver[ID] {
	r := &receiver[ID]{}
	ready := false
	h := func(e mqtt.Event[ID]) {
		switch e.Kind {
		case mqtt.EventSend:
			if ready {
				s := e.Packet.Type().String()
				if d, ok := e.Packet.(*packet.Disconnect); ok {
					s = fmt.Sprintf("DISCONNECT %v", d.Reason)
				}
				r.sent = append(r.sent, s)
			}
		case mqtt.EventError:
			r.err = e.Err
		case mqtt.EventClose:
			r.closed = true
		}
	}
	var limits property.Properties
	if v == packet.V5 {
		limits = property.Properties{
			MaximumPacketSize: x.Limits.MaximumPacketSize,
			ReceiveMaximum:    x.Limits.ReceiveMaximum,
			TopicAliasMaximum: x.Limits.TopicAliasMaximum,
		}
	}
	if to == mqtttest.ToServer {
		r.conn = mqtt.NewServer[ID](mqtt.Config{}, h)
		r.conn.Opened()
		if x.First {
			ready = true
			return r
		}
		b, err := (&packet.Connect{Version: v, ClientID: "c", CleanStart: true}).AppendTo(nil, v)
		if err != nil {
			t.Fatalf("CONNECT: %v", err)
		}
		r.conn.Recv(b)
		if err := r.conn.Send(&packet.Connack{Props: limits}); err != nil {
			t.Fatalf("CONNACK: %v", err)
		}
	} else {
		r.conn = mqtt.NewClient[ID](mqtt.Config{Version: v}, h)
		if err := r.conn.Send(&packet.Connect{Version: v, ClientID: "c", CleanStart: true, Props: limits}); err != nil {
			t.Fatalf("CONNECT: %v", err)
		}
		b, err := (&packet.Connack{}).AppendTo(nil, v)
		if err != nil {
			t.Fatalf("CONNACK: %v", err)
		}
		r.conn.Recv(b)
	}
	if r.conn.State() != mqtt.StateConnected || r.err != nil {
		t.Fatalf("handshake: %v, %v", r.conn.State(), r.err)
	}
	ready = true
	return r
}
