package fuzz

import (
	"testing"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// FuzzServerRecv and FuzzClientRecv drive Connection.Recv, after a valid
// handshake and a few exchanges of our own left open, with arbitrary bytes
// cut into chunks at points the fuzzer chooses. mode selects the version
// (bit 0: 3.1.1), the manual acknowledgements (bits 1-4), the send queue
// (bit 5), automatic topic aliases (bit 6) and a session that outlives the
// connection (bit 7); each byte of
// cuts is the length of the next chunk (0 is an empty Recv), the rest of
// data goes in one last chunk.
//
// Invariants: no panic; every EventError is followed by an EventClose in
// the same call; at most one EventClose in the life of the connection,
// Closed included; after EventClose, Recv returns no events; SendQuota is
// never negative; every EventSend carries a well-formed packet of the
// connection's version.
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzServerRecv$' -fuzztime 2m
//	go test ./fuzz -run '^$' -fuzz '^FuzzClientRecv$' -fuzztime 2m
func FuzzServerRecv(f *testing.F) {
	for mode := range byte(4) {
		v := connVersion(mode)
		f.Add(mode, []byte{}, connEncode(f, v, connServerSeed()...))
		f.Add(mode, []byte{1, 1, 1, 1, 1, 1, 1, 1, 3, 0, 7}, connEncode(f, v, connServerSeed()...))
		f.Add(mode|0b11110, []byte{5, 9, 2}, connEncode(f, v, connServerSeed()...))
		f.Add(mode|0b11100000, []byte{1, 2, 3, 4}, connEncode(f, v, connServerSeed()...))
	}
	f.Add(byte(0), []byte{2}, []byte{0x30, 0xff, 0xff, 0xff, 0x7f}) // oversize PUBLISH
	f.Add(byte(0), []byte{}, []byte{0x10, 0x00})                    // second CONNECT, malformed
	f.Fuzz(func(t *testing.T, mode byte, cuts, data []byte) {
		h := connServer(t, mode)
		h.feed(cuts, data)
	})
}

func FuzzClientRecv(f *testing.F) {
	for mode := range byte(4) {
		v := connVersion(mode)
		f.Add(mode, []byte{}, connEncode(f, v, connClientSeed(v)...))
		f.Add(mode, []byte{1, 1, 1, 1, 2, 0, 4, 4, 4}, connEncode(f, v, connClientSeed(v)...))
		f.Add(mode|0b11110, []byte{3, 200}, connEncode(f, v, connClientSeed(v)...))
		f.Add(mode|0b11100000, []byte{4, 3, 2, 1}, connEncode(f, v, connClientSeed(v)...))
	}
	f.Add(byte(0), []byte{}, []byte{0xe0, 0x01, 0x8e})                               // DISCONNECT 0x8E
	f.Add(byte(0), []byte{}, []byte{0x30, 0x05, 0x00, 0x00, 0x03, 0x23, 0x00, 0x09}) // alias 9
	f.Fuzz(func(t *testing.T, mode byte, cuts, data []byte) {
		h := connClient(t, mode)
		h.feed(cuts, data)
	})
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

// connServerSeed is what a client may send after the handshake.
func connServerSeed() []packet.Packet {
	return []packet.Packet{
		&packet.Publish{Topic: "a/b", Payload: []byte("0")},
		&packet.Publish{Topic: "a/b", QoS: 1, PacketID: 7, Payload: []byte("1")},
		&packet.Publish{Topic: "a/b", QoS: 2, PacketID: 8, Payload: []byte("2")},
		&packet.Publish{Topic: "a/b", QoS: 2, PacketID: 8, Dup: true, Payload: []byte("2")},
		&packet.Pubrel{PacketID: 8},
		&packet.Puback{PacketID: 1},
		&packet.Pubrec{PacketID: 2},
		&packet.Pubcomp{PacketID: 2},
		&packet.Subscribe{PacketID: 9, Subscriptions: []packet.Subscription{{Filter: "x/#", QoS: 1}}},
		&packet.Unsubscribe{PacketID: 10, Filters: []string{"x/#"}},
		&packet.Pingreq{},
		&packet.Disconnect{},
	}
}

// connClientSeed is what a server may send after the handshake.
func connClientSeed(v packet.Version) []packet.Packet {
	ps := []packet.Packet{
		&packet.Publish{Topic: "a/b", Payload: []byte("0")},
		&packet.Publish{Topic: "a/b", QoS: 1, PacketID: 7, Payload: []byte("1")},
		&packet.Publish{Topic: "a/b", QoS: 2, PacketID: 8, Payload: []byte("2")},
		&packet.Pubrel{PacketID: 8},
		&packet.Puback{PacketID: 1},
		&packet.Pubrec{PacketID: 2},
		&packet.Pubcomp{PacketID: 2},
		&packet.Suback{PacketID: 3, Reasons: []packet.ReasonCode{1}},
		&packet.Unsuback{PacketID: 4},
		&packet.Pingresp{},
	}
	if v == packet.V5 {
		ps[len(ps)-2] = &packet.Unsuback{PacketID: 4, Reasons: []packet.ReasonCode{0}}
		ps = append(ps, &packet.Publish{Topic: "c", QoS: 1, PacketID: 11,
			Props: property.Properties{TopicAlias: 2}},
			&packet.Publish{QoS: 1, PacketID: 12, Props: property.Properties{TopicAlias: 2}})
	}
	return append(ps, &packet.Disconnect{})
}

// connHarness is a Connection under fuzzing with the invariants' state.
type connHarness struct {
	t       *testing.T
	c       *recorder[uint16]
	v       packet.Version
	closes  int
	closing bool
	mode    byte
	acks    []packet.Packet // manual acknowledgements to send after the call
}

func connServer(t *testing.T, mode byte) *connHarness {
	v := connVersion(mode)
	h := &connHarness{t: t, c: newRecorder[uint16](mqtt.RoleServer, connConfig(mode)), v: v, mode: mode}
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
	h.send(&packet.Publish{Topic: "s/1", QoS: 1})
	h.send(&packet.Publish{Topic: "s/2", QoS: 2})
	h.send(&packet.Publish{Topic: "s/1", QoS: 0})
	if mode&32 != 0 { // beyond the client's Receive Maximum of 3: queued
		h.send(&packet.Publish{Topic: "s/3", QoS: 1})
		h.send(&packet.Publish{Topic: "s/4", QoS: 2})
	}
	return h
}

func connClient(t *testing.T, mode byte) *connHarness {
	v := connVersion(mode)
	cfg := connConfig(mode)
	cfg.Version = v
	h := &connHarness{t: t, c: newRecorder[uint16](mqtt.RoleClient, cfg), v: v, mode: mode}
	connect := &packet.Connect{ClientID: "f", KeepAlive: 30}
	if v == packet.V5 {
		connect.Props = property.Properties{ReceiveMaximum: 3, TopicAliasMaximum: 2, MaximumPacketSize: 4096}
	}
	connPersist(mode, connect)
	h.send(connect)
	connack := &packet.Connack{}
	if v == packet.V5 {
		connack.Props = property.Properties{ReceiveMaximum: 4, TopicAliasMaximum: 3}
	}
	h.check(h.c.Recv(connEncode(t, v, connack)))
	h.send(&packet.Publish{Topic: "c/1", QoS: 1})
	h.send(&packet.Publish{Topic: "c/2", QoS: 2})
	h.send(&packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 2}}})
	h.send(&packet.Unsubscribe{Filters: []string{"a/#"}})
	h.send(&packet.Publish{Topic: "c/1", QoS: 0})
	if mode&32 != 0 { // beyond the server's Receive Maximum of 4: queued
		for range 3 {
			h.send(&packet.Publish{Topic: "c/3", QoS: 1})
		}
	}
	return h
}

