package interop

import (
	"bytes"
	"errors"
	"testing"

	paho "github.com/eclipse/paho.golang/packets"
	"github.com/google/go-cmp/cmp"
	mochi "github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Benchmarks of the three codecs on the same packets, in one invocation so
// that the ratios hold on a noisy machine:
//
//	go test -run '^$' -bench . -benchmem
//
// Each codec is driven through its fastest public API as its users drive
// it, reusing what the API lets a caller reuse:
//
//   - mqttcore: Frame, then Decode into one reused packet value; AppendTo
//     into a reused buf[:0].
//   - paho: ReadPacket from a reused bytes.Reader (it has no decoder from a
//     byte slice and allocates a packet per call); WriteTo into a reused
//     bytes.Buffer.
//   - mochi: as its broker reads a packet: FixedHeader.Decode, DecodeLength
//     from a reused bytes.Reader, then the type's decoder on the body into a
//     packet value reset per call (its decoders append to slices, so a value
//     cannot be reused unreset); the type's encoder into a reused
//     bytes.Buffer.
//
// Every benchmark checks in its setup that its codec produces or reads the
// expected packet, so a broken benchmark fails instead of measuring nothing.

var (
	benchTopic   = "sensors/room1/temperature"
	benchPayload = bytes.Repeat([]byte("0123456789abcdef"), 4) // 64 bytes
	benchUsers   = []property.User{{Key: "region", Value: "eu-west-1"}, {Key: "app", Value: "telemetry"}}
)

var errNeedMore = errors.New("incomplete packet")

// The benchmark packets, as each codec builds them.

func benchPublishV5() *packet.Publish {
	return &packet.Publish{Topic: benchTopic, QoS: packet.QoS1, PacketID: 42,
		Props: property.Properties{MessageExpiry: 60, ContentType: "json"}, Payload: benchPayload}
}

func benchPublishV5Paho() *paho.Publish {
	return &paho.Publish{Topic: benchTopic, QoS: 1, PacketID: 42,
		Properties: &paho.Properties{MessageExpiry: ptr[uint32](60), ContentType: "json"}, Payload: benchPayload}
}

func benchPublishV5Mochi() *mochi.Packet {
	return &mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 1}, ProtocolVersion: 5,
		TopicName: benchTopic, PacketID: 42, Properties: mochi.Properties{MessageExpiryInterval: 60, ContentType: "json"},
		Payload: benchPayload}
}

func benchPublishV311() *packet.Publish {
	return &packet.Publish{Topic: benchTopic, Payload: benchPayload}
}

func benchPublishV311Mochi() *mochi.Packet {
	return &mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish}, ProtocolVersion: 4,
		TopicName: benchTopic, Payload: benchPayload}
}

func benchConnect() *packet.Connect {
	return &packet.Connect{Version: packet.V5, CleanStart: true, KeepAlive: 60, ClientID: "bench-client-0001",
		Will:     packet.Will{Topic: "clients/bench-client-0001/status", QoS: packet.QoS1, Retain: true, Payload: []byte("offline")},
		Username: "user", Password: []byte("secret"), Props: property.Properties{User: benchUsers}}
}

func benchConnectPaho() *paho.Connect {
	return &paho.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, KeepAlive: 60, ClientID: "bench-client-0001",
		WillFlag: true, WillTopic: "clients/bench-client-0001/status", WillQOS: 1, WillRetain: true, WillMessage: []byte("offline"),
		UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("secret"),
		Properties: &paho.Properties{User: []paho.User{{Key: "region", Value: "eu-west-1"}, {Key: "app", Value: "telemetry"}}}}
}

func benchConnectMochi() *mochi.Packet {
	return &mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: 5,
		Properties: mochi.Properties{User: []mochi.UserProperty{{Key: "region", Val: "eu-west-1"}, {Key: "app", Val: "telemetry"}}},
		Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: "bench-client-0001",
			WillFlag: true, WillTopic: "clients/bench-client-0001/status", WillQos: 1, WillRetain: true, WillPayload: []byte("offline"),
			UsernameFlag: true, Username: []byte("user"), PasswordFlag: true, Password: []byte("secret")}}
}

func benchSubscribe() *packet.Subscribe {
	return &packet.Subscribe{PacketID: 7, Subscriptions: []packet.Subscription{
		{Filter: "sensors/+/temperature", QoS: packet.QoS1},
		{Filter: "alerts/#", QoS: packet.QoS2, NoLocal: true, RetainAsPublished: true},
		{Filter: "config/device-42", QoS: packet.QoS0, RetainHandling: 2},
	}}
}

