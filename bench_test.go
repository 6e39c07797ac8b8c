package mqtt

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Benchmarks of the Connection in its steady state, and of the codec alone
// on the same packets, so that the cost of the state machine over the
// codec can be read off one run:
//
//	go test -run '^$' -bench . -benchmem
//
// Each reports ns/msg; allocs/op is per call of 100 messages and must be 0.

const benchBatch = 100 // packets per Recv

// benchPublish is the message of every benchmark: v5, topic
// sensors/room1/temperature, Message Expiry 60, Content Type json, 64-byte
// payload.
func benchPublish(qos packet.QoS, id uint16) *packet.Publish {
	return &packet.Publish{Topic: "sensors/room1/temperature", QoS: qos, PacketID: id,
		Props:   property.Properties{MessageExpiry: 60, ContentType: "json"},
		Payload: make([]byte, 64)}
}

// tally is the handler of the benchmarks: it counts the events by kind and
// the bytes to send, as a driver looks at each event and writes its bytes.
type tally struct {
	kinds [eventLast + 1]int
	bytes int
}

func (t *tally) handle(e Event[uint16]) {
	t.kinds[e.Kind]++
	t.bytes += len(e.Bytes)
}

func (t *tally) reset() { *t = tally{} }

// benchServer returns a v5 server past its handshake, with a keep-alive so
// that its timer is re-armed as in real use.
func benchServer(b testing.TB) (*Connection[uint16], *tally) {
	t := new(tally)
	s := NewServer(Config{}, t.handle)
	s.Recv(wire(b, packet.V5, &packet.Connect{ClientID: "bench", CleanStart: true, KeepAlive: 60}))
	if err := s.Send(&packet.Connack{}); err != nil {
		b.Fatal(err)
	}
	return s, t
}

func benchServerRecv(b *testing.B, qos packet.QoS) {
	s, t := benchServer(b)
	var chunk []byte
	for i := range benchBatch {
		chunk = append(chunk, wire(b, packet.V5, benchPublish(qos, uint16(i+1)))...)
	}
	check := func() {
		t.reset()
		s.Recv(chunk)
		pubs, acks := t.kinds[EventPacket], t.kinds[EventSend]
		if t.kinds[EventError]+t.kinds[EventClose] > 0 || pubs != benchBatch || (qos == packet.QoS1) != (acks == benchBatch) {
			b.Fatalf("%d publishes, %d acks, %d errors", pubs, acks, t.kinds[EventError])
		}
	}
	check() // warm up: buffers and pools reach their size
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		s.Recv(chunk)
	}
	check()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/msg")
}

// BenchmarkServerRecvQoS0: the server receives 100 QoS 0 PUBLISH per Recv.
func BenchmarkServerRecvQoS0(b *testing.B) { benchServerRecv(b, packet.QoS0) }

// BenchmarkServerRecvQoS1: the server receives 100 QoS 1 PUBLISH per Recv
// (identifiers 1 to 100) and answers each with PUBACK.
func BenchmarkServerRecvQoS1(b *testing.B) { benchServerRecv(b, packet.QoS1) }

// BenchmarkClientSendQoS1: the client sends 100 QoS 1 PUBLISH (identifiers
// allocated round-robin by the Connection) and receives their 100 PUBACKs
// in one Recv.
func BenchmarkClientSendQoS1(b *testing.B) {
	t := new(tally)
	c := NewClient(Config{}, t.handle)
	if err := c.Send(&packet.Connect{ClientID: "bench", CleanStart: true, KeepAlive: 60}); err != nil {
		b.Fatal(err)
	}
	c.Recv(wire(b, packet.V5, &packet.Connack{}))
	p := benchPublish(packet.QoS1, 0)
	ids := make([]uint16, benchBatch)
	acks := make([]byte, 0, 4*benchBatch)
	round := func() {
		for i := range ids {
			p.PacketID = 0
			if err := c.Send(p); err != nil {
				b.Fatal(err)
			}
			ids[i] = p.PacketID
		}
		acks = acks[:0]
		for _, id := range ids {
			acks = append(acks, byte(packet.TypePuback)<<4, 2, byte(id>>8), byte(id))
		}
		t.reset()
		if c.Recv(acks); t.kinds[EventIDReleased] != benchBatch || t.kinds[EventPacket] != benchBatch {
			b.Fatalf("events: %v", t.kinds)
		}
	}
	round()
	b.ReportAllocs()
	for b.Loop() {
		round()
	}
	if c.ids.InUse() != 0 {
		b.Fatalf("%d identifiers in use", c.ids.InUse())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/msg")
}

// BenchmarkCodecPublishPuback is the codec alone on one message: decode and
// encode the PUBLISH, decode and encode its PUBACK. The state machine
// benchmarks do a subset of this work per message (the server decodes the
// PUBLISH and encodes the PUBACK; the client encodes the PUBLISH and
// decodes the PUBACK), so ns/msg of BenchmarkServerRecvQoS1 and
// BenchmarkClientSendQoS1 over this one bounds the state machine's share.
func BenchmarkCodecPublishPuback(b *testing.B) {
	pubWire := wire(b, packet.V5, benchPublish(packet.QoS1, 42))
	ackWire := wire(b, packet.V5, &packet.Puback{PacketID: 42})
	var d packet.Decoder[uint16]
	d.Version = packet.V5
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(benchBatch * (len(pubWire) + len(ackWire))))
	for b.Loop() {
		for range benchBatch {
			p, _, err := d.Decode(pubWire)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = p.AppendTo(buf[:0], packet.V5); err != nil {
				b.Fatal(err)
			}
			a, _, err := d.Decode(ackWire)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = a.AppendTo(buf[:0], packet.V5); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/msg")
}

// BenchmarkCodecServerWork is the codec work of BenchmarkServerRecvQoS1
// alone: frame and decode the PUBLISH, encode the PUBACK.
func BenchmarkCodecServerWork(b *testing.B) {
	var chunk []byte
	for i := range benchBatch {
		chunk = append(chunk, wire(b, packet.V5, benchPublish(packet.QoS1, uint16(i+1)))...)
	}
	var d packet.Decoder[uint16]
	d.Version = packet.V5
	buf := make([]byte, 0, 8*benchBatch)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		buf = buf[:0]
		for rest := chunk; len(rest) > 0; {
			p, n, err := d.Decode(rest)
			if err != nil || n == 0 {
				b.Fatal(err)
			}
			rest = rest[n:]
			// The codec's fast path for a PUBACK without properties, as the
			// server Connection uses it.
			if buf, err = packet.AppendAck(buf, packet.TypePuback, packet.V5, p.(*packet.Publish).PacketID, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/msg")
}