func (h *connHarness) send(p packet.Packet) {
	h.t.Helper()
	evs, err := h.c.Send(p)
	if err != nil {
		h.t.Fatalf("setup Send(%v): %v", p.Type(), err)
	}
	h.check(evs)
}

// feed cuts data into chunks and checks the events of each Recv.
func (h *connHarness) feed(cuts, data []byte) {
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

func (h *connHarness) recv(chunk []byte) {
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
func (h *connHarness) check(evs []mqtt.Event[uint16]) {
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
			p, n, err := packet.Decode[uint16](h.c.Version(), e.Bytes, 0)
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
func (h *connHarness) noteManual(p packet.Packet) {
	switch p := p.(type) {
	case *packet.Connect:
		h.acks = append(h.acks, freshConnack(h.mode, p))
	case *packet.Auth:
		if h.c.Role() == mqtt.RoleServer {
			h.acks = append(h.acks, &packet.Auth{Reason: packet.ContinueAuthentication,
				Props: property.Properties{AuthMethod: p.Props.AuthMethod, AuthData: []byte("s")}})
		}
	case *packet.Publish:
		if p.QoS == 1 && h.mode&2 != 0 {
			h.acks = append(h.acks, &packet.Puback{PacketID: p.PacketID})
		}
		if p.QoS == 2 && h.mode&4 != 0 {
			h.acks = append(h.acks, &packet.Pubrec{PacketID: p.PacketID})
		}
	case *packet.Pubrec:
		if h.mode&8 != 0 && !p.Reason.IsError() {
			h.acks = append(h.acks, &packet.Pubrel{PacketID: p.PacketID})
		}
	case *packet.Pubrel:
		if h.mode&16 != 0 {
			h.acks = append(h.acks, &packet.Pubcomp{PacketID: p.PacketID})
		}
	}
}
