package packet

import (
	"testing"

	"github.com/mqttcore/mqtt/property"
)

func benchPublish() *Publish {
	return &Publish{Topic: "sensors/room1/temperature", QoS: QoS1, PacketID: 42,
		Props:   property.Properties{MessageExpiry: 60, ContentType: "json"},
		Payload: make([]byte, 64)}
}

func BenchmarkPublishEncodeV5(b *testing.B) {
	p := benchPublish()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = p.AppendTo(buf[:0], V5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishDecodeV5(b *testing.B) {
	wire, _ := benchPublish().AppendTo(nil, V5)
	d := Decoder[uint16]{Version: V5}
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if _, _, err := d.Decode(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishDecodeV311(b *testing.B) {
	p := benchPublish()
	p.QoS, p.PacketID, p.Props = 0, 0, property.Properties{}
	wire, _ := p.AppendTo(nil, V311)
	d := Decoder[uint16]{Version: V311}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := d.Decode(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishEncodeV311(b *testing.B) {
	p := benchPublish()
	p.QoS, p.PacketID, p.Props = 0, 0, property.Properties{}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = p.AppendTo(buf[:0], V311); err != nil {
			b.Fatal(err)
		}
	}
}

// benchFilters are the filters of a typical SUBSCRIBE: exact, wildcards,
// and a v5 shared subscription.
var benchFilters = []string{"sensors/room1/temperature", "sensors/+/humidity", "alerts/#", "$share/workers/jobs/+"}

func BenchmarkValidTopicFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range benchFilters {
			if err := ValidTopicFilter(f, V5); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkSubscribeDecodeV5(b *testing.B) {
	s := &Subscribe{PacketID: 7}
	for _, f := range benchFilters {
		s.Subscriptions = append(s.Subscriptions, Subscription{Filter: f, QoS: QoS1})
	}
	wire, err := s.AppendTo(nil, V5)
	if err != nil {
		b.Fatal(err)
	}
	d := Decoder[uint16]{Version: V5}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := d.Decode(wire); err != nil {
			b.Fatal(err)
		}
	}
}
