package packet_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Normative statements the codec keeps on its own, one subtest each, named
// after the statement: MQTT 5.0 in TestCodecStatements, MQTT 3.1.1 (whose
// numbers differ) in TestCodecStatementsV311. Each checks both directions
// where the rule has two: what encoding produces or refuses, and what
// decoding accepts or refuses.

// ---- helpers --------------------------------------------------------------

func stmtEncode(t *testing.T, v packet.Version, p packet.Packet) []byte {
	t.Helper()
	b, err := p.AppendTo(nil, v)
	if err != nil {
		t.Fatalf("encode %v (%v): %v", p.Type(), v, err)
	}
	return b
}

func stmtDecode(t *testing.T, v packet.Version, b []byte) packet.Packet {
	t.Helper()
	p, n, err := packet.Decode[uint16](v, b, 0)
	if err != nil || n != len(b) {
		t.Fatalf("decode % X (%v): %v, %d of %d bytes", b, v, err, n, len(b))
	}
	return p
}

// encodeRefused checks that encoding p fails with reason code want.
func encodeRefused(t *testing.T, v packet.Version, p packet.Packet, want packet.ReasonCode) {
	t.Helper()
	b, err := p.AppendTo(nil, v)
	if len(b) != 0 {
		t.Errorf("refused encoding of %v wrote % X", p.Type(), b)
	}
	checkRefusal(t, "AppendTo", err, v, want, "")
}

// decodeRefused checks that decoding b fails with reason code want.
func decodeRefused(t *testing.T, v packet.Version, b []byte, want packet.ReasonCode) {
	t.Helper()
	p, _, err := packet.Decode[uint16](v, b, 0)
	if p != nil {
		t.Errorf("decoded % X to %v", b, p)
	}
	checkRefusal(t, "Decode", err, v, want, "")
}

// patched returns a copy of b with the only occurrence of old replaced by
// repl, of the same length, so that every length field stays right.
func patched(t *testing.T, b []byte, old, repl string) []byte {
	t.Helper()
	if len(old) != len(repl) || bytes.Count(b, []byte(old)) != 1 {
		t.Fatalf("cannot patch %q into %q in % X", old, repl, b)
	}
	return bytes.Replace(b, []byte(old), []byte(repl), 1)
}

// Three-byte strings that are not UTF-8 Encoded Strings: ill-formed, with
// U+0000, with a surrogate.
var badStrings = []string{"a\xffb", "a\x00b", "\xed\xa0\x80"}

// marker is a valid three-byte string that the bad strings replace.
const marker = "m~m"

// utf8Field checks that a string field built by build must be a UTF-8
// Encoded String: a packet with a bad one is not encoded, and the bytes of
// one are not decoded, while the good string passes both ways.
func utf8Field(t *testing.T, v packet.Version, build func(s string) packet.Packet) {
	t.Helper()
	good := stmtEncode(t, v, build(marker))
	stmtDecode(t, v, good)
	for _, s := range badStrings {
		encodeRefused(t, v, build(s), packet.MalformedPacket)
		decodeRefused(t, v, patched(t, good, marker, s), packet.MalformedPacket)
	}
}

// bomKept checks that U+FEFF, as the bytes EF BB BF, is neither skipped
// nor stripped: each string strings(p) returns comes out of a round trip
// as it went in, BOM included.
func bomKept(t *testing.T, v packet.Version, p packet.Packet, strs func(packet.Packet) []string) {
	t.Helper()
	want := strs(p)
	b := stmtEncode(t, v, p)
	if n := bytes.Count(b, []byte{0xEF, 0xBB, 0xBF}); n < len(want) {
		t.Fatalf("%v: %d BOMs on the wire for %d strings: % X", p.Type(), n, len(want), b)
	}
	got := strs(stmtDecode(t, v, b))
	for i := range want {
		if !strings.Contains(want[i], bom) {
			t.Fatalf("test string %q has no BOM", want[i])
		}
		if got[i] != want[i] {
			t.Fatalf("%v: string %d decoded as %q, want %q", p.Type(), i, got[i], want[i])
		}
	}
}

