package interop

import (
	"bytes"
	"strings"

	paho "github.com/eclipse/paho.golang/packets"
	mochi "github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// The cases of the interop tests: every packet kind, in v5 and v3.1.1, as
// ours, paho.golang (v5 only) and mochi build it.

func ptr[T any](v T) *T { return &v }

// mochi encodes Response Topic, Correlation Data and Response Information
// only when the broker allows them for the client.
var mochiAllowResponse = mochi.Mods{AllowResponseInfo: true}

// Why paho's acknowledgements are longer than ours: MQTT 5.0 lets a sender
// leave out the Reason Code when it is 0x00 and there are no properties, and
// the Property Length when there are no properties (3.4.2.1, 3.14.2.1,
// 3.15.2.1). We always write the shortest form; both forms are valid.
const (
	pahoPubackLong     = "paho always writes the Reason Code and the Property Length of a PUBACK; ours is the shortest form"
	pahoAckReasonLong  = "paho always writes the Reason Code of a PUBREC, PUBREL, PUBCOMP; ours leaves out a 0x00 without properties"
	reasonOnlyLong     = "the peer always writes the Reason Code and the Property Length; ours is the shortest form"
	pahoPropertyOrder  = "paho writes properties in its own order, not by identifier; property order is free (2.2.2.2)"
	pahoSubIDAfterTA   = "paho writes Topic Alias before Subscription Identifier; property order is free (2.2.2.2)"
	mochiDisconnect1   = "mochi reads a DISCONNECT Reason Code only when Remaining Length > 1, so a reason-only DISCONNECT (Remaining Length 1, allowed by 3.14.2.1) decodes as 0x00"
	mochiAuthShort     = "mochi's AuthDecode requires a Reason Code and a Property Length, but 3.15.2.1 lets a Success AUTH without properties have Remaining Length 0"
	pahoDisconnect0    = "paho's Disconnect.Unpack reads a Reason Code unconditionally, so the shortest normal DISCONNECT (Remaining Length 0, allowed by 3.14.2.1) fails with EOF"
	mochiAck0x10       = "mochi writes an ack's Reason Code only when it is >= 0x80 or there are properties, so 0x10 No matching subscribers is lost"
	pahoWillProperties = "paho packs Will Properties with the CONNECT property filter and drops the message properties (Payload Format, Message Expiry, Content Type, Response Topic, Correlation Data)"
)

func interopCases() []interopCase {
	var cs []interopCase
	cs = append(cs, connectCases()...)
	cs = append(cs, connackCases()...)
	cs = append(cs, publishCases()...)
	cs = append(cs, ackCases()...)
	cs = append(cs, subscribeCases()...)
	cs = append(cs, controlCases()...)
	return cs
}

func connectCases() []interopCase {
	users := []property.User{{Key: "region", Value: "eu-west-1"}, {Key: "app", Value: "telemetry"}}
	pahoUsers := []paho.User{{Key: "region", Value: "eu-west-1"}, {Key: "app", Value: "telemetry"}}
	mochiUsers := []mochi.UserProperty{{Key: "region", Val: "eu-west-1"}, {Key: "app", Val: "telemetry"}}
	long := strings.Repeat("u", 65535) // the longest string MQTT can carry
	return []interopCase{
		{
			name: "CONNECT/v5/will-user-password-properties", v: packet.V5,
			ours: &packet.Connect{Version: packet.V5, CleanStart: true, KeepAlive: 30, ClientID: "client-1",
				Props: property.Properties{Zero: property.NewSet(property.RequestProblemInformation),
					SessionExpiry: 3600, RequestResponseInfo: 1, ReceiveMaximum: 100, TopicAliasMaximum: 10,
					MaximumPacketSize: 1 << 20, User: users},
				Will: packet.Will{Topic: "clients/client-1/status", QoS: packet.QoS1, Retain: true, Payload: []byte("offline"),
					Props: property.Properties{WillDelay: 5, User: users[:1]}},
				Username: "user", Password: []byte("secret")},
			paho: withPaho(&paho.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, KeepAlive: 30, ClientID: "client-1",
				Properties: &paho.Properties{SessionExpiryInterval: ptr[uint32](3600), ReceiveMaximum: ptr[uint16](100),
					TopicAliasMaximum: ptr[uint16](10), MaximumPacketSize: ptr[uint32](1 << 20), RequestProblemInfo: ptr[byte](0),
					RequestResponseInfo: ptr[byte](1), User: pahoUsers},
				WillFlag: true, WillTopic: "clients/client-1/status", WillQOS: 1, WillRetain: true, WillMessage: []byte("offline"),
				WillProperties: &paho.Properties{WillDelayInterval: ptr[uint32](5), User: pahoUsers[:1]},
				UsernameFlag:   true, Username: "user", PasswordFlag: true, Password: []byte("secret")}).
				differ(pahoPropertyOrder),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: 5,
				Properties: mochi.Properties{SessionExpiryInterval: 3600, SessionExpiryIntervalFlag: true, ReceiveMaximum: 100,
					TopicAliasMaximum: 10, MaximumPacketSize: 1 << 20, RequestProblemInfoFlag: true, RequestResponseInfo: 1,
					User: mochiUsers},
				Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "client-1",
					WillFlag: true, WillTopic: "clients/client-1/status", WillQos: 1, WillRetain: true, WillPayload: []byte("offline"),
					WillProperties: mochi.Properties{WillDelayInterval: 5, User: mochiUsers[:1]},
					UsernameFlag:   true, Username: []byte("user"), PasswordFlag: true, Password: []byte("secret")}}),
		},
		{
			name: "CONNECT/v5/will-message-properties", v: packet.V5,
			ours: &packet.Connect{Version: packet.V5, ClientID: "c2",
				Will: packet.Will{Topic: "w", QoS: packet.QoS2, Payload: []byte("gone"),
					Props: property.Properties{PayloadFormat: 1, MessageExpiry: 600, ContentType: "text/plain",
						ResponseTopic: "reply/w", CorrelationData: []byte{1, 2, 3}, WillDelay: 10}}},
			paho: withPaho(&paho.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: "c2",
				WillFlag: true, WillTopic: "w", WillQOS: 2, WillMessage: []byte("gone"),
				WillProperties: &paho.Properties{PayloadFormat: ptr[byte](1), MessageExpiry: ptr[uint32](600), ContentType: "text/plain",
					ResponseTopic: "reply/w", CorrelationData: []byte{1, 2, 3}, WillDelayInterval: ptr[uint32](10)}}).
				badEncode(pahoWillProperties),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: 5, Mods: mochiAllowResponse,
				Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "c2",
					WillFlag: true, WillTopic: "w", WillQos: 2, WillPayload: []byte("gone"),
					WillProperties: mochi.Properties{PayloadFormat: 1, PayloadFormatFlag: true, MessageExpiryInterval: 600,
						ContentType: "text/plain", ResponseTopic: "reply/w", CorrelationData: []byte{1, 2, 3}, WillDelayInterval: 10}}}),
		},
		{
			name: "CONNECT/v5/minimal", v: packet.V5,
			ours: &packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "c"},
			paho: withPaho(&paho.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, ClientID: "c"}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: 5,
				Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, ClientIdentifier: "c"}}),
		},
		{
			name: "CONNECT/v5/empty-client-id-empty-username-password-only", v: packet.V5,
			ours: &packet.Connect{Version: packet.V5, KeepAlive: 65535, EmptyUsername: true, Password: []byte{0, 0xFF},
				Props: property.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("n,,n=user")}},
			paho: withPaho(&paho.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, KeepAlive: 65535,
				UsernameFlag: true, PasswordFlag: true, Password: []byte{0, 0xFF},
				Properties: &paho.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("n,,n=user")}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: 5,
				Properties: mochi.Properties{AuthenticationMethod: "SCRAM-SHA-1", AuthenticationData: []byte("n,,n=user")},
				Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), Keepalive: 65535,
					UsernameFlag: true, Username: []byte{}, PasswordFlag: true, Password: []byte{0, 0xFF}}}),
		},
		{
			name: "CONNECT/v5/65535-byte-username-bom-client-id", v: packet.V5,
			ours: &packet.Connect{Version: packet.V5, ClientID: "\uFEFFid", Username: long, Password: []byte(long)},
			paho: withPaho(&paho.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: "\uFEFFid",
				UsernameFlag: true, Username: long, PasswordFlag: true, Password: []byte(long)}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: 5,
				Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "\uFEFFid",
					UsernameFlag: true, Username: []byte(long), PasswordFlag: true, Password: []byte(long)}}),
		},
		{
			name: "CONNECT/v3.1/MQIsdp", v: packet.V31,
			ours: &packet.Connect{Version: packet.V31, CleanStart: true, KeepAlive: 10, ClientID: "old-client",
				Will: packet.Will{Topic: "w", Payload: []byte("x")}},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: 3,
				Connect: mochi.ConnectParams{ProtocolName: []byte("MQIsdp"), Clean: true, Keepalive: 10, ClientIdentifier: "old-client",
					WillFlag: true, WillTopic: "w", WillPayload: []byte("x")}}),
		},
		{
			name: "CONNECT/v3.1.1/will-user-password", v: packet.V311,
			ours: &packet.Connect{Version: packet.V311, KeepAlive: 60, ClientID: "legacy-7",
				Will:     packet.Will{Topic: "status/legacy-7", QoS: packet.QoS2, Retain: true, Payload: []byte("dead")},
				Username: "u", Password: []byte("p")},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: 4,
				Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), Keepalive: 60, ClientIdentifier: "legacy-7",
					WillFlag: true, WillTopic: "status/legacy-7", WillQos: 2, WillRetain: true, WillPayload: []byte("dead"),
					UsernameFlag: true, Username: []byte("u"), PasswordFlag: true, Password: []byte("p")}}),
		},
		{
			name: "CONNECT/v3.1.1/minimal", v: packet.V311,
			ours: &packet.Connect{Version: packet.V311, CleanStart: true, ClientID: "c"},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: 4,
				Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, ClientIdentifier: "c"}}),
		},
	}
}

