package fuzz

import (
	"testing"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// FuzzServerRecv and FuzzClientRecv drive Connection.Recv, after a valid
// handshake and a few exchanges of our own left open, with arbitrary bytes
// cut into chunks at points the fuzzer chooses. mode selects the version
// (bit 0: 3.1.1), the manual acknowledgements (bits 1-4), the send queue
// (bit 5), automatic topic aliases (bit 6) and a session that outlives the
// connection (bit 7); ids selects the identifier width (bit 0:
// Connection[uint32], four bytes on the wire; the other bits are
// ignored); each byte of cuts is the length of the next chunk (0 is an
// empty Recv), the rest of data goes in one last chunk.
//
// Invariants, the same for both widths: no panic; every EventError is
// followed by an EventClose in the same call; at most one EventClose in
// the life of the connection, Closed included; after EventClose, Recv
// returns no events; SendQuota is never negative; every EventSend carries
// a well-formed packet of the connection's version and identifier width.
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzServerRecv$' -fuzztime 2m
//	go test ./fuzz -run '^$' -fuzz '^FuzzClientRecv$' -fuzztime 2m
func FuzzServerRecv(f *testing.F) {
	addServerRecvSeeds[uint16](f)
	addServerRecvSeeds[uint32](f)
	f.Add(byte(0), byte(0), []byte{2}, []byte{0x30, 0xff, 0xff, 0xff, 0x7f}) // oversize PUBLISH
	f.Add(byte(0), byte(0), []byte{}, []byte{0x10, 0x00})                    // second CONNECT, malformed
	f.Fuzz(func(t *testing.T, mode, ids byte, cuts, data []byte) {
		connFeed(t, mode, ids, cuts, data, connServer[uint16], connServer[uint32])
	})
}

func addServerRecvSeeds[ID packetid.ID](f *testing.F) {
	ids := connIDs[ID]()
	for mode := range byte(4) {
		v := connVersion(mode)
		f.Add(mode, ids, []byte{}, connEncode(f, v, connServerSeed[ID]()...))
		f.Add(mode, ids, []byte{1, 1, 1, 1, 1, 1, 1, 1, 3, 0, 7}, connEncode(f, v, connServerSeed[ID]()...))
		f.Add(mode|0b11110, ids, []byte{5, 9, 2}, connEncode(f, v, connServerSeed[ID]()...))
		f.Add(mode|0b11100000, ids, []byte{1, 2, 3, 4}, connEncode(f, v, connServerSeed[ID]()...))
	}
}

func FuzzClientRecv(f *testing.F) {
	addClientRecvSeeds[uint16](f)
	addClientRecvSeeds[uint32](f)
	f.Add(byte(0), byte(0), []byte{}, []byte{0xe0, 0x01, 0x8e})                               // DISCONNECT 0x8E
	f.Add(byte(0), byte(0), []byte{}, []byte{0x30, 0x05, 0x00, 0x00, 0x03, 0x23, 0x00, 0x09}) // alias 9
	f.Fuzz(func(t *testing.T, mode, ids byte, cuts, data []byte) {
		connFeed(t, mode, ids, cuts, data, connClient[uint16], connClient[uint32])
	})
}

func addClientRecvSeeds[ID packetid.ID](f *testing.F) {
	ids := connIDs[ID]()
	for mode := range byte(4) {
		v := connVersion(mode)
		f.Add(mode, ids, []byte{}, connEncode(f, v, connClientSeed[ID](v)...))
		f.Add(mode, ids, []byte{1, 1, 1, 1, 2, 0, 4, 4, 4}, connEncode(f, v, connClientSeed[ID](v)...))
		f.Add(mode|0b11110, ids, []byte{3, 200}, connEncode(f, v, connClientSeed[ID](v)...))
		f.Add(mode|0b11100000, ids, []byte{4, 3, 2, 1}, connEncode(f, v, connClientSeed[ID](v)...))
	}
}

// connFeed sets up the harness of the identifier width that ids selects
// (bit 0: uint32) and feeds it cuts and data.
func connFeed(t *testing.T, mode, ids byte, cuts, data []byte,
	narrow func(*testing.T, byte) *connHarness[uint16], wide func(*testing.T, byte) *connHarness[uint32]) {
	if ids&1 != 0 {
		wide(t, mode).feed(cuts, data)
	} else {
		narrow(t, mode).feed(cuts, data)
	}
}

// connIDs is the ids argument that selects Connection[ID].
func connIDs[ID packetid.ID]() byte {
	if packetid.Size[ID]() == 4 {
		return 1
	}
	return 0
}

// connPeerID is the identifier the seeds' peer gives its own exchange n:
// n, or for uint32 n plus 0x01020300, so that all four bytes matter.
func connPeerID[ID packetid.ID](n ID) ID {
	if packetid.Size[ID]() == 4 {
		hi := uint32(0x01020300)
		return n + ID(hi)
	}
	return n
}

func connVersion(mode byte) packet.Version {
	if mode&1 != 0 {
		return packet.V311
	}
	return packet.V5
}

func connConfig(mode byte) mqtt.Config {
	return mqtt.Config{ManualPuback: mode&2 != 0, ManualPubrec: mode&4 != 0,
		ManualPubrel: mode&8 != 0, ManualPubcomp: mode&16 != 0,
		QueueWhenQuotaExhausted: mode&32 != 0, TopicAliases: mqtt.AliasMode(mode >> 6 & 1 * 2)}
}

// connPersist sets up a session that outlives the connection.
func connPersist(mode byte, c *packet.Connect) {
	if mode&128 == 0 {
		return
	}
	c.CleanStart = false
	if connVersion(mode) == packet.V5 {
		c.Props.SessionExpiry = 60
	}
}

func connEncode(tb testing.TB, v packet.Version, ps ...packet.Packet) []byte {
	tb.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = p.AppendTo(b, v); err != nil {
			tb.Fatalf("encode %v for %v: %v", p.Type(), v, err)
		}
	}
	return b
}