const bom = "\uFEFF"

func publishStrings(p packet.Packet) []string {
	q := p.(*packet.Publish)
	s := []string{q.Topic}
	if q.Props.ContentType != "" {
		s = append(s, q.Props.ContentType, q.Props.ResponseTopic, q.Props.User[0].Key, q.Props.User[0].Value)
	}
	return s
}

func connectStrings(p packet.Packet) []string {
	q := p.(*packet.Connect)
	s := []string{q.ClientID, q.Username, q.Will.Topic}
	if q.Props.AuthMethod != "" {
		s = append(s, q.Props.AuthMethod)
	}
	return s
}

func filterStrings(p packet.Packet) []string {
	switch q := p.(type) {
	case *packet.Subscribe:
		return []string{q.Subscriptions[0].Filter}
	case *packet.Unsubscribe:
		return []string{q.Filters[0]}
	}
	return nil
}

// flagField checks a CONNECT flag that announces a payload field: with is
// a CONNECT carrying the field, without the same CONNECT without it. The
// flag is set exactly when the field is on the wire, and a decoder refuses
// the field without its flag and the flag without its field.
func flagField(t *testing.T, v packet.Version, flag byte, field []byte, with, without *packet.Connect) {
	t.Helper()
	bw, bo := stmtEncode(t, v, with), stmtEncode(t, v, without)
	const flags = 9 // fixed header, protocol name "MQTT", level
	if bw[flags]&flag == 0 || bo[flags]&flag != 0 {
		t.Fatalf("flags %08b with the field, %08b without; want bit %08b only with it", bw[flags], bo[flags], flag)
	}
	if !bytes.HasSuffix(bw, field) || len(bw) != len(bo)+len(field) {
		t.Fatalf("with the field: % X; without: % X; want the field % X at the end", bw, bo, field)
	}
	bw[flags] &^= flag // field present, flag 0: trailing bytes
	decodeRefused(t, v, bw, packet.MalformedPacket)
	bo[flags] |= flag // flag 1, field absent: the packet ends early
	decodeRefused(t, v, bo, packet.MalformedPacket)
}

// willFlagsZero checks that without a will the Will QoS and Will Retain
// flags are 0 on the wire, that a will QoS or retain flag without a will
// is not encoded, and that flags with them set are not decoded.
func willFlagsZero(t *testing.T, v packet.Version, retain bool) {
	t.Helper()
	const flags = 9
	bits, will := byte(0x18), packet.Will{QoS: 1}
	if retain {
		bits, will = 0x20, packet.Will{Retain: true}
	}
	for _, c := range []*packet.Connect{{ClientID: "c", CleanStart: true},
		{ClientID: "c", Username: "u", Password: []byte("p"), KeepAlive: 0xFFFF}} {
		if b := stmtEncode(t, v, c); b[flags]&(0x04|bits) != 0 {
			t.Fatalf("no will, flags %08b", b[flags])
		}
	}
	encodeRefused(t, v, &packet.Connect{ClientID: "c", Will: will}, packet.MalformedPacket)
	if !retain {
		encodeRefused(t, v, &packet.Connect{ClientID: "c", Will: packet.Will{QoS: 2}}, packet.MalformedPacket)
	}
	for f := byte(0x08); f <= 0x38; f += 0x08 {
		if f&bits == 0 {
			continue
		}
		b := stmtEncode(t, v, &packet.Connect{ClientID: "c", CleanStart: true})
		b[flags] |= f
		decodeRefused(t, v, b, packet.MalformedPacket)
	}
}

