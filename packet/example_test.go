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

// A server answers a SUBSCRIBE with one result per topic filter, in order;
// Ack writes them in the codes of the connection's version.
func ExampleSubscribeOf_Ack() {
	sub := &packet.Subscribe{PacketID: 7, Subscriptions: []packet.Subscription{
		{Filter: "sensors/#", QoS: packet.QoS2},
		{Filter: "admin/#", QoS: packet.QoS1},
	}}
	results := []packet.ReasonCode{packet.GrantedQoS1, packet.NotAuthorized}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		ack, err := sub.Ack(v, results...)
		if err != nil {
			panic(err)
		}
		b, _ := ack.AppendTo(nil, v)
		fmt.Printf("%v: % x\n", v, b)
	}
	_, err := sub.Ack(packet.V5, packet.GrantedQoS1)
	fmt.Println(err)
	// Output:
	// 5.0: 90 05 00 07 00 01 87
	// 3.1.1: 90 04 00 07 01 80
	// packet: SUBACK takes one reason code per topic filter of its SUBSCRIBE (MQTT-3.8.4-6)
}

// An UNSUBACK carries one reason code per topic filter in v5, none in 3.1.1.
func ExampleUnsubscribeOf_Ack() {
	unsub := &packet.Unsubscribe{PacketID: 8, Filters: []string{"sensors/#", "never/subscribed"}}
	results := []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		ack, err := unsub.Ack(v, results...)
		if err != nil {
			panic(err)
		}
		b, _ := ack.AppendTo(nil, v)
		fmt.Printf("%v: % x\n", v, b)
	}
	// Output:
	// 5.0: b0 05 00 08 00 00 11
	// 3.1.1: b0 02 00 08
}
