package mqtttest

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// Generators of valid packets. Every value they draw is valid per the
// specification of its version, and canonical in the sense of the codec:
// decoding its encoding gives it back unchanged (no Zero mark on a property
// whose field is non-zero, nil rather than empty lists and payloads,
// PacketID 0 on a QoS 0 PUBLISH, ...).
//
// With the zero Options they reach every field of every packet, every
// property each packet may carry (property.Allowed), zero values marked in
// Props.Zero, several User Properties and Subscription Identifiers, every
// reason code the packet may carry in the version (packet.ValidReason),
// strings with one- to four-byte UTF-8 sequences, empty strings where the
// specification allows them, and sizes that need two-, three- and four-byte
// Remaining Lengths.

// Options parameterise the generators. The zero Options draw MQTT 5.0
// packets of every size the protocol allows.
type Options struct {
	// Version is the protocol version of the packets: packet.V5 when 0,
	// packet.V311, or packet.V31 (whose CONNECT names MQTT 3.1).
	Version packet.Version
	// MaxTopicLen caps the bytes of Topic Names and Topic Filters (at
	// least one byte is always drawn); 0 means 65,535.
	MaxTopicLen int
	// MaxStringLen caps the bytes of the other strings and of Binary Data
	// (Client Identifier, user names, property values); 0 means 65,535.
	MaxStringLen int
	// MaxPayload caps the bytes of a PUBLISH payload or a will message;
	// 0 means what the Remaining Length allows, a negative value none.
	MaxPayload int
	// MaxProperties caps the properties of a property list (a User
	// Property or Subscription Identifier list counts once); 0 means every
	// allowed property may appear, a negative value none (an AUTH then
	// has the short form).
	MaxProperties int
	// MaxSubscriptions caps the Topic Filters of a SUBSCRIBE or
	// UNSUBSCRIBE and the reason codes of a SUBACK or UNSUBACK; 0 means 5
	// filters and 8 reason codes.
	MaxSubscriptions int
}

// gen draws packets of one protocol version within its Options.
type gen struct {
	Options
	v packet.Version
}

func newGen(o Options) gen {
	v := o.Version
	if v == 0 {
		v = packet.V5
	}
	return gen{o, v}
}

func (g gen) v5() bool { return g.v == packet.V5 }