// noWildcardInTopicName checks that '+' and '#' are refused in a Topic
// Name (PUBLISH, will) both ways, and accepted in a Topic Filter.
func noWildcardInTopicName(t *testing.T, v packet.Version) {
	t.Helper()
	for _, topic := range []string{"+", "#", "a/+", "a/#", "+/b", "s/+/t", "#/"} {
		if packet.ValidTopicName(topic) == nil {
			t.Errorf("ValidTopicName(%q) accepted a wildcard", topic)
		}
		encodeRefused(t, v, &packet.Publish{Topic: topic}, packet.MalformedPacket)
		encodeRefused(t, v, &packet.Connect{ClientID: "c", Will: packet.Will{Topic: topic}}, packet.MalformedPacket)
	}
	for _, w := range []string{"a/+", "a/#", "+/+"} {
		stmtEncode(t, v, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: w}}})
		pub := stmtEncode(t, v, &packet.Publish{Topic: "a/b", QoS: 1, PacketID: 1})
		decodeRefused(t, v, patched(t, pub, "a/b", w), packet.MalformedPacket)
		will := stmtEncode(t, v, &packet.Connect{ClientID: "c", Will: packet.Will{Topic: "a/b"}})
		decodeRefused(t, v, patched(t, will, "a/b", w), packet.MalformedPacket)
	}
}

// noNullInTopics checks that U+0000 is refused in Topic Names and Topic
// Filters, both ways.
func noNullInTopics(t *testing.T, v packet.Version) {
	t.Helper()
	builds := []func(string) packet.Packet{
		func(s string) packet.Packet { return &packet.Publish{Topic: s} },
		func(s string) packet.Packet { return &packet.Connect{ClientID: "c", Will: packet.Will{Topic: s}} },
		func(s string) packet.Packet {
			return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: s}}}
		},
		func(s string) packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{s}} },
	}
	for _, build := range builds {
		for _, s := range []string{"\x00", "a\x00b", "a/\x00"} {
			encodeRefused(t, v, build(s), packet.MalformedPacket)
		}
		good := stmtEncode(t, v, build("a/b"))
		decodeRefused(t, v, patched(t, good, "a/b", "a\x00b"), packet.MalformedPacket)
	}
}

// ---- MQTT 5.0 ----------------------------------------------------------------

