package mqtttest

import (
	"encoding/binary"
	"fmt"

	"github.com/mqttcore/mqtt/internal/testvectors"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// Side says which side of a connection receives an input.
type Side uint8

// The receivers of a Violation.
const (
	ToEither Side = iota // a client or a server
	ToServer
	ToClient
)

// String returns "either", "server" or "client".
func (s Side) String() string {
	switch s {
	case ToServer:
		return "server"
	case ToClient:
		return "client"
	}
	return "either"
}

// Limits are what the receiver of a Violation announced (a client in its
// CONNECT, a server in its CONNACK): the input breaks its rule only under
// them. A zero field means the receiver announced nothing (the protocol's
// default).
type Limits struct {
	MaximumPacketSize uint32
	ReceiveMaximum    uint16
	TopicAliasMaximum uint16
}

// A Violation is input that breaks exactly one rule of the specification,
// and the answer the receiver owes it.
//
// Unless First is set, Wire is sent by a peer that completed the handshake
// (CONNECT and a successful CONNACK, of Version) with a receiver that
// announced Limits. The receiver must then, in MQTT 5.0, send a DISCONNECT
// with Reason and close the network connection; in 3.1.1 close it without
// sending anything (Reason is 0).
type Violation struct {
	Rule      string         // what is wrong, in words
	Statement string         // the normative statement of Version it breaks, "" where the specification numbers none
	Version   packet.Version // the protocol version of the connection
	To        Side           // who may receive it
	First     bool           // Wire comes first on a new connection, in place of CONNECT; the server closes without an answer (Reason 0)
	Limits    Limits         // what the receiver announced
	Wire      []byte         // the offending bytes
	Reason    packet.ReasonCode
}

// String describes the violation in one line.
func (x Violation) String() string {
	s := fmt.Sprintf("%v to %v: %s", x.Version, x.To, x.Rule)
	if x.Statement != "" {
		s = x.Statement + " " + s
	}
	return s
}

// rule is one rule an invalid input breaks.
type rule struct {
	name      string
	statement string // the MQTT 5.0 statement; testvectors.StatementFor gives 3.1.1's
	v5only    bool
	to        Side
	reason    packet.ReasonCode // the v5 answer
	draw      func(t *rapid.T, x *Violation)
}

// Invalid draws inputs of o.Version that each break one rule (see
// InvalidRules), with packet identifiers of type ID. Options size the
// valid parts around the broken one; payloads stay under 4 kB.
func Invalid[ID packetid.ID](o Options) *rapid.Generator[Violation] {
	g := newGen(o)
	var gens []*rapid.Generator[Violation]
	for _, r := range rules[ID](g) {
		if !r.v5only || g.v5() {
			gens = append(gens, violation(g, r))
		}
	}
	return rapid.OneOf(gens...)
}

// InvalidRule draws inputs of o.Version that break the rule named name (one
// of InvalidRules). It panics for a rule the version does not have.
func InvalidRule[ID packetid.ID](o Options, name string) *rapid.Generator[Violation] {
	g := newGen(o)
	for _, r := range rules[ID](g) {
		if r.name == name && (!r.v5only || g.v5()) {
			return violation(g, r)
		}
	}
	panic(fmt.Sprintf("mqtttest: no rule %q in MQTT %v", name, g.v))
}

// InvalidRules lists the names of the rules Invalid breaks in version v.
func InvalidRules(v packet.Version) []string {
	var names []string
	for _, r := range rules[uint16](newGen(Options{Version: v})) {
		if !r.v5only || v == packet.V5 {
			names = append(names, r.name)
		}
	}
	return names
}

func violation(g gen, r rule) *rapid.Generator[Violation] {
	return rapid.Custom(func(t *rapid.T) Violation {
		x := Violation{Rule: r.name, Version: g.v, To: r.to, Reason: r.reason}
		x.Statement = testvectors.StatementFor(g.v, r.statement)
		r.draw(t, &x)
		if !g.v5() {
			x.Reason = 0
		}
		return x
	})
}

// pub is a PUBLISH taken apart, to be put together with one part broken.
type pub struct {
	first   byte
	topic   []byte
	id      []byte // empty for QoS 0
	props   []byte // the property bytes, without their length
	payload []byte
}

// wire puts p together for version v.
func (p pub) wire(v packet.Version) []byte {
	var props []byte
	if v == packet.V5 {
		props = append(appendVBI(nil, len(p.props)), p.props...)
	}
	return framed(p.first, binary.BigEndian.AppendUint16(nil, uint16(len(p.topic))), p.topic, p.id, props, p.payload)
}

// framed returns the packet of first byte first whose body is parts.
func framed(first byte, parts ...[]byte) []byte {
	var body []byte
	for _, b := range parts {
		body = append(body, b...)
	}
	return append(appendVBI([]byte{first}, len(body)), body...)
}

// listParts draws a valid SUBSCRIBE (or UNSUBSCRIBE) and returns its first
// byte, its variable header (packet identifier and properties) and its
// payload (the filters).
func listParts[ID packetid.ID](t *rapid.T, g gen, unsubscribe bool) (first byte, head, payload []byte) {
	var p packet.Packet
	if unsubscribe {
		p = unsubscribeOf[ID](g).Draw(t, "unsubscribe")
	} else {
		p = subscribeOf[ID](g).Draw(t, "subscribe")
	}
	b, err := p.AppendTo(nil, g.v)
	if err != nil {
		t.Fatalf("mqtttest: encode %v: %v", p.Type(), err)
	}
	h, _, _ := packet.Frame(b, 0)
	body := b[h.Len:]
	n := packetid.Size[ID]()
	if g.v5() {
		size, k := readVBI(body[n:])
		n += k + size
	}
	return b[0], body[:n], body[n:]
}

func appendVBI(b []byte, n int) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

// readVBI reads a Variable Byte Integer at the front of b.
func readVBI(b []byte) (n, size int) {
	for i, shift := 0, 0; i < len(b) && i < 4; i, shift = i+1, shift+7 {
		n |= int(b[i]&0x7F) << shift
		if b[i] < 0x80 {
			return n, i + 1
		}
	}
	panic("mqtttest: bad Variable Byte Integer")
}

// small are the Options of the valid parts of an invalid input: payloads
// under 4 kB.
func small(g gen) gen {
	if g.MaxPayload == 0 || g.MaxPayload > 4096 {
		g.MaxPayload = 4096
	}
	return g
}

// basePublish draws a valid PUBLISH of QoS minQoS or more that any
// receiver that completed the handshake accepts: a topic and no Topic
// Alias, no Subscription Identifier (a server refuses them from a
// client), and taken apart.
func basePublish[ID packetid.ID](t *rapid.T, g gen, minQoS packet.QoS) (pub, *packet.PublishOf[ID]) {
	p := publishOf[ID](small(g)).Draw(t, "publish")
	p.Props.TopicAlias, p.Props.SubscriptionIDs = 0, nil
	if p.Topic == "" {
		p.Topic = g.topicName(t, "topic")
	}
	if p.QoS < minQoS {
		p.QoS = minQoS
		p.PacketID = packetID[ID](t, "packet id")
	}
	return split(t, g.v, p), p
}

// split takes the encoding of p apart.
func split[ID packetid.ID](t *rapid.T, v packet.Version, p *packet.PublishOf[ID]) pub {
	b, err := p.AppendTo(nil, v)
	if err != nil {
		t.Fatalf("mqtttest: encode %+v: %v", p, err)
	}
	h, _, err := packet.Frame(b, 0)
	if err != nil {
		t.Fatalf("mqtttest: frame: %v", err)
	}
	rest := b[h.Len+2+len(p.Topic):]
	x := pub{first: b[0], topic: []byte(p.Topic)}
	if p.QoS > 0 {
		n := packetid.Size[ID]()
		x.id, rest = rest[:n], rest[n:]
	}
	if v == packet.V5 {
		n, size := readVBI(rest)
		x.props, rest = rest[size:size+n], rest[size+n:]
	}
	x.payload = rest
	return x
}

// withProps returns p's properties followed by extra.
func withProps(p pub, extra ...byte) []byte {
	return append(append([]byte(nil), p.props...), extra...)
}

// rules lists the rules Invalid breaks.
func rules[ID packetid.ID](g gen) []rule {
	v := g.v
	const (
		mal   = packet.MalformedPacket
		proto = packet.ProtocolError
		alias = packet.TopicAliasInvalid
	)
	// side draws the receiver of a rule whose statement depends on it.
	side := func(t *rapid.T, x *Violation, toServer, toClient string) {
		x.To = rapid.SampledFrom([]Side{ToServer, ToClient}).Draw(t, "receiver")
		x.Statement = toServer
		if x.To == ToClient {
			x.Statement = toClient
		}
	}
	// topicWith returns p's topic with bad inserted between two of its
	// characters, cut to leave room for it.
	topicWith := func(t *rapid.T, p pub, bad []byte) []byte {
		topic := truncate(string(p.topic), 0xFFFF-len(bad))
		at := rapid.IntRange(0, len(topic)).Draw(t, "at")
		for at > 0 && at < len(topic) && topic[at]&0xC0 == 0x80 {
			at-- // not inside a character
		}
		return append(append([]byte(topic[:at]), bad...), topic[at:]...)
	}
	return []rule{
		{"remaining length not minimal", "MQTT-1.5.5-1", false, ToEither, mal, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			b := p.wire(v)
			h, _, _ := packet.Frame(b, 0)
			// The same length with one more byte: the last byte continues
			// into a 0.
			rl := appendVBI(nil, h.Remaining)
			rl[len(rl)-1] |= 0x80
			x.Wire = append(append(append([]byte{b[0]}, rl...), 0x00), b[h.Len:]...)
		}},
		{"reserved flags set", "MQTT-2.1.3-1", false, ToEither, mal, func(t *rapid.T, x *Violation) {
			pt := rapid.SampledFrom([]packet.Type{packet.TypePuback, packet.TypePubrec, packet.TypePubcomp}).Draw(t, "type")
			b, err := packet.AppendAck(nil, pt, v, packetID[ID](t, "packet id"), 0)
			if err != nil {
				t.Fatalf("mqtttest: %v", err)
			}
			b[0] |= rapid.ByteRange(1, 15).Draw(t, "flags")
			x.Wire = b
		}},
		{"PUBLISH with QoS 3", "MQTT-3.3.1-4", false, ToEither, mal, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 1)
			p.first |= 0b0110
			x.Wire = p.wire(v)
		}},
		{"DUP on a QoS 0 PUBLISH", "MQTT-3.3.1-2", false, ToEither, mal, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			p.first = p.first&^0b0110 | 0b1000
			p.id = nil
			x.Wire = p.wire(v)
		}},
		{"packet identifier 0", "MQTT-2.2.1-3", false, ToEither, mal, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 1)
			p.id = make([]byte, len(p.id))
			x.Wire = p.wire(v)
		}},
		{"wildcard in a PUBLISH topic", "MQTT-3.3.2-2", false, ToEither, mal, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			w := rapid.SampledFrom([]string{"+", "#", "/+", "/#", "+/", "a#"}).Draw(t, "wildcard")
			p.topic = topicWith(t, p, []byte(w))
			x.Wire = p.wire(v)
		}},
		{"ill-formed UTF-8 in a topic", "MQTT-1.5.4-1", false, ToEither, mal, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			bad := rapid.SampledFrom([][]byte{
				{0xFF}, {0xC0, 0x80}, {0xED, 0xA0, 0x80}, {0xC3}, {0xF4, 0x90, 0x80, 0x80}, {0x80},
			}).Draw(t, "bytes")
			p.topic = topicWith(t, p, bad)
			x.Wire = p.wire(v)
		}},
		{"U+0000 in a topic", "MQTT-1.5.4-2", false, ToEither, mal, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			p.topic = topicWith(t, p, []byte{0})
			x.Wire = p.wire(v)
		}},
		{"property twice", "", true, ToEither, proto, func(t *rapid.T, x *Violation) {
			_, q := basePublish[ID](t, g, 0)
			q.Props = property.Properties{User: q.Props.User} // which may repeat
			p := split(t, v, q)
			prop := rapid.SampledFrom([][]byte{
				{0x01, 0x01},                   // Payload Format Indicator
				{0x02, 0x00, 0x00, 0x00, 0x3C}, // Message Expiry Interval
				{0x03, 0x00, 0x01, 't'},        // Content Type
				{0x08, 0x00, 0x01, 'r'},        // Response Topic
				{0x09, 0x00, 0x02, 0xC0, 0xDE}, // Correlation Data
			}).Draw(t, "property")
			p.props = withProps(p, append(prop, prop...)...)
			x.Wire = p.wire(v)
		}},
		{"property not allowed in PUBLISH", "", true, ToEither, mal, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			p.props = withProps(p, rapid.SampledFrom([][]byte{
				{0x11, 0x00, 0x00, 0x00, 0x0A}, // Session Expiry Interval
				{0x12, 0x00, 0x01, 'c'},        // Assigned Client Identifier
				{0x13, 0x00, 0x0A},             // Server Keep Alive
				{0x15, 0x00, 0x01, 'm'},        // Authentication Method
				{0x1F, 0x00, 0x01, 'r'},        // Reason String
				{0x21, 0x00, 0x0A},             // Receive Maximum
				{0x24, 0x01},                   // Maximum QoS
				{0x27, 0x00, 0x00, 0x10, 0x00}, // Maximum Packet Size
			}).Draw(t, "property")...)
			x.Wire = p.wire(v)
		}},
		{"Topic Alias 0", "MQTT-3.3.2-8", true, ToEither, alias, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			x.Limits.TopicAliasMaximum = rapid.Uint16().Draw(t, "topic alias maximum")
			p.props = withProps(p, 0x23, 0, 0)
			x.Wire = p.wire(v)
		}},
		{"Topic Alias above the maximum", "", true, ToEither, alias, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			m := rapid.OneOf(rapid.Just[uint16](0), rapid.Uint16Range(0, 0xFFFE)).Draw(t, "topic alias maximum")
			x.Limits.TopicAliasMaximum = m
			a := rapid.Uint16Range(m+1, 0xFFFF).Draw(t, "topic alias")
			if m == 0 {
				side(t, x, "MQTT-3.2.2-18", "MQTT-3.1.2-30")
			} else {
				side(t, x, "MQTT-3.3.2-9", "MQTT-3.3.2-11")
			}
			p.props = withProps(p, 0x23, byte(a>>8), byte(a))
			x.Wire = p.wire(v)
		}},
		{"unknown Topic Alias", "", true, ToEither, proto, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			m := rapid.Uint16Range(1, 0xFFFF).Draw(t, "topic alias maximum")
			x.Limits.TopicAliasMaximum = m
			a := rapid.Uint16Range(1, m).Draw(t, "topic alias")
			p.topic = nil // the alias alone, never set on this connection
			p.props = withProps(p, 0x23, byte(a>>8), byte(a))
			x.Wire = p.wire(v)
		}},
		{"packet over the Maximum Packet Size", "", true, ToEither, packet.PacketTooLarge, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			if n := len(p.wire(v)); n < 128 {
				p.payload = append(p.payload, make([]byte, 128-n)...)
			}
			size := len(p.wire(v))
			x.Limits.MaximumPacketSize = uint32(rapid.IntRange(64, size-1).Draw(t, "maximum packet size"))
			side(t, x, "MQTT-3.2.2-15", "MQTT-3.1.2-27")
			x.Wire = p.wire(v)
		}},
		{"more QoS 2 PUBLISH than Receive Maximum", "", true, ToEither, packet.ReceiveMaximumExceeded, func(t *rapid.T, x *Violation) {
			r := rapid.IntRange(1, 4).Draw(t, "receive maximum")
			x.Limits.ReceiveMaximum = uint16(r)
			side(t, x, "MQTT-3.3.4-7", "MQTT-3.3.4-9")
			for i := 0; i <= r; i++ {
				_, q := basePublish[ID](t, g, 2)
				q.QoS, q.Dup, q.PacketID = 2, false, ID(i+1)
				x.Wire = append(x.Wire, split(t, v, q).wire(v)...)
			}
		}},
		{"Subscription Identifier from a client", "MQTT-3.3.4-6", true, ToServer, proto, func(t *rapid.T, x *Violation) {
			p, _ := basePublish[ID](t, g, 0)
			p.props = withProps(p, 0x0B, byte(rapid.IntRange(1, 127).Draw(t, "subscription identifier")))
			x.Wire = p.wire(v)
		}},
		{"SUBSCRIBE without a Topic Filter", "MQTT-3.8.3-2", false, ToServer, proto, func(t *rapid.T, x *Violation) {
			first, head, _ := listParts[ID](t, g, false)
			x.Wire = framed(first, head)
		}},
		{"UNSUBSCRIBE without a Topic Filter", "MQTT-3.10.3-2", false, ToServer, proto, func(t *rapid.T, x *Violation) {
			first, head, _ := listParts[ID](t, g, true)
			x.Wire = framed(first, head)
		}},
		{"misplaced wildcard in a Topic Filter", "", false, ToServer, mal, func(t *rapid.T, x *Violation) {
			unsubscribe := rapid.Bool().Draw(t, "unsubscribe")
			first, head, payload := listParts[ID](t, g, unsubscribe)
			bad := rapid.SampledFrom([]string{"a/b#", "#/a", "a/#/b", "##", "a+/b", "a/+b", "++"}).Draw(t, "filter")
			x.Statement = testvectors.StatementFor(v, "MQTT-4.7.1-1") // '#'
			if bad[len(bad)-1] != '#' && bad != "#/a" && bad != "a/#/b" {
				x.Statement = testvectors.StatementFor(v, "MQTT-4.7.1-2") // '+'
			}
			entry := append(binary.BigEndian.AppendUint16(nil, uint16(len(bad))), bad...)
			if !unsubscribe {
				entry = append(entry, 0) // QoS 0
			}
			// Among the valid filters, first or last.
			if rapid.Bool().Draw(t, "first") {
				x.Wire = framed(first, head, entry, payload)
			} else {
				x.Wire = framed(first, head, payload, entry)
			}
		}},
		{"second CONNECT", "MQTT-3.1.0-2", false, ToServer, proto, func(t *rapid.T, x *Violation) {
			c := small(g).connect().Draw(t, "connect")
			b, err := c.AppendTo(nil, c.Version)
			if err != nil {
				t.Fatalf("mqtttest: encode CONNECT: %v", err)
			}
			x.Wire = b
		}},
		{"first packet not CONNECT", "MQTT-3.1.0-1", false, ToServer, 0, func(t *rapid.T, x *Violation) {
			x.First = true
			p, _ := basePublish[ID](t, g, 0)
			x.Wire = rapid.SampledFrom([][]byte{p.wire(v), {0xC0, 0x00}}).Draw(t, "packet")
		}},
	}
}
