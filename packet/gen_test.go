package packet_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// Generators of valid packets for the round-trip properties. Every value
// they draw is valid per the specification of its version, and canonical in
// the sense of the codec: decoding its encoding gives it back unchanged (no
// Zero mark on a property whose field is non-zero, nil rather than empty
// lists and payloads, PacketID 0 on a QoS 0 PUBLISH, ...).
//
// They reach every field of every packet, every property each packet may
// carry (property.Allowed), zero values marked in Props.Zero, several User
// Properties and Subscription Identifiers, every reason code the packet may
// carry in the version (packet.ValidReason), strings with one- to four-byte
// UTF-8 sequences, empty strings where the specification allows them, and
// sizes that need two-, three- and four-byte Remaining Lengths.

// rtgen draws packets for one protocol version.
type rtgen struct{ v packet.Version }

func (g rtgen) v5() bool { return g.v == packet.V5 }

// rtRunes are the characters strings are made of: ASCII, two-, three- and
// four-byte UTF-8 sequences, the BOM (MQTT-1.5.4-3), the last code point,
// and characters the specification discourages but allows (controls,
// non-characters).
var rtRunes = []rune{
	'a', 'b', 'z', 'A', 'Z', '0', '9', ' ', '-', '_', '.', '$', '/', '+', '#',
	'é', 'ß', 'ж', '€', '中', '\uFEFF', '\uFFFF', '\uFFFD', '😀', '\U0010FFFF',
	'\u0001', '\u007F', '\u0085',
	'\u0080', '\u07FF', '\u0800', '\uD7FF', '\uE000', '\U00010000', // edges of the encodings and of the surrogates
}

// rtLevelRunes are rtRunes without the characters a topic level cannot hold.
var rtLevelRunes = func() []rune {
	var rs []rune
	for _, r := range rtRunes {
		if r != '/' && r != '+' && r != '#' {
			rs = append(rs, r)
		}
	}
	return rs
}()

// text draws a string of up to max runes from runes, sometimes repeated
// into a long one (a few kilobytes, now and then the maximum of 65,535
// bytes).
func text(t *rapid.T, runes []rune, min, max int, label string) string {
	s := string(rapid.SliceOfN(rapid.SampledFrom(runes), min, max).Draw(t, label))
	switch rapid.IntRange(0, 39).Draw(t, label+" long") {
	case 0:
		if s != "" {
			s = strings.Repeat(s, rapid.IntRange(2, 0xFFFF/len(s)).Draw(t, label+" repeat"))
		}
	case 1: // exactly the maximum length
		s = strings.Repeat("x", 0xFFFF-len(s)) + s
	}
	return s
}

// str draws a UTF-8 Encoded String, possibly empty.
func (rtgen) str(t *rapid.T, label string) string { return text(t, rtRunes, 0, 12, label) }