// connServerSeed is what a client may send after the handshake. The
// acknowledgements name the server's first exchanges (identifiers 1 and 2).
func connServerSeed[ID packetid.ID]() []packet.Packet {
	p7, p8, p9, p10 := connPeerID[ID](7), connPeerID[ID](8), connPeerID[ID](9), connPeerID[ID](10)
	return []packet.Packet{
		&packet.PublishOf[ID]{Topic: "a/b", Payload: []byte("0")},
		&packet.PublishOf[ID]{Topic: "a/b", QoS: 1, PacketID: p7, Payload: []byte("1")},
		&packet.PublishOf[ID]{Topic: "a/b", QoS: 2, PacketID: p8, Payload: []byte("2")},
		&packet.PublishOf[ID]{Topic: "a/b", QoS: 2, PacketID: p8, Dup: true, Payload: []byte("2")},
		&packet.PubrelOf[ID]{PacketID: p8},
		&packet.PubackOf[ID]{PacketID: 1},
		&packet.PubrecOf[ID]{PacketID: 2},
		&packet.PubcompOf[ID]{PacketID: 2},
		&packet.SubscribeOf[ID]{PacketID: p9, Subscriptions: []packet.Subscription{{Filter: "x/#", QoS: 1}}},
		&packet.UnsubscribeOf[ID]{PacketID: p10, Filters: []string{"x/#"}},
		&packet.Pingreq{},
		&packet.Disconnect{},
	}
}

// connClientSeed is what a server may send after the handshake. The
// acknowledgements name the client's first exchanges (1 to 4).
func connClientSeed[ID packetid.ID](v packet.Version) []packet.Packet {
	p7, p8 := connPeerID[ID](7), connPeerID[ID](8)
	ps := []packet.Packet{
		&packet.PublishOf[ID]{Topic: "a/b", Payload: []byte("0")},
		&packet.PublishOf[ID]{Topic: "a/b", QoS: 1, PacketID: p7, Payload: []byte("1")},
		&packet.PublishOf[ID]{Topic: "a/b", QoS: 2, PacketID: p8, Payload: []byte("2")},
		&packet.PubrelOf[ID]{PacketID: p8},
		&packet.PubackOf[ID]{PacketID: 1},
		&packet.PubrecOf[ID]{PacketID: 2},
		&packet.PubcompOf[ID]{PacketID: 2},
		&packet.SubackOf[ID]{PacketID: 3, Reasons: []packet.ReasonCode{1}},
		&packet.UnsubackOf[ID]{PacketID: 4},
		&packet.Pingresp{},
	}
	if v == packet.V5 {
		ps[len(ps)-2] = &packet.UnsubackOf[ID]{PacketID: 4, Reasons: []packet.ReasonCode{0}}
		ps = append(ps, &packet.PublishOf[ID]{Topic: "c", QoS: 1, PacketID: connPeerID[ID](11),
			Props: property.Properties{TopicAlias: 2}},
			&packet.PublishOf[ID]{QoS: 1, PacketID: connPeerID[ID](12), Props: property.Properties{TopicAlias: 2}})
	}
	return append(ps, &packet.Disconnect{})
}

