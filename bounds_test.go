package mqtt

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Memory and resource bounds ("Resource bounds" in the README): what a
// Connection keeps idle, after a flood, through a thousand reconnections,
// and how the tests measure it.
//
// The TestHostile* tests (here and in the files of their protocol areas)
// play a hostile client against the server Connection (hostileServer in
// helpers_test.go). Each plays one attack, checks the reaction the
// protocol asks for, and measures the live heap that many connections
// (hostileConns, fewer for the heavy attacks) hold at the attack's worst,
// divided per connection, against a bound derived from the limits in
// force: a test fails when what the Connection keeps follows the
// attacker's input instead of the limits. The numbers are logged
// (go test -run Hostile -v).

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
// messages at every QoS and has nothing in flight holds at most 384 bytes
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
					// (Issue 12 asks for 512 at most; 304 measured, with no
					// Topic Alias sender for a peer that takes none, its
					// Config copy included: 208 with NewSharedServer.)
					if per > 320 {
						t.Fatalf("%s: an idle Connection holds %d bytes, over 320", name, per)
					}
				})
			}
		}
	}
}

// Connections made by NewSharedServer read one Config, and hold less than
// those of NewServer, which copy it each.
func TestSharedConfigFootprint(t *testing.T) {
	const n = 10000
	nop := func(Event[uint16]) {}
	cfg := Config{MaxPacketSize: 1 << 20}
	own := perConnection(n, func(int) any { return NewServer(cfg, nop) })
	shared := ShareConfig(cfg)
	one := perConnection(n, func(int) any { return NewSharedServer(shared, nop) })
	t.Logf("a new server Connection: %d bytes with its own Config, %d with a shared one", own, one)
	if saved := own - one; saved < int64(unsafe.Sizeof(cfg)) {
		t.Errorf("sharing the Config saves %d bytes per Connection, want at least %d", saved, unsafe.Sizeof(cfg))
	}
	c := NewSharedServer(shared, nop)
	if c.cfg != &shared.cfg || c.cfg.MaxPacketSize != 1<<20 {
		t.Error("the Connection does not read the shared Config")
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

// liveHeap returns the bytes of live heap objects. It collects twice: what
// sync.Pool caches survives one collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// allocatedBy returns the bytes fn allocates: an upper bound of the
// transient peak it causes.
func allocatedBy(fn func()) int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before := m.TotalAlloc
	fn()
	runtime.ReadMemStats(&m)
	return int64(m.TotalAlloc - before)
}

// perConnection returns the live heap per connection that n connections
// hold at once, each made and brought to its state by mk.
func perConnection(n int, mk func(i int) any) int64 {
	held := make([]any, n)
	before := liveHeap()
	for i := range held {
		held[i] = mk(i)
	}
	after := liveHeap()
	runtime.KeepAlive(held)
	return (after - before) / int64(n)
}

// idleServer returns the live heap per connected, idle hostileServer.
func idleServer(t *testing.T, v packet.Version) int64 {
	return perConnection(hostileConns, func(int) any { return hostileServer(t, v) })
}

// checkHeld logs and checks the memory measured for an attack.
func checkHeld(t *testing.T, what string, n int, held, idle, bound int64) {
	t.Helper()
	t.Logf("memory: %s: %d bytes per connection (%d connections; an idle one holds %d); bound %d",
		what, held, n, idle, bound)
	if held > bound {
		t.Fatalf("%s: %d bytes per connection, over the bound of %d", what, held, bound)
	}
}

// keptPerCall bounds what a Connection keeps from one call to the next
// whatever the calls were, by its own constants: the output and spare
// input buffers, the events, and a few packet types' kept values with
// short lists (their stale strings alias buffers counted apart).
func keptPerCall() int64 {
	value := int64(unsafe.Sizeof(packet.Publish{})) + keepList*int64(unsafe.Sizeof(property.User{}))
	return 2*keepOut + keepEvents*int64(unsafe.Sizeof(Event[uint16]{})) + 4*keepPooled*value
}

// fillUpTo grows a list of p through add until its v5 encoding would pass
// hostileMax (undo takes the last element back), and returns the encoding
// at its largest within hostileMax.
func fillUpTo(tb testing.TB, p packet.Packet, add func(), undo func()) []byte {
	tb.Helper()
	b := wire(tb, packet.V5, p)
	for {
		add()
		next, err := p.AppendTo(nil, packet.V5)
		if err != nil || len(next) > hostileMax {
			undo()
			return b
		}
		b = next
	}
}

// listBound bounds the bytes allocated to decode a list filling a packet
// of the maximum size, of elements of elem bytes that take at least wire
// bytes each on the wire: the list, at most twice its length as it grows,
// and the lists it grew from, as much again; plus a little for the rest.
func listBound(elem uintptr, wire int) int64 {
	return 4*hostileMax/int64(wire)*int64(elem) + 4<<10
}

// TestHostilePropertyFlood: packets filled with User Properties (and
// subscriptions, filters) up to the maximum packet size are decoded whole;
// one property more is refused with 0x95. The transient cost of one flood
// is a few times the packet's size.
func TestHostilePropertyFlood(t *testing.T) {
	v := packet.V5
	pub := &packet.Publish{Topic: "flood"}
	sub := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "f"}}}
	ack := &packet.Puback{PacketID: 9, Reason: packet.NoMatchingSubscribers}
	dis := &packet.Disconnect{}
	cases := []struct {
		name  string
		p     packet.Packet
		props *property.Properties
		got   func(packet.Packet) int // the User Properties delivered
	}{
		{"PUBLISH-user-properties", pub, &pub.Props, func(p packet.Packet) int { return len(p.(*packet.Publish).Props.User) }},
		{"SUBSCRIBE-user-properties", sub, &sub.Props, func(p packet.Packet) int { return len(p.(*packet.Subscribe).Props.User) }},
		{"PUBACK-user-properties", ack, &ack.Props, func(p packet.Packet) int { return len(p.(*packet.Puback).Props.User) }},
		{"DISCONNECT-user-properties", dis, &dis.Props, func(p packet.Packet) int { return len(p.(*packet.Disconnect).Props.User) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := fillUpTo(t, tc.p, func() { tc.props.User = append(tc.props.User, property.User{}) },
				func() { tc.props.User = tc.props.User[:len(tc.props.User)-1] })
			n := len(tc.props.User)
			s := hostileServer(t, v)
			var evs []Event[uint16]
			alloc := allocatedBy(func() { evs = s.Recv(b) })
			ps := received(evs)
			if len(ps) != 1 || tc.got(ps[0]) != n {
				t.Fatalf("%v, want the packet with its %d User Properties", evs, n)
			}
			if tc.p.Type() != packet.TypeDisconnect && evErr(evs) != nil {
				t.Fatalf("%v", evs)
			}
			t.Logf("%s: %d bytes, %d User Properties: %d bytes allocated (%.1f per byte)", tc.name, len(b), n, alloc, float64(alloc)/float64(len(b)))
			if bound := listBound(unsafe.Sizeof(property.User{}), 5); alloc > bound {
				t.Fatalf("decoding the flood allocated %d bytes, bound %d", alloc, bound)
			}
			// One more property passes the maximum: refused from the header.
			tc.props.User = append(tc.props.User, property.User{})
			over := wire(t, v, tc.p)
			wantClose(t, v, hostileServer(t, v).Recv(over), packet.PacketTooLarge)
		})
	}
	t.Run("CONNECT-user-and-will-properties", func(t *testing.T) {
		c := &packet.Connect{ClientID: "flood", CleanStart: true, Will: packet.Will{Topic: "w"}}
		b := fillUpTo(t, c, func() {
			c.Props.User = append(c.Props.User, property.User{})
			c.Will.Props.User = append(c.Will.Props.User, property.User{})
		}, func() {
			c.Props.User = c.Props.User[:len(c.Props.User)-1]
			c.Will.Props.User = c.Will.Props.User[:len(c.Will.Props.User)-1]
		})
		s := newTestServer[uint16](Config{MaxPacketSize: hostileMax})
		ps := received(s.Recv(b))
		if len(ps) != 1 || len(ps[0].(*packet.Connect).Props.User) != len(c.Props.User) ||
			len(ps[0].(*packet.Connect).Will.Props.User) != len(c.Will.Props.User) {
			t.Fatalf("CONNECT of %d bytes not decoded whole: %v", len(b), ps)
		}
		c.Props.User = append(c.Props.User, property.User{}, property.User{})
		wantClose(t, v, newTestServer[uint16](Config{MaxPacketSize: hostileMax}).Recv(wire(t, v, c)), 0)
	})
	t.Run("SUBSCRIBE-filters", func(t *testing.T) {
		p := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "f"}}}
		b := fillUpTo(t, p, func() { p.Subscriptions = append(p.Subscriptions, packet.Subscription{Filter: "f"}) },
			func() { p.Subscriptions = p.Subscriptions[:len(p.Subscriptions)-1] })
		s := hostileServer(t, v)
		var evs []Event[uint16]
		alloc := allocatedBy(func() { evs = s.Recv(b) })
		ps := received(evs)
		if len(ps) != 1 || len(ps[0].(*packet.Subscribe).Subscriptions) != len(p.Subscriptions) {
			t.Fatalf("%v", evs)
		}
		t.Logf("SUBSCRIBE: %d bytes, %d filters: %d bytes allocated", len(b), len(p.Subscriptions), alloc)
		if bound := listBound(unsafe.Sizeof(packet.Subscription{}), 4); alloc > bound {
			t.Fatalf("decoding the filters allocated %d bytes, bound %d", alloc, bound)
		}
	})
	t.Run("UNSUBSCRIBE-filters", func(t *testing.T) {
		p := &packet.Unsubscribe{PacketID: 1, Filters: []string{"f"}}
		b := fillUpTo(t, p, func() { p.Filters = append(p.Filters, "f") }, func() { p.Filters = p.Filters[:len(p.Filters)-1] })
		s := hostileServer(t, v)
		var evs []Event[uint16]
		alloc := allocatedBy(func() { evs = s.Recv(b) })
		ps := received(evs)
		if len(ps) != 1 || len(ps[0].(*packet.Unsubscribe).Filters) != len(p.Filters) {
			t.Fatalf("%v", evs)
		}
		t.Logf("UNSUBSCRIBE: %d bytes, %d filters: %d bytes allocated", len(b), len(p.Filters), alloc)
		if bound := listBound(unsafe.Sizeof(""), 3); alloc > bound {
			t.Fatalf("decoding the filters allocated %d bytes, bound %d", alloc, bound)
		}
	})
}

