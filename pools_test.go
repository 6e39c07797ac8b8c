package mqtt

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// publishChunk returns n v5 PUBLISH packets of QoS qos (identifiers from
// 1) in one chunk.
func publishChunk(t testing.TB, qos packet.QoS, n int) []byte {
	var chunk []byte
	for i := range n {
		id := uint16(0)
		if qos > 0 {
			id = uint16(i + 1)
		}
		chunk = append(chunk, wire(t, packet.V5, benchPublish(qos, id))...)
	}
	return chunk
}

// handshakenServer returns a v5 server past its handshake, with a
// keep-alive.
func handshakenServer(t testing.TB) *tconn[uint16] {
	s := newTestServer[uint16](Config{})
	s.Recv(wire(t, packet.V5, &packet.Connect{ClientID: "steady", CleanStart: true, KeepAlive: 60}))
	if _, err := s.Send(&packet.Connack{}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSteadyFlowAllocatesNothing: once its pools have grown to the size of
// the chunks it is given, a Connection allocates nothing per message, for
// chunks of up to 256 packets and for calls of alternating sizes.
func TestSteadyFlowAllocatesNothing(t *testing.T) {
	for _, qos := range []packet.QoS{packet.QoS0, packet.QoS1, packet.QoS2} {
		for _, sizes := range [][]int{{1}, {100}, {250}, {100, 1, 60, 3}} {
			t.Run(fmt.Sprintf("server QoS %d chunks of %v", qos, sizes), func(t *testing.T) {
				s := handshakenServer(t)
				var chunks [][]byte
				for _, n := range sizes {
					chunks = append(chunks, publishChunk(t, qos, n))
				}
				var pubrels [][]byte
				if qos == packet.QoS2 {
					for _, n := range sizes {
						var b []byte
						for id := 1; id <= n; id++ {
							b = append(b, wire(t, packet.V5, &packet.Pubrel{PacketID: uint16(id)})...)
						}
						pubrels = append(pubrels, b)
					}
				}
				round := func() {
					for i, chunk := range chunks {
						evs := s.Recv(chunk)
						if count(evs, EventPacket) != sizes[i] || count(evs, EventError) != 0 {
							t.Fatalf("%d delivered of %d: %v", count(evs, EventPacket), sizes[i], evErr(evs))
						}
						if qos == packet.QoS2 {
							s.Recv(pubrels[i])
						}
					}
				}
				round() // the pools grow to their size
				if allocs := testing.AllocsPerRun(20, round); allocs != 0 {
					t.Fatalf("%v allocations per round of %v packets", allocs, sizes)
				}
			})
		}
	}
	t.Run("client QoS 1", func(t *testing.T) {
		c := newTestClient[uint16](Config{})
		if _, err := c.Send(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 60}); err != nil {
			t.Fatal(err)
		}
		c.Recv(wire(t, packet.V5, &packet.Connack{}))
		p := benchPublish(packet.QoS1, 0)
		acks := make([]byte, 0, 4*200)
		round := func() {
			acks = acks[:0]
			for range 200 {
				p.PacketID = 0
				if _, err := c.Send(p); err != nil {
					t.Fatal(err)
				}
				acks = append(acks, byte(packet.TypePuback)<<4, 2, byte(p.PacketID>>8), byte(p.PacketID))
			}
			if evs := c.Recv(acks); count(evs, EventPacket) != 200 {
				t.Fatalf("%d PUBACKs handled: %v", count(evs, EventPacket), evs)
			}
		}
		round()
		if allocs := testing.AllocsPerRun(20, round); allocs != 0 {
			t.Fatalf("%v allocations per round of 200 messages", allocs)
		}
	})
}

// TestPoolsLetGoOfAFlood: after a call with more packets of a type than
// the pools keep, the next call keeps at most maxPooled values of it, a
// small call after that at most twice keepPooled; Recv(nil) and Closed let
// go of the whole scratch, or, while a partial packet waits, keep
// keepPooled values and a short events slice.
func TestPoolsLetGoOfAFlood(t *testing.T) {
	kept := func(c *tconn[uint16]) int {
		if c.scratch == nil {
			return 0
		}
		return len(c.received.lists[packet.TypePublish].items)
	}
	s := handshakenServer(t)
	flood, one := publishChunk(t, packet.QoS0, 5000), publishChunk(t, packet.QoS0, 1)
	s.Recv(flood)
	if n := kept(s); n != 5000 {
		t.Fatalf("%d values during a call of 5000 packets", n)
	}
	s.Recv(one)
	if n := kept(s); n > maxPooled {
		t.Fatalf("%d values kept after a flood, want at most %d", n, maxPooled)
	}
	s.Recv(one)
	if n := kept(s); n > 2*keepPooled {
		t.Fatalf("%d values kept after a small call, want at most %d", n, 2*keepPooled)
	}
	s.Recv(publishChunk(t, packet.QoS0, 500))
	s.Recv(nil)
	if s.scratch != nil {
		t.Fatalf("scratch kept after Recv(nil) with nothing held")
	}
	// A partial packet waits: the scratch stays, trimmed on the next call.
	s.Recv(append(publishChunk(t, packet.QoS0, 500), 0x30))
	s.Recv(nil)
	if s.scratch == nil {
		t.Fatalf("scratch let go of with a partial packet waiting")
	}
	s.Recv(nil)
	if n := kept(s); n != keepPooled {
		t.Fatalf("%d values kept after Recv(nil) with a partial packet, want %d", n, keepPooled)
	}
	if n := cap(s.events); n > keepPooled {
		t.Fatalf("room for %d events kept after Recv(nil), want at most %d", n, keepPooled)
	}
	s.Recv(publishChunk(t, packet.QoS0, 500))
	s.Closed()
	if s.scratch != nil {
		t.Fatalf("scratch kept after Closed")
	}
}

// TestEventOrderIndependentOfPooledTables: a Connection's events follow
// from its inputs alone, whichever pooled flight state it took: one whose
// identifier tables grew large for another connection releases the
// identifiers of its SUBSCRIBEs at Closed in the same order as a new one
// (a trace replays byte for byte in another process, whose pools hold
// other tables).
func TestEventOrderIndependentOfPooledTables(t *testing.T) {
	grown := new(flight[uint16])
	for id := uint16(1); id <= 40; id++ {
		grown.outbound.Set(id, awaitPuback)
	}
	for id := uint16(1); id <= 40; id++ {
		grown.outbound.Delete(id)
	}
	var orders [2][]uint16
	for k, f := range []*flight[uint16]{grown, new(flight[uint16])} {
		c := newTestClient[uint16](Config{Version: packet.V5})
		c.flight = f // as if taken from the pool
		if _, err := c.Send(&packet.Connect{ClientID: "x", CleanStart: true}); err != nil {
			t.Fatal(err)
		}
		c.Recv(wire(t, packet.V5, &packet.Connack{}))
		for range 6 {
			if _, err := c.Send(&packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a"}}}); err != nil {
				t.Fatal(err)
			}
		}
		orders[k] = released(c.Closed())
	}
	if !slices.Equal(orders[0], orders[1]) || len(orders[0]) != 6 {
		t.Fatalf("identifiers released at Closed: %v with a grown table, %v with a new one", orders[0], orders[1])
	}
}