// connHarness is a Connection under fuzzing with the invariants' state.
type connHarness[ID packetid.ID] struct {
	t       *testing.T
	c       *recorder[ID]
	v       packet.Version
	closes  int
	closing bool
	mode    byte
	acks    []packet.Packet // manual acknowledgements to send after the call
}

func connServer[ID packetid.ID](t *testing.T, mode byte) *connHarness[ID] {
	v := connVersion(mode)
	h := &connHarness[ID]{t: t, c: newRecorder[ID](mqtt.RoleServer, traced(t, connConfig(mode))), v: v, mode: mode}
	connect := &packet.Connect{ClientID: "f", KeepAlive: 30}
	if v == packet.V5 {
		connect.Props = property.Properties{ReceiveMaximum: 3, TopicAliasMaximum: 2}
	}
	connPersist(mode, connect)
	h.check(h.c.Recv(connEncode(t, v, connect)))
	connack := &packet.Connack{}
	if v == packet.V5 {
		connack.Props = property.Properties{ReceiveMaximum: 4, TopicAliasMaximum: 3, MaximumPacketSize: 4096}
	}
	h.send(connack)
	h.send(&packet.PublishOf[ID]{Topic: "s/1", QoS: 1})
	h.send(&packet.PublishOf[ID]{Topic: "s/2", QoS: 2})
	h.send(&packet.PublishOf[ID]{Topic: "s/1", QoS: 0})
	if mode&32 != 0 { // beyond the client's Receive Maximum of 3: queued
		h.send(&packet.PublishOf[ID]{Topic: "s/3", QoS: 1})
		h.send(&packet.PublishOf[ID]{Topic: "s/4", QoS: 2})
	}
	return h
}

// connConnecting returns a client that has sent its CONNECT, with an
// Authentication Method in v5 when auth is set.
func connConnecting[ID packetid.ID](t *testing.T, mode byte, auth bool) *connHarness[ID] {
	v := connVersion(mode)
	cfg := connConfig(mode)
	cfg.Version = v
	h := &connHarness[ID]{t: t, c: newRecorder[ID](mqtt.RoleClient, traced(t, cfg)), v: v, mode: mode}
	connect := &packet.Connect{ClientID: "f", KeepAlive: 30}
	if v == packet.V5 {
		connect.Props = property.Properties{ReceiveMaximum: 3, TopicAliasMaximum: 2, MaximumPacketSize: 4096}
		if auth {
			connect.Props.AuthMethod, connect.Props.AuthData = "SCRAM-SHA-1", []byte("c")
		}
	}
	connPersist(mode, connect)
	h.send(connect)
	return h
}

func connClient[ID packetid.ID](t *testing.T, mode byte) *connHarness[ID] {
	h := connConnecting[ID](t, mode, false)
	v := h.v
	connack := &packet.Connack{}
	if v == packet.V5 {
		connack.Props = property.Properties{ReceiveMaximum: 4, TopicAliasMaximum: 3}
	}
	h.check(h.c.Recv(connEncode(t, v, connack)))
	h.send(&packet.PublishOf[ID]{Topic: "c/1", QoS: 1})
	h.send(&packet.PublishOf[ID]{Topic: "c/2", QoS: 2})
	h.send(&packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 2}}})
	h.send(&packet.UnsubscribeOf[ID]{Filters: []string{"a/#"}})
	h.send(&packet.PublishOf[ID]{Topic: "c/1", QoS: 0})
	if mode&32 != 0 { // beyond the server's Receive Maximum of 4: queued
		for range 3 {
			h.send(&packet.PublishOf[ID]{Topic: "c/3", QoS: 1})
		}
	}
	return h
}

