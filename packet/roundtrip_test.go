package packet_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mqttcore/mqtt/mqtttest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

var versions = []packet.Version{packet.V311, packet.V5}

// exactBytes compares byte slices as cmp does, nil and empty apart, but in
// one call rather than element by element: payloads can be megabytes.
var exactBytes = cmp.Comparer(func(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
})

// TestRoundTrip checks, for every packet kind of both versions (14 in
// v3.1.1, 15 in v5), that a valid packet encodes to Size bytes, frames as
// one whole packet of its type, decodes to a packet equal to it, and
// encodes again to the same bytes.
func TestRoundTrip(t *testing.T) {
	for _, v := range versions {
		for _, pt := range mqtttest.Types(v) {
			t.Run(v.String()+"/"+pt.String(), func(t *testing.T) {
				rapid.Check(t, func(t *rapid.T) {
					checkRoundTrip[uint16](t, v, mqtttest.Of[uint16](mqtttest.Options{Version: v}, pt).Draw(t, "packet"))
				})
			})
		}
	}
}

// TestRoundTripID32 is TestRoundTrip for the packets that carry a packet
// identifier, with four-byte identifiers on the wire.
func TestRoundTripID32(t *testing.T) {
	for _, v := range versions {
		for pt := packet.TypePublish; pt <= packet.TypeUnsuback; pt++ { // the packets with an identifier
			t.Run(v.String()+"/"+pt.String(), func(t *testing.T) {
				rapid.Check(t, func(t *rapid.T) {
					checkRoundTrip[uint32](t, v, mqtttest.Of[uint32](mqtttest.Options{Version: v}, pt).Draw(t, "packet"))
				})
			})
		}
	}
}

// TestRoundTripConnectV31 round-trips the CONNECT of MQTT 3.1 ("MQIsdp",
// level 3), which shares the wire format of 3.1.1.
func TestRoundTripConnectV31(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkRoundTrip[uint16](t, packet.V31, mqtttest.Connect(mqtttest.Options{Version: packet.V31}).Draw(t, "packet"))
	})
}

// TestDecoderReuse decodes two packets of the same kind in turn with one
// Decoder, which reuses its packet values: nothing of the first may leak
// into the second.
func TestDecoderReuse(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				pt := rapid.SampledFrom(mqtttest.Types(v)).Draw(t, "type")
				d := packet.Decoder[uint16]{Version: v}
				for i := range 2 {
					p := mqtttest.Of[uint16](mqtttest.Options{Version: v}, pt).Draw(t, "packet")
					b, err := p.AppendTo(nil, v)
					if err != nil {
						t.Fatalf("encode %d: %v", i, err)
					}
					got, n, err := d.Decode(b)
					if err != nil || n != len(b) {
						t.Fatalf("decode %d: n = %d of %d, %v", i, n, len(b), err)
					}
					// Reused lists keep their capacity: empty, not nil.
					if diff := cmp.Diff(p, got, reusedLists, exactBytes); diff != "" {
						t.Fatalf("decode %d (-want +got):\n%s", i, diff)
					}
				}
			})
		})
	}
}

// reusedLists equates nil and empty lists, but not byte slices, where the
// codec tells nil (absent) from empty (present).
var reusedLists = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().Type() != reflect.TypeFor[[]byte]()
}, cmpopts.EquateEmpty())

// checkRoundTrip is the round-trip property for one packet.
func checkRoundTrip[ID packetid.ID](t *rapid.T, v packet.Version, p packet.Packet) {
	prefix := []byte{0xEE}
	b, err := p.AppendTo(prefix, v)
	if err != nil {
		t.Fatalf("encode %T: %v", p, err)
	}
	if !bytes.Equal(b[:1], prefix) {
		t.Fatalf("AppendTo changed dst's bytes")
	}
	b = b[1:]
	if size := p.Size(v); len(b) != size {
		t.Fatalf("encoding is %d bytes, Size says %d", len(b), size)
	}

	h, need, err := packet.Frame(b, 0)
	if err != nil || need != 0 || h.Size() != len(b) || h.Type != p.Type() {
		t.Fatalf("Frame = %+v, need %d, %v; want a whole %v of %d bytes", h, need, err, p.Type(), len(b))
	}
	if _, _, err := packet.Frame(b, len(b)); err != nil {
		t.Fatalf("Frame with max size %d: %v", len(b), err)
	}
	var tooLarge *packet.TooLargeError
	if _, _, err := packet.Frame(b, len(b)-1); !errors.As(err, &tooLarge) || tooLarge.Size != len(b) {
		t.Fatalf("Frame with max size %d: %v, want a TooLargeError", len(b)-1, err)
	}
	cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
	if _, need, err := packet.Frame(b[:cut], 0); err != nil || need <= 0 || cut+need > len(b) {
		t.Fatalf("Frame of the first %d bytes: need %d, %v", cut, need, err)
	}

	got, n, err := packet.Decode[ID](v, b, 0)
	if err != nil || n != len(b) {
		t.Fatalf("decode: n = %d of %d, %v\n% x", n, len(b), err, head(b))
	}
	if diff := cmp.Diff(p, got, exactBytes); diff != "" {
		t.Fatalf("decoded packet differs (-want +got):\n%s", diff)
	}
	again, err := got.AppendTo(nil, v)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if !bytes.Equal(again, b) {
		t.Fatalf("re-encoding differs:\n% x\n% x", head(b), head(again))
	}
}