func connackCases() []interopCase {
	return []interopCase{
		{
			name: "CONNACK/v5/success-all-capabilities", v: packet.V5,
			ours: &packet.Connack{SessionPresent: true, Props: property.Properties{
				Zero:          property.NewSet(property.RetainAvailable, property.SubscriptionIdentifierAvailable),
				SessionExpiry: 7200, AssignedClientID: "auto-1a2b", ServerKeepAlive: 120, ResponseInfo: "resp/auto-1a2b",
				ReceiveMaximum: 20, TopicAliasMaximum: 5, MaximumQoS: 1, User: []property.User{{Key: "node", Value: "b1"}},
				MaximumPacketSize: 65536, WildcardSubAvailable: 1, SharedSubAvailable: 1,
				AuthMethod: "SCRAM-SHA-1", AuthData: []byte("v=proof")}},
			paho: withPaho(&paho.Connack{SessionPresent: true, Properties: &paho.Properties{
				SessionExpiryInterval: ptr[uint32](7200), AssignedClientID: "auto-1a2b", ServerKeepAlive: ptr[uint16](120),
				ResponseInfo: "resp/auto-1a2b", ReceiveMaximum: ptr[uint16](20), TopicAliasMaximum: ptr[uint16](5),
				MaximumQOS: ptr[byte](1), RetainAvailable: ptr[byte](0), User: []paho.User{{Key: "node", Value: "b1"}},
				MaximumPacketSize: ptr[uint32](65536), WildcardSubAvailable: ptr[byte](1), SubIDAvailable: ptr[byte](0),
				SharedSubAvailable: ptr[byte](1), AuthMethod: "SCRAM-SHA-1", AuthData: []byte("v=proof")}}).differ(pahoPropertyOrder),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connack}, ProtocolVersion: 5,
				Mods: mochiAllowResponse, SessionPresent: true, Properties: mochi.Properties{
					SessionExpiryInterval: 7200, SessionExpiryIntervalFlag: true, AssignedClientID: "auto-1a2b",
					ServerKeepAlive: 120, ServerKeepAliveFlag: true, ResponseInfo: "resp/auto-1a2b", ReceiveMaximum: 20,
					TopicAliasMaximum: 5, MaximumQos: 1, MaximumQosFlag: true, RetainAvailableFlag: true,
					User: []mochi.UserProperty{{Key: "node", Val: "b1"}}, MaximumPacketSize: 65536,
					WildcardSubAvailable: 1, WildcardSubAvailableFlag: true, SubIDAvailableFlag: true,
					SharedSubAvailable: 1, SharedSubAvailableFlag: true,
					AuthenticationMethod: "SCRAM-SHA-1", AuthenticationData: []byte("v=proof")}}),
		},
		{
			name: "CONNACK/v5/maximum-qos-0", v: packet.V5,
			ours: &packet.Connack{Props: property.Properties{Zero: property.NewSet(property.MaximumQoS)}},
			paho: withPaho(&paho.Connack{Properties: &paho.Properties{MaximumQOS: ptr[byte](0)}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connack}, ProtocolVersion: 5,
				Properties: mochi.Properties{MaximumQosFlag: true}}),
		},
		{
			name: "CONNACK/v5/refused-with-reason-string", v: packet.V5,
			ours: &packet.Connack{Reason: packet.NotAuthorized, Props: property.Properties{ReasonString: "not on the list",
				ServerReference: "backup:1883"}},
			paho: withPaho(&paho.Connack{ReasonCode: 0x87, Properties: &paho.Properties{ReasonString: "not on the list",
				ServerReference: "backup:1883"}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connack}, ProtocolVersion: 5, ReasonCode: 0x87,
				Properties: mochi.Properties{ReasonString: "not on the list", ServerReference: "backup:1883"}}),
		},
		{
			name: "CONNACK/v5/success-no-properties", v: packet.V5,
			ours:  &packet.Connack{},
			paho:  withPaho(&paho.Connack{}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connack}, ProtocolVersion: 5}),
		},
		{
			name: "CONNACK/v3.1.1/session-present", v: packet.V311,
			ours: &packet.Connack{SessionPresent: true},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connack}, ProtocolVersion: 4,
				SessionPresent: true}),
		},
		{
			name: "CONNACK/v3.1.1/refused-not-authorized", v: packet.V311,
			ours: &packet.Connack{Reason: packet.RefusedNotAuthorized},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connack}, ProtocolVersion: 4,
				ReasonCode: 5}),
		},
	}
}