// TestHostilePropertyFloodRetained is the regression test of a leak: a
// kept packet value reused its lists from packet to packet, so each of the
// up to 64 values kept per packet type held on to the longest list any
// packet decoded into it ever had. A client sending, call after call, k
// small packets and then one full of User Properties made every kept value
// hold about 7 times a maximum-size packet: 1.8 MB per connection here,
// growing with the number of calls rather than with the limits.
func TestHostilePropertyFloodRetained(t *testing.T) {
	v := packet.V5
	pub := &packet.Publish{Topic: "flood"}
	floodPub := fillUpTo(t, pub, func() { pub.Props.User = append(pub.Props.User, property.User{}) },
		func() { pub.Props.User = pub.Props.User[:len(pub.Props.User)-1] })
	ack := &packet.Puback{PacketID: 9, Reason: packet.NoMatchingSubscribers}
	floodAck := fillUpTo(t, ack, func() { ack.Props.User = append(ack.Props.User, property.User{}) },
		func() { ack.Props.User = ack.Props.User[:len(ack.Props.User)-1] })
	smallPub := wire(t, v, &packet.Publish{Topic: "a"})
	smallAck := wire(t, v, &packet.Puback{PacketID: 9})
	calls := make([][]byte, keepPooled)
	for k := range calls {
		var chunk []byte
		for range k {
			chunk = append(chunk, smallPub...)
			chunk = append(chunk, smallAck...)
		}
		calls[k] = append(append(chunk, floodPub...), floodAck...)
	}
	idle := idleServer(t, v)
	held := perConnection(hostileConns/4, func(int) any {
		s := hostileServer(t, v)
		for _, chunk := range calls {
			if evs := s.Recv(chunk); evErr(evs) != nil {
				t.Fatal(evs)
			}
		}
		s.Recv(smallPub) // the next call frees the values of the last
		return s
	})
	bound := idle + 2*hostileMax + keptPerCall()
	checkHeld(t, fmt.Sprintf("%d calls of k small packets then a PUBLISH and a PUBACK of %d User Properties",
		len(calls), len(pub.Props.User)), hostileConns/4, held, idle, bound)
}