// head returns the start of b, for messages.
func head(b []byte) []byte { return b[:min(len(b), 256)] }

// TestDecodeEncodeStable checks that whatever decodes encodes without
// error to Size bytes, and that decoding that encoding gives the same packet
// and encoding it again the same bytes. The inputs are encodings of valid
// packets with a few bytes changed, and streams put together from pieces of
// packets (lengths, strings, property identifiers, flags).
func TestDecodeEncodeStable(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String()+"/mutated", func(t *testing.T) {
			decoded := 0
			rapid.Check(t, func(t *rapid.T) {
				p := mqtttest.Packet[uint16](mqtttest.Options{Version: v}).Draw(t, "packet")
				b, err := p.AppendTo(nil, v)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				if checkStable[uint16](t, v, mutate(t, b)) {
					decoded++
				}
			})
			if decoded == 0 {
				t.Errorf("no mutated packet decoded: the property was never exercised")
			}
		})
		t.Run(v.String()+"/pieces", func(t *testing.T) {
			decoded := 0
			rapid.Check(t, func(t *rapid.T) {
				stream := pieces(t)
				if rapid.IntRange(0, 3).Draw(t, "lead with a whole packet") == 0 {
					// Random pieces rarely make a packet that decodes; a
					// valid one in front keeps the property exercised in
					// every run, whatever the seed.
					p := mqtttest.Packet[uint16](mqtttest.Options{Version: v}).Draw(t, "packet")
					b, err := p.AppendTo(nil, v)
					if err != nil {
						t.Fatalf("encode: %v", err)
					}
					stream = append(b, stream...)
				}
				if checkStable[uint16](t, v, stream) {
					decoded++
				}
			})
			if decoded == 0 {
				t.Errorf("no stream decoded: the property was never exercised")
			}
		})
		t.Run(v.String()+"/pieces/uint32", func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) { checkStable[uint32](t, v, pieces(t)) })
		})
	}
}

// mutate changes a few bytes of the body of the packet b, and sometimes its
// flags or length, and writes a fixed header for the new body.
func mutate(t *rapid.T, b []byte) []byte {
	h, _, err := packet.Frame(b, 0)
	if err != nil {
		t.Fatalf("Frame: %v", err)
	}
	first := b[0]
	body := append([]byte(nil), b[h.Len:]...)
	for i, n := 0, rapid.IntRange(1, 4).Draw(t, "mutations"); i < n; i++ {
		switch rapid.IntRange(0, 5).Draw(t, "mutation") {
		case 0:
			first ^= 1 << rapid.IntRange(0, 3).Draw(t, "flag bit")
		case 1:
			body = body[:rapid.IntRange(0, len(body)).Draw(t, "truncate")]
		case 2:
			body = append(body, rapid.SliceOfN(rapid.Byte(), 1, 4).Draw(t, "append")...)
		default:
			if len(body) > 0 {
				j := rapid.IntRange(0, min(len(body)-1, 64)).Draw(t, "position")
				body[j] = rapid.OneOf(rapid.Byte(), rapid.SampledFrom([]byte{0, 1, 2, 0x7F, 0x80, 0xFF})).Draw(t, "byte")
			}
		}
	}
	return framed(first, body)
}

// framed returns a packet of the given first byte and body.
func framed(first byte, body []byte) []byte {
	b := []byte{first}
	n := len(body)
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(append(b, byte(n)), body...)
}