func publishCases() []interopCase {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4)
	big := bytes.Repeat([]byte{0xA5}, 20000)      // a 3-byte Remaining Length
	huge := bytes.Repeat([]byte{0x5A}, 2_100_000) // a 4-byte Remaining Length
	return []interopCase{
		{
			name: "PUBLISH/v5/qos0-no-properties", v: packet.V5,
			ours: &packet.Publish{Topic: "a/b", Payload: []byte("hi")},
			paho: withPaho(&paho.Publish{Topic: "a/b", Payload: []byte("hi")}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish}, ProtocolVersion: 5,
				TopicName: "a/b", Payload: []byte("hi")}),
		},
		{
			name: "PUBLISH/v5/qos1-expiry-content-type", v: packet.V5,
			ours: &packet.Publish{Topic: "sensors/room1/temperature", QoS: packet.QoS1, PacketID: 42,
				Props: property.Properties{MessageExpiry: 60, ContentType: "json"}, Payload: payload},
			paho: withPaho(&paho.Publish{Topic: "sensors/room1/temperature", QoS: 1, PacketID: 42,
				Properties: &paho.Properties{MessageExpiry: ptr[uint32](60), ContentType: "json"}, Payload: payload}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 1}, ProtocolVersion: 5,
				TopicName: "sensors/room1/temperature", PacketID: 42,
				Properties: mochi.Properties{MessageExpiryInterval: 60, ContentType: "json"}, Payload: payload}),
		},
		{
			name: "PUBLISH/v5/qos2-retain-dup-all-message-properties", v: packet.V5,
			ours: &packet.Publish{Topic: "a/b", QoS: packet.QoS2, Retain: true, Dup: true, PacketID: 65535,
				Props: property.Properties{PayloadFormat: 1, MessageExpiry: 3600, ContentType: "text/plain",
					ResponseTopic: "reply/to", CorrelationData: []byte{1, 2, 3}, TopicAlias: 3,
					User: []property.User{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}},
				Payload: []byte("hello")},
			paho: withPaho(&paho.Publish{Topic: "a/b", QoS: 2, Retain: true, Duplicate: true, PacketID: 65535,
				Properties: &paho.Properties{PayloadFormat: ptr[byte](1), MessageExpiry: ptr[uint32](3600), ContentType: "text/plain",
					ResponseTopic: "reply/to", CorrelationData: []byte{1, 2, 3}, TopicAlias: ptr[uint16](3),
					User: []paho.User{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}},
				Payload: []byte("hello")}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 2, Retain: true, Dup: true},
				ProtocolVersion: 5, Mods: mochiAllowResponse, TopicName: "a/b", PacketID: 65535,
				Properties: mochi.Properties{PayloadFormat: 1, PayloadFormatFlag: true, MessageExpiryInterval: 3600,
					ContentType: "text/plain", ResponseTopic: "reply/to", CorrelationData: []byte{1, 2, 3},
					TopicAlias: 3, TopicAliasFlag: true,
					User: []mochi.UserProperty{{Key: "a", Val: "1"}, {Key: "a", Val: "2"}}},
				Payload: []byte("hello")}),
		},
		{
			name: "PUBLISH/v5/subscription-id-and-topic-alias", v: packet.V5,
			ours: &packet.Publish{Topic: "x", QoS: packet.QoS1, PacketID: 9,
				Props: property.Properties{SubscriptionIDs: []uint32{7}, TopicAlias: 2}, Payload: []byte("p")},
			paho: withPaho(&paho.Publish{Topic: "x", QoS: 1, PacketID: 9,
				Properties: &paho.Properties{SubscriptionIdentifier: ptr(7), TopicAlias: ptr[uint16](2)}, Payload: []byte("p")}).
				differ(pahoSubIDAfterTA),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 1}, ProtocolVersion: 5,
				TopicName: "x", PacketID: 9, Properties: mochi.Properties{SubscriptionIdentifier: []int{7}, TopicAlias: 2, TopicAliasFlag: true},
				Payload: []byte("p")}),
		},
		{
			// paho.golang holds one Subscription Identifier only.
			name: "PUBLISH/v5/several-subscription-ids", v: packet.V5,
			ours: &packet.Publish{Topic: "x", Props: property.Properties{SubscriptionIDs: []uint32{1, 268_435_455}}},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish}, ProtocolVersion: 5,
				TopicName: "x", Properties: mochi.Properties{SubscriptionIdentifier: []int{1, 268_435_455}}}),
		},
		{
			name: "PUBLISH/v5/topic-alias-without-topic", v: packet.V5,
			ours: &packet.Publish{Props: property.Properties{TopicAlias: 4}, Payload: []byte("x")},
			paho: withPaho(&paho.Publish{Properties: &paho.Properties{TopicAlias: ptr[uint16](4)}, Payload: []byte("x")}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish}, ProtocolVersion: 5,
				Properties: mochi.Properties{TopicAlias: 4, TopicAliasFlag: true}, Payload: []byte("x")}),
		},
		{
			name: "PUBLISH/v5/qos1-empty-payload", v: packet.V5,
			ours: &packet.Publish{Topic: "t", QoS: packet.QoS1, PacketID: 1},
			paho: withPaho(&paho.Publish{Topic: "t", QoS: 1, PacketID: 1}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 1}, ProtocolVersion: 5,
				TopicName: "t", PacketID: 1}),
		},
		{
			name: "PUBLISH/v5/20000-byte-payload", v: packet.V5,
			ours: &packet.Publish{Topic: "bulk", QoS: packet.QoS1, PacketID: 300, Payload: big},
			paho: withPaho(&paho.Publish{Topic: "bulk", QoS: 1, PacketID: 300, Payload: big}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 1}, ProtocolVersion: 5,
				TopicName: "bulk", PacketID: 300, Payload: big}),
		},
		{
			name: "PUBLISH/v5/2100000-byte-payload", v: packet.V5,
			ours: &packet.Publish{Topic: "bulk", QoS: packet.QoS2, PacketID: 301, Payload: huge},
			paho: withPaho(&paho.Publish{Topic: "bulk", QoS: 2, PacketID: 301, Payload: huge}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 2}, ProtocolVersion: 5,
				TopicName: "bulk", PacketID: 301, Payload: huge}),
		},
		{
			name: "PUBLISH/v5/payload-format-zero-user-empty-strings", v: packet.V5,
			ours: &packet.Publish{Topic: "z", Props: property.Properties{Zero: property.NewSet(property.PayloadFormatIndicator),
				User: []property.User{{}}}, Payload: []byte{0}},
			paho: withPaho(&paho.Publish{Topic: "z", Properties: &paho.Properties{PayloadFormat: ptr[byte](0),
				User: []paho.User{{}}}, Payload: []byte{0}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish}, ProtocolVersion: 5,
				TopicName: "z", Properties: mochi.Properties{PayloadFormatFlag: true, User: []mochi.UserProperty{{}}},
				Payload: []byte{0}}),
		},
		{
			// mochi writes Message Expiry Interval only when it is non-zero.
			name: "PUBLISH/v5/message-expiry-zero", v: packet.V5,
			ours: &packet.Publish{Topic: "z", Props: property.Properties{Zero: property.NewSet(property.MessageExpiryInterval)}},
			paho: withPaho(&paho.Publish{Topic: "z", Properties: &paho.Properties{MessageExpiry: ptr[uint32](0)}}),
		},
		{
			name: "PUBLISH/v3.1.1/qos0", v: packet.V311,
			ours: &packet.Publish{Topic: "sensors/room1/temperature", Payload: payload},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish}, ProtocolVersion: 4,
				TopicName: "sensors/room1/temperature", Payload: payload}),
		},
		{
			name: "PUBLISH/v3.1.1/qos1-retain", v: packet.V311,
			ours: &packet.Publish{Topic: "a", QoS: packet.QoS1, Retain: true, PacketID: 2, Payload: []byte("r")},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 1, Retain: true},
				ProtocolVersion: 4, TopicName: "a", PacketID: 2, Payload: []byte("r")}),
		},
		{
			name: "PUBLISH/v3.1.1/qos2-dup-utf8-topic", v: packet.V311,
			ours: &packet.Publish{Topic: "häuser/küche/°C", QoS: packet.QoS2, Dup: true, PacketID: 513, Payload: big},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 2, Dup: true},
				ProtocolVersion: 4, TopicName: "häuser/küche/°C", PacketID: 513, Payload: big}),
		},
	}
}

