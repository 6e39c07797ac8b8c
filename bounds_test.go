package mqtt

import (
	"fmt"
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
	s.Recv(wire(t, packet.V311, &packet.Connect{ClientID: "f", CleanStart: true}))
	if err := s.Send(&packet.Connack{}); err != nil {
		t.Fatal(err)
	}
	one := wire(t, packet.V311, &packet.Publish{Topic: "a", Payload: nil}) // 5 bytes
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

// TestIdleFootprint: a Connection past its handshake that has exchanged
// messages at every QoS and has nothing in flight holds at most 512 bytes
// of heap once it goes idle (Recv(nil)), client and server, both versions,
// with a session that outlives the connection or not. Measured over
// 10,000 Connections with runtime.MemStats; the handler is the caller's and
// is not counted (each Connection here gets the same function).
func TestIdleFootprint(t *testing.T) {
	const n = 10000
	nop := func(Event[uint16]) {}
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, persist := range []bool{false, true} {
			for _, role := range []Role{RoleClient, RoleServer} {
				name := fmt.Sprintf("%v/%v/persistent-%v", v, role, persist)
				t.Run(name, func(t *testing.T) {
					one := func() *Connection[uint16] {
						client, server := idlePair(t, v, persist)
						client.handler, server.handler = nop, nop
						if role == RoleClient {
							return client
						}
						return server
					}
					per := perConnection(n, func(int) any { return one() })
					t.Logf("%s: %d bytes per idle Connection", name, per)
					if per > 512 {
						t.Fatalf("%s: an idle Connection holds %d bytes, over 512", name, per)
					}
				})
			}
		}
	}
}

// idlePair joins a client and a server, exchanges a QoS 0, 1 and 2
// message each way, and lets both go idle with Recv(nil).
func idlePair(t testing.TB, v packet.Version, persist bool) (client, server *Connection[uint16]) {
	route := func(to **Connection[uint16]) Handler[uint16] {
		return func(e Event[uint16]) {
			switch e.Kind {
			case EventSend:
				(*to).Recv(e.Bytes)
			case EventPacket:
				if e.Packet.Type() == packet.TypeConnect {
					if err := server.Send(&packet.Connack{}); err != nil {
						t.Fatal(err)
					}
				}
			case EventError:
				t.Fatal(e.Err)
			}
		}
	}
	client = NewClient(Config{Version: v}, route(&server))
	server = NewServer(Config{}, route(&client))
	connect := &packet.Connect{ClientID: "idle-client-0001", CleanStart: !persist || v == packet.V5, KeepAlive: 60}
	if persist && v == packet.V5 {
		connect.Props.SessionExpiry = 3600
	}
	if err := client.Send(connect); err != nil {
		t.Fatal(err)
	}
	for qos := packet.QoS0; qos <= packet.QoS2; qos++ {
		for _, c := range []*Connection[uint16]{client, server} {
			if err := c.Send(&packet.Publish{Topic: "sensors/room1/temperature", QoS: qos, Payload: []byte("21.5")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if client.State() != StateConnected || client.InFlight()+server.InFlight() != 0 {
		t.Fatalf("state %v, %d and %d in flight", client.State(), client.InFlight(), server.InFlight())
	}
	client.Recv(nil)
	server.Recv(nil)
	return client, server
}
