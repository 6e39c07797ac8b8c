package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/internal/testvectors"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// decodeNoPanic runs decode and turns a panic into a test failure.
func decodeNoPanic(t *testing.T, what string, decode func() (packet.Packet, int, error)) (p packet.Packet, n int, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	}()
	return decode()
}

// checkRefusal checks that err is a refusal with the reason code want and,
// when statement is not empty, that it names that statement.
func checkRefusal(t *testing.T, what string, err error, v packet.Version, want packet.ReasonCode, statement string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want reason 0x%02X", what, byte(want))
		return
	}
	code, ok := packet.ReasonOf(err)
	if !ok || code != want {
		t.Errorf("%s: %v: reason 0x%02X (%v), want 0x%02X %s", what, err, byte(code), ok, byte(want), want)
	}
	sentinel := map[packet.ReasonCode]error{
		packet.MalformedPacket:            packet.ErrMalformed,
		packet.ProtocolError:              packet.ErrProtocol,
		packet.PacketTooLarge:             packet.ErrPacketTooLarge,
		packet.UnsupportedProtocolVersion: packet.ErrUnsupportedVersion,
	}[want]
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("%s: errors.Is(%v, %v) is false", what, err, sentinel)
	}
	if statement == "" {
		return
	}
	var pe *packet.Error
	if !errors.As(err, &pe) {
		t.Errorf("%s: %v is not a *packet.Error", what, err)
	} else if got := pe.StatementFor(v); got != statement {
		t.Errorf("%s: %v: statement for %v %q, want %q", what, err, v, got, statement)
	}
}

// TestMalformed checks that every malformed input is refused with its reason
// code and statement, by packet.Decode and by a Decoder of its version.
func TestMalformed(t *testing.T) {
	if n := len(testvectors.Malformed); n < 150 {
		t.Errorf("%d malformed cases, want at least 150", n)
	}
	names := map[string]bool{}
	for _, c := range testvectors.Malformed {
		if names[c.Name] {
			t.Errorf("duplicate case name %q", c.Name)
		}
		names[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			p, n, err := decodeNoPanic(t, "Decode", func() (packet.Packet, int, error) {
				return packet.Decode[uint16](c.Version, c.Wire, 0)
			})
			if p != nil || n != 0 {
				t.Errorf("Decode = %v, %d; want nil, 0", p, n)
			}
			checkRefusal(t, "Decode", err, c.Version, c.Code, c.Statement)

			d := packet.Decoder[uint16]{Version: c.Version}
			p, n, err = decodeNoPanic(t, "Decoder.Decode", func() (packet.Packet, int, error) { return d.Decode(c.Wire) })
			if p != nil || n != 0 {
				t.Errorf("Decoder.Decode = %v, %d; want nil, 0", p, n)
			}
			checkRefusal(t, "Decoder.Decode", err, c.Version, c.Code, c.Statement)

			// The same bytes with four-byte identifiers and every prefix
			// must not panic either.
			decodeNoPanic(t, "Decode[uint32]", func() (packet.Packet, int, error) {
				return packet.Decode[uint32](c.Version, c.Wire, 0)
			})
			for i := range c.Wire {
				decodeNoPanic(t, "Decode of a prefix", func() (packet.Packet, int, error) {
					return packet.Decode[uint16](c.Version, c.Wire[:i], 0)
				})
			}
		})
	}
}

// TestMalformedStatementIDs checks that every statement a case names is in
// the normative statement tables, in the MQTT 5.0 one unless the case is a
// v3.1.1 rule, and that the case name starts with it.
func TestMalformedStatementIDs(t *testing.T) {
	v5, err5 := readStatements("../../shared/spec/mqtt5-normative.tsv")
	v311, err311 := readStatements("../../shared/spec/mqtt311-normative.tsv")
	if err5 != nil || err311 != nil {
		t.Skipf("statement tables not available: %v %v", err5, err311)
	}
	for _, c := range testvectors.Malformed {
		if c.Statement == "" {
			continue
		}
		if !strings.HasPrefix(c.Name, c.Statement+"/") {
			t.Errorf("%s: name does not start with %s/", c.Name, c.Statement)
		}
		if table := map[bool]map[string]bool{true: v5, false: v311}[c.Version == packet.V5]; !table[c.Statement] {
			t.Errorf("%s: statement %s is not in the table of %v", c.Name, c.Statement, c.Version)
		}
	}
}

func readStatements(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids := map[string]bool{}
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		if id, _, ok := strings.Cut(s.Text(), "\t"); ok {
			ids[id] = true
		}
	}
	return ids, s.Err()
}