// ackCases builds the PUBACK, PUBREC, PUBREL and PUBCOMP cases, which share
// their shape.
func ackCases() []interopCase {
	type variant struct {
		name      string
		reason    packet.ReasonCode
		props     bool // a Reason String and a User Property
		pahoLong  bool // paho writes more than the shortest form
		mochiLoss bool // mochi's encoder drops the reason code
	}
	var cs []interopCase
	for _, k := range []struct {
		t     packet.Type
		name  string
		fail  packet.ReasonCode // an error reason the packet may carry
		other packet.ReasonCode // a non-error, non-zero reason, if the packet has one
	}{
		{packet.TypePuback, "PUBACK", packet.NotAuthorized, packet.NoMatchingSubscribers},
		{packet.TypePubrec, "PUBREC", packet.QuotaExceeded, packet.NoMatchingSubscribers},
		{packet.TypePubrel, "PUBREL", packet.PacketIdentifierNotFound, 0},
		{packet.TypePubcomp, "PUBCOMP", packet.PacketIdentifierNotFound, 0},
	} {
		variants := []variant{
			{name: "success", pahoLong: true},
			{name: "error-reason", reason: k.fail, pahoLong: k.t == packet.TypePuback},
			{name: "error-reason-properties", reason: k.fail, props: true},
			{name: "success-properties", props: true},
		}
		if k.other != 0 {
			variants = append(variants, variant{name: "no-matching-subscribers", reason: k.other,
				pahoLong: k.t == packet.TypePuback, mochiLoss: true})
		}
		for _, vr := range variants {
			var ours property.Properties
			var pp *paho.Properties
			var mp mochi.Properties
			if vr.props {
				ours = property.Properties{ReasonString: "why", User: []property.User{{Key: "k", Value: "v"}}}
				pp = &paho.Properties{ReasonString: "why", User: []paho.User{{Key: "k", Value: "v"}}}
				mp = mochi.Properties{ReasonString: "why", User: []mochi.UserProperty{{Key: "k", Val: "v"}}}
			}
			c := interopCase{name: k.name + "/v5/" + vr.name, v: packet.V5,
				ours:  ourAck(k.t, 42, vr.reason, ours),
				paho:  withPaho(pahoAck(k.t, 42, byte(vr.reason), pp)),
				mochi: withMochi(mochiAck(k.t, 5, 42, byte(vr.reason), mp)),
			}
			if vr.pahoLong {
				if k.t == packet.TypePuback {
					c.paho.differ(pahoPubackLong)
				} else {
					c.paho.differ(pahoAckReasonLong)
				}
			}
			if vr.mochiLoss {
				c.mochi.badEncode(mochiAck0x10)
			}
			cs = append(cs, c)
		}
		cs = append(cs, interopCase{name: k.name + "/v3.1.1", v: packet.V311,
			ours:  ourAck(k.t, 7, 0, property.Properties{}),
			mochi: withMochi(mochiAck(k.t, 4, 7, 0, mochi.Properties{})),
		})
	}
	return cs
}

