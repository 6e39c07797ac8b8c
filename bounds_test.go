package mqtt

import (
	"runtime"
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// TestFloodMemoryIsBounded feeds a server a 64 KiB chunk holding over
// 13,000 minimal PUBLISH packets, then an ordinary one. Handling the flood
// needs a packet value per packet for that call's events (the transient
// cost, bounded by the chunk size the caller reads); what the Connection
// keeps afterwards must not grow with the flood.
func TestFloodMemoryIsBounded(t *testing.T) {
	var events int
	s := NewServer(Config{}, func(Event[uint16]) { events++ })
	s.Recv(mustEncodeV(t, packet.V311, &packet.Connect{ClientID: "f", CleanStart: true}))
	if err := s.Send(&packet.Connack{}); err != nil {
		t.Fatal(err)
	}
	one := mustEncodeV(t, packet.V311, &packet.Publish{Topic: "a", Payload: nil}) // 5 bytes
	var flood []byte
	for len(flood)+len(one) <= 64<<10 {
		flood = append(flood, one...)
	}
	n := len(flood) / len(one)

	retained := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := retained()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	allocBefore := during.TotalAlloc
	events = 0
	if s.Recv(flood); events < n {
		t.Fatalf("%d events for %d packets", events, n)
	}
	runtime.ReadMemStats(&during)
	transient := during.TotalAlloc - allocBefore
	s.Recv(one) // the next call lets the flood's values go
	after := retained()
	t.Logf("%d packets in %d bytes: %d bytes allocated during the call (%.0f per input byte), %d retained after",
		n, len(flood), transient, float64(transient)/float64(len(flood)), int64(after)-int64(before))
	if transient > 200*uint64(len(flood)) {
		t.Fatalf("the flood allocated %d bytes, over 200 per input byte", transient)
	}
	if int64(after)-int64(before) > 256<<10 {
		t.Fatalf("the Connection kept %d bytes after the flood", int64(after)-int64(before))
	}
}

func mustEncodeV(t *testing.T, v packet.Version, p packet.Packet) []byte {
	t.Helper()
	b, err := p.AppendTo(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
