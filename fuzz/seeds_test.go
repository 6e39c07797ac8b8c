package fuzz

import (
	"bytes"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// The seed corpus: one or more representative packets of every kind, built
// here and encoded by the codec, plus hand-written malformed inputs.

// allProps returns properties of a v5 packet: every property allowed for
// packet type pt, some with zero values.
func allProps(pt byte) property.Properties {
	full := property.Properties{
		Zero:                     property.NewSet(property.ServerKeepAlive, property.ReasonString),
		PayloadFormat:            1,
		MessageExpiry:            3600,
		ContentType:              "application/json",
		ResponseTopic:            "reply/to/me",
		CorrelationData:          []byte{1, 2, 3},
		SubscriptionIDs:          []uint32{1, 16384, 268435455},
		SessionExpiry:            0xFFFFFFFF,
		AssignedClientID:         "auto-1234",
		AuthMethod:               "SCRAM-SHA-256",
		AuthData:                 []byte("client-first"),
		RequestProblemInfo:       1,
		WillDelay:                30,
		RequestResponseInfo:      1,
		ResponseInfo:             "resp/",
		ServerReference:          "other.example:1883",
		ReceiveMaximum:           20,
		TopicAliasMaximum:        10,
		TopicAlias:               3,
		MaximumQoS:               1,
		RetainAvailable:          1,
		User:                     []property.User{{Key: "k", Value: "v"}, {Key: "k", Value: "ü€😀"}, {}},
		MaximumPacketSize:        1 << 20,
		WildcardSubAvailable:     1,
		SubscriptionIDsAvailable: 1,
		SharedSubAvailable:       1,
	}
	if pt == byte(packet.TypeSubscribe) {
		full.SubscriptionIDs = full.SubscriptionIDs[:1]
	}
	allowed := property.Allowed(pt)
	var p property.Properties
	for _, id := range property.All {
		if allowed.Has(id) {
			copyProperty(&p, &full, id)
		}
	}
	return p
}

// copyProperty copies property id from src to dst, by encoding-neutral
// means: the two share values.
func copyProperty(dst, src *property.Properties, id property.ID) {
	if src.Zero.Has(id) {
		dst.Zero.Add(id)
	}
	switch id {
	case property.PayloadFormatIndicator:
		dst.PayloadFormat = src.PayloadFormat
	case property.MessageExpiryInterval:
		dst.MessageExpiry = src.MessageExpiry
	case property.ContentType:
		dst.ContentType = src.ContentType
	case property.ResponseTopic:
		dst.ResponseTopic = src.ResponseTopic
	case property.CorrelationData:
		dst.CorrelationData = src.CorrelationData
	case property.SubscriptionIdentifier:
		dst.SubscriptionIDs = src.SubscriptionIDs
	case property.SessionExpiryInterval:
		dst.SessionExpiry = src.SessionExpiry
	case property.AssignedClientIdentifier:
		dst.AssignedClientID = src.AssignedClientID
	case property.ServerKeepAlive:
		dst.ServerKeepAlive = src.ServerKeepAlive
	case property.AuthenticationMethod:
		dst.AuthMethod = src.AuthMethod
	case property.AuthenticationData:
		dst.AuthData = src.AuthData
	case property.RequestProblemInformation:
		dst.RequestProblemInfo = src.RequestProblemInfo
	case property.WillDelayInterval:
		dst.WillDelay = src.WillDelay
	case property.RequestResponseInformation:
		dst.RequestResponseInfo = src.RequestResponseInfo
	case property.ResponseInformation:
		dst.ResponseInfo = src.ResponseInfo
	case property.ServerReference:
		dst.ServerReference = src.ServerReference
	case property.ReasonString:
		dst.ReasonString = src.ReasonString
	case property.ReceiveMaximum:
		dst.ReceiveMaximum = src.ReceiveMaximum
	case property.TopicAliasMaximum:
		dst.TopicAliasMaximum = src.TopicAliasMaximum
	case property.TopicAlias:
		dst.TopicAlias = src.TopicAlias
	case property.MaximumQoS:
		dst.MaximumQoS = src.MaximumQoS
	case property.RetainAvailable:
		dst.RetainAvailable = src.RetainAvailable
	case property.UserProperty:
		dst.User = src.User
	case property.MaximumPacketSize:
		dst.MaximumPacketSize = src.MaximumPacketSize
	case property.WildcardSubscriptionAvailable:
		dst.WildcardSubAvailable = src.WildcardSubAvailable
	case property.SubscriptionIdentifierAvailable:
		dst.SubscriptionIDsAvailable = src.SubscriptionIDsAvailable
	case property.SharedSubscriptionAvailable:
		dst.SharedSubAvailable = src.SharedSubAvailable
	}
}

// seedPackets returns representative packets for version v: every kind,
// with and without optional parts, and in v5 with every allowed property.
func seedPackets[ID packetid.ID](v packet.Version) []packet.Packet {
	v5 := v == packet.V5
	props := func(pt packet.Type) property.Properties {
		if !v5 {
			return property.Properties{}
		}
		return allProps(byte(pt))
	}
	var willProps property.Properties
	if v5 {
		willProps = allProps(property.Will)
	}
	wide := uint32(0x01020304)
	id := ID(1)
	if packetid.Size[ID]() == 4 {
		id = ID(wide)
	}
	reasons := func(t packet.Type, fallback ...packet.ReasonCode) []packet.ReasonCode {
		var rs []packet.ReasonCode
		for r := 0; r < 256; r++ {
			if packet.ValidReason(t, v, packet.ReasonCode(r)) {
				rs = append(rs, packet.ReasonCode(r))
			}
		}
		if len(rs) == 0 {
			return fallback
		}
		return rs
	}
	lastReason := func(t packet.Type) packet.ReasonCode {
		rs := reasons(t, 0)
		return rs[len(rs)-1]
	}
	ps := []packet.Packet{
		&packet.Connect{CleanStart: true, KeepAlive: 60, ClientID: "client-1"},
		&packet.Connect{CleanStart: true},
		&packet.Connect{
			KeepAlive: 0xFFFF, ClientID: "clïent-€", Username: "user", Password: []byte("secret"),
			Will:  packet.Will{Topic: "last/will", QoS: packet.QoS2, Retain: true, Payload: []byte("gone"), Props: willProps},
			Props: props(packet.TypeConnect),
		},
		&packet.Connect{ClientID: "c", EmptyUsername: true, Password: []byte{},
			Will: packet.Will{Topic: "w", QoS: packet.QoS1}},
		&packet.Connack{},
		&packet.Connack{SessionPresent: true, Props: props(packet.TypeConnack)},
		&packet.Connack{Reason: lastReason(packet.TypeConnack)},
		&packet.PublishOf[ID]{Topic: "a/b", Payload: []byte("hello")},
		&packet.PublishOf[ID]{Topic: "$SYS/ü/€/😀", QoS: packet.QoS1, PacketID: id, Dup: true, Retain: true,
			Props: props(packet.TypePublish), Payload: bytes.Repeat([]byte{0xAB}, 200)},
		&packet.PublishOf[ID]{Topic: "/", QoS: packet.QoS2, PacketID: ^ID(0)},
		&packet.PubackOf[ID]{PacketID: id},
		&packet.PubackOf[ID]{PacketID: id, Reason: lastReason(packet.TypePuback), Props: props(packet.TypePuback)},
		&packet.PubrecOf[ID]{PacketID: id, Reason: lastReason(packet.TypePubrec), Props: props(packet.TypePubrec)},
		&packet.PubrelOf[ID]{PacketID: id, Reason: lastReason(packet.TypePubrel), Props: props(packet.TypePubrel)},
		&packet.PubcompOf[ID]{PacketID: id, Reason: lastReason(packet.TypePubcomp)},
		&packet.SubscribeOf[ID]{PacketID: id, Props: props(packet.TypeSubscribe), Subscriptions: []packet.Subscription{
			{Filter: "a/+/c", QoS: packet.QoS1}, {Filter: "#", QoS: packet.QoS2}, {Filter: "+"}}},
		&packet.SubackOf[ID]{PacketID: id, Props: props(packet.TypeSuback), Reasons: reasons(packet.TypeSuback)},
		&packet.UnsubscribeOf[ID]{PacketID: id, Props: props(packet.TypeUnsubscribe), Filters: []string{"a/#", "+/+", "ü"}},
		&packet.Pingreq{},
		&packet.Pingresp{},
		&packet.Disconnect{},
	}
	if v5 {
		ps = append(ps,
			&packet.Connect{Props: property.Properties{Zero: property.NewSet(property.SessionExpiryInterval)}},
			&packet.PublishOf[ID]{QoS: packet.QoS1, PacketID: id, Props: property.Properties{TopicAlias: 7}},
			&packet.SubscribeOf[ID]{PacketID: id, Subscriptions: []packet.Subscription{
				{Filter: "$share/group/a/#", QoS: packet.QoS1, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "x", NoLocal: true, RetainHandling: 1}}},
			&packet.UnsubackOf[ID]{PacketID: id, Props: props(packet.TypeUnsuback), Reasons: reasons(packet.TypeUnsuback)},
			&packet.Disconnect{Reason: lastReason(packet.TypeDisconnect), Props: props(packet.TypeDisconnect)},
			&packet.Disconnect{Reason: packet.DisconnectWithWillMessage},
			&packet.Auth{},
			&packet.Auth{Reason: packet.ContinueAuthentication, Props: props(packet.TypeAuth)},
		)
	} else {
		ps = append(ps, &packet.UnsubackOf[ID]{PacketID: id})
	}
	return ps
}

// encodeSeeds encodes packets for version v; it fails the test on an error,
// so the seeds stay valid as the codec changes.
func encodeSeeds(tb testing.TB, v packet.Version, ps []packet.Packet) [][]byte {
	var out [][]byte
	for _, p := range ps {
		ev := v
		if c, ok := p.(*packet.Connect); ok && c.Version != 0 {
			ev = c.Version
		}
		b, err := p.AppendTo(nil, ev)
		if err != nil {
			tb.Fatalf("seed %T for %v: %v", p, v, err)
		}
		out = append(out, b)
	}
	return out
}

// malformedSeeds are inputs every decoder must refuse, or that sit at the
// edge of what is valid.
var malformedSeeds = [][]byte{
	{},
	{0x00, 0x00}, // reserved type 0
	{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01},                  // PUBLISH QoS 3
	{0x30, 0x80, 0x00},                                         // Remaining Length not minimal
	{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},                       // Remaining Length of five bytes
	{0x30, 0xFF, 0xFF, 0xFF, 0x7F},                             // the largest Remaining Length, no body
	{0x62, 0x02, 0x00, 0x00},                                   // PUBREL with packet id 0
	{0x60, 0x02, 0x00, 0x01},                                   // PUBREL with flags 0
	{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, '#', 0xC3},            // SUBSCRIBE reserved option bits
	{0x30, 0x05, 0x00, 0x03, 'a', 0xC0, 0x80},                  // overlong UTF-8
	{0x30, 0x06, 0x00, 0x03, 0xED, 0xA0, 0x80, 0x00},           // a surrogate
	{0x30, 0x04, 0x00, 0x02, 'a', 0x00},                        // U+0000
	{0x30, 0x04, 0x00, 0x02, 'a', '+'},                         // wildcard in a topic name
	{0x40, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00},                 // PUBACK v5 with an empty property list spelled out
	{0x40, 0x06, 0x00, 0x01, 0x10, 0x02, 0x1F, 0x00},           // PUBACK, reason string cut short
	{0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01},     // Topic Alias not allowed in PUBACK
	{0x30, 0x08, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, 'x', 'y'}, // v5 PUBLISH with only a Topic Alias
	{0x30, 0x08, 0x00, 0x00, 0x03, 0x23, 0x00, 0x00, 'x', 'y'}, // Topic Alias 0
	{0x30, 0x07, 0x00, 0x01, 'a', 0x02, 0x0B, 0x80, 0x00},      // Subscription Identifier not minimal
	{0xE0, 0x02, 0x04, 0x00},                                   // DISCONNECT with will
	{0xF0, 0x00},                                               // AUTH short form
	{0xF0, 0x02, 0x18, 0x00},                                   // AUTH continue, no properties
	{0x20, 0x02, 0x01, 0x80},                                   // CONNACK session present with an error
	{0x10, 0x0C, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x00, 0x00, 0x00}, // MQTT 3.1
	{0x10, 0x0A, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x00, 0x00, 0x00},           // level 6
	{0x10, 0x0B, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00},     // reserved flag
}

// addSeeds adds the encodings of the representative packets and the
// malformed inputs to f's corpus. With id32, packets carry four-byte
// identifiers.
func addSeeds(f *testing.F, v packet.Version, id32 bool) {
	var ps []packet.Packet
	if id32 {
		ps = seedPackets[uint32](v)
	} else {
		ps = seedPackets[uint16](v)
	}
	for _, b := range encodeSeeds(f, v, ps) {
		f.Add(b)
	}
	for _, b := range malformedSeeds {
		f.Add(b)
	}
	for _, b := range vectorSeeds(v, id32) {
		f.Add(b)
	}
}

// streamSeeds returns streams of several packets: a v3.1.1 session, a v5
// session, and malformed inputs after valid packets.
func streamSeeds() [][]byte {
	var out [][]byte
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		ps := seedPackets[uint16](v)
		encoded := encodeSeeds(panicTB{}, v, ps)
		out = append(out, bytes.Join(encoded, nil))
		for i := 0; i+3 <= len(encoded); i += 3 {
			out = append(out, bytes.Join(encoded[i:i+3], nil))
		}
		for _, m := range malformedSeeds[:6] {
			out = append(out, append(append([]byte(nil), encoded[0]...), m...))
		}
		for _, b := range vectorSeeds(v, false) {
			out = append(out, append(append([]byte(nil), encoded[0]...), b...))
		}
	}
	return out
}

// panicTB turns a Fatalf outside a test into a panic.
type panicTB struct{ testing.TB }

func (panicTB) Fatalf(format string, args ...any) { panic(format) }
func (panicTB) Helper()                           {}