func benchSubscribePaho() *paho.Subscribe {
	return &paho.Subscribe{PacketID: 7, Properties: &paho.Properties{}, Subscriptions: []paho.SubOptions{
		{Topic: "sensors/+/temperature", QoS: 1},
		{Topic: "alerts/#", QoS: 2, NoLocal: true, RetainAsPublished: true},
		{Topic: "config/device-42", QoS: 0, RetainHandling: 2},
	}}
}

func benchSubscribeMochi() *mochi.Packet {
	return &mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 7,
		Filters: mochi.Subscriptions{
			{Filter: "sensors/+/temperature", Qos: 1},
			{Filter: "alerts/#", Qos: 2, NoLocal: true, RetainAsPublished: true},
			{Filter: "config/device-42", Qos: 0, RetainHandling: 2},
		}}
}

// mustEncode encodes p with our codec for the benchmarks' input bytes.
func mustEncode(b *testing.B, p packet.Packet, v packet.Version) []byte {
	b.Helper()
	wire, err := p.AppendTo(nil, v)
	if err != nil {
		b.Fatal(err)
	}
	return wire
}

// check fails the benchmark unless got (translated to our packet) is want.
func check(b *testing.B, who string, want, got packet.Packet) {
	b.Helper()
	if d := cmp.Diff(want, got, eq); d != "" {
		b.Fatalf("%s decoded something else (-want +got):\n%s", who, d)
	}
}

// checkWire fails the benchmark unless wire decodes with ours to want.
func checkWire(b *testing.B, who string, v packet.Version, want packet.Packet, wire []byte) {
	b.Helper()
	got, err := decodeOurs(v, wire)
	if err != nil {
		b.Fatalf("%s encoded bytes we cannot decode: %v\n% x", who, err, wire)
	}
	check(b, who, want, got)
}

// oursFrame splits the packet at the front of wire as a caller of Frame does.
func oursFrame(wire []byte) (flags byte, body []byte, err error) {
	h, need, err := packet.Frame(wire, 0)
	if err != nil {
		return 0, nil, err
	}
	if need > 0 {
		return 0, nil, errNeedMore
	}
	return h.Flags, wire[h.Len:h.Size()], nil
}

// mochiFrame reads the fixed header into a fresh pk as mochi's broker does
// (Client.ReadFixedHeader, Client.ReadPacket) and returns the body.
func mochiFrame(pk *mochi.Packet, r *bytes.Reader, v byte, wire []byte) ([]byte, error) {
	*pk = mochi.Packet{ProtocolVersion: v}
	if err := pk.FixedHeader.Decode(wire[0]); err != nil {
		return nil, err
	}
	r.Reset(wire[1:])
	n, bu, err := mochi.DecodeLength(r)
	if err != nil {
		return nil, err
	}
	pk.FixedHeader.Remaining = n
	return wire[1+bu : 1+bu+n], nil
}