func TestCodecStatements(t *testing.T) {
	v5 := packet.V5

	t.Run("MQTT-1.5.4-3/U+FEFF is kept wherever it appears", func(t *testing.T) {
		bomKept(t, v5, &packet.Publish{Topic: bom + "a" + bom, QoS: 1, PacketID: 1, Props: property.Properties{
			ContentType: bom, ResponseTopic: "r" + bom, User: []property.User{{Key: bom, Value: "v" + bom + "v"}}}},
			publishStrings)
		bomKept(t, v5, &packet.Connect{ClientID: bom, Username: bom + "u", Will: packet.Will{Topic: "w/" + bom},
			Props: property.Properties{AuthMethod: bom + bom}}, connectStrings)
		bomKept(t, v5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: bom + "/#"}}}, filterStrings)
		bomKept(t, v5, &packet.Unsubscribe{PacketID: 1, Filters: []string{"+/" + bom}}, filterStrings)
		// A topic that is nothing but the BOM is not empty once decoded.
		p := stmtDecode(t, v5, []byte{0x30, 0x06, 0x00, 0x03, 0xEF, 0xBB, 0xBF, 0x00}).(*packet.Publish)
		if p.Topic != bom {
			t.Fatalf("topic EF BB BF decoded as %q", p.Topic)
		}
	})

	t.Run("MQTT-1.5.7-1/both strings of a UTF-8 String Pair are UTF-8 Encoded Strings", func(t *testing.T) {
		pair := []property.User{{Key: "clé", Value: "värde \U0001F600"}}
		for _, p := range []packet.Packet{
			&packet.Publish{Topic: "a", Props: property.Properties{User: pair}},
			&packet.Connect{ClientID: "c", Props: property.Properties{User: pair}},
			&packet.Puback{PacketID: 1, Props: property.Properties{User: pair}},
			&packet.Disconnect{Props: property.Properties{User: pair}},
		} {
			stmtDecode(t, v5, stmtEncode(t, v5, p))
		}
		utf8Field(t, v5, func(s string) packet.Packet {
			return &packet.Publish{Topic: "a", Props: property.Properties{User: []property.User{{Key: s, Value: "v"}}}}
		})
		utf8Field(t, v5, func(s string) packet.Packet {
			return &packet.Publish{Topic: "a", Props: property.Properties{User: []property.User{{Key: "k", Value: s}}}}
		})
		utf8Field(t, v5, func(s string) packet.Packet {
			return &packet.Disconnect{Props: property.Properties{User: []property.User{{Key: "k", Value: "v"}, {Key: s, Value: "w"}}}}
		})
		utf8Field(t, v5, func(s string) packet.Packet {
			return &packet.Connect{ClientID: "c", Will: packet.Will{Topic: "w",
				Props: property.Properties{User: []property.User{{Key: "k", Value: s}}}}}
		})
	})

	t.Run("MQTT-2.2.2-1/no properties is a Property Length of 0", func(t *testing.T) {
		cases := []struct {
			p    packet.Packet
			want []byte
		}{
			{&packet.Connect{ClientID: "c", CleanStart: true}, []byte{0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00,
				0x00, 0x00, 0x01, 'c'}},
			{&packet.Connect{ClientID: "c", CleanStart: true, Will: packet.Will{Topic: "w"}}, []byte{0x10, 0x14, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x00,
				0x00, 0x00, 0x01, 'c', 0x00, 0x00, 0x01, 'w', 0x00, 0x00}},
			{&packet.Connack{}, []byte{0x20, 0x03, 0x00, 0x00, 0x00}},
			{&packet.Publish{Topic: "a"}, []byte{0x30, 0x04, 0x00, 0x01, 'a', 0x00}},
			{&packet.Publish{Topic: "a", QoS: 1, PacketID: 1}, []byte{0x32, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 0x00}},
			{&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}}, []byte{0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x00}},
			{&packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{0}}, []byte{0x90, 0x04, 0x00, 0x01, 0x00, 0x00}},
			{&packet.Unsubscribe{PacketID: 1, Filters: []string{"a"}}, []byte{0xA2, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'}},
			{&packet.Unsuback{PacketID: 1, Reasons: []packet.ReasonCode{0}}, []byte{0xB0, 0x04, 0x00, 0x01, 0x00, 0x00}},
		}
		for _, c := range cases {
			if got := stmtEncode(t, v5, c.p); !bytes.Equal(got, c.want) {
				t.Errorf("%v without properties: % X, want % X", c.p.Type(), got, c.want)
			}
		}
		// Without the Property Length the packet is malformed.
		decodeRefused(t, v5, []byte{0x30, 0x03, 0x00, 0x01, 'a'}, packet.MalformedPacket)
		decodeRefused(t, v5, []byte{0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}, packet.MalformedPacket)
		decodeRefused(t, v5, []byte{0x20, 0x02, 0x00, 0x00}, packet.MalformedPacket)
		decodeRefused(t, v5, []byte{0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00, 0x00, 0x01, 'c'}, packet.MalformedPacket)
	})

	t.Run("MQTT-3.1.2-13/MQTT-3.1.2-15/no will: Will QoS and Will Retain are 0", func(t *testing.T) {
		willFlagsZero(t, v5, false)
		willFlagsZero(t, v5, true)
	})
	t.Run("MQTT-3.1.2-18/MQTT-3.1.2-19/User Name present exactly with its flag", func(t *testing.T) {
		flagField(t, v5, 0x80, []byte{0x00, 0x01, 'u'}, &packet.Connect{ClientID: "c", Username: "u"}, &packet.Connect{ClientID: "c"})
		flagField(t, v5, 0x80, []byte{0x00, 0x00}, &packet.Connect{ClientID: "c", EmptyUsername: true}, &packet.Connect{ClientID: "c"})
	})
	t.Run("MQTT-3.1.2-20/MQTT-3.1.2-21/Password present exactly with its flag", func(t *testing.T) {
		flagField(t, v5, 0x40, []byte{0x00, 0x01, 'p'}, &packet.Connect{ClientID: "c", Password: []byte("p")}, &packet.Connect{ClientID: "c"})
		flagField(t, v5, 0x40, []byte{0x00, 0x00}, &packet.Connect{ClientID: "c", Username: "u", Password: []byte{}},
			&packet.Connect{ClientID: "c", Username: "u"})
	})

	t.Run("MQTT-3.1.3-1/MQTT-3.1.3-3/payload fields in order, ClientID first", func(t *testing.T) {
		c := &packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 10, Username: "u", Password: []byte("p"),
			Will: packet.Will{Topic: "w", QoS: 1, Retain: true, Payload: []byte("m"), Props: property.Properties{WillDelay: 5}}}
		want := []byte{0x10, 0x20, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0xEE, 0x00, 0x0A, 0x00,
			0x00, 0x01, 'c', // Client Identifier
			0x05, 0x18, 0x00, 0x00, 0x00, 0x05, // Will Properties
			0x00, 0x01, 'w', // Will Topic
			0x00, 0x01, 'm', // Will Payload
			0x00, 0x01, 'u', // User Name
			0x00, 0x01, 'p'} // Password
		if got := stmtEncode(t, v5, c); !bytes.Equal(got, want) {
			t.Fatalf("CONNECT % X\nwant       % X", got, want)
		}
		d := stmtDecode(t, v5, want).(*packet.Connect)
		if d.ClientID != "c" || d.Will.Topic != "w" || string(d.Will.Payload) != "m" || d.Will.Props.WillDelay != 5 ||
			d.Username != "u" || string(d.Password) != "p" {
			t.Fatalf("decoded %+v", d)
		}
		// An empty ClientID is still present, as a zero length string.
		if got := stmtEncode(t, v5, &packet.Connect{CleanStart: true}); !bytes.HasSuffix(got, []byte{0x00, 0x00, 0x00}) || len(got) != 15 {
			t.Fatalf("CONNECT with an empty ClientID: % X", got)
		}
		// A CONNECT that ends before its ClientID is malformed.
		decodeRefused(t, v5, []byte{0x10, 0x0B, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x00}, packet.MalformedPacket)
	})
	t.Run("MQTT-3.1.3-4/ClientID is a UTF-8 Encoded String", func(t *testing.T) {
		utf8Field(t, v5, func(s string) packet.Packet { return &packet.Connect{ClientID: s, CleanStart: true} })
	})
	t.Run("MQTT-3.1.3-9/Will Topic is a UTF-8 Encoded String", func(t *testing.T) {
		utf8Field(t, v5, func(s string) packet.Packet { return &packet.Connect{ClientID: "c", Will: packet.Will{Topic: s}} })
	})
	t.Run("MQTT-3.1.3-10/User Name is a UTF-8 Encoded String", func(t *testing.T) {
		utf8Field(t, v5, func(s string) packet.Packet { return &packet.Connect{ClientID: "c", Username: s} })
	})
	t.Run("MQTT-3.3.2-13/Response Topic is a UTF-8 Encoded String", func(t *testing.T) {
		utf8Field(t, v5, func(s string) packet.Packet {
			return &packet.Publish{Topic: "a", Props: property.Properties{ResponseTopic: s}}
		})
		utf8Field(t, v5, func(s string) packet.Packet {
			return &packet.Connect{ClientID: "c", Will: packet.Will{Topic: "w", Props: property.Properties{ResponseTopic: s}}}
		})
	})
	t.Run("MQTT-3.3.2-19/Content Type is a UTF-8 Encoded String", func(t *testing.T) {
		utf8Field(t, v5, func(s string) packet.Packet {
			return &packet.Publish{Topic: "a", QoS: 2, PacketID: 9, Props: property.Properties{ContentType: s}}
		})
		utf8Field(t, v5, func(s string) packet.Packet {
			return &packet.Connect{ClientID: "c", Will: packet.Will{Topic: "w", Props: property.Properties{ContentType: s}}}
		})
	})
	t.Run("MQTT-3.8.3-1/SUBSCRIBE Topic Filters are UTF-8 Encoded Strings", func(t *testing.T) {
		utf8Field(t, v5, func(s string) packet.Packet {
			return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/#"}, {Filter: s, QoS: 1}}}
		})
	})
	t.Run("MQTT-3.10.3-1/UNSUBSCRIBE Topic Filters are UTF-8 Encoded Strings", func(t *testing.T) {
		utf8Field(t, v5, func(s string) packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{s, "b"}} })
	})
	t.Run("MQTT-4.7.0-1/wildcards in Topic Filters only, never in a Topic Name", func(t *testing.T) {
		noWildcardInTopicName(t, v5)
	})
	t.Run("MQTT-4.7.3-2/no U+0000 in Topic Names and Topic Filters", func(t *testing.T) {
		noNullInTopics(t, v5)
	})
}