func ourAck(t packet.Type, id uint16, r packet.ReasonCode, p property.Properties) packet.Packet {
	switch t {
	case packet.TypePuback:
		return &packet.Puback{PacketID: id, Reason: r, Props: p}
	case packet.TypePubrec:
		return &packet.Pubrec{PacketID: id, Reason: r, Props: p}
	case packet.TypePubrel:
		return &packet.Pubrel{PacketID: id, Reason: r, Props: p}
	}
	return &packet.Pubcomp{PacketID: id, Reason: r, Props: p}
}

func pahoAck(t packet.Type, id uint16, r byte, p *paho.Properties) paho.Packet {
	switch t {
	case packet.TypePuback:
		return &paho.Puback{PacketID: id, ReasonCode: r, Properties: p}
	case packet.TypePubrec:
		return &paho.Pubrec{PacketID: id, ReasonCode: r, Properties: p}
	case packet.TypePubrel:
		return &paho.Pubrel{PacketID: id, ReasonCode: r, Properties: p}
	}
	return &paho.Pubcomp{PacketID: id, ReasonCode: r, Properties: p}
}

func mochiAck(t packet.Type, v byte, id uint16, r byte, p mochi.Properties) *mochi.Packet {
	fh := mochi.FixedHeader{Type: byte(t)}
	if t == packet.TypePubrel {
		fh.Qos = 1 // mochi writes the required flags 0b0010 of PUBREL from its QoS field
	}
	return &mochi.Packet{FixedHeader: fh, ProtocolVersion: v, PacketID: id, ReasonCode: r, Properties: p}
}