// TestHostileFloodHeldUntilNextCall: a chunk full of minimal packets
// costs a packet value and an event or two per packet, which the events
// returned need until the next call; then the Connection lets go of all
// but what it keeps from call to call, whatever the size of the flood. A
// caller that reads and then waits (a broker whose client goes quiet after
// a burst) holds the first amount per connection until its next call: it
// is bounded by the size of the reads.
//
// Regression: the kept pool of packet values kept the array that had held
// every value of the flood, and the kept events pointed to the values let
// go, so what stayed grew with the largest flood.
func TestHostileFloodHeldUntilNextCall(t *testing.T) {
	const n = 3
	for _, v := range versions {
		for _, qos := range []packet.QoS{0, 1, 2} {
			t.Run(fmt.Sprintf("%v/QoS%d", v, qos), func(t *testing.T) {
				mk := func() *tconn[uint16] {
					return serverConn(t, v, Config{MaxPacketSize: hostileMax}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
				}
				idle := perConnection(hostileConns, func(int) any { return mk() })
				var kept []int64
				counts := []int{100, 800, 10000}
				for _, count := range counts {
					var chunk []byte
					for id := 1; id <= count; id++ {
						chunk = append(chunk, wire(t, v, &packet.Publish{Topic: "a", QoS: qos, PacketID: uint16(id)})...)
					}
					flood := func() *tconn[uint16] {
						s := mk()
						evs := s.Recv(chunk)
						if evErr(evs) != nil || len(received(evs)) != count {
							t.Fatalf("%d delivered of %d: %v", len(received(evs)), count, evErr(evs))
						}
						return s
					}
					during := perConnection(n, func(int) any { return flood() })
					checkHeld(t, fmt.Sprintf("%v %d QoS %d PUBLISH in one chunk of %d bytes, until the next call", v, count, qos, len(chunk)),
						n, during, idle, idle+200*int64(len(chunk)))
					after := perConnection(n, func(int) any {
						s := flood()
						s.Recv(nil)
						return s
					})
					checkHeld(t, fmt.Sprintf("%v after the next call", v), n, after, idle, idle+keptPerCall()+12*int64(count))
					kept = append(kept, after)
				}
				// From the smallest flood to the largest, what is kept may
				// grow by the events kept (their number follows the
				// largest call up to keepEvents) and, for QoS 2, by the
				// table of unreleased exchanges; by nothing else.
				for i, k := range kept[1:] {
					grow := keepEvents*int64(unsafe.Sizeof(Event[uint16]{})) + 8<<10
					if qos == 2 {
						grow += 12 * int64(counts[i+1]) // at most 4 slots of 3 bytes per exchange
					}
					if k-kept[0] > grow {
						t.Fatalf("after %d packets %d bytes kept, after %d: %d; want at most %d more",
							counts[i+1], k, counts[0], kept[0], grow)
					}
				}
			})
		}
	}
}

// TestHostileReconnectStorm: one server Connection reused through Closed
// for a thousand connections of a client that leaves QoS 2 exchanges,
// aliases and a partial packet behind each time keeps no more than after
// the first few.
func TestHostileReconnectStorm(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			s := newTestServer[uint16](Config{MaxPacketSize: hostileMax})
			cn := connectFor(v, hostileKeepAlive, property.Properties{SessionExpiry: 60})
			cn.CleanStart = false
			cycle := func(i int) {
				s.Recv(wire(t, v, cn))
				ack := connackFor(v, property.Properties{TopicAliasMaximum: hostileAliasMax, ReceiveMaximum: hostileRecvMax})
				ack.SessionPresent = i > 0
				if _, err := s.Send(ack); err != nil {
					t.Fatal(err)
				}
				var in []packet.Packet
				for k := range hostileRecvMax {
					p := &packet.Publish{Topic: fmt.Sprint("r/", i, "/", k), QoS: 2, PacketID: uint16(i*hostileRecvMax+k)%65535 + 1}
					if v == packet.V5 {
						p.Props.TopicAlias = uint16(k + 1)
					}
					in = append(in, p)
				}
				b := wire(t, v, in...)
				if evs := s.Recv(append(b, fixedHeader(0x30, hostileMax/2)...)); evErr(evs) != nil {
					t.Fatalf("connection %d: %v", i, evs)
				}
				s.Closed()
			}
			for i := range 10 {
				cycle(i)
			}
			before := liveHeap()
			for i := 10; i < 1000; i++ {
				cycle(i)
			}
			grown := liveHeap() - before
			t.Logf("990 more connections: %d bytes more kept (%d exchanges in the session)", grown, s.inbound.Len())
			// The session keeps the unreleased exchanges (at most the
			// identifier space); nothing else may grow.
			if bound := int64(4*65536*3 + hostileMax); grown > bound {
				t.Fatalf("%d bytes more after 990 reconnections, bound %d", grown, bound)
			}
		})
	}
}

// TestRefusedSendKeepsIdle: a Send refused on an idle Connection changes
// nothing, its memory included: the Connection holds no scratch and no
// flight state afterwards, as before.
func TestRefusedSendKeepsIdle(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		client, server := idlePair(t, v, true)
		for _, c := range []*Connection[uint16]{client, server} {
			if c.scratch != nil || c.flight != nil {
				t.Fatalf("%v %v: not idle before the refused Send", v, c.Role())
			}
			bad := &packet.Publish{Topic: "a/+", QoS: packet.QoS1}
			if err := c.Send(bad); err == nil {
				t.Fatalf("%v %v: a PUBLISH to a wildcard topic was sent", v, c.Role())
			}
			if c.scratch != nil || c.flight != nil {
				t.Fatalf("%v %v: a refused Send left the idle Connection holding scratch %v, flight %v",
					v, c.Role(), c.scratch != nil, c.flight != nil)
			}
		}
	}
}
