package mqtt

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// UTF-8 Encoded Strings, Topic Names and Topic Filters: an ill-formed
// string (an invalid sequence, a surrogate, an overlong encoding, U+0000)
// anywhere a string goes, or a wildcard in a Topic Name, is neither sent
// nor accepted.

// refusedBothWays checks a rule on text the codec validates: a client's
// Send of build(bad) fails and changes nothing, and the same packet's
// bytes close the server's connection (v5: DISCONNECT 0x81; 3.1.1: no
// answer) without delivering it. bad has three bytes.
func refusedBothWays(t *testing.T, v packet.Version, build func(s string) packet.Packet, bad string) {
	t.Helper()
	p := pairFor(t, v, Config{}, Config{})
	refused(t, p.client, build(bad), packet.ErrMalformed)
	evs := p.server.Recv(replacedIn(t, wire(t, v, build("m~m")), "m~m", bad))
	code := packet.MalformedPacket
	if v != packet.V5 {
		code = 0
	}
	wantClose(t, v, evs, code)
	if got := received(evs); len(got) != 0 {
		t.Fatalf("delivered %v", got)
	}
}

// The invalid strings put in place of a valid one of the same length.
// The statement each breaks is given for 5.0 and for 3.1.1.
var badStrings = []struct {
	name, bytes    string
	stmt, stmtV311 string
	null           bool
}{
	{"ill-formed", "\xc3\x28a", "MQTT-1.5.4-1", "MQTT-1.5.3-1", false},
	{"surrogate-U+D800", "\xed\xa0\x80", "MQTT-1.5.4-1", "MQTT-1.5.3-1", false},
	{"overlong", "\xe0\x80\xaf", "MQTT-1.5.4-1", "MQTT-1.5.3-1", false},
	{"U+0000", "a\x00a", "MQTT-1.5.4-2", "MQTT-1.5.3-2", true},
}

const utf8Marker = "{|}" // valid, 3 bytes like each of badStrings

// utf8Place is a place a UTF-8 Encoded String goes: a packet with the
// marker there, and the 5.0 statement other than MQTT-1.5.4-1/2 that a bad
// string there breaks ("" for none). placeStatementsV311 has the places
// that exist in 3.1.1, with their 3.1.1 statements.
type utf8Place struct {
	name        string
	connect     bool
	stmt        string
	packet      func() packet.Packet
	nullStmtTop bool // a NUL here also breaks MQTT-4.7.3-2 (topic names and filters)
}

// placeStatementsV311 maps the places that exist in 3.1.1 to the 3.1.1
// statement a bad string there breaks, besides MQTT-1.5.3-1/2.
func placeStatementsV311() map[string]string {
	return map[string]string{
		"CONNECT-client-id":  "MQTT-3.1.3-4",
		"CONNECT-user-name":  "MQTT-3.1.3-11",
		"CONNECT-will-topic": "MQTT-3.1.3-10",
		"PUBLISH-topic":      "MQTT-3.3.2-1",
		"SUBSCRIBE-filter":   "MQTT-3.8.3-1",
		"UNSUBSCRIBE-filter": "MQTT-3.10.3-1",
	}
}