func subscribeCases() []interopCase {
	subs := []packet.Subscription{
		{Filter: "sensors/+/temperature", QoS: packet.QoS1},
		{Filter: "alerts/#", QoS: packet.QoS2, NoLocal: true, RetainAsPublished: true, RetainHandling: 1},
		{Filter: "$share/workers/jobs/+", QoS: packet.QoS0, RetainHandling: 2},
	}
	pahoSubs := []paho.SubOptions{
		{Topic: "sensors/+/temperature", QoS: 1},
		{Topic: "alerts/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 1},
		{Topic: "$share/workers/jobs/+", QoS: 0, RetainHandling: 2},
	}
	mochiSubs := mochi.Subscriptions{
		{Filter: "sensors/+/temperature", Qos: 1},
		{Filter: "alerts/#", Qos: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 1},
		{Filter: "$share/workers/jobs/+", Qos: 0, RetainHandling: 2},
	}
	subscribe := mochi.FixedHeader{Type: mochi.Subscribe, Qos: 1} // mochi writes flags 0b0010 from Qos
	unsubscribe := mochi.FixedHeader{Type: mochi.Unsubscribe, Qos: 1}
	return []interopCase{
		{
			name: "SUBSCRIBE/v5/options-subscription-id-user", v: packet.V5,
			ours: &packet.Subscribe{PacketID: 10, Subscriptions: subs,
				Props: property.Properties{SubscriptionIDs: []uint32{5}, User: []property.User{{Key: "k", Value: "v"}}}},
			paho: withPaho(&paho.Subscribe{PacketID: 10, Subscriptions: pahoSubs,
				Properties: &paho.Properties{SubscriptionIdentifier: ptr(5), User: []paho.User{{Key: "k", Value: "v"}}}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: subscribe, ProtocolVersion: 5, PacketID: 10, Filters: mochiSubs,
				Properties: mochi.Properties{SubscriptionIdentifier: []int{5}, User: []mochi.UserProperty{{Key: "k", Val: "v"}}}}),
		},
		{
			name: "SUBSCRIBE/v5/one-filter-no-properties", v: packet.V5,
			ours:  &packet.Subscribe{PacketID: 1, Subscriptions: subs[:1]},
			paho:  withPaho(&paho.Subscribe{PacketID: 1, Subscriptions: pahoSubs[:1]}),
			mochi: withMochi(&mochi.Packet{FixedHeader: subscribe, ProtocolVersion: 5, PacketID: 1, Filters: mochiSubs[:1]}),
		},
		{
			name: "SUBSCRIBE/v3.1.1/three-filters", v: packet.V311,
			ours: &packet.Subscribe{PacketID: 11, Subscriptions: []packet.Subscription{
				{Filter: "a/b"}, {Filter: "c/#", QoS: packet.QoS1}, {Filter: "+/d", QoS: packet.QoS2}}},
			mochi: withMochi(&mochi.Packet{FixedHeader: subscribe, ProtocolVersion: 4, PacketID: 11, Filters: mochi.Subscriptions{
				{Filter: "a/b"}, {Filter: "c/#", Qos: 1}, {Filter: "+/d", Qos: 2}}}),
		},
		{
			name: "SUBACK/v5/reasons-properties", v: packet.V5,
			ours: &packet.Suback{PacketID: 10, Reasons: []packet.ReasonCode{packet.GrantedQoS1, packet.GrantedQoS2,
				packet.NotAuthorized, packet.SharedSubscriptionsNotSupported},
				Props: property.Properties{ReasonString: "partial", User: []property.User{{Key: "k", Value: "v"}}}},
			paho: withPaho(&paho.Suback{PacketID: 10, Reasons: []byte{1, 2, 0x87, 0x9E},
				Properties: &paho.Properties{ReasonString: "partial", User: []paho.User{{Key: "k", Value: "v"}}}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Suback}, ProtocolVersion: 5, PacketID: 10,
				ReasonCodes: []byte{1, 2, 0x87, 0x9E},
				Properties:  mochi.Properties{ReasonString: "partial", User: []mochi.UserProperty{{Key: "k", Val: "v"}}}}),
		},
		{
			name: "SUBACK/v5/no-properties", v: packet.V5,
			ours: &packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{packet.GrantedQoS0}},
			paho: withPaho(&paho.Suback{PacketID: 1, Reasons: []byte{0}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Suback}, ProtocolVersion: 5, PacketID: 1,
				ReasonCodes: []byte{0}}),
		},
		{
			name: "SUBACK/v3.1.1/return-codes", v: packet.V311,
			ours: &packet.Suback{PacketID: 11, Reasons: []packet.ReasonCode{0, 1, 2, packet.SubscribeFailure}},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Suback}, ProtocolVersion: 4, PacketID: 11,
				ReasonCodes: []byte{0, 1, 2, 0x80}}),
		},
		{
			name: "UNSUBSCRIBE/v5/user-property", v: packet.V5,
			ours: &packet.Unsubscribe{PacketID: 12, Filters: []string{"sensors/+/temperature", "alerts/#"},
				Props: property.Properties{User: []property.User{{Key: "why", Value: "cleanup"}}}},
			paho: withPaho(&paho.Unsubscribe{PacketID: 12, Topics: []string{"sensors/+/temperature", "alerts/#"},
				Properties: &paho.Properties{User: []paho.User{{Key: "why", Value: "cleanup"}}}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: unsubscribe, ProtocolVersion: 5, PacketID: 12,
				Filters:    mochi.Subscriptions{{Filter: "sensors/+/temperature"}, {Filter: "alerts/#"}},
				Properties: mochi.Properties{User: []mochi.UserProperty{{Key: "why", Val: "cleanup"}}}}),
		},
		{
			name: "UNSUBSCRIBE/v5/no-properties", v: packet.V5,
			ours: &packet.Unsubscribe{PacketID: 13, Filters: []string{"a"}},
			paho: withPaho(&paho.Unsubscribe{PacketID: 13, Topics: []string{"a"}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: unsubscribe, ProtocolVersion: 5, PacketID: 13,
				Filters: mochi.Subscriptions{{Filter: "a"}}}),
		},
		{
			name: "UNSUBSCRIBE/v3.1.1/two-filters", v: packet.V311,
			ours: &packet.Unsubscribe{PacketID: 14, Filters: []string{"a/+", "b/#"}},
			mochi: withMochi(&mochi.Packet{FixedHeader: unsubscribe, ProtocolVersion: 4, PacketID: 14,
				Filters: mochi.Subscriptions{{Filter: "a/+"}, {Filter: "b/#"}}}),
		},
		{
			name: "UNSUBACK/v5/reasons-reason-string", v: packet.V5,
			ours: &packet.Unsuback{PacketID: 12, Reasons: []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted},
				Props: property.Properties{ReasonString: "one was not there"}},
			paho: withPaho(&paho.Unsuback{PacketID: 12, Reasons: []byte{0, 0x11},
				Properties: &paho.Properties{ReasonString: "one was not there"}}),
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Unsuback}, ProtocolVersion: 5, PacketID: 12,
				ReasonCodes: []byte{0, 0x11}, Properties: mochi.Properties{ReasonString: "one was not there"}}),
		},
		{
			name: "UNSUBACK/v3.1.1", v: packet.V311,
			ours:  &packet.Unsuback{PacketID: 14},
			mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Unsuback}, ProtocolVersion: 4, PacketID: 14}),
		},
	}
}