func limit(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func (g gen) maxTopic() int  { return limit(g.MaxTopicLen, 0xFFFF) }
func (g gen) maxString() int { return limit(g.MaxStringLen, 0xFFFF) }

// textRunes are the characters strings are made of: ASCII, two-, three- and
// four-byte UTF-8 sequences, the BOM (MQTT-1.5.4-3), the last code point,
// and characters the specification discourages but allows (controls,
// non-characters).
var textRunes = []rune{
	'a', 'b', 'z', 'A', 'Z', '0', '9', ' ', '-', '_', '.', '$', '/', '+', '#',
	'é', 'ß', 'ж', '€', '中', '\uFEFF', '\uFFFF', '\uFFFD', '😀', '\U0010FFFF',
	'\u0001', '\u007F', '\u0085',
	'\u0080', '\u07FF', '\u0800', '\uD7FF', '\uE000', '\U00010000', // edges of the encodings and of the surrogates
}

// levelRunes are textRunes without the characters a topic level cannot hold.
var levelRunes = func() []rune {
	var rs []rune
	for _, r := range textRunes {
		if r != '/' && r != '+' && r != '#' {
			rs = append(rs, r)
		}
	}
	return rs
}()

// text draws a string of minRunes to maxRunes runes from runes, sometimes
// repeated into a long one (a few kilobytes, now and then exactly size
// bytes), and never longer than size bytes.
func text(t *rapid.T, runes []rune, minRunes, maxRunes, size int, label string) string {
	s := string(rapid.SliceOfN(rapid.SampledFrom(runes), minRunes, maxRunes).Draw(t, label))
	switch rapid.IntRange(0, 39).Draw(t, label+" long") {
	case 0:
		if s != "" {
			s = strings.Repeat(s, rapid.IntRange(2, max(2, size/len(s))).Draw(t, label+" repeat"))
		}
	case 1: // exactly the maximum length
		if len(s) <= size {
			s = strings.Repeat("x", size-len(s)) + s
		}
	}
	return truncate(s, size)
}

// truncate cuts s to at most n bytes at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:max(n, 0)]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// str draws a UTF-8 Encoded String, possibly empty.
func (g gen) str(t *rapid.T, label string) string {
	return text(t, textRunes, 0, 12, g.maxString(), label)
}

// binary draws Binary Data: never nil, possibly empty.
func (g gen) binary(t *rapid.T, label string) []byte {
	b := rapid.SliceOfN(rapid.Byte(), 0, min(24, g.maxString())).Draw(t, label)
	if rapid.IntRange(0, 19).Draw(t, label+" long") == 0 {
		b = bytes.Repeat([]byte{rapid.Byte().Draw(t, label+" fill")}, rapid.IntRange(0, g.maxString()).Draw(t, label+" len"))
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

// payload draws an application message: nil, a few bytes, or now and then
// enough to need a three- or four-byte Remaining Length; at most max bytes
// and Options.MaxPayload.
func (g gen) payload(t *rapid.T, max int, label string) []byte {
	switch {
	case g.MaxPayload < 0:
		return nil
	case g.MaxPayload > 0:
		max = min(max, g.MaxPayload)
	}
	var b []byte
	switch rapid.IntRange(0, 49).Draw(t, label+" size") {
	case 0, 1, 2, 3, 4, 5, 6, 7, 8, 9:
		return nil
	case 10:
		if max >= 16384-64 {
			b = make([]byte, rapid.IntRange(16384-64, min(max, 70000)).Draw(t, label+" len"))
		}
	case 11:
		if max > 2_097_152+64 {
			b = make([]byte, rapid.IntRange(2_097_152-64, 2_097_152+64).Draw(t, label+" len"))
		}
	default:
		b = rapid.SliceOfN(rapid.Byte(), 1, min(48, max)).Draw(t, label)
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
func (g gen) level(t *rapid.T, label string) string {
	return text(t, levelRunes, 0, 6, g.maxTopic(), label)
}

// topicName draws a Topic Name: at least one character (MQTT-4.7.3-1), no
// wildcard (MQTT-3.3.2-2), empty levels and a leading '$' allowed.
func (g gen) topicName(t *rapid.T, label string) string {
	n := rapid.IntRange(1, 5).Draw(t, label+" levels")
	levels := make([]string, n)
	for i := range levels {
		levels[i] = g.level(t, fmt.Sprintf("%s level %d", label, i))
	}
	s := truncate(strings.Join(levels, "/"), g.maxTopic())
	if s == "" {
		s = "/"
	}
	return s
}

// topicFilter draws a Topic Filter: levels of text or '+', '#' only as the
// whole last level (MQTT-4.7.1-1, MQTT-4.7.1-2), in v5 sometimes a shared
// subscription "$share/{name}/{filter}" (MQTT-4.8.2-1, MQTT-4.8.2-2).
func (g gen) topicFilter(t *rapid.T, label string) string {
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
			levels[i] = g.level(t, fmt.Sprintf("%s level %d", label, i))
		}
	}
	s := strings.Join(levels, "/")
	size := g.maxTopic()
	switch {
	case s == "":
		s = "#"
	case len(s) > size-100 && size > 200: // room for a share name
		s = "a/+/#"
	case len(s) > size:
		s = "#"
	}
	if rapid.IntRange(0, 3).Draw(t, label+" shared") == 0 {
		var share string
		if g.v5() {
			name := text(t, levelRunes, 1, 6, 64, label+" share name")
			if name == "" {
				name = "g"
			}
			share = "$share/" + name + "/" + s
		} else {
			// Before v5 "$share" is a level like any other: what would be
			// a malformed share name in v5 is a valid filter.
			share = "$share/" + rapid.SampledFrom([]string{"", "+", "g"}).Draw(t, label+" share level") + "/" + s
		}
		if len(share) <= size {
			s = share
		}
	}
	return s
}

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

func (g gen) reason(t *rapid.T, pt packet.Type, label string) packet.ReasonCode {
	return rapid.SampledFrom(reasonsOf(pt, g.v)).Draw(t, label)
}

// props draws the properties of a packet of type pt (property.Will for a
// will): each allowed property absent, present with a value, or present with
// a zero value marked in Zero where zero is a valid value. None before v5.
func (g gen) props(t *rapid.T, pt byte, label string) property.Properties {
	var p property.Properties
	if !g.v5() {
		return p
	}
	allowed := property.Allowed(pt)
	room := len(property.All)
	switch {
	case g.MaxProperties < 0:
		return p
	case g.MaxProperties > 0:
		room = g.MaxProperties
	}
	for _, id := range property.All {
		if !allowed.Has(id) || !rapid.Bool().Draw(t, fmt.Sprintf("%s %v present", label, id)) {
			continue
		}
		need := 1
		if id == property.AuthenticationData && !p.Has(property.AuthenticationMethod) {
			need = 2 // it brings a method along
		}
		if need > room {
			break
		}
		room -= need
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
func (g gen) prop(t *rapid.T, p *property.Properties, pt byte, id property.ID, label string) {
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
func (g gen) connect() *rapid.Generator[*packet.Connect] {
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
func (g gen) connack() *rapid.Generator[*packet.Connack] {
	return rapid.Custom(func(t *rapid.T) *packet.Connack {
		c := &packet.Connack{
			Reason: g.reason(t, packet.TypeConnack, "reason"),
			Props:  g.props(t, byte(packet.TypeConnack), "props"),
		}
		c.SessionPresent = c.Reason == 0 && rapid.Bool().Draw(t, "session present")
		return c
	})
}

func publishOf[ID packetid.ID](g gen) *rapid.Generator[*packet.PublishOf[ID]] {
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

func ackOf[ID packetid.ID](g gen, pt packet.Type) *rapid.Generator[ackFields[ID]] {
	return rapid.Custom(func(t *rapid.T) ackFields[ID] {
		return ackFields[ID]{
			id:     packetID[ID](t, "packet id"),
			reason: g.reason(t, pt, "reason"),
			props:  g.props(t, byte(pt), "props"),
		}
	})
}

func subscribeOf[ID packetid.ID](g gen) *rapid.Generator[*packet.SubscribeOf[ID]] {
	return rapid.Custom(func(t *rapid.T) *packet.SubscribeOf[ID] {
		p := &packet.SubscribeOf[ID]{
			PacketID: packetID[ID](t, "packet id"),
			Props:    g.props(t, byte(packet.TypeSubscribe), "props"),
		}
		n := rapid.IntRange(1, limit(g.MaxSubscriptions, 5)).Draw(t, "subscriptions") // MQTT-3.8.3-2
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

// listAckOf draws a SUBACK or UNSUBACK: at least one reason code, none in a
// v3.1.1 UNSUBACK.
func listAckOf[ID packetid.ID](g gen, pt packet.Type) *rapid.Generator[listAckFields[ID]] {
	return rapid.Custom(func(t *rapid.T) listAckFields[ID] {
		f := listAckFields[ID]{
			id:    packetID[ID](t, "packet id"),
			props: g.props(t, byte(pt), "props"),
		}
		if g.v5() || pt == packet.TypeSuback {
			f.reasons = rapid.SliceOfN(rapid.SampledFrom(reasonsOf(pt, g.v)), 1, limit(g.MaxSubscriptions, 8)).Draw(t, "reasons")
		}
		return f
	})
}

func unsubscribeOf[ID packetid.ID](g gen) *rapid.Generator[*packet.UnsubscribeOf[ID]] {
	return rapid.Custom(func(t *rapid.T) *packet.UnsubscribeOf[ID] {
		p := &packet.UnsubscribeOf[ID]{
			PacketID: packetID[ID](t, "packet id"),
			Props:    g.props(t, byte(packet.TypeUnsubscribe), "props"),
		}
		n := rapid.IntRange(1, limit(g.MaxSubscriptions, 5)).Draw(t, "filters") // MQTT-3.10.3-2
		for i := 0; i < n; i++ {
			p.Filters = append(p.Filters, g.topicFilter(t, fmt.Sprintf("filter %d", i)))
		}
		return p
	})
}

func (g gen) disconnect() *rapid.Generator[*packet.Disconnect] {
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
func (g gen) auth() *rapid.Generator[*packet.Auth] {
	return rapid.Custom(func(t *rapid.T) *packet.Auth {
		if rapid.IntRange(0, 4).Draw(t, "short form") == 0 || g.MaxProperties < 0 {
			return &packet.Auth{}
		}
		a := &packet.Auth{
			Reason: g.reason(t, packet.TypeAuth, "reason"),
			Props:  g.props(t, byte(packet.TypeAuth), "props"),
		}
		if !a.Props.Has(property.AuthenticationMethod) {
			a.Props.AuthMethod = text(t, textRunes, 1, 12, g.maxString(), "method")
			if a.Props.AuthMethod == "" {
				a.Props.AuthMethod = "m"
			}
		}
		return a
	})
}

func asPacket[P packet.Packet](g *rapid.Generator[P]) *rapid.Generator[packet.Packet] {
	return rapid.Map(g, func(p P) packet.Packet { return p })
}

// Connect draws a valid CONNECT of o.Version.
func Connect(o Options) *rapid.Generator[*packet.Connect] { return newGen(o).connect() }

// Connack draws a valid CONNACK of o.Version.
func Connack(o Options) *rapid.Generator[*packet.Connack] { return newGen(o).connack() }

// Publish draws a valid PUBLISH of o.Version with packet identifiers of
// type ID. In v5 it may carry a Topic Alias, alone or with the topic: a
// receiver must have announced a Topic Alias Maximum that admits it, and
// have seen the alias set before one comes alone.
func Publish[ID packetid.ID](o Options) *rapid.Generator[*packet.PublishOf[ID]] {
	return publishOf[ID](newGen(o))
}

func ack[ID packetid.ID, P packet.Packet](o Options, pt packet.Type, mk func(ackFields[ID]) P) *rapid.Generator[P] {
	return rapid.Map(ackOf[ID](newGen(o), pt), mk)
}

// Puback draws a valid PUBACK of o.Version.
func Puback[ID packetid.ID](o Options) *rapid.Generator[*packet.PubackOf[ID]] {
	return ack(o, packet.TypePuback, func(a ackFields[ID]) *packet.PubackOf[ID] {
		return &packet.PubackOf[ID]{PacketID: a.id, Reason: a.reason, Props: a.props}
	})
}

// Pubrec draws a valid PUBREC of o.Version.
func Pubrec[ID packetid.ID](o Options) *rapid.Generator[*packet.PubrecOf[ID]] {
	return ack(o, packet.TypePubrec, func(a ackFields[ID]) *packet.PubrecOf[ID] {
		return &packet.PubrecOf[ID]{PacketID: a.id, Reason: a.reason, Props: a.props}
	})
}

// Pubrel draws a valid PUBREL of o.Version.
func Pubrel[ID packetid.ID](o Options) *rapid.Generator[*packet.PubrelOf[ID]] {
	return ack(o, packet.TypePubrel, func(a ackFields[ID]) *packet.PubrelOf[ID] {
		return &packet.PubrelOf[ID]{PacketID: a.id, Reason: a.reason, Props: a.props}
	})
}

// Pubcomp draws a valid PUBCOMP of o.Version.
func Pubcomp[ID packetid.ID](o Options) *rapid.Generator[*packet.PubcompOf[ID]] {
	return ack(o, packet.TypePubcomp, func(a ackFields[ID]) *packet.PubcompOf[ID] {
		return &packet.PubcompOf[ID]{PacketID: a.id, Reason: a.reason, Props: a.props}
	})
}

// Subscribe draws a valid SUBSCRIBE of o.Version.
func Subscribe[ID packetid.ID](o Options) *rapid.Generator[*packet.SubscribeOf[ID]] {
	return subscribeOf[ID](newGen(o))
}

// Suback draws a valid SUBACK of o.Version.
func Suback[ID packetid.ID](o Options) *rapid.Generator[*packet.SubackOf[ID]] {
	return rapid.Map(listAckOf[ID](newGen(o), packet.TypeSuback), func(a listAckFields[ID]) *packet.SubackOf[ID] {
		return &packet.SubackOf[ID]{PacketID: a.id, Props: a.props, Reasons: a.reasons}
	})
}

// Unsubscribe draws a valid UNSUBSCRIBE of o.Version.
func Unsubscribe[ID packetid.ID](o Options) *rapid.Generator[*packet.UnsubscribeOf[ID]] {
	return unsubscribeOf[ID](newGen(o))
}

// Unsuback draws a valid UNSUBACK of o.Version (with no reason codes in
// v3.1.1).
func Unsuback[ID packetid.ID](o Options) *rapid.Generator[*packet.UnsubackOf[ID]] {
	return rapid.Map(listAckOf[ID](newGen(o), packet.TypeUnsuback), func(a listAckFields[ID]) *packet.UnsubackOf[ID] {
		return &packet.UnsubackOf[ID]{PacketID: a.id, Props: a.props, Reasons: a.reasons}
	})
}

// Pingreq draws a PINGREQ (there is one).
func Pingreq() *rapid.Generator[*packet.Pingreq] { return rapid.Just(&packet.Pingreq{}) }

// Pingresp draws a PINGRESP (there is one).
func Pingresp() *rapid.Generator[*packet.Pingresp] { return rapid.Just(&packet.Pingresp{}) }

// Disconnect draws a valid DISCONNECT of o.Version.
func Disconnect(o Options) *rapid.Generator[*packet.Disconnect] { return newGen(o).disconnect() }

// Auth draws a valid AUTH (MQTT 5.0 only).
func Auth(o Options) *rapid.Generator[*packet.Auth] { return newGen(o).auth() }

// Properties draws the properties of a packet of type pt (or property.Will
// for a will) in o.Version: none before v5.
func Properties(o Options, pt byte) *rapid.Generator[property.Properties] {
	g := newGen(o)
	return rapid.Custom(func(t *rapid.T) property.Properties { return g.props(t, pt, "props") })
}

// TopicName draws a valid Topic Name: no wildcard, at least one character.
func TopicName(o Options) *rapid.Generator[string] {
	g := newGen(o)
	return rapid.Custom(func(t *rapid.T) string { return g.topicName(t, "topic") })
}

// TopicFilter draws a valid Topic Filter, in v5 sometimes a shared
// subscription's.
func TopicFilter(o Options) *rapid.Generator[string] {
	g := newGen(o)
	return rapid.Custom(func(t *rapid.T) string { return g.topicFilter(t, "filter") })
}

// PacketID draws a non-zero packet identifier, biased towards the edges of
// ID's range.
func PacketID[ID packetid.ID]() *rapid.Generator[ID] {
	return rapid.Custom(func(t *rapid.T) ID { return packetID[ID](t, "packet id") })
}

// Types lists the packet types of version v: 14 before v5, 15 with AUTH.
func Types(v packet.Version) []packet.Type {
	n := packet.TypeDisconnect
	if v == packet.V5 || v == 0 {
		n = packet.TypeAuth
	}
	var ts []packet.Type
	for pt := packet.TypeConnect; pt <= n; pt++ {
		ts = append(ts, pt)
	}
	return ts
}

// Of draws valid packets of type pt in o.Version, with packet identifiers
// of type ID. It panics for a type the version does not have.
func Of[ID packetid.ID](o Options, pt packet.Type) *rapid.Generator[packet.Packet] {
	switch pt {
	case packet.TypeConnect:
		return asPacket(Connect(o))
	case packet.TypeConnack:
		return asPacket(Connack(o))
	case packet.TypePublish:
		return asPacket(Publish[ID](o))
	case packet.TypePuback:
		return asPacket(Puback[ID](o))
	case packet.TypePubrec:
		return asPacket(Pubrec[ID](o))
	case packet.TypePubrel:
		return asPacket(Pubrel[ID](o))
	case packet.TypePubcomp:
		return asPacket(Pubcomp[ID](o))
	case packet.TypeSubscribe:
		return asPacket(Subscribe[ID](o))
	case packet.TypeSuback:
		return asPacket(Suback[ID](o))
	case packet.TypeUnsubscribe:
		return asPacket(Unsubscribe[ID](o))
	case packet.TypeUnsuback:
		return asPacket(Unsuback[ID](o))
	case packet.TypePingreq:
		return asPacket(Pingreq())
	case packet.TypePingresp:
		return asPacket(Pingresp())
	case packet.TypeDisconnect:
		return asPacket(Disconnect(o))
	case packet.TypeAuth:
		if newGen(o).v5() {
			return asPacket(Auth(o))
		}
	}
	panic(fmt.Sprintf("mqtttest: no %v packet in MQTT %v", pt, newGen(o).v))
}

// Packet draws valid packets of every type of o.Version, with packet
// identifiers of type ID.
func Packet[ID packetid.ID](o Options) *rapid.Generator[packet.Packet] {
	var gens []*rapid.Generator[packet.Packet]
	for _, pt := range Types(newGen(o).v) {
		gens = append(gens, Of[ID](o, pt))
	}
	return rapid.OneOf(gens...)
}
