// Package testvectors holds hand-written MQTT wire vectors: valid packets of
// every kind with the structs they decode to, and malformed inputs with the
// reason code and normative statement a decoder must answer with. The bytes
// are written out from the specification, not produced by the encoder, so
// that tests of the codec, fuzz seeds and interop checks share one reference.
package testvectors

import (
	"bytes"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Vector is a valid packet: its encoding in Version and the value it decodes
// to. ID32 marks packets with four-byte packet identifiers, to be decoded as
// PublishOf[uint32] and so on.
type Vector struct {
	Name    string
	Version packet.Version
	Wire    []byte
	Packet  packet.Packet
	ID32    bool
}

// Bad is a malformed input: a decoder for Version must refuse Wire with Code,
// naming Statement when it is not empty. Name starts with the statement id.
type Bad struct {
	Name      string
	Version   packet.Version
	Wire      []byte
	Code      packet.ReasonCode
	Statement string
}

const (
	v31  = packet.V31
	v311 = packet.V311
	v5   = packet.V5
)

func user(kv ...string) []property.User {
	var u []property.User
	for i := 0; i+1 < len(kv); i += 2 {
		u = append(u, property.User{Key: kv[i], Value: kv[i+1]})
	}
	return u
}

// big is the 200-byte payload of the vector with a two-byte Remaining Length.
var big = bytes.Repeat([]byte{0xAA}, 200)

// Valid lists the valid vectors of MQTT 3.1, 3.1.1 and 5.0.
var Valid = []Vector{
	// ---------------------------------------------------------------- v5
	{Name: "v5/connect minimal", Version: v5, Wire: []byte{
		0x10, 0x0F, // CONNECT, remaining 15
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
		0x05,       // protocol level 5
		0x02,       // flags: clean start
		0x00, 0x3C, // keep alive 60
		0x00,                 // properties: none
		0x00, 0x02, 'c', '1', // client id "c1"
	}, Packet: &packet.Connect{Version: v5, CleanStart: true, KeepAlive: 60, ClientID: "c1"}},

	{Name: "v5/connect empty client id", Version: v5, Wire: []byte{
		0x10, 0x0D,
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
		0x00,       // flags: none
		0x00, 0x00, // keep alive 0
		0x00,       // properties
		0x00, 0x00, // client id ""
	}, Packet: &packet.Connect{Version: v5}},

	{Name: "v5/connect will, user name, password, properties", Version: v5, Wire: []byte{
		0x10, 0x6D, // remaining 109
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
		0xEE,       // user name, password, will retain, will QoS 1, will, clean start
		0x00, 0x1E, // keep alive 30
		0x25,                         // properties: 37 bytes
		0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry 3600
		0x15, 0x00, 0x02, 'g', 's', // authentication method "gs"
		0x16, 0x00, 0x02, 0x01, 0x02, // authentication data 01 02
		0x17, 0x00, // request problem information 0
		0x19, 0x01, // request response information 1
		0x21, 0x00, 0x14, // receive maximum 20
		0x22, 0x00, 0x0A, // topic alias maximum 10
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
		0x27, 0x00, 0x00, 0x10, 0x00, // maximum packet size 4096
		0x00, 0x03, 'c', 'i', 'd', // client id "cid"
		0x25,       // will properties: 37 bytes
		0x01, 0x01, // payload format indicator 1
		0x02, 0x00, 0x00, 0x00, 0x78, // message expiry 120
		0x03, 0x00, 0x04, 't', 'e', 'x', 't', // content type "text"
		0x08, 0x00, 0x03, 'r', '/', 'a', // response topic "r/a"
		0x09, 0x00, 0x02, 0xAB, 0xCD, // correlation data AB CD
		0x18, 0x00, 0x00, 0x00, 0x05, // will delay 5
		0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // user property a=b
		0x00, 0x03, 'w', '/', 't', // will topic "w/t"
		0x00, 0x03, 'b', 'y', 'e', // will payload "bye"
		0x00, 0x01, 'u', // user name "u"
		0x00, 0x03, 0x01, 0x02, 0x03, // password 01 02 03
	}, Packet: &packet.Connect{Version: v5, CleanStart: true, KeepAlive: 30, ClientID: "cid",
		Will: packet.Will{Topic: "w/t", QoS: packet.QoS1, Retain: true, Payload: []byte("bye"),
			Props: property.Properties{PayloadFormat: 1, MessageExpiry: 120, ContentType: "text",
				ResponseTopic: "r/a", CorrelationData: []byte{0xAB, 0xCD}, WillDelay: 5, User: user("a", "b")}},
		Username: "u", Password: []byte{1, 2, 3},
		Props: property.Properties{Zero: property.NewSet(property.RequestProblemInformation),
			SessionExpiry: 3600, AuthMethod: "gs", AuthData: []byte{1, 2}, RequestResponseInfo: 1,
			ReceiveMaximum: 20, TopicAliasMaximum: 10, User: user("k", "v"), MaximumPacketSize: 4096}}},

	{Name: "v5/connect password without user name, will QoS 2, empty will payload", Version: v5, Wire: []byte{
		0x10, 0x18,
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
		0x54,       // password, will QoS 2, will
		0x00, 0x00, // keep alive 0
		0x00,            // properties
		0x00, 0x01, 'p', // client id "p"
		0x00,            // will properties
		0x00, 0x01, 't', // will topic "t"
		0x00, 0x00, // will payload empty
		0x00, 0x02, 'p', 'w', // password "pw"
	}, Packet: &packet.Connect{Version: v5, ClientID: "p",
		Will: packet.Will{Topic: "t", QoS: packet.QoS2}, Password: []byte("pw")}},

	{Name: "v5/connect empty user name", Version: v5, Wire: []byte{
		0x10, 0x10,
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
		0x82,       // user name, clean start
		0x00, 0x05, // keep alive 5
		0x00,
		0x00, 0x01, 'e', // client id "e"
		0x00, 0x00, // user name ""
	}, Packet: &packet.Connect{Version: v5, CleanStart: true, KeepAlive: 5, ClientID: "e", EmptyUsername: true}},

	{Name: "v5/connack minimal", Version: v5, Wire: []byte{
		0x20, 0x03, 0x00, 0x00, 0x00, // flags 0, success, no properties
	}, Packet: &packet.Connack{}},

	{Name: "v5/connack every capability property", Version: v5, Wire: []byte{
		0x20, 0x45, // remaining 69
		0x01,                         // session present
		0x00,                         // success
		0x42,                         // properties: 66 bytes
		0x11, 0x00, 0x00, 0x00, 0x3C, // session expiry 60
		0x12, 0x00, 0x03, 'a', 'b', 'c', // assigned client identifier "abc"
		0x13, 0x00, 0x00, // server keep alive 0
		0x15, 0x00, 0x02, 'g', 's', // authentication method "gs"
		0x16, 0x00, 0x01, 0xFF, // authentication data FF
		0x1A, 0x00, 0x02, 'r', 'i', // response information "ri"
		0x1C, 0x00, 0x02, 's', '2', // server reference "s2"
		0x1F, 0x00, 0x02, 'o', 'k', // reason string "ok"
		0x21, 0x00, 0x0A, // receive maximum 10
		0x22, 0x00, 0x05, // topic alias maximum 5
		0x24, 0x01, // maximum QoS 1
		0x25, 0x00, // retain available 0
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
		0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
		0x28, 0x00, // wildcard subscription available 0
		0x29, 0x00, // subscription identifiers available 0
		0x2A, 0x01, // shared subscription available 1
	}, Packet: &packet.Connack{SessionPresent: true, Props: property.Properties{
		Zero: property.NewSet(property.ServerKeepAlive, property.RetainAvailable,
			property.WildcardSubscriptionAvailable, property.SubscriptionIdentifierAvailable),
		SessionExpiry: 60, AssignedClientID: "abc", AuthMethod: "gs", AuthData: []byte{0xFF},
		ResponseInfo: "ri", ServerReference: "s2", ReasonString: "ok", ReceiveMaximum: 10,
		TopicAliasMaximum: 5, MaximumQoS: 1, User: user("k", "v"), MaximumPacketSize: 65536,
		SharedSubAvailable: 1}}},

	{Name: "v5/connack not authorized with reason string", Version: v5, Wire: []byte{
		0x20, 0x08,
		0x00, 0x87, // flags 0, not authorized
		0x05, 0x1F, 0x00, 0x02, 'n', 'o', // reason string "no"
	}, Packet: &packet.Connack{Reason: packet.NotAuthorized, Props: property.Properties{ReasonString: "no"}}},

	{Name: "v5/publish QoS 0", Version: v5, Wire: []byte{
		0x30, 0x07,
		0x00, 0x03, 'a', '/', 'b', // topic "a/b"
		0x00, // properties
		'x',  // payload
	}, Packet: &packet.Publish{Topic: "a/b", Payload: []byte("x")}},

	{Name: "v5/publish QoS 1 retain with message properties", Version: v5, Wire: []byte{
		0x33, 0x2D, // PUBLISH QoS 1 retain, remaining 45
		0x00, 0x03, 't', '/', '1', // topic "t/1"
		0x00, 0x0A, // packet id 10
		0x23,       // properties: 35 bytes
		0x01, 0x01, // payload format indicator 1
		0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry 60
		0x03, 0x00, 0x01, 'j', // content type "j"
		0x08, 0x00, 0x03, 'r', '/', '1', // response topic "r/1"
		0x09, 0x00, 0x01, 0x07, // correlation data 07
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'w', // user property k=w (repeat allowed)
		'h', 'i', // payload
	}, Packet: &packet.Publish{Topic: "t/1", QoS: packet.QoS1, Retain: true, PacketID: 10,
		Props: property.Properties{PayloadFormat: 1, MessageExpiry: 60, ContentType: "j",
			ResponseTopic: "r/1", CorrelationData: []byte{7}, User: user("k", "v", "k", "w")},
		Payload: []byte("hi")}},

	{Name: "v5/publish QoS 2 dup", Version: v5, Wire: []byte{
		0x3C, 0x09, // PUBLISH dup QoS 2
		0x00, 0x01, 'a', // topic "a"
		0xFF, 0xFF, // packet id 65535
		0x00,             // properties
		0x01, 0x02, 0x03, // payload
	}, Packet: &packet.Publish{Topic: "a", QoS: packet.QoS2, Dup: true, PacketID: 65535, Payload: []byte{1, 2, 3}}},

	{Name: "v5/publish retain empty payload", Version: v5, Wire: []byte{
		0x31, 0x05, 0x00, 0x02, 'a', 'b', 0x00,
	}, Packet: &packet.Publish{Topic: "ab", Retain: true}},

	{Name: "v5/publish topic alias with empty topic", Version: v5, Wire: []byte{
		0x32, 0x09,
		0x00, 0x00, // topic ""
		0x00, 0x05, // packet id 5
		0x03, 0x23, 0x00, 0x07, // topic alias 7
		'p',
	}, Packet: &packet.Publish{QoS: packet.QoS1, PacketID: 5, Props: property.Properties{TopicAlias: 7}, Payload: []byte("p")}},

	{Name: "v5/publish topic and topic alias", Version: v5, Wire: []byte{
		0x30, 0x0A,
		0x00, 0x02, 'a', 'b',
		0x03, 0x23, 0x00, 0x01, // topic alias 1
		'z', 'z',
	}, Packet: &packet.Publish{Topic: "ab", Props: property.Properties{TopicAlias: 1}, Payload: []byte("zz")}},

	{Name: "v5/publish several subscription identifiers", Version: v5, Wire: []byte{
		0x30, 0x0E,
		0x00, 0x01, 's',
		0x0A,       // properties: 10 bytes
		0x0B, 0x01, // subscription identifier 1
		0x0B, 0x80, 0x01, // subscription identifier 128
		0x0B, 0xFF, 0xFF, 0xFF, 0x7F, // subscription identifier 268,435,455
	}, Packet: &packet.Publish{Topic: "s", Props: property.Properties{SubscriptionIDs: []uint32{1, 128, 268_435_455}}}},

	{Name: "v5/publish two-byte remaining length", Version: v5,
		Wire: append([]byte{
			0x30, 0xCE, 0x01, // remaining 206
			0x00, 0x03, 'b', 'i', 'g', // topic "big"
			0x00, // properties
		}, big...), // 200-byte payload
		Packet: &packet.Publish{Topic: "big", Payload: big}},

	{Name: "v5/puback packet id only", Version: v5, Wire: []byte{0x40, 0x02, 0x00, 0x01},
		Packet: &packet.Puback{PacketID: 1}},
	{Name: "v5/puback packet id and reason", Version: v5, Wire: []byte{0x40, 0x03, 0x00, 0x02, 0x10},
		Packet: &packet.Puback{PacketID: 2, Reason: packet.NoMatchingSubscribers}},
	{Name: "v5/puback full", Version: v5, Wire: []byte{
		0x40, 0x11,
		0x00, 0x03, // packet id 3
		0x80,                            // unspecified error
		0x0D,                            // properties: 13 bytes
		0x1F, 0x00, 0x03, 'b', 'a', 'd', // reason string "bad"
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property
	}, Packet: &packet.Puback{PacketID: 3, Reason: packet.UnspecifiedError,
		Props: property.Properties{ReasonString: "bad", User: user("k", "v")}}},
	{Name: "v5/pubrec packet id only", Version: v5, Wire: []byte{0x50, 0x02, 0x00, 0x04},
		Packet: &packet.Pubrec{PacketID: 4}},
	{Name: "v5/pubrec packet id and reason", Version: v5, Wire: []byte{0x50, 0x03, 0x00, 0x05, 0x91},
		Packet: &packet.Pubrec{PacketID: 5, Reason: packet.PacketIdentifierInUse}},
	{Name: "v5/pubrec success with properties", Version: v5, Wire: []byte{
		0x50, 0x0B, 0x00, 0x0A,
		0x00,                                   // success
		0x07,                                   // properties: 7 bytes
		0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // user property a=b
	}, Packet: &packet.Pubrec{PacketID: 10, Props: property.Properties{User: user("a", "b")}}},
	{Name: "v5/pubrel packet id only", Version: v5, Wire: []byte{0x62, 0x02, 0x00, 0x06},
		Packet: &packet.Pubrel{PacketID: 6}},
	{Name: "v5/pubrel full", Version: v5, Wire: []byte{
		0x62, 0x09, 0x00, 0x07,
		0x92,                             // packet identifier not found
		0x05, 0x1F, 0x00, 0x02, 'n', 'f', // reason string "nf"
	}, Packet: &packet.Pubrel{PacketID: 7, Reason: packet.PacketIdentifierNotFound,
		Props: property.Properties{ReasonString: "nf"}}},
	{Name: "v5/pubcomp packet id only", Version: v5, Wire: []byte{0x70, 0x02, 0x00, 0x08},
		Packet: &packet.Pubcomp{PacketID: 8}},
	{Name: "v5/pubcomp packet id and reason", Version: v5, Wire: []byte{0x70, 0x03, 0x00, 0x09, 0x92},
		Packet: &packet.Pubcomp{PacketID: 9, Reason: packet.PacketIdentifierNotFound}},

	{Name: "v5/subscribe one filter", Version: v5, Wire: []byte{
		0x82, 0x09,
		0x00, 0x0B, // packet id 11
		0x00,                      // properties
		0x00, 0x03, 'a', '/', 'b', // filter "a/b"
		0x01, // QoS 1
	}, Packet: &packet.Subscribe{PacketID: 11, Subscriptions: []packet.Subscription{{Filter: "a/b", QoS: 1}}}},
	{Name: "v5/subscribe all options, shared filter, properties", Version: v5, Wire: []byte{
		0x82, 0x23, // remaining 35
		0x00, 0x0C, // packet id 12
		0x09,       // properties: 9 bytes
		0x0B, 0x05, // subscription identifier 5
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property
		0x00, 0x03, 'a', '/', '+', // filter "a/+"
		0x2E,                                                         // retain handling 2, retain as published, no local, QoS 2
		0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', '#', // "$share/g/#"
		0x11,            // retain handling 1, QoS 1
		0x00, 0x01, '#', // "#"
		0x00, // QoS 0
	}, Packet: &packet.Subscribe{PacketID: 12,
		Props: property.Properties{SubscriptionIDs: []uint32{5}, User: user("k", "v")},
		Subscriptions: []packet.Subscription{
			{Filter: "a/+", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
			{Filter: "$share/g/#", QoS: 1, RetainHandling: 1},
			{Filter: "#"},
		}}},
	{Name: "v5/suback", Version: v5, Wire: []byte{
		0x90, 0x08, 0x00, 0x0C, 0x00,
		0x02, 0x01, 0x80, 0x9E, 0xA2, // granted 2, granted 1, unspecified, shared n/a, wildcard n/a
	}, Packet: &packet.Suback{PacketID: 12, Reasons: []packet.ReasonCode{2, 1, 0x80, 0x9E, 0xA2}}},
	{Name: "v5/suback with reason string", Version: v5, Wire: []byte{
		0x90, 0x09, 0x00, 0x0D,
		0x05, 0x1F, 0x00, 0x02, 'n', 'o', // reason string "no"
		0x87, // not authorized
	}, Packet: &packet.Suback{PacketID: 13, Props: property.Properties{ReasonString: "no"},
		Reasons: []packet.ReasonCode{packet.NotAuthorized}}},
	{Name: "v5/unsubscribe", Version: v5, Wire: []byte{
		0xA2, 0x14, 0x00, 0x0E, 0x00,
		0x00, 0x03, 'a', '/', 'b',
		0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', '#',
	}, Packet: &packet.Unsubscribe{PacketID: 14, Filters: []string{"a/b", "$share/g/#"}}},
	{Name: "v5/unsubscribe with user property", Version: v5, Wire: []byte{
		0xA2, 0x0D, 0x00, 0x0F,
		0x07, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',
		0x00, 0x01, '+',
	}, Packet: &packet.Unsubscribe{PacketID: 15, Props: property.Properties{User: user("k", "v")}, Filters: []string{"+"}}},
	{Name: "v5/unsuback", Version: v5, Wire: []byte{0xB0, 0x05, 0x00, 0x0E, 0x00, 0x00, 0x11},
		Packet: &packet.Unsuback{PacketID: 14, Reasons: []packet.ReasonCode{0, packet.NoSubscriptionExisted}}},
	{Name: "v5/unsuback with reason string", Version: v5, Wire: []byte{
		0xB0, 0x0A, 0x00, 0x0F,
		0x05, 0x1F, 0x00, 0x02, 'n', 'a',
		0x87, 0x8F,
	}, Packet: &packet.Unsuback{PacketID: 15, Props: property.Properties{ReasonString: "na"},
		Reasons: []packet.ReasonCode{packet.NotAuthorized, packet.TopicFilterInvalid}}},
	{Name: "v5/pingreq", Version: v5, Wire: []byte{0xC0, 0x00}, Packet: &packet.Pingreq{}},
	{Name: "v5/pingresp", Version: v5, Wire: []byte{0xD0, 0x00}, Packet: &packet.Pingresp{}},
	{Name: "v5/disconnect empty", Version: v5, Wire: []byte{0xE0, 0x00}, Packet: &packet.Disconnect{}},
	{Name: "v5/disconnect reason only", Version: v5, Wire: []byte{0xE0, 0x01, 0x04},
		Packet: &packet.Disconnect{Reason: packet.DisconnectWithWillMessage}},
	{Name: "v5/disconnect full", Version: v5, Wire: []byte{
		0xE0, 0x17,
		0x9C,                         // use another server
		0x15,                         // properties: 21 bytes
		0x11, 0x00, 0x00, 0x00, 0x00, // session expiry 0
		0x1C, 0x00, 0x02, 's', '2', // server reference "s2"
		0x1F, 0x00, 0x01, 'x', // reason string "x"
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',
	}, Packet: &packet.Disconnect{Reason: packet.UseAnotherServer, Props: property.Properties{
		Zero: property.NewSet(property.SessionExpiryInterval), ServerReference: "s2",
		ReasonString: "x", User: user("k", "v")}}},
	{Name: "v5/disconnect empty reason string", Version: v5, Wire: []byte{
		0xE0, 0x05, 0x80, 0x03, 0x1F, 0x00, 0x00,
	}, Packet: &packet.Disconnect{Reason: packet.UnspecifiedError,
		Props: property.Properties{Zero: property.NewSet(property.ReasonString)}}},
	{Name: "v5/auth empty", Version: v5, Wire: []byte{0xF0, 0x00}, Packet: &packet.Auth{}},
	{Name: "v5/auth reason only", Version: v5, Wire: []byte{0xF0, 0x01, 0x19},
		Packet: &packet.Auth{Reason: packet.ReAuthenticate}},
	{Name: "v5/auth full", Version: v5, Wire: []byte{
		0xF0, 0x1A,
		0x18,                                 // continue authentication
		0x18,                                 // properties: 24 bytes
		0x15, 0x00, 0x04, 'S', 'C', 'R', 'M', // authentication method
		0x16, 0x00, 0x03, 0x01, 0x02, 0x03, // authentication data
		0x1F, 0x00, 0x01, 'c', // reason string
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',
	}, Packet: &packet.Auth{Reason: packet.ContinueAuthentication, Props: property.Properties{
		AuthMethod: "SCRM", AuthData: []byte{1, 2, 3}, ReasonString: "c", User: user("k", "v")}}},

	// four-byte packet identifiers (v5)
	{Name: "v5/publish QoS 1 uint32 id", Version: v5, ID32: true, Wire: []byte{
		0x32, 0x09, 0x00, 0x01, 't',
		0x00, 0x01, 0x00, 0x00, // packet id 65536
		0x00, 'x',
	}, Packet: &packet.PublishOf[uint32]{Topic: "t", QoS: 1, PacketID: 65536, Payload: []byte("x")}},
	{Name: "v5/puback uint32 id", Version: v5, ID32: true, Wire: []byte{0x40, 0x04, 0x12, 0x34, 0x56, 0x78},
		Packet: &packet.PubackOf[uint32]{PacketID: 0x12345678}},
	{Name: "v5/pubrel uint32 id and reason", Version: v5, ID32: true, Wire: []byte{0x62, 0x05, 0x00, 0x00, 0x00, 0x02, 0x92},
		Packet: &packet.PubrelOf[uint32]{PacketID: 2, Reason: packet.PacketIdentifierNotFound}},
	{Name: "v5/subscribe uint32 id", Version: v5, ID32: true, Wire: []byte{
		0x82, 0x09, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 'a', 0x01,
	}, Packet: &packet.SubscribeOf[uint32]{PacketID: 256, Subscriptions: []packet.Subscription{{Filter: "a", QoS: 1}}}},
	{Name: "v5/suback uint32 id", Version: v5, ID32: true, Wire: []byte{0x90, 0x06, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01},
		Packet: &packet.SubackOf[uint32]{PacketID: 256, Reasons: []packet.ReasonCode{1}}},

	// ------------------------------------------------------------- v3.1.1
	{Name: "v3.1.1/connect minimal", Version: v311, Wire: []byte{
		0x10, 0x0C,
		0x00, 0x04, 'M', 'Q', 'T', 'T',
		0x04,       // protocol level 4
		0x02,       // clean session
		0x00, 0x3C, // keep alive 60
		0x00, 0x00, // client id ""
	}, Packet: &packet.Connect{Version: v311, CleanStart: true, KeepAlive: 60}},
	{Name: "v3.1.1/connect will, user name, password", Version: v311, Wire: []byte{
		0x10, 0x1A,
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
		0xF6,       // user name, password, will retain, will QoS 2, will, clean session
		0x00, 0x0A, // keep alive 10
		0x00, 0x02, 'i', 'd', // client id
		0x00, 0x01, 'w', // will topic
		0x00, 0x01, 'm', // will message
		0x00, 0x01, 'u', // user name
		0x00, 0x01, 'p', // password
	}, Packet: &packet.Connect{Version: v311, CleanStart: true, KeepAlive: 10, ClientID: "id",
		Will:     packet.Will{Topic: "w", QoS: 2, Retain: true, Payload: []byte("m")},
		Username: "u", Password: []byte("p")}},
	{Name: "v3.1.1/connect user name only", Version: v311, Wire: []byte{
		0x10, 0x12,
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
		0x80, 0x00, 0x00,
		0x00, 0x01, 'x',
		0x00, 0x03, 'b', 'o', 'b',
	}, Packet: &packet.Connect{Version: v311, ClientID: "x", Username: "bob"}},
	{Name: "v3.1/connect MQIsdp", Version: v31, Wire: []byte{
		0x10, 0x11,
		0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
		0x03,       // protocol level 3
		0x02,       // clean session
		0x00, 0x3C, // keep alive 60
		0x00, 0x03, 'a', 'b', 'c',
	}, Packet: &packet.Connect{Version: v31, CleanStart: true, KeepAlive: 60, ClientID: "abc"}},
	{Name: "v3.1.1/connack accepted", Version: v311, Wire: []byte{0x20, 0x02, 0x00, 0x00}, Packet: &packet.Connack{}},
	{Name: "v3.1.1/connack session present", Version: v311, Wire: []byte{0x20, 0x02, 0x01, 0x00},
		Packet: &packet.Connack{SessionPresent: true}},
	{Name: "v3.1.1/connack not authorized", Version: v311, Wire: []byte{0x20, 0x02, 0x00, 0x05},
		Packet: &packet.Connack{Reason: packet.RefusedNotAuthorized}},
	{Name: "v3.1.1/publish QoS 0", Version: v311, Wire: []byte{
		0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i',
	}, Packet: &packet.Publish{Topic: "a/b", Payload: []byte("hi")}},
	{Name: "v3.1.1/publish QoS 1 retain", Version: v311, Wire: []byte{
		0x33, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 'x',
	}, Packet: &packet.Publish{Topic: "a", QoS: 1, Retain: true, PacketID: 1, Payload: []byte("x")}},
	{Name: "v3.1.1/publish QoS 2 dup retain empty payload", Version: v311, Wire: []byte{
		0x3D, 0x05, 0x00, 0x01, 'b', 0xFF, 0xFE,
	}, Packet: &packet.Publish{Topic: "b", QoS: 2, Dup: true, Retain: true, PacketID: 0xFFFE}},
	{Name: "v3.1.1/publish QoS 0 empty payload", Version: v311, Wire: []byte{0x30, 0x03, 0x00, 0x01, 'c'},
		Packet: &packet.Publish{Topic: "c"}},
	{Name: "v3.1.1/puback", Version: v311, Wire: []byte{0x40, 0x02, 0x00, 0x01}, Packet: &packet.Puback{PacketID: 1}},
	{Name: "v3.1.1/pubrec", Version: v311, Wire: []byte{0x50, 0x02, 0x00, 0x02}, Packet: &packet.Pubrec{PacketID: 2}},
	{Name: "v3.1.1/pubrel", Version: v311, Wire: []byte{0x62, 0x02, 0x00, 0x03}, Packet: &packet.Pubrel{PacketID: 3}},
	{Name: "v3.1.1/pubcomp", Version: v311, Wire: []byte{0x70, 0x02, 0x00, 0x04}, Packet: &packet.Pubcomp{PacketID: 4}},
	{Name: "v3.1.1/subscribe", Version: v311, Wire: []byte{
		0x82, 0x19, 0x00, 0x05,
		0x00, 0x03, 'a', '/', '#', 0x00,
		0x00, 0x01, '+', 0x02,
		0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'x', 0x01, // an ordinary filter in 3.1.1
	}, Packet: &packet.Subscribe{PacketID: 5, Subscriptions: []packet.Subscription{
		{Filter: "a/#"}, {Filter: "+", QoS: 2}, {Filter: "$share/g/x", QoS: 1}}}},
	{Name: "v3.1.1/suback", Version: v311, Wire: []byte{0x90, 0x06, 0x00, 0x05, 0x00, 0x01, 0x02, 0x80},
		Packet: &packet.Suback{PacketID: 5, Reasons: []packet.ReasonCode{0, 1, 2, packet.SubscribeFailure}}},
	{Name: "v3.1.1/unsubscribe", Version: v311, Wire: []byte{
		0xA2, 0x0A, 0x00, 0x06, 0x00, 0x03, 'a', '/', '#', 0x00, 0x01, 'b',
	}, Packet: &packet.Unsubscribe{PacketID: 6, Filters: []string{"a/#", "b"}}},
	{Name: "v3.1.1/unsuback", Version: v311, Wire: []byte{0xB0, 0x02, 0x00, 0x06}, Packet: &packet.Unsuback{PacketID: 6}},
	{Name: "v3.1.1/pingreq", Version: v311, Wire: []byte{0xC0, 0x00}, Packet: &packet.Pingreq{}},
	{Name: "v3.1.1/pingresp", Version: v311, Wire: []byte{0xD0, 0x00}, Packet: &packet.Pingresp{}},
	{Name: "v3.1.1/disconnect", Version: v311, Wire: []byte{0xE0, 0x00}, Packet: &packet.Disconnect{}},

	// four-byte packet identifiers (v3.1.1)
	{Name: "v3.1.1/publish QoS 1 uint32 id", Version: v311, ID32: true, Wire: []byte{
		0x32, 0x08, 0x00, 0x01, 'q', 0x00, 0x00, 0x00, 0x07, 'z',
	}, Packet: &packet.PublishOf[uint32]{Topic: "q", QoS: 1, PacketID: 7, Payload: []byte("z")}},
	{Name: "v3.1.1/puback uint32 id", Version: v311, ID32: true, Wire: []byte{0x40, 0x04, 0x00, 0x01, 0x00, 0x00},
		Packet: &packet.PubackOf[uint32]{PacketID: 65536}},
	{Name: "v3.1.1/unsubscribe uint32 id", Version: v311, ID32: true, Wire: []byte{
		0xA2, 0x07, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01, 'a',
	}, Packet: &packet.UnsubscribeOf[uint32]{PacketID: 0xFFFFFFFF, Filters: []string{"a"}}},
}