// controlCases: PINGREQ, PINGRESP, DISCONNECT and AUTH.
func controlCases() []interopCase {
	mochiDisc := func(v byte, r byte, p mochi.Properties) *mochi.Packet {
		return &mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Disconnect}, ProtocolVersion: v, ReasonCode: r, Properties: p}
	}
	mochiAuth := func(r byte, p mochi.Properties) *mochi.Packet {
		return &mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Auth}, ProtocolVersion: 5, ReasonCode: r, Properties: p}
	}
	cs := []interopCase{
		{
			name: "DISCONNECT/v5/normal-no-properties", v: packet.V5,
			ours:  &packet.Disconnect{},
			paho:  withPaho(&paho.Disconnect{}).differ(reasonOnlyLong).badDecode(pahoDisconnect0),
			mochi: withMochi(mochiDisc(5, 0, mochi.Properties{})).differ(reasonOnlyLong),
		},
		{
			name: "DISCONNECT/v5/reason-only", v: packet.V5,
			ours:  &packet.Disconnect{Reason: packet.DisconnectWithWillMessage},
			paho:  withPaho(&paho.Disconnect{ReasonCode: 0x04}).differ(reasonOnlyLong),
			mochi: withMochi(mochiDisc(5, 0x04, mochi.Properties{})).differ(reasonOnlyLong).badDecode(mochiDisconnect1),
		},
		{
			name: "DISCONNECT/v5/session-expiry-zero", v: packet.V5,
			ours:  &packet.Disconnect{Props: property.Properties{Zero: property.NewSet(property.SessionExpiryInterval)}},
			paho:  withPaho(&paho.Disconnect{Properties: &paho.Properties{SessionExpiryInterval: ptr[uint32](0)}}),
			mochi: withMochi(mochiDisc(5, 0, mochi.Properties{SessionExpiryIntervalFlag: true})),
		},
		{
			name: "DISCONNECT/v5/use-another-server-properties", v: packet.V5,
			ours: &packet.Disconnect{Reason: packet.UseAnotherServer, Props: property.Properties{ServerReference: "other:1883",
				ReasonString: "draining", User: []property.User{{Key: "k", Value: "v"}}}},
			paho: withPaho(&paho.Disconnect{ReasonCode: 0x9C, Properties: &paho.Properties{ServerReference: "other:1883",
				ReasonString: "draining", User: []paho.User{{Key: "k", Value: "v"}}}}),
			mochi: withMochi(mochiDisc(5, 0x9C, mochi.Properties{ServerReference: "other:1883", ReasonString: "draining",
				User: []mochi.UserProperty{{Key: "k", Val: "v"}}})),
		},
		{
			name: "DISCONNECT/v3.1.1", v: packet.V311,
			ours:  &packet.Disconnect{},
			mochi: withMochi(mochiDisc(4, 0, mochi.Properties{})),
		},
		{
			name: "AUTH/v5/continue-method-data", v: packet.V5,
			ours: &packet.Auth{Reason: packet.ContinueAuthentication,
				Props: property.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("r=nonce,s=salt,i=4096")}},
			paho: withPaho(&paho.Auth{ReasonCode: 0x18,
				Properties: &paho.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("r=nonce,s=salt,i=4096")}}),
			mochi: withMochi(mochiAuth(0x18, mochi.Properties{AuthenticationMethod: "SCRAM-SHA-1",
				AuthenticationData: []byte("r=nonce,s=salt,i=4096")})),
		},
		{
			name: "AUTH/v5/reauthenticate-reason-string-user", v: packet.V5,
			ours: &packet.Auth{Reason: packet.ReAuthenticate, Props: property.Properties{AuthMethod: "TOKEN",
				ReasonString: "token refresh", User: []property.User{{Key: "k", Value: "v"}}}},
			paho: withPaho(&paho.Auth{ReasonCode: 0x19, Properties: &paho.Properties{AuthMethod: "TOKEN",
				ReasonString: "token refresh", User: []paho.User{{Key: "k", Value: "v"}}}}),
			mochi: withMochi(mochiAuth(0x19, mochi.Properties{AuthenticationMethod: "TOKEN", ReasonString: "token refresh",
				User: []mochi.UserProperty{{Key: "k", Val: "v"}}})),
		},
		{
			name: "AUTH/v5/success-no-properties", v: packet.V5,
			ours:  &packet.Auth{},
			paho:  withPaho(&paho.Auth{}).differ(reasonOnlyLong),
			mochi: withMochi(mochiAuth(0, mochi.Properties{})).differ(reasonOnlyLong).badDecode(mochiAuthShort),
		},
	}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		vn := map[packet.Version]string{packet.V5: "/v5", packet.V311: "/v3.1.1"}[v]
		c := []interopCase{
			{name: "PINGREQ" + vn, v: v, ours: &packet.Pingreq{},
				mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Pingreq}, ProtocolVersion: byte(v)})},
			{name: "PINGRESP" + vn, v: v, ours: &packet.Pingresp{},
				mochi: withMochi(&mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Pingresp}, ProtocolVersion: byte(v)})},
		}
		if v == packet.V5 {
			c[0].paho, c[1].paho = withPaho(&paho.Pingreq{}), withPaho(&paho.Pingresp{})
		}
		cs = append(cs, c...)
	}
	return cs
}