// binary draws Binary Data: never nil, possibly empty.
func (rtgen) binary(t *rapid.T, label string) []byte {
	b := rapid.SliceOfN(rapid.Byte(), 0, 24).Draw(t, label)
	if rapid.IntRange(0, 19).Draw(t, label+" long") == 0 {
		b = bytes.Repeat([]byte{rapid.Byte().Draw(t, label+" fill")}, rapid.IntRange(0, 0xFFFF).Draw(t, label+" len"))
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

// payload draws an application message: nil, a few bytes, or now and then
// enough to need a three- or four-byte Remaining Length.
func (rtgen) payload(t *rapid.T, max int, label string) []byte {
	var b []byte
	switch rapid.IntRange(0, 49).Draw(t, label+" size") {
	case 0, 1, 2, 3, 4, 5, 6, 7, 8, 9:
		return nil
	case 10:
		b = make([]byte, rapid.IntRange(16384-64, min(max, 70000)).Draw(t, label+" len"))
	case 11:
		if max > 2_097_152 {
			b = make([]byte, rapid.IntRange(2_097_152-64, 2_097_152+64).Draw(t, label+" len"))
		}
	default:
		b = rapid.SliceOfN(rapid.Byte(), 1, 48).Draw(t, label)
	}
	if len(b) == 0 {
		return nil
	}
	fill := rapid.Byte().Draw(t, label+" fill")
	for i := range b {
		b[i] ^= fill + byte(i)
	}
	return b
}

// level draws a topic level: any characters but '/', '+' and '#', possibly
// none.
func level(t *rapid.T, label string) string { return text(t, rtLevelRunes, 0, 6, label) }

// topicName draws a Topic Name: at least one character (MQTT-4.7.3-1), no
// wildcard (MQTT-3.3.2-2), empty levels and a leading '$' allowed.
func (g rtgen) topicName(t *rapid.T, label string) string {
	n := rapid.IntRange(1, 5).Draw(t, label+" levels")
	levels := make([]string, n)
	for i := range levels {
		levels[i] = level(t, fmt.Sprintf("%s level %d", label, i))
	}
	s := strings.Join(levels, "/")
	if s == "" {
		s = "/"
	}
	if len(s) > 0xFFFF {
		s = s[:0xFFFF]
		for !utf8Valid(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// topicFilter draws a Topic Filter: levels of text or '+', '#' only as the
// whole last level (MQTT-4.7.1-1, MQTT-4.7.1-2), in v5 sometimes a shared
// subscription "$share/{name}/{filter}" (MQTT-4.8.2-1, MQTT-4.8.2-2).
func (g rtgen) topicFilter(t *rapid.T, label string) string {
	n := rapid.IntRange(1, 5).Draw(t, label+" levels")
	levels := make([]string, n)
	for i := range levels {
		switch rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("%s level %d kind", label, i)) {
		case 0:
			levels[i] = "+"
		case 1:
			if i == n-1 {
				levels[i] = "#"
				continue
			}
			fallthrough
		default:
			levels[i] = text(t, rtLevelRunes, 0, 6, fmt.Sprintf("%s level %d", label, i))
		}
	}
	s := strings.Join(levels, "/")
	if s == "" {
		s = "#"
	}
	if len(s) > 0xFFFF-100 {
		s = "a/+/#"
	}
	if rapid.IntRange(0, 3).Draw(t, label+" shared") == 0 {
		if g.v5() {
			name := text(t, rtLevelRunes, 1, 6, label+" share name")
			if len(name) > 64 {
				name = "g"
			}
			s = "$share/" + name + "/" + s
		} else {
			// Before v5 "$share" is a level like any other: what would be
			// a malformed share name in v5 is a valid filter.
			s = "$share/" + rapid.SampledFrom([]string{"", "+", "g"}).Draw(t, label+" share level") + "/" + s
		}
	}
	return s
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// uint32Value draws a four-byte integer, biased towards the boundaries.
func uint32Value(t *rapid.T, label string) uint32 {
	return rapid.OneOf(
		rapid.SampledFrom([]uint32{0, 1, 2, 127, 128, 255, 256, 0xFFFF, 0x10000, 1 << 31, 0xFFFFFFFE, 0xFFFFFFFF}),
		rapid.Uint32(),
	).Draw(t, label)
}

// uint16Value draws a two-byte integer, biased towards the boundaries.
func uint16Value(t *rapid.T, label string) uint16 {
	return rapid.OneOf(
		rapid.SampledFrom([]uint16{0, 1, 2, 127, 128, 255, 256, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF}),
		rapid.Uint16(),
	).Draw(t, label)
}

// subscriptionID draws a Subscription Identifier: 1 to 268,435,455, biased
// towards the values where its Variable Byte Integer grows a byte.
func subscriptionID(t *rapid.T, label string) uint32 {
	return rapid.OneOf(
		rapid.SampledFrom([]uint32{1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455}),
		rapid.Uint32Range(1, 268435455),
	).Draw(t, label)
}

// packetID draws a non-zero packet identifier (MQTT-2.2.1-3) of type ID.
func packetID[ID packetid.ID](t *rapid.T, label string) ID {
	max := uint64(^ID(0))
	return ID(rapid.OneOf(
		rapid.SampledFrom([]uint64{1, 2, 0xFF, 0x100, 0xFFFF, max - 1, max}),
		rapid.Uint64Range(1, max),
	).Draw(t, label))
}

// reasonsOf lists the reason codes a packet of type pt may carry in version
// v; a packet without reason codes in v gets {0}.
func reasonsOf(pt packet.Type, v packet.Version) []packet.ReasonCode {
	var rs []packet.ReasonCode
	for r := 0; r < 256; r++ {
		if packet.ValidReason(pt, v, packet.ReasonCode(r)) {
			rs = append(rs, packet.ReasonCode(r))
		}
	}
	if len(rs) == 0 {
		rs = []packet.ReasonCode{0}
	}
	return rs
}

func (g rtgen) reason(t *rapid.T, pt packet.Type, label string) packet.ReasonCode {
	return rapid.SampledFrom(reasonsOf(pt, g.v)).Draw(t, label)
}

// props draws the properties of a packet of type pt (property.Will for a
// will): each allowed property absent, present with a value, or present with
// a zero value marked in Zero where zero is a valid value. None before v5.
func (g rtgen) props(t *rapid.T, pt byte, label string) property.Properties {
	var p property.Properties
	if !g.v5() {
		return p
	}
	allowed := property.Allowed(pt)
	for _, id := range property.All {
		if !allowed.Has(id) || !rapid.Bool().Draw(t, fmt.Sprintf("%s %v present", label, id)) {
			continue
		}
		if zeroValid(id) && rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("%s %v zero", label, id)) == 0 {
			p.Zero.Add(id)
			continue
		}
		g.prop(t, &p, pt, id, fmt.Sprintf("%s %v", label, id))
	}
	return p
}

// zeroValid reports whether property id may be present with a zero value:
// a number whose range includes 0, or a string that may be empty. Binary
// Data is present empty as a non-nil empty slice, not through Zero.
func zeroValid(id property.ID) bool {
	switch id {
	case property.ReceiveMaximum, property.TopicAlias, property.MaximumPacketSize,
		property.SubscriptionIdentifier, property.ResponseTopic:
		return false
	}
	switch id.Kind() {
	case property.KindBinary, property.KindStringPair:
		return false
	}
	return true
}

// prop makes property id present in p. A number drawn as 0, or a string
// drawn empty, is marked in Zero.
func (g rtgen) prop(t *rapid.T, p *property.Properties, pt byte, id property.ID, label string) {
	var zero bool
	bit := func() byte { // the 0/1 properties
		b := rapid.ByteRange(0, 1).Draw(t, label)
		zero = b == 0
		return b
	}
	u32 := func() uint32 {
		v := uint32Value(t, label)
		zero = v == 0
		return v
	}
	u16 := func() uint16 {
		v := uint16Value(t, label)
		zero = v == 0
		return v
	}
	s := func() string {
		v := g.str(t, label)
		zero = v == ""
		return v
	}
	switch id {
	case property.PayloadFormatIndicator:
		p.PayloadFormat = bit()
	case property.MessageExpiryInterval:
		p.MessageExpiry = u32()
	case property.ContentType:
		p.ContentType = s()
	case property.ResponseTopic: // a Topic Name, so never empty
		p.ResponseTopic = g.topicName(t, label)
	case property.CorrelationData:
		p.CorrelationData = g.binary(t, label)
	case property.SubscriptionIdentifier:
		n := 1 // one in SUBSCRIBE, any number in PUBLISH
		if pt == byte(packet.TypePublish) {
			n = rapid.IntRange(1, 5).Draw(t, label+" count")
		}
		for i := 0; i < n; i++ {
			p.SubscriptionIDs = append(p.SubscriptionIDs, subscriptionID(t, fmt.Sprintf("%s %d", label, i)))
		}
	case property.SessionExpiryInterval:
		p.SessionExpiry = u32()
	case property.AssignedClientIdentifier:
		p.AssignedClientID = s()
	case property.ServerKeepAlive:
		p.ServerKeepAlive = u16()
	case property.AuthenticationMethod:
		p.AuthMethod = s()
	case property.AuthenticationData:
		// Authentication Data without a method is a Protocol Error
		// (section 3.1.2.11.10); give it one.
		if !p.Has(property.AuthenticationMethod) {
			p.AuthMethod = "SCRAM-SHA-256"
		}
		p.AuthData = g.binary(t, label)
	case property.RequestProblemInformation:
		p.RequestProblemInfo = bit()
	case property.WillDelayInterval:
		p.WillDelay = u32()
	case property.RequestResponseInformation:
		p.RequestResponseInfo = bit()
	case property.ResponseInformation:
		p.ResponseInfo = s()
	case property.ServerReference:
		p.ServerReference = s()
	case property.ReasonString:
		p.ReasonString = s()
	case property.ReceiveMaximum: // 0 is a Protocol Error
		p.ReceiveMaximum = max(1, uint16Value(t, label))
	case property.TopicAliasMaximum:
		p.TopicAliasMaximum = u16()
	case property.TopicAlias: // 0 is a Protocol Error (MQTT-3.3.2-8)
		p.TopicAlias = max(1, uint16Value(t, label))
	case property.MaximumQoS:
		p.MaximumQoS = bit()
	case property.RetainAvailable:
		p.RetainAvailable = bit()
	case property.UserProperty:
		n := rapid.IntRange(1, 5).Draw(t, label+" count")
		for i := 0; i < n; i++ {
			k := g.str(t, fmt.Sprintf("%s %d key", label, i))
			v := g.str(t, fmt.Sprintf("%s %d value", label, i))
			if i > 0 && rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("%s %d same key", label, i)) == 0 {
				k = p.User[0].Key // names may repeat
			}
			p.User = append(p.User, property.User{Key: k, Value: v})
		}
	case property.MaximumPacketSize: // 0 is a Protocol Error
		p.MaximumPacketSize = max(1, uint32Value(t, label))
	case property.WildcardSubscriptionAvailable:
		p.WildcardSubAvailable = bit()
	case property.SubscriptionIdentifierAvailable:
		p.SubscriptionIDsAvailable = bit()
	case property.SharedSubscriptionAvailable:
		p.SharedSubAvailable = bit()
	default:
		panic(fmt.Sprintf("no generator for %v", id))
	}
	if zero {
		p.Zero.Add(id)
	}
}

// connect draws a CONNECT of g's version (MQTT 3.1 when g.v is V31).
func (g rtgen) connect() *rapid.Generator[*packet.Connect] {
	return rapid.Custom(func(t *rapid.T) *packet.Connect {
		c := &packet.Connect{
			Version:    g.v,
			CleanStart: rapid.Bool().Draw(t, "clean start"),
			KeepAlive:  uint16Value(t, "keep alive"),
			ClientID:   g.str(t, "client id"),
			Props:      g.props(t, byte(packet.TypeConnect), "props"),
		}
		if !g.v5() && c.ClientID == "" {
			c.CleanStart = true // MQTT-3.1.3-7
		}
		if rapid.Bool().Draw(t, "will") {
			c.Will = packet.Will{
				Topic:   g.topicName(t, "will topic"),
				QoS:     packet.QoS(rapid.IntRange(0, 2).Draw(t, "will qos")),
				Retain:  rapid.Bool().Draw(t, "will retain"),
				Payload: g.payload(t, 0xFFFF, "will payload"),
				Props:   g.props(t, property.Will, "will props"),
			}
		}
		if rapid.Bool().Draw(t, "username") {
			c.Username = g.str(t, "username")
			c.EmptyUsername = c.Username == ""
		}
		// A 3.1.1 password needs a user name (MQTT-3.1.2-22).
		if (g.v5() || c.HasUsername()) && rapid.Bool().Draw(t, "password") {
			c.Password = g.binary(t, "password")
		}
		return c
	})
}

// connack draws a CONNACK; Session Present only with reason 0
// (MQTT-3.2.2-6 in v5, MQTT-3.2.2-4 in v3.1.1).
func (g rtgen) connack() *rapid.Generator[*packet.Connack] {
	return rapid.Custom(func(t *rapid.T) *packet.Connack {
		c := &packet.Connack{
			Reason: g.reason(t, packet.TypeConnack, "reason"),
			Props:  g.props(t, byte(packet.TypeConnack), "props"),
		}
		c.SessionPresent = c.Reason == 0 && rapid.Bool().Draw(t, "session present")
		return c
	})
}

func rtPublish[ID packetid.ID](g rtgen) *rapid.Generator[*packet.PublishOf[ID]] {
	return rapid.Custom(func(t *rapid.T) *packet.PublishOf[ID] {
		p := &packet.PublishOf[ID]{
			QoS:     packet.QoS(rapid.IntRange(0, 2).Draw(t, "qos")),
			Retain:  rapid.Bool().Draw(t, "retain"),
			Props:   g.props(t, byte(packet.TypePublish), "props"),
			Payload: g.payload(t, packet.MaxRemainingLength, "payload"),
		}
		if p.QoS > 0 { // MQTT-3.3.1-2: DUP only with QoS 1 or 2
			p.PacketID = packetID[ID](t, "packet id")
			p.Dup = rapid.Bool().Draw(t, "dup")
		}
		// In v5 a Topic Alias may stand in for the topic (MQTT-3.3.2-1).
		if p.Props.TopicAlias == 0 || !rapid.Bool().Draw(t, "alias only") {
			p.Topic = g.topicName(t, "topic")
		}
		return p
	})
}

// ackFields are the fields PUBACK, PUBREC, PUBREL and PUBCOMP share.
type ackFields[ID packetid.ID] struct {
	id     ID
	reason packet.ReasonCode
	props  property.Properties
}

func rtAck[ID packetid.ID](g rtgen, pt packet.Type) *rapid.Generator[ackFields[ID]] {
	return rapid.Custom(func(t *rapid.T) ackFields[ID] {
		return ackFields[ID]{
			id:     packetID[ID](t, "packet id"),
			reason: g.reason(t, pt, "reason"),
			props:  g.props(t, byte(pt), "props"),
		}
	})
}

func rtSubscribe[ID packetid.ID](g rtgen) *rapid.Generator[*packet.SubscribeOf[ID]] {
	return rapid.Custom(func(t *rapid.T) *packet.SubscribeOf[ID] {
		p := &packet.SubscribeOf[ID]{
			PacketID: packetID[ID](t, "packet id"),
			Props:    g.props(t, byte(packet.TypeSubscribe), "props"),
		}
		n := rapid.IntRange(1, 5).Draw(t, "subscriptions") // MQTT-3.8.3-2
		for i := 0; i < n; i++ {
			label := fmt.Sprintf("subscription %d", i)
			s := packet.Subscription{
				Filter: g.topicFilter(t, label+" filter"),
				QoS:    packet.QoS(rapid.IntRange(0, 2).Draw(t, label+" qos")),
			}
			if g.v5() {
				// No Local is a Protocol Error on a shared subscription
				// (MQTT-3.8.3-4); Retain Handling 3 is reserved.
				s.NoLocal = !packet.IsShared(s.Filter) && rapid.Bool().Draw(t, label+" no local")
				s.RetainAsPublished = rapid.Bool().Draw(t, label+" retain as published")
				s.RetainHandling = rapid.ByteRange(0, 2).Draw(t, label+" retain handling")
			}
			p.Subscriptions = append(p.Subscriptions, s)
		}
		return p
	})
}

// listAckFields are the fields SUBACK and UNSUBACK share.
type listAckFields[ID packetid.ID] struct {
	id      ID
	props   property.Properties
	reasons []packet.ReasonCode
}

// rtListAck draws a SUBACK or UNSUBACK: at least one reason code, none in a
// v3.1.1 UNSUBACK.
func rtListAck[ID packetid.ID](g rtgen, pt packet.Type) *rapid.Generator[listAckFields[ID]] {
	return rapid.Custom(func(t *rapid.T) listAckFields[ID] {
		f := listAckFields[ID]{
			id:    packetID[ID](t, "packet id"),
			props: g.props(t, byte(pt), "props"),
		}
		if g.v5() || pt == packet.TypeSuback {
			f.reasons = rapid.SliceOfN(rapid.SampledFrom(reasonsOf(pt, g.v)), 1, 8).Draw(t, "reasons")
		}
		return f
	})
}

func rtUnsubscribe[ID packetid.ID](g rtgen) *rapid.Generator[*packet.UnsubscribeOf[ID]] {
	return rapid.Custom(func(t *rapid.T) *packet.UnsubscribeOf[ID] {
		p := &packet.UnsubscribeOf[ID]{
			PacketID: packetID[ID](t, "packet id"),
			Props:    g.props(t, byte(packet.TypeUnsubscribe), "props"),
		}
		n := rapid.IntRange(1, 5).Draw(t, "filters") // MQTT-3.10.3-2
		for i := 0; i < n; i++ {
			p.Filters = append(p.Filters, g.topicFilter(t, fmt.Sprintf("filter %d", i)))
		}
		return p
	})
}

func (g rtgen) disconnect() *rapid.Generator[*packet.Disconnect] {
	if !g.v5() {
		return rapid.Just(&packet.Disconnect{})
	}
	return rapid.Custom(func(t *rapid.T) *packet.Disconnect {
		return &packet.Disconnect{
			Reason: g.reason(t, packet.TypeDisconnect, "reason"),
			Props:  g.props(t, byte(packet.TypeDisconnect), "props"),
		}
	})
}

// auth draws an AUTH: either the short form (reason 0, no properties,
// section 3.15.2.1) or one with an Authentication Method, which section
// 3.15.2.2.2 requires otherwise.
func (g rtgen) auth() *rapid.Generator[*packet.Auth] {
	return rapid.Custom(func(t *rapid.T) *packet.Auth {
		if rapid.IntRange(0, 4).Draw(t, "short form") == 0 {
			return &packet.Auth{}
		}
		a := &packet.Auth{
			Reason: g.reason(t, packet.TypeAuth, "reason"),
			Props:  g.props(t, byte(packet.TypeAuth), "props"),
		}
		if !a.Props.Has(property.AuthenticationMethod) {
			a.Props.AuthMethod = text(t, rtRunes, 1, 12, "method")
		}
		return a
	})
}

// rtKind is one packet kind with its generator.
type rtKind struct {
	name   string
	typ    packet.Type
	withID bool // carries a packet identifier
	gen    func(rtgen) *rapid.Generator[packet.Packet]
}

func asPacket[P packet.Packet](g *rapid.Generator[P]) *rapid.Generator[packet.Packet] {
	return rapid.Map(g, func(p P) packet.Packet { return p })
}

// rtKinds lists the 15 packet kinds, with identifiers of type ID.
func rtKinds[ID packetid.ID]() []rtKind {
	type (
		puback  = packet.PubackOf[ID]
		pubrec  = packet.PubrecOf[ID]
		pubrel  = packet.PubrelOf[ID]
		pubcomp = packet.PubcompOf[ID]
	)
	return []rtKind{
		{"CONNECT", packet.TypeConnect, false, func(g rtgen) *rapid.Generator[packet.Packet] { return asPacket(g.connect()) }},
		{"CONNACK", packet.TypeConnack, false, func(g rtgen) *rapid.Generator[packet.Packet] { return asPacket(g.connack()) }},
		{"PUBLISH", packet.TypePublish, true, func(g rtgen) *rapid.Generator[packet.Packet] { return asPacket(rtPublish[ID](g)) }},
		{"PUBACK", packet.TypePuback, true, func(g rtgen) *rapid.Generator[packet.Packet] {
			return asPacket(rapid.Map(rtAck[ID](g, packet.TypePuback), func(a ackFields[ID]) *puback {
				return &puback{PacketID: a.id, Reason: a.reason, Props: a.props}
			}))
		}},
		{"PUBREC", packet.TypePubrec, true, func(g rtgen) *rapid.Generator[packet.Packet] {
			return asPacket(rapid.Map(rtAck[ID](g, packet.TypePubrec), func(a ackFields[ID]) *pubrec {
				return &pubrec{PacketID: a.id, Reason: a.reason, Props: a.props}
			}))
		}},
		{"PUBREL", packet.TypePubrel, true, func(g rtgen) *rapid.Generator[packet.Packet] {
			return asPacket(rapid.Map(rtAck[ID](g, packet.TypePubrel), func(a ackFields[ID]) *pubrel {
				return &pubrel{PacketID: a.id, Reason: a.reason, Props: a.props}
			}))
		}},
		{"PUBCOMP", packet.TypePubcomp, true, func(g rtgen) *rapid.Generator[packet.Packet] {
			return asPacket(rapid.Map(rtAck[ID](g, packet.TypePubcomp), func(a ackFields[ID]) *pubcomp {
				return &pubcomp{PacketID: a.id, Reason: a.reason, Props: a.props}
			}))
		}},
		{"SUBSCRIBE", packet.TypeSubscribe, true, func(g rtgen) *rapid.Generator[packet.Packet] { return asPacket(rtSubscribe[ID](g)) }},
		{"SUBACK", packet.TypeSuback, true, func(g rtgen) *rapid.Generator[packet.Packet] {
			return asPacket(rapid.Map(rtListAck[ID](g, packet.TypeSuback), func(a listAckFields[ID]) *packet.SubackOf[ID] {
				return &packet.SubackOf[ID]{PacketID: a.id, Props: a.props, Reasons: a.reasons}
			}))
		}},
		{"UNSUBSCRIBE", packet.TypeUnsubscribe, true, func(g rtgen) *rapid.Generator[packet.Packet] { return asPacket(rtUnsubscribe[ID](g)) }},
		{"UNSUBACK", packet.TypeUnsuback, true, func(g rtgen) *rapid.Generator[packet.Packet] {
			return asPacket(rapid.Map(rtListAck[ID](g, packet.TypeUnsuback), func(a listAckFields[ID]) *packet.UnsubackOf[ID] {
				return &packet.UnsubackOf[ID]{PacketID: a.id, Props: a.props, Reasons: a.reasons}
			}))
		}},
		{"PINGREQ", packet.TypePingreq, false, func(rtgen) *rapid.Generator[packet.Packet] { return asPacket(rapid.Just(&packet.Pingreq{})) }},
		{"PINGRESP", packet.TypePingresp, false, func(rtgen) *rapid.Generator[packet.Packet] { return asPacket(rapid.Just(&packet.Pingresp{})) }},
		{"DISCONNECT", packet.TypeDisconnect, false, func(g rtgen) *rapid.Generator[packet.Packet] { return asPacket(g.disconnect()) }},
		{"AUTH", packet.TypeAuth, false, func(g rtgen) *rapid.Generator[packet.Packet] { return asPacket(g.auth()) }},
	}
}

// anyPacket draws a packet of any kind that exists in g's version.
func anyPacket[ID packetid.ID](g rtgen) *rapid.Generator[packet.Packet] {
	var gens []*rapid.Generator[packet.Packet]
	for _, k := range rtKinds[ID]() {
		if k.typ != packet.TypeAuth || g.v5() {
			gens = append(gens, k.gen(g))
		}
	}
	return rapid.OneOf(gens...)
}