func utf8Places() []utf8Place {
	m := utf8Marker
	conn := func(f func(c *packet.Connect)) func() packet.Packet {
		return func() packet.Packet {
			c := &packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: hostileKeepAlive}
			f(c)
			return c
		}
	}
	return []utf8Place{
		{name: "CONNECT-client-id", connect: true, stmt: "MQTT-3.1.3-4",
			packet: conn(func(c *packet.Connect) { c.ClientID = m })},
		{name: "CONNECT-user-name", connect: true, stmt: "MQTT-3.1.3-10",
			packet: conn(func(c *packet.Connect) { c.Username = m })},
		{name: "CONNECT-will-topic", connect: true, stmt: "MQTT-3.1.3-9", nullStmtTop: true,
			packet: conn(func(c *packet.Connect) { c.Will = packet.Will{Topic: m, Payload: []byte("p")} })},
		{name: "CONNECT-user-property-key", connect: true, stmt: "MQTT-1.5.7-1",
			packet: conn(func(c *packet.Connect) { c.Props.User = []property.User{{Key: m, Value: "v"}} })},
		{name: "CONNECT-user-property-value", connect: true, stmt: "MQTT-1.5.7-1",
			packet: conn(func(c *packet.Connect) { c.Props.User = []property.User{{Key: "k", Value: m}} })},
		{name: "CONNECT-authentication-method", connect: true,
			packet: conn(func(c *packet.Connect) { c.Props.AuthMethod = m })},
		{name: "CONNECT-will-content-type", connect: true, stmt: "MQTT-3.3.2-19",
			packet: conn(func(c *packet.Connect) {
				c.Will = packet.Will{Topic: "w", Props: property.Properties{ContentType: m}}
			})},
		{name: "CONNECT-will-response-topic", connect: true, stmt: "MQTT-3.3.2-13",
			packet: conn(func(c *packet.Connect) {
				c.Will = packet.Will{Topic: "w", Props: property.Properties{ResponseTopic: m}}
			})},
		{name: "CONNECT-will-user-property", connect: true, stmt: "MQTT-1.5.7-1",
			packet: conn(func(c *packet.Connect) {
				c.Will = packet.Will{Topic: "w", Props: property.Properties{User: []property.User{{Key: "k", Value: m}}}}
			})},
		{name: "PUBLISH-topic", stmt: "MQTT-3.3.2-1", nullStmtTop: true,
			packet: func() packet.Packet { return &packet.Publish{Topic: m, QoS: 1, PacketID: 1} }},
		{name: "PUBLISH-content-type", stmt: "MQTT-3.3.2-19",
			packet: func() packet.Packet { return &packet.Publish{Topic: "t", Props: property.Properties{ContentType: m}} }},
		{name: "PUBLISH-response-topic", stmt: "MQTT-3.3.2-13",
			packet: func() packet.Packet { return &packet.Publish{Topic: "t", Props: property.Properties{ResponseTopic: m}} }},
		{name: "PUBLISH-user-property-key", stmt: "MQTT-1.5.7-1",
			packet: func() packet.Packet {
				return &packet.Publish{Topic: "t", Props: property.Properties{User: []property.User{{Key: m, Value: "v"}}}}
			}},
		{name: "PUBLISH-user-property-value", stmt: "MQTT-1.5.7-1",
			packet: func() packet.Packet {
				return &packet.Publish{Topic: "t", Props: property.Properties{User: []property.User{{Key: "k", Value: m}}}}
			}},
		{name: "SUBSCRIBE-filter", stmt: "MQTT-3.8.3-1", nullStmtTop: true,
			packet: func() packet.Packet {
				return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "ok"}, {Filter: m}}}
			}},
		{name: "SUBSCRIBE-user-property", stmt: "MQTT-1.5.7-1",
			packet: func() packet.Packet {
				return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "ok"}},
					Props: property.Properties{User: []property.User{{Key: m, Value: "v"}}}}
			}},
		{name: "UNSUBSCRIBE-filter", stmt: "MQTT-3.10.3-1", nullStmtTop: true,
			packet: func() packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{"ok", m}} }},
		{name: "UNSUBSCRIBE-user-property", stmt: "MQTT-1.5.7-1",
			packet: func() packet.Packet {
				return &packet.Unsubscribe{PacketID: 1, Filters: []string{"ok"},
					Props: property.Properties{User: []property.User{{Key: "k", Value: m}}}}
			}},
		{name: "PUBACK-reason-string",
			packet: func() packet.Packet {
				return &packet.Puback{PacketID: 1, Reason: packet.UnspecifiedError, Props: property.Properties{ReasonString: m}}
			}},
		{name: "PUBREC-reason-string",
			packet: func() packet.Packet {
				return &packet.Pubrec{PacketID: 1, Reason: packet.UnspecifiedError, Props: property.Properties{ReasonString: m}}
			}},
		{name: "PUBREL-reason-string",
			packet: func() packet.Packet {
				return &packet.Pubrel{PacketID: 1, Reason: packet.PacketIdentifierNotFound, Props: property.Properties{ReasonString: m}}
			}},
		{name: "PUBCOMP-user-property", stmt: "MQTT-1.5.7-1",
			packet: func() packet.Packet {
				return &packet.Pubcomp{PacketID: 1, Props: property.Properties{User: []property.User{{Key: m, Value: "v"}}}}
			}},
		{name: "DISCONNECT-reason-string",
			packet: func() packet.Packet {
				return &packet.Disconnect{Reason: packet.UnspecifiedError, Props: property.Properties{ReasonString: m}}
			}},
		{name: "AUTH-reason-string",
			packet: func() packet.Packet {
				return &packet.Auth{Reason: packet.ContinueAuthentication, Props: property.Properties{AuthMethod: "m", ReasonString: m}}
			}},
	}
}

// withBadString encodes p for v with the marker replaced by bad.
func withBadString(tb testing.TB, v packet.Version, p packet.Packet, bad string) []byte {
	tb.Helper()
	return replacedIn(tb, wire(tb, v, p), utf8Marker, bad)
}

