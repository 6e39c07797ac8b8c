package packet_test

import (
	"errors"
	"fmt"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Encode a v5 PUBLISH into a reusable buffer and decode it again.
func Example() {
	p := &packet.Publish{
		Topic:    "sensors/room1/temperature",
		QoS:      packet.QoS1,
		PacketID: 42,
		Props:    property.Properties{MessageExpiry: 60, ContentType: "json"},
		Payload:  []byte(`{"c":21.5}`),
	}
	buf := make([]byte, 0, p.Size(packet.V5))
	buf, err := p.AppendTo(buf, packet.V5)
	if err != nil {
		panic(err)
	}

	d := packet.Decoder[uint16]{Version: packet.V5}
	pkt, n, err := d.Decode(buf)
	if err != nil {
		panic(err)
	}
	got := pkt.(*packet.Publish)
	fmt.Println(n == len(buf), got.Topic, got.PacketID, got.Props.MessageExpiry, string(got.Payload))
	// Output: true sensors/room1/temperature 42 60 {"c":21.5}
}

// Frame tells whether a stream holds a whole packet, and how much is missing.
func ExampleFrame() {
	stream := []byte{0x30, 0x07, 0x00, 0x03, 'a', '/', 'b'} // a QoS 0 PUBLISH, cut short
	h, need, err := packet.Frame(stream, 1024)
	fmt.Println(h.Type, h.Size(), need, err)
	// Output: PUBLISH 9 2 <nil>
}

// Decoding errors say which reason code to answer with and which statement
// of the specification the peer broke.
func ExampleError() {
	bad := []byte{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01} // QoS 3
	var d packet.Decoder[uint16]
	d.Version = packet.V5
	_, _, err := d.Decode(bad)
	var pe *packet.Error
	if errors.As(err, &pe) {
		fmt.Printf("0x%02X %s %s\n", byte(pe.Code), pe.Code, pe.Statement)
	}
	fmt.Println(errors.Is(err, packet.ErrMalformed))
	// Output:
	// 0x81 Malformed Packet MQTT-3.3.1-4
	// true
}