// TestAllowedRepeats checks the two properties that may appear more than
// once: User Property anywhere it is allowed, Subscription Identifier in
// PUBLISH only.
func TestAllowedRepeats(t *testing.T) {
	cases := []struct {
		name string
		wire []byte
	}{
		{"connect user property twice", []byte{0x10, 0x1B, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C,
			0x0E, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x00, 0x00}},
		{"puback user property twice", []byte{0x40, 0x10, 0x00, 0x01, 0x00,
			0x0C, 0x26, 0x00, 0x01, 'a', 0x00, 0x00, 0x26, 0x00, 0x01, 'b', 0x00, 0x00}},
		{"subscribe user property twice", []byte{0x82, 0x15, 0x00, 0x01,
			0x0E, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'w', 0x00, 0x01, 'a', 0x00}},
		{"publish subscription identifier twice", []byte{0x30, 0x08, 0x00, 0x01, 'a', 0x04, 0x0B, 0x01, 0x0B, 0x01}},
		{"will user property twice", []byte{0x10, 0x22, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3C, 0x00,
			0x00, 0x01, 'c', 0x0E, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',
			0x00, 0x01, 't', 0x00, 0x00}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, n, err := packet.Decode[uint16](packet.V5, c.wire, 0)
			if err != nil || n != len(c.wire) {
				t.Fatalf("Decode = %v, %d, %v; want a packet of %d bytes", p, n, err, len(c.wire))
			}
		})
	}
}