// ---- MQTT 3.1.1 ----------------------------------------------------------------

func TestCodecStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-1.5.3-3 3.1.1/U+FEFF is kept wherever it appears", func(t *testing.T) {
		bomKept(t, v, &packet.Publish{Topic: bom + "a" + bom, QoS: 2, PacketID: 3}, publishStrings)
		bomKept(t, v, &packet.Connect{ClientID: bom, Username: "u" + bom, Will: packet.Will{Topic: bom + bom}}, connectStrings)
		bomKept(t, v, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "+/" + bom}}}, filterStrings)
		bomKept(t, v, &packet.Unsubscribe{PacketID: 1, Filters: []string{bom + "/#"}}, filterStrings)
		p := stmtDecode(t, v, []byte{0x30, 0x05, 0x00, 0x03, 0xEF, 0xBB, 0xBF}).(*packet.Publish)
		if p.Topic != bom {
			t.Fatalf("topic EF BB BF decoded as %q", p.Topic)
		}
	})

	t.Run("MQTT-3.1.2-9 3.1.1/with the will flag, Will Topic and Will Message are present", func(t *testing.T) {
		b := stmtEncode(t, v, &packet.Connect{ClientID: "c", Will: packet.Will{Topic: "w"}})
		if b[9]&0x04 == 0 || !bytes.HasSuffix(b, []byte{0x00, 0x01, 'c', 0x00, 0x01, 'w', 0x00, 0x00}) {
			t.Fatalf("CONNECT with a will of empty message: % X", b)
		}
		no := stmtEncode(t, v, &packet.Connect{ClientID: "c"})
		no[9] |= 0x04
		decodeRefused(t, v, no, packet.MalformedPacket)
		topicOnly := append(stmtEncode(t, v, &packet.Connect{ClientID: "c"}), 0x00, 0x01, 'w')
		topicOnly[1] += 3
		topicOnly[9] |= 0x04
		decodeRefused(t, v, topicOnly, packet.MalformedPacket)
	})
	t.Run("MQTT-3.1.2-13 MQTT-3.1.2-15 3.1.1/no will: Will QoS and Will Retain are 0", func(t *testing.T) {
		willFlagsZero(t, v, false)
		willFlagsZero(t, v, true)
	})
	t.Run("MQTT-3.1.2-18 MQTT-3.1.2-19 3.1.1/user name present exactly with its flag", func(t *testing.T) {
		flagField(t, v, 0x80, []byte{0x00, 0x01, 'u'}, &packet.Connect{ClientID: "c", Username: "u"}, &packet.Connect{ClientID: "c"})
		flagField(t, v, 0x80, []byte{0x00, 0x00}, &packet.Connect{ClientID: "c", EmptyUsername: true}, &packet.Connect{ClientID: "c"})
	})
	t.Run("MQTT-3.1.2-20 MQTT-3.1.2-21 3.1.1/password present exactly with its flag", func(t *testing.T) {
		flagField(t, v, 0x40, []byte{0x00, 0x01, 'p'}, &packet.Connect{ClientID: "c", Username: "u", Password: []byte("p")},
			&packet.Connect{ClientID: "c", Username: "u"})
		flagField(t, v, 0x40, []byte{0x00, 0x00}, &packet.Connect{ClientID: "c", Username: "u", Password: []byte{}},
			&packet.Connect{ClientID: "c", Username: "u"})
	})

	t.Run("MQTT-3.1.3-1 MQTT-3.1.3-3 3.1.1/payload fields in order, ClientId first", func(t *testing.T) {
		c := &packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 10, Username: "u", Password: []byte("p"),
			Will: packet.Will{Topic: "w", QoS: 1, Retain: true, Payload: []byte("m")}}
		want := []byte{0x10, 0x19, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xEE, 0x00, 0x0A,
			0x00, 0x01, 'c', // Client Identifier
			0x00, 0x01, 'w', // Will Topic
			0x00, 0x01, 'm', // Will Message
			0x00, 0x01, 'u', // User Name
			0x00, 0x01, 'p'} // Password
		if got := stmtEncode(t, v, c); !bytes.Equal(got, want) {
			t.Fatalf("CONNECT % X\nwant       % X", got, want)
		}
		d := stmtDecode(t, v, want).(*packet.Connect)
		if d.ClientID != "c" || d.Will.Topic != "w" || string(d.Will.Payload) != "m" || d.Username != "u" || string(d.Password) != "p" {
			t.Fatalf("decoded %+v", d)
		}
		if got := stmtEncode(t, v, &packet.Connect{CleanStart: true}); !bytes.HasSuffix(got, []byte{0x00, 0x00}) || len(got) != 14 {
			t.Fatalf("CONNECT with an empty ClientId: % X", got)
		}
		decodeRefused(t, v, []byte{0x10, 0x0A, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C}, packet.MalformedPacket)
	})
	t.Run("MQTT-3.1.3-4 3.1.1/ClientId is a UTF-8 encoded string", func(t *testing.T) {
		utf8Field(t, v, func(s string) packet.Packet { return &packet.Connect{ClientID: s, CleanStart: true} })
	})
	t.Run("MQTT-3.1.3-10 3.1.1/Will Topic is a UTF-8 encoded string", func(t *testing.T) {
		utf8Field(t, v, func(s string) packet.Packet { return &packet.Connect{ClientID: "c", Will: packet.Will{Topic: s}} })
	})
	t.Run("MQTT-3.1.3-11 3.1.1/User Name is a UTF-8 encoded string", func(t *testing.T) {
		utf8Field(t, v, func(s string) packet.Packet {
			return &packet.Connect{ClientID: "c", Username: s, Password: []byte("p")}
		})
	})
	t.Run("MQTT-3.3.2-1 3.1.1/Topic Name first in the variable header, a UTF-8 encoded string", func(t *testing.T) {
		want := []byte{0x32, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07}
		if got := stmtEncode(t, v, &packet.Publish{Topic: "a/b", QoS: 1, PacketID: 7}); !bytes.Equal(got, want) {
			t.Fatalf("PUBLISH % X, want % X", got, want)
		}
		utf8Field(t, v, func(s string) packet.Packet {
			return &packet.Publish{Topic: s, QoS: 1, PacketID: 7, Payload: []byte("x")}
		})
	})
	t.Run("MQTT-3.8.3-1 3.1.1/SUBSCRIBE Topic Filters are UTF-8 encoded strings", func(t *testing.T) {
		utf8Field(t, v, func(s string) packet.Packet {
			return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: s, QoS: 2}, {Filter: "b/+"}}}
		})
	})
	t.Run("MQTT-3.10.3-1 3.1.1/UNSUBSCRIBE Topic Filters are UTF-8 encoded strings", func(t *testing.T) {
		utf8Field(t, v, func(s string) packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{"a", s}} })
	})
	t.Run("MQTT-4.7.1-1 3.1.1/wildcards in Topic Filters only, never in a Topic Name", func(t *testing.T) {
		noWildcardInTopicName(t, v)
	})
	t.Run("MQTT-4.7.3-2 3.1.1/no U+0000 in Topic Names and Topic Filters", func(t *testing.T) {
		noNullInTopics(t, v)
	})
}