// pieces draws a packet made of pieces that often appear in packets.
func pieces(t *rapid.T) []byte {
	pt := rapid.ByteRange(1, 15).Draw(t, "type")
	flags := byte(0)
	switch packet.Type(pt) {
	case packet.TypePublish:
		flags = rapid.SampledFrom([]byte{0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13}).Draw(t, "flags")
	case packet.TypePubrel, packet.TypeSubscribe, packet.TypeUnsubscribe:
		flags = 2
	}
	chunks := []*rapid.Generator[[]byte]{
		rapid.SliceOfN(rapid.Byte(), 1, 3),
		rapid.SampledFrom([][]byte{
			{0}, {1}, {2}, {0, 1}, {0, 0}, {0x80}, {0x18}, {0x19}, {0x8F},
			{0, 4, 'M', 'Q', 'T', 'T'}, {0, 6, 'M', 'Q', 'I', 's', 'd', 'p'},
			{3}, {4}, {5}, {0xC2}, {0x0E}, {0x24},
			{0, 1, 'a'}, {0, 3, 'a', '/', 'b'}, {0, 1, '#'}, {0, 1, '+'}, {0, 2, 0xC3, 0xA9},
			{0, 9, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/'},
		}),
		rapid.Map(rapid.SampledFrom(propertyIDs()), func(id byte) []byte { return []byte{id} }),
	}
	var body []byte
	for i, n := 0, rapid.IntRange(0, 12).Draw(t, "pieces"); i < n; i++ {
		body = append(body, rapid.OneOf(chunks...).Draw(t, "piece")...)
	}
	return framed(pt<<4|flags, body)
}

func propertyIDs() []byte {
	var ids []byte
	for id := range 0x2B {
		ids = append(ids, byte(id))
	}
	return ids
}

// checkStable checks that b, if it decodes, encodes and decodes again to
// the same packet and bytes. Errors must map to a reason code. It reports
// whether b decoded.
func checkStable[ID packetid.ID](t *rapid.T, v packet.Version, b []byte) bool {
	p, n, err := packet.Decode[ID](v, b, 0)
	if err != nil {
		if _, ok := packet.ReasonOf(err); !ok {
			t.Fatalf("decode error %v maps to no reason code", err)
		}
		return false
	}
	if n == 0 {
		return false
	}
	ev := v
	if c, ok := p.(*packet.Connect); ok {
		ev = c.Version // a CONNECT names its version
	}
	e1, err := p.AppendTo(nil, ev)
	if err != nil {
		t.Fatalf("decoded %+v from\n% x\nbut encoding it fails: %v", p, head(b), err)
	}
	if len(e1) != p.Size(ev) {
		t.Fatalf("encoding is %d bytes, Size says %d", len(e1), p.Size(ev))
	}
	p2, n2, err := packet.Decode[ID](v, e1, 0)
	if err != nil || n2 != len(e1) {
		t.Fatalf("decoded from\n% x\nencoded as\n% x\nwhich does not decode: n = %d, %v", head(b), head(e1), n2, err)
	}
	if diff := cmp.Diff(p, p2, exactBytes); diff != "" {
		t.Fatalf("decode(encode(decode(b))) differs from decode(b) (-first +second):\n%s", diff)
	}
	e2, err := p2.AppendTo(nil, ev)
	if err != nil || !bytes.Equal(e1, e2) {
		t.Fatalf("second encoding differs: %v\n% x\n% x", err, head(e1), head(e2))
	}
	return true
}

// TestEncodeRefusesValuelessZero checks that a list or binary property
// marked present in Zero without a value is refused rather than encoded as
// nothing, which would not decode to the packet that was encoded.
func TestEncodeRefusesValuelessZero(t *testing.T) {
	cases := []struct {
		name string
		p    packet.Packet
	}{
		{"User Property", &packet.Puback{PacketID: 1, Props: property.Properties{Zero: property.NewSet(property.UserProperty)}}},
		{"Subscription Identifier", &packet.Publish{Topic: "a", Props: property.Properties{Zero: property.NewSet(property.SubscriptionIdentifier)}}},
		{"Correlation Data", &packet.Publish{Topic: "a", Props: property.Properties{Zero: property.NewSet(property.CorrelationData)}}},
		{"Authentication Data", &packet.Auth{Props: property.Properties{AuthMethod: "m", Zero: property.NewSet(property.AuthenticationData)}}},
	}
	for _, c := range cases {
		if b, err := c.p.AppendTo(nil, packet.V5); err == nil {
			t.Errorf("%s in Zero without a value: encoded as % x, want an error", c.name, b)
		}
	}
}