// benchDecode runs the three decode sub-benchmarks of one packet. ours
// decodes into a reused value of our type; mochiDecode calls the mochi
// decoder for the type.
func benchDecode[T any, PT interface {
	*T
	packet.Packet
}](b *testing.B, v packet.Version, want packet.Packet, mochiDecode func(*mochi.Packet, []byte) error) {
	wire := mustEncode(b, want, v)

	b.Run("mqttcore", func(b *testing.B) {
		p := PT(new(T))
		flags, body, err := oursFrame(wire)
		if err == nil {
			err = p.Decode(v, flags, body)
		}
		if err != nil {
			b.Fatal(err)
		}
		check(b, "mqttcore", want, p)
		b.ReportAllocs()
		b.SetBytes(int64(len(wire)))
		for b.Loop() {
			flags, body, err := oursFrame(wire)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Decode(v, flags, body); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("paho", func(b *testing.B) {
		if v != packet.V5 {
			b.Skip("paho.golang packets speaks MQTT v5 only")
		}
		r := bytes.NewReader(wire)
		cp, err := paho.ReadPacket(r)
		if err != nil {
			b.Fatal(err)
		}
		check(b, "paho", want, fromPaho(cp.Content))
		b.ReportAllocs()
		b.SetBytes(int64(len(wire)))
		for b.Loop() {
			r.Reset(wire)
			if _, err := paho.ReadPacket(r); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("mochi", func(b *testing.B) {
		var pk mochi.Packet
		r := bytes.NewReader(nil)
		body, err := mochiFrame(&pk, r, byte(v), wire)
		if err == nil {
			err = mochiDecode(&pk, body)
		}
		if err != nil {
			b.Fatal(err)
		}
		check(b, "mochi", want, fromMochi(&pk))
		b.ReportAllocs()
		b.SetBytes(int64(len(wire)))
		for b.Loop() {
			body, err := mochiFrame(&pk, r, byte(v), wire)
			if err != nil {
				b.Fatal(err)
			}
			if err := mochiDecode(&pk, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchEncode runs the three encode sub-benchmarks of one packet. pp is nil
// when paho cannot encode the packet; mochiEncode calls the mochi encoder
// for the type.
func benchEncode(b *testing.B, v packet.Version, ours packet.Packet, pp paho.Packet, mp *mochi.Packet,
	mochiEncode func(*mochi.Packet, *bytes.Buffer) error) {
	size := ours.Size(v)

	b.Run("mqttcore", func(b *testing.B) {
		buf := make([]byte, 0, size)
		buf, err := ours.AppendTo(buf[:0], v)
		if err != nil {
			b.Fatal(err)
		}
		checkWire(b, "mqttcore", v, ours, buf)
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			if buf, err = ours.AppendTo(buf[:0], v); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("paho", func(b *testing.B) {
		if pp == nil {
			b.Skip("paho.golang packets speaks MQTT v5 only")
		}
		var buf bytes.Buffer
		if _, err := pp.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
		checkWire(b, "paho", v, ours, buf.Bytes())
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			buf.Reset()
			if _, err := pp.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("mochi", func(b *testing.B) {
		var buf bytes.Buffer
		if err := mochiEncode(mp, &buf); err != nil {
			b.Fatal(err)
		}
		checkWire(b, "mochi", v, ours, buf.Bytes())
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			buf.Reset()
			if err := mochiEncode(mp, &buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func mochiPublishDecode(pk *mochi.Packet, body []byte) error   { return pk.PublishDecode(body) }
func mochiConnectDecode(pk *mochi.Packet, body []byte) error   { return pk.ConnectDecode(body) }
func mochiSubscribeDecode(pk *mochi.Packet, body []byte) error { return pk.SubscribeDecode(body) }

func mochiPublishEncode(pk *mochi.Packet, buf *bytes.Buffer) error   { return pk.PublishEncode(buf) }
func mochiConnectEncode(pk *mochi.Packet, buf *bytes.Buffer) error   { return pk.ConnectEncode(buf) }
func mochiSubscribeEncode(pk *mochi.Packet, buf *bytes.Buffer) error { return pk.SubscribeEncode(buf) }

func BenchmarkDecodePublishV5(b *testing.B) {
	benchDecode[packet.Publish](b, packet.V5, benchPublishV5(), mochiPublishDecode)
}

func BenchmarkEncodePublishV5(b *testing.B) {
	benchEncode(b, packet.V5, benchPublishV5(), benchPublishV5Paho(), benchPublishV5Mochi(), mochiPublishEncode)
}

func BenchmarkDecodePublishV311(b *testing.B) {
	benchDecode[packet.Publish](b, packet.V311, benchPublishV311(), mochiPublishDecode)
}

func BenchmarkEncodePublishV311(b *testing.B) {
	benchEncode(b, packet.V311, benchPublishV311(), nil, benchPublishV311Mochi(), mochiPublishEncode)
}

func BenchmarkDecodeConnectV5(b *testing.B) {
	benchDecode[packet.Connect](b, packet.V5, benchConnect(), mochiConnectDecode)
}

func BenchmarkEncodeConnectV5(b *testing.B) {
	benchEncode(b, packet.V5, benchConnect(), benchConnectPaho(), benchConnectMochi(), mochiConnectEncode)
}

func BenchmarkDecodeSubscribeV5(b *testing.B) {
	benchDecode[packet.Subscribe](b, packet.V5, benchSubscribe(), mochiSubscribeDecode)
}

func BenchmarkEncodeSubscribeV5(b *testing.B) {
	benchEncode(b, packet.V5, benchSubscribe(), benchSubscribePaho(), benchSubscribeMochi(), mochiSubscribeEncode)
}