// TestHostileInvalidUTF8: an ill-formed string (an invalid sequence, a
// surrogate, an overlong encoding, or U+0000) anywhere a UTF-8 Encoded
// String goes makes the packet malformed: a v5 CONNECT is answered with
// CONNACK 0x81, a later packet with DISCONNECT 0x81, and the connection
// closes without handling what follows; 3.1.1 closes without an answer
// (MQTT-1.5.3-1, MQTT-1.5.3-2).
func TestHostileInvalidUTF8(t *testing.T) {
	for _, v := range versions {
		for _, place := range utf8Places() {
			stmt := place.stmt
			if v == packet.V311 {
				var ok bool
				if stmt, ok = placeStatementsV311()[place.name]; !ok {
					continue // no such place in 3.1.1
				}
			}
			for _, bad := range badStrings {
				ids := []string{bad.stmt}
				if v == packet.V311 {
					ids[0] = bad.stmtV311
				}
				if stmt != "" {
					ids = append(ids, stmt)
				}
				if bad.null && place.nullStmtTop {
					ids = append(ids, "MQTT-4.7.3-2")
				}
				name := strings.Join(ids, "/") + "/" + v.String() + "/" + place.name + "/" + bad.name
				t.Run(name, func(t *testing.T) {
					b := withBadString(t, v, place.packet(), bad.bytes)
					var s *tconn[uint16]
					if place.connect {
						s = newTestServer[uint16](Config{MaxPacketSize: hostileMax})
					} else {
						s = hostileServer(t, v)
					}
					evs := s.Recv(append(b, wire(t, v, &packet.Pingreq{})...))
					if len(received(evs)) != 0 {
						t.Fatalf("delivered %v", received(evs))
					}
					switch {
					case !place.connect:
						code := packet.ReasonCode(0)
						if v == packet.V5 {
							code = packet.MalformedPacket
						}
						wantClose(t, v, evs, code)
					case v == packet.V5:
						ps := sent(t, v, evs)
						if len(ps) != 1 || ps[0].Type() != packet.TypeConnack || ps[0].(*packet.Connack).Reason != packet.MalformedPacket {
							t.Fatalf("sent %v, want CONNACK 0x81", sentTypes(evs))
						}
						if indexOf(evs, EventError) < 0 || indexOf(evs, EventClose) < 0 {
							t.Fatalf("%v", evs)
						}
					default:
						wantClose(t, v, evs, 0)
					}
					var pe *packet.Error
					if !errors.As(evErr(evs), &pe) || pe.Code != packet.MalformedPacket || pe.StatementFor(v) != ids[0] {
						t.Fatalf("error %v, want malformed (%s)", evErr(evs), ids[0])
					}
				})
			}
		}
	}
}

// TestStringStatements: Topic Names and Topic Filters that are neither sent
// nor accepted, checked between a client and a server.
func TestStringStatements(t *testing.T) {
	v5 := packet.V5

	t.Run("MQTT-3.8.3-1/a SUBSCRIBE Topic Filter that is not UTF-8 is neither sent nor accepted", func(t *testing.T) {
		for _, bad := range []string{"a\xffb", "\xed\xa0\x80"} {
			refusedBothWays(t, v5, func(s string) packet.Packet {
				return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: s}}}
			}, bad)
		}
	})
	t.Run("MQTT-3.10.3-1/an UNSUBSCRIBE Topic Filter that is not UTF-8 is neither sent nor accepted", func(t *testing.T) {
		for _, bad := range []string{"a\xffb", "\xed\xa0\x80"} {
			refusedBothWays(t, v5, func(s string) packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{s}} }, bad)
		}
	})
	t.Run("MQTT-4.7.0-1/a Topic Name with a wildcard is neither sent nor accepted", func(t *testing.T) {
		for _, bad := range []string{"a/#", "+/+", "a/+"} {
			refusedBothWays(t, v5, func(s string) packet.Packet { return &packet.Publish{Topic: s, QoS: 1, PacketID: 1} }, bad)
		}
	})
	t.Run("MQTT-4.7.3-2/a Topic Name or Filter with U+0000 is neither sent nor accepted", func(t *testing.T) {
		refusedBothWays(t, v5, func(s string) packet.Packet { return &packet.Publish{Topic: s} }, "a\x00b")
		refusedBothWays(t, v5, func(s string) packet.Packet {
			return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: s}}}
		}, "\x00/#")
		refusedBothWays(t, v5, func(s string) packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{s}} }, "a\x00b")
	})
}

// TestStringStatementsV311: the same under their 3.1.1 numbers.
func TestStringStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-3.8.3-1 3.1.1/a SUBSCRIBE Topic Filter that is not UTF-8 is neither sent nor accepted", func(t *testing.T) {
		for _, bad := range []string{"a\xffb", "\xed\xa0\x80"} {
			refusedBothWays(t, v, func(s string) packet.Packet {
				return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: s}}}
			}, bad)
		}
	})
	t.Run("MQTT-3.10.3-1 3.1.1/an UNSUBSCRIBE Topic Filter that is not UTF-8 is neither sent nor accepted", func(t *testing.T) {
		for _, bad := range []string{"a\xffb", "\xed\xa0\x80"} {
			refusedBothWays(t, v, func(s string) packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{s}} }, bad)
		}
	})
	t.Run("MQTT-4.7.1-1 3.1.1/a Topic Name with a wildcard is neither sent nor accepted", func(t *testing.T) {
		for _, bad := range []string{"a/#", "+/+", "a/+"} {
			refusedBothWays(t, v, func(s string) packet.Packet { return &packet.Publish{Topic: s, QoS: 2, PacketID: 1} }, bad)
		}
	})
	t.Run("MQTT-4.7.3-2 3.1.1/a Topic Name or Filter with U+0000 is neither sent nor accepted", func(t *testing.T) {
		refusedBothWays(t, v, func(s string) packet.Packet { return &packet.Publish{Topic: s} }, "a\x00b")
		refusedBothWays(t, v, func(s string) packet.Packet {
			return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: s}}}
		}, "\x00/#")
		refusedBothWays(t, v, func(s string) packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{s}} }, "a\x00b")
	})
}