// TestEncodeRefusals checks that encoding refuses what decoding refuses,
// returns dst unchanged and writes nothing into its spare capacity.
func TestEncodeRefusals(t *testing.T) {
	long := strings.Repeat("a", 65536)
	longBytes := []byte(long)
	v5, v311 := packet.V5, packet.V311
	mal, proto := packet.MalformedPacket, packet.ProtocolError
	zero := func(ids ...property.ID) property.Set { return property.NewSet(ids...) }
	cases := []struct {
		name      string
		v         packet.Version
		p         packet.Packet
		code      packet.ReasonCode
		statement string
	}{
		// strings and binary data over 65,535 bytes
		{"publish topic of 65,536 bytes", v5, &packet.Publish{Topic: long}, mal, "MQTT-4.7.3-3"},
		{"connect client id of 65,536 bytes", v311, &packet.Connect{ClientID: long}, mal, "MQTT-4.7.3-3"},
		{"connect user name of 65,536 bytes", v5, &packet.Connect{Username: long}, mal, "MQTT-4.7.3-3"},
		{"connect password of 65,536 bytes", v5, &packet.Connect{Username: "u", Password: longBytes}, mal, ""},
		{"connect will topic of 65,536 bytes", v311, &packet.Connect{Will: packet.Will{Topic: long}}, mal, "MQTT-4.7.3-3"},
		{"connect will payload of 65,536 bytes", v5, &packet.Connect{Will: packet.Will{Topic: "t", Payload: longBytes}}, mal, ""},
		{"subscribe filter of 65,536 bytes", v5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: long}}}, mal, "MQTT-4.7.3-3"},
		{"unsubscribe filter of 65,536 bytes", v311, &packet.Unsubscribe{PacketID: 1, Filters: []string{long}}, mal, "MQTT-4.7.3-3"},
		{"content type of 65,536 bytes", v5, &packet.Publish{Topic: "a", Props: property.Properties{ContentType: long}}, mal, ""},
		{"reason string of 65,536 bytes", v5, &packet.Disconnect{Props: property.Properties{ReasonString: long}}, mal, ""},
		{"user property key of 65,536 bytes", v5, &packet.Puback{PacketID: 1, Props: property.Properties{User: []property.User{{Key: long}}}}, mal, ""},
		{"user property value of 65,536 bytes", v5, &packet.Auth{Props: property.Properties{User: []property.User{{Key: "k", Value: long}}}}, mal, ""},
		{"correlation data of 65,536 bytes", v5, &packet.Publish{Topic: "a", Props: property.Properties{CorrelationData: longBytes}}, mal, ""},
		{"authentication data of 65,536 bytes", v5, &packet.Connect{Props: property.Properties{AuthMethod: "m", AuthData: longBytes}}, mal, ""},

		// invalid strings, topics and filters
		{"publish empty topic", v311, &packet.Publish{}, mal, "MQTT-4.7.3-1"},
		{"publish empty topic without alias", v5, &packet.Publish{}, mal, "MQTT-4.7.3-1"},
		{"publish topic with +", v5, &packet.Publish{Topic: "a/+"}, mal, "MQTT-3.3.2-2"},
		{"publish topic with #", v311, &packet.Publish{Topic: "#"}, mal, "MQTT-3.3.2-2"},
		{"publish topic with U+0000", v5, &packet.Publish{Topic: "a\x00"}, mal, "MQTT-1.5.4-2"},
		{"publish topic invalid UTF-8", v5, &packet.Publish{Topic: "a\xff"}, mal, "MQTT-1.5.4-1"},
		{"publish response topic with wildcard", v5, &packet.Publish{Topic: "a", Props: property.Properties{ResponseTopic: "r/#"}}, mal, "MQTT-3.3.2-14"},
		{"connect client id with surrogate", v5, &packet.Connect{ClientID: "\xed\xa0\x80"}, mal, "MQTT-1.5.4-1"},
		{"connect will topic with wildcard", v5, &packet.Connect{Will: packet.Will{Topic: "w/+"}}, mal, "MQTT-3.3.2-2"},
		{"user property key with U+0000", v5, &packet.Disconnect{Props: property.Properties{User: []property.User{{Key: "\x00"}}}}, mal, "MQTT-1.5.4-2"},
		{"subscribe filter a/b#", v5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/b#"}}}, mal, "MQTT-4.7.1-1"},
		{"subscribe filter a+/b", v311, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a+/b"}}}, mal, "MQTT-4.7.1-2"},
		{"subscribe empty filter", v5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: ""}}}, mal, "MQTT-4.7.3-1"},
		{"subscribe share without name", v5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share//a"}}}, mal, "MQTT-4.8.2-1"},
		{"subscribe share without filter", v5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g"}}}, mal, "MQTT-4.8.2-2"},
		{"unsubscribe filter #/a", v5, &packet.Unsubscribe{PacketID: 1, Filters: []string{"#/a"}}, mal, "MQTT-4.7.1-1"},
		{"subscribe without filters", v5, &packet.Subscribe{PacketID: 1}, proto, "MQTT-3.8.3-2"},
		{"unsubscribe without filters", v311, &packet.Unsubscribe{PacketID: 1}, proto, "MQTT-3.10.3-2"},

		// subscription options
		{"subscription QoS 3", v5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", QoS: 3}}}, proto, ""},
		{"subscription QoS 3", v311, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", QoS: 3}}}, mal, "MQTT-3.8.3-4"},
		{"subscription retain handling 3", v5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", RetainHandling: 3}}}, proto, ""},
		{"no local on a shared subscription", v5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g/a", NoLocal: true}}}, proto, "MQTT-3.8.3-4"},
		{"no local in 3.1.1", v311, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", NoLocal: true}}}, mal, "MQTT-3.8.3-4"},
		{"retain as published in 3.1.1", v311, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", RetainAsPublished: true}}}, mal, "MQTT-3.8.3-4"},
		{"retain handling in 3.1.1", v311, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", RetainHandling: 1}}}, mal, "MQTT-3.8.3-4"},

		// properties not allowed in the packet
		{"publish session expiry", v5, &packet.Publish{Topic: "a", Props: property.Properties{SessionExpiry: 1}}, mal, ""},
		{"connect topic alias", v5, &packet.Connect{Props: property.Properties{TopicAlias: 1}}, mal, ""},
		{"will session expiry", v5, &packet.Connect{Will: packet.Will{Topic: "t", Props: property.Properties{SessionExpiry: 1}}}, mal, ""},
		{"connack will delay", v5, &packet.Connack{Props: property.Properties{WillDelay: 1}}, mal, ""},
		{"puback topic alias", v5, &packet.Puback{PacketID: 1, Props: property.Properties{TopicAlias: 1}}, mal, ""},
		{"pubrel content type", v5, &packet.Pubrel{PacketID: 1, Props: property.Properties{ContentType: "x"}}, mal, ""},
		{"subscribe reason string", v5, &packet.Subscribe{PacketID: 1, Props: property.Properties{ReasonString: "x"}, Subscriptions: []packet.Subscription{{Filter: "a"}}}, mal, ""},
		{"suback subscription identifier", v5, &packet.Suback{PacketID: 1, Props: property.Properties{SubscriptionIDs: []uint32{1}}, Reasons: []packet.ReasonCode{0}}, mal, ""},
		{"unsubscribe reason string", v5, &packet.Unsubscribe{PacketID: 1, Props: property.Properties{ReasonString: "x"}, Filters: []string{"a"}}, mal, ""},
		{"disconnect authentication method", v5, &packet.Disconnect{Props: property.Properties{AuthMethod: "m"}}, mal, ""},
		{"auth session expiry present as zero", v5, &packet.Auth{Reason: 0x18, Props: property.Properties{Zero: zero(property.SessionExpiryInterval)}}, mal, ""},

		// property values out of range, and repeats not allowed
		{"receive maximum 0", v5, &packet.Connect{Props: property.Properties{Zero: zero(property.ReceiveMaximum)}}, proto, ""},
		{"maximum packet size 0", v5, &packet.Connack{Props: property.Properties{Zero: zero(property.MaximumPacketSize)}}, proto, ""},
		{"topic alias 0", v5, &packet.Publish{Topic: "a", Props: property.Properties{Zero: zero(property.TopicAlias)}}, packet.TopicAliasInvalid, "MQTT-3.3.2-8"},
		{"subscription identifier 0", v5, &packet.Publish{Topic: "a", Props: property.Properties{SubscriptionIDs: []uint32{0}}}, proto, ""},
		{"subscription identifier over 268,435,455", v5, &packet.Subscribe{PacketID: 1, Props: property.Properties{SubscriptionIDs: []uint32{1 << 28}}, Subscriptions: []packet.Subscription{{Filter: "a"}}}, proto, ""},
		{"two subscription identifiers in subscribe", v5, &packet.Subscribe{PacketID: 1, Props: property.Properties{SubscriptionIDs: []uint32{1, 2}}, Subscriptions: []packet.Subscription{{Filter: "a"}}}, proto, ""},
		{"payload format indicator 2", v5, &packet.Publish{Topic: "a", Props: property.Properties{PayloadFormat: 2}}, proto, ""},
		{"maximum QoS 2", v5, &packet.Connack{Props: property.Properties{MaximumQoS: 2}}, proto, ""},
		{"request problem information 2", v5, &packet.Connect{Props: property.Properties{RequestProblemInfo: 2}}, proto, ""},

		// packet identifier 0
		{"publish QoS 1 packet id 0", v5, &packet.Publish{Topic: "a", QoS: 1}, mal, "MQTT-2.2.1-3"},
		{"publish QoS 2 packet id 0", v311, &packet.Publish{Topic: "a", QoS: 2}, mal, "MQTT-2.2.1-3"},
		{"puback packet id 0", v5, &packet.Puback{}, mal, "MQTT-2.2.1-3"},
		{"pubrec packet id 0", v311, &packet.Pubrec{}, mal, "MQTT-2.2.1-3"},
		{"pubrel packet id 0", v5, &packet.Pubrel{}, mal, "MQTT-2.2.1-3"},
		{"pubcomp packet id 0", v311, &packet.Pubcomp{}, mal, "MQTT-2.2.1-3"},
		{"subscribe packet id 0", v5, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a"}}}, mal, "MQTT-2.2.1-3"},
		{"suback packet id 0", v311, &packet.Suback{Reasons: []packet.ReasonCode{0}}, mal, "MQTT-2.2.1-3"},
		{"unsubscribe packet id 0", v5, &packet.Unsubscribe{Filters: []string{"a"}}, mal, "MQTT-2.2.1-3"},
		{"unsuback packet id 0", v5, &packet.Unsuback{Reasons: []packet.ReasonCode{0}}, mal, "MQTT-2.2.1-3"},
		{"publish uint32 packet id 0", v5, &packet.PublishOf[uint32]{Topic: "a", QoS: 1}, mal, "MQTT-2.2.1-3"},

		// v5 properties in a v3.1.1 packet, AUTH in v3.1.1
		{"connect properties in 3.1.1", v311, &packet.Connect{Props: property.Properties{SessionExpiry: 1}}, mal, ""},
		{"will properties in 3.1.1", v311, &packet.Connect{Will: packet.Will{Topic: "t", Props: property.Properties{WillDelay: 1}}}, mal, ""},
		{"connack properties in 3.1.1", v311, &packet.Connack{Props: property.Properties{MaximumQoS: 1}}, mal, ""},
		{"publish properties in 3.1.1", v311, &packet.Publish{Topic: "a", Props: property.Properties{MessageExpiry: 1}}, mal, ""},
		{"puback properties in 3.1.1", v311, &packet.Puback{PacketID: 1, Props: property.Properties{ReasonString: "x"}}, mal, ""},
		{"subscribe properties in 3.1.1", v311, &packet.Subscribe{PacketID: 1, Props: property.Properties{SubscriptionIDs: []uint32{1}}, Subscriptions: []packet.Subscription{{Filter: "a"}}}, mal, ""},
		{"unsuback properties in 3.1.1", v311, &packet.Unsuback{PacketID: 1, Props: property.Properties{User: []property.User{{Key: "k"}}}}, mal, ""},
		{"disconnect properties in 3.1.1", v311, &packet.Disconnect{Props: property.Properties{Zero: zero(property.SessionExpiryInterval)}}, mal, ""},
		{"auth in 3.1.1", v311, &packet.Auth{}, proto, ""},
		{"auth in 3.1", packet.V31, &packet.Auth{}, proto, ""},

		// reason codes not defined for the packet
		{"connack reason 0x01", v5, &packet.Connack{Reason: 0x01}, mal, "MQTT-3.2.2-8"},
		{"connack return code 6", v311, &packet.Connack{Reason: 6}, mal, ""},
		{"puback reason 0x01", v5, &packet.Puback{PacketID: 1, Reason: 0x01}, mal, "MQTT-3.4.2-1"},
		{"pubrec reason 0x92", v5, &packet.Pubrec{PacketID: 1, Reason: 0x92}, mal, "MQTT-3.5.2-1"},
		{"pubrel reason 0x10", v5, &packet.Pubrel{PacketID: 1, Reason: 0x10}, mal, "MQTT-3.6.2-1"},
		{"pubcomp reason 0x80", v5, &packet.Pubcomp{PacketID: 1, Reason: 0x80}, mal, "MQTT-3.7.2-1"},
		{"puback reason in 3.1.1", v311, &packet.Puback{PacketID: 1, Reason: 0x10}, mal, ""},
		{"suback reason 0x03", v5, &packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{0, 3}}, mal, "MQTT-3.9.3-2"},
		{"suback return code 0x91", v311, &packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{0x91}}, mal, "MQTT-3.9.3-2"},
		{"suback without reason codes", v5, &packet.Suback{PacketID: 1}, proto, ""},
		{"unsuback reason 0x01", v5, &packet.Unsuback{PacketID: 1, Reasons: []packet.ReasonCode{1}}, mal, "MQTT-3.11.3-2"},
		{"unsuback reasons in 3.1.1", v311, &packet.Unsuback{PacketID: 1, Reasons: []packet.ReasonCode{0}}, mal, ""},
		{"disconnect reason 0x01", v5, &packet.Disconnect{Reason: 0x01}, mal, "MQTT-3.14.2-1"},
		{"disconnect reason in 3.1.1", v311, &packet.Disconnect{Reason: 0x04}, mal, ""},
		{"auth reason 0x80", v5, &packet.Auth{Reason: 0x80}, mal, "MQTT-3.15.2-1"},

		// CONNECT, CONNACK and PUBLISH consistency
		{"connect will QoS 3", v5, &packet.Connect{Will: packet.Will{Topic: "t", QoS: 3}}, mal, "MQTT-3.1.2-14"},
		{"connect password without user name", v311, &packet.Connect{Password: []byte("p")}, mal, "MQTT-3.1.2-22"},
		{"connect will QoS without will", v5, &packet.Connect{Will: packet.Will{QoS: 1}}, mal, ""},
		{"connect version 6", packet.Version(6), &packet.Connect{}, packet.UnsupportedProtocolVersion, "MQTT-3.1.2-2"},
		{"connack session present with error", v5, &packet.Connack{SessionPresent: true, Reason: 0x80}, proto, "MQTT-3.2.2-6"},
		{"publish QoS 3", v5, &packet.Publish{Topic: "a", QoS: 3, PacketID: 1}, mal, "MQTT-3.3.1-4"},
		{"publish dup with QoS 0", v311, &packet.Publish{Topic: "a", Dup: true}, mal, "MQTT-3.3.1-2"},
	}
	for _, c := range cases {
		t.Run(c.v.String()+"/"+c.name, func(t *testing.T) {
			dst := make([]byte, 3, 64)
			copy(dst, "abc")
			for i := 3; i < cap(dst); i++ {
				dst[:cap(dst)][i] = 0xEE
			}
			got, err := c.p.AppendTo(dst, c.v)
			checkRefusal(t, "AppendTo", err, c.v, c.code, testvectors.StatementFor(c.v, c.statement))
			if len(got) != 3 || string(got) != "abc" {
				t.Errorf("AppendTo returned % X, want dst unchanged", got)
			}
			if spare := dst[3:cap(dst)]; !bytes.Equal(spare, bytes.Repeat([]byte{0xEE}, len(spare))) {
				t.Errorf("AppendTo wrote into the spare capacity of dst: % X", spare)
			}
		})
	}
}