func (h *connHarness[ID]) send(p packet.Packet) {
	h.t.Helper()
	evs, err := h.c.Send(p)
	if err != nil {
		h.t.Fatalf("setup Send(%v): %v", p.Type(), err)
	}
	h.check(evs)
}

// feed cuts data into chunks and checks the events of each Recv.
func (h *connHarness[ID]) feed(cuts, data []byte) {
	for _, n := range cuts {
		n := min(int(n), len(data))
		h.recv(data[:n])
		data = data[n:]
	}
	h.recv(data)
	evs := h.c.Closed()
	h.check(evs)
	if h.c.State() != mqtt.StateDisconnected || h.c.SendQuota() < 0 {
		h.t.Fatalf("after Closed: state %v, quota %d", h.c.State(), h.c.SendQuota())
	}
}

func (h *connHarness[ID]) recv(chunk []byte) {
	was := h.closing
	evs := h.c.Recv(chunk)
	if was && len(evs) != 0 {
		h.t.Fatalf("Recv after EventClose returned %v", evs)
	}
	h.check(evs)
	// Manual acknowledgements: answer what the Connection left to us.
	acks := h.acks
	h.acks = nil
	for _, a := range acks {
		evs, err := h.c.Send(a)
		if h.closing {
			if err == nil {
				h.t.Fatalf("Send(%v) after EventClose succeeded", a.Type())
			}
			continue
		}
		if err != nil {
			continue // the exchange may have been replaced by a misbehaving peer
		}
		h.check(evs)
	}
}

// check verifies the invariants on one call's events.
func (h *connHarness[ID]) check(evs []mqtt.Event[ID]) {
	h.t.Helper()
	errPending := false
	for _, e := range evs {
		switch e.Kind {
		case mqtt.EventError:
			if e.Err == nil {
				h.t.Fatalf("EventError without an error")
			}
			errPending = true
		case mqtt.EventClose:
			h.closes++
			h.closing = true
			errPending = false
			if h.closes > 1 {
				h.t.Fatalf("second EventClose: %v", evs)
			}
		case mqtt.EventSend:
			if e.Packet == nil {
				h.t.Fatalf("EventSend without its packet")
			}
			p, n, err := packet.Decode[ID](h.c.Version(), e.Bytes, 0)
			if err != nil || n != len(e.Bytes) || p.Type() != e.Packet.Type() {
				h.t.Fatalf("EventSend %v: bytes % x decode to %v, %d, %v", e.Packet.Type(), e.Bytes, p, n, err)
			}
		case mqtt.EventPacket:
			h.noteManual(e.Packet)
		}
	}
	if errPending {
		h.t.Fatalf("EventError without EventClose after it: %v", evs)
	}
	if q := h.c.SendQuota(); q < 0 {
		h.t.Fatalf("SendQuota %d", q)
	}
}

// noteManual queues the acknowledgement a manual mode leaves to the caller,
// and the server's answer to a CONNECT or AUTH in the fresh targets.
func (h *connHarness[ID]) noteManual(p packet.Packet) {
	switch p := p.(type) {
	case *packet.Connect:
		h.acks = append(h.acks, freshConnack(h.mode, p))
	case *packet.Auth:
		if h.c.Role() == mqtt.RoleServer {
			h.acks = append(h.acks, &packet.Auth{Reason: packet.ContinueAuthentication,
				Props: property.Properties{AuthMethod: p.Props.AuthMethod, AuthData: []byte("s")}})
		}
	case *packet.PublishOf[ID]:
		if p.QoS == 1 && h.mode&2 != 0 {
			h.acks = append(h.acks, &packet.PubackOf[ID]{PacketID: p.PacketID})
		}
		if p.QoS == 2 && h.mode&4 != 0 {
			h.acks = append(h.acks, &packet.PubrecOf[ID]{PacketID: p.PacketID})
		}
	case *packet.PubrecOf[ID]:
		if h.mode&8 != 0 && !p.Reason.IsError() {
			h.acks = append(h.acks, &packet.PubrelOf[ID]{PacketID: p.PacketID})
		}
	case *packet.PubrelOf[ID]:
		if h.mode&16 != 0 {
			h.acks = append(h.acks, &packet.PubcompOf[ID]{PacketID: p.PacketID})
		}
	}
}
