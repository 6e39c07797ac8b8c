package mqtt

import (
	"bytes"
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Flow control (section 4.9): the Receive Maximum a side announces bounds
// the QoS 1 and QoS 2 PUBLISH packets its peer may leave unacknowledged.
// The send quota and the queue on an exhausted quota; what a receiver
// counts, across identifier collisions and resumed sessions; a hostile
// client over the maximum.

func TestRulesReceiveMaximum(t *testing.T) {
	t.Run("MQTT-3.3.4-7/server-disconnects-0x93", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: 3}))
		// QoS 2 exchanges stay open (awaiting PUBREL); QoS 1 ones close at
		// once, but count while they are handled.
		evs := s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: 1}, &packet.Publish{Topic: "a", QoS: 2, PacketID: 2},
			&packet.Publish{Topic: "a", QoS: 1, PacketID: 3}, &packet.Publish{Topic: "a", QoS: 1, PacketID: 4},
			&packet.Publish{Topic: "a", QoS: 2, PacketID: 5}))
		if evErr(evs) != nil {
			t.Fatalf("within Receive Maximum: %v", evs)
		}
		evs = s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: 6}))
		wantClose(t, v, evs, packet.ReceiveMaximumExceeded)
	})
	t.Run("MQTT-3.3.4-7/exchange-end-frees-a-slot", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: 1}))
		for id := uint16(1); id < 5; id++ {
			evs := s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: id}, &packet.Pubrel{PacketID: id}))
			if evErr(evs) != nil {
				t.Fatalf("%v", evs)
			}
		}
	})
	t.Run("MQTT-3.3.4-9/client-disconnects-0x93", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{ManualPuback: true}, connectFor(v, 0, property.Properties{ReceiveMaximum: 1}), connackFor(v, property.Properties{}))
		if evs := c.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 1})); evErr(evs) != nil {
			t.Fatalf("%v", evs)
		}
		wantClose(t, v, c.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 2})), packet.ReceiveMaximumExceeded)
	})
	t.Run("MQTT-3.3.4-9/QoS0-not-counted", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{ManualPuback: true}, connectFor(v, 0, property.Properties{ReceiveMaximum: 1}), connackFor(v, property.Properties{}))
		evs := c.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 1}, &packet.Publish{Topic: "a"}, &packet.Publish{Topic: "a"}))
		if evErr(evs) != nil || len(received(evs)) != 3 {
			t.Fatalf("%v", evs)
		}
	})
	for _, v := range versions {
		t.Run("MQTT-4.9.0-2/"+v.String()+"/quota-exhausted", func(t *testing.T) {
			recvMax := uint16(3)
			c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: recvMax}))
			want := int(recvMax)
			if v != packet.V5 {
				want = 65535 // no Receive Maximum in 3.1.1
			}
			if c.SendQuota() != want {
				t.Fatalf("MQTT-4.9.0-1: initial quota %d", c.SendQuota())
			}
			if v != packet.V5 {
				return
			}
			for i := range want {
				if _, err := c.Send(&packet.Publish{Topic: "a", QoS: packet.QoS(1 + i%2)}); err != nil {
					t.Fatal(err)
				}
			}
			if c.SendQuota() != 0 {
				t.Fatalf("quota %d", c.SendQuota())
			}
			refused(t, c, &packet.Publish{Topic: "a", QoS: 1}, ErrQuotaExceeded)
			refused(t, c, &packet.Publish{Topic: "a", QoS: 2}, ErrQuotaExceeded)
			// MQTT-4.9.0-3, MQTT-3.3.4-8: everything else still goes.
			for _, p := range []packet.Packet{&packet.Publish{Topic: "a"}, &packet.Pingreq{},
				&packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a"}}}} {
				if _, err := c.Send(p); err != nil {
					t.Fatalf("MQTT-3.3.4-8: %v at quota 0: %v", p.Type(), err)
				}
			}
			c.Recv(wire(t, v, &packet.Puback{PacketID: 1}))
			if c.SendQuota() != 1 {
				t.Fatalf("quota after PUBACK %d", c.SendQuota())
			}
			if _, err := c.Send(&packet.Publish{Topic: "a", QoS: 1}); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("MQTT-3.3.4-9/server-quota-from-CONNECT", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{ReceiveMaximum: 1}), connackFor(v, property.Properties{}))
		if _, err := s.Send(&packet.Publish{Topic: "a", QoS: 2}); err != nil {
			t.Fatal(err)
		}
		refused(t, s, &packet.Publish{Topic: "a", QoS: 1}, ErrQuotaExceeded)
		s.Recv(wire(t, v, &packet.Pubrec{PacketID: 1}))
		refused(t, s, &packet.Publish{Topic: "a", QoS: 1}, ErrQuotaExceeded) // PUBREL sent, PUBCOMP awaited
		s.Recv(wire(t, v, &packet.Pubcomp{PacketID: 1}))
		if s.SendQuota() != 1 {
			t.Fatalf("quota %d", s.SendQuota())
		}
	})
}

func TestQuotaQueueDrainsInOrder(t *testing.T) {
	p := newPair(t, Config{QueueWhenQuotaExhausted: true}, Config{ManualPuback: true})
	p.connect(&packet.Connect{ClientID: "q"}, &packet.Connack{Props: property.Properties{ReceiveMaximum: 2}})
	for i := 0; i < 5; i++ {
		p.send(RoleClient, &packet.Publish{Topic: "q", QoS: packet.QoS1, Payload: []byte{byte(i)}})
	}
	// MQTT-3.3.4-7: only two in flight; the rest wait in the queue.
	got := p.packets(RoleServer)
	if len(got) != 2 || p.client.SendQuota() != 0 || len(p.client.queue) != 3 {
		t.Fatalf("server got %d, quota %d, queued %d", len(got), p.client.SendQuota(), len(p.client.queue))
	}
	var order []byte
	for len(got) > 0 {
		pub := got[0].(*packet.Publish)
		order = append(order, pub.Payload[0])
		p.send(RoleServer, &packet.Puback{PacketID: pub.PacketID})
		got = append(got[1:], p.packets(RoleServer)...)
	}
	if string(order) != "\x00\x01\x02\x03\x04" || p.client.ids.InUse() != 0 {
		t.Fatalf("delivered in order %v, ids in use %d", order, p.client.ids.InUse())
	}
}

func TestQuotaErrorChangesNothing(t *testing.T) {
	p := newPair(t, Config{}, Config{ManualPuback: true})
	p.connect(&packet.Connect{ClientID: "q"}, &packet.Connack{Props: property.Properties{ReceiveMaximum: 1}})
	p.send(RoleClient, &packet.Publish{Topic: "q", QoS: packet.QoS1})
	pub := &packet.Publish{Topic: "q", QoS: packet.QoS1}
	if evs, err := p.client.Send(pub); err != ErrQuotaExceeded || evs != nil || pub.PacketID != 0 {
		t.Fatalf("MQTT-3.3.4-7: Send over quota = %v, %v, id %d", evs, err, pub.PacketID)
	}
}

// TestHostileReceiveMaximum: unreleased QoS 2 exchanges count toward the
// server's Receive Maximum, repeats of them do not, and one more ends the
// connection with 0x93. Without a Receive Maximum (3.1.1, or v5 with the
// default 65,535) the identifier space bounds them: a client that leaves
// all 65,535 identifiers unreleased costs the server its exchange table.
func TestHostileReceiveMaximum(t *testing.T) {
	t.Run("MQTT-3.3.4-7/5.0/overrun-0x93", func(t *testing.T) {
		v := packet.V5
		s := hostileServer(t, v)
		var in []packet.Packet
		for id := uint16(1); id <= hostileRecvMax; id++ {
			in = append(in, &packet.Publish{Topic: "q2", QoS: 2, PacketID: id})
		}
		for range 100 { // repeats are no new exchanges
			for id := uint16(1); id <= hostileRecvMax; id++ {
				in = append(in, &packet.Publish{Topic: "q2", QoS: 2, PacketID: id, Dup: true})
			}
		}
		evs := s.Recv(wire(t, v, in...))
		if evErr(evs) != nil || len(received(evs)) != hostileRecvMax {
			t.Fatalf("within the Receive Maximum: %v", evErr(evs))
		}
		// Releasing one makes room for one.
		evs = s.Recv(wire(t, v, &packet.Pubrel{PacketID: 1}, &packet.Publish{Topic: "q2", QoS: 2, PacketID: 100}))
		if evErr(evs) != nil {
			t.Fatalf("%v", evs)
		}
		evs = s.Recv(wire(t, v, &packet.Publish{Topic: "q2", QoS: 2, PacketID: 101}, &packet.Pingreq{}))
		wantClose(t, v, evs, packet.ReceiveMaximumExceeded)
		if len(received(evs)) != 0 {
			t.Fatalf("the PUBLISH over the Receive Maximum was delivered: %v", evs)
		}
	})
	for _, v := range versions {
		t.Run(v.String()+"/every-identifier-unreleased/memory", func(t *testing.T) {
			mk := func() *tconn[uint16] {
				return serverConn(t, v, Config{MaxPacketSize: hostileMax}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			}
			// QoS 2 PUBLISH "q" of every identifier, encoded by hand for
			// speed; the first is checked against the encoder.
			one := wire(t, v, &packet.Publish{Topic: "q", QoS: 2, PacketID: 1})
			all := make([]byte, 0, 65535*len(one))
			for id := 1; id <= 65535; id++ {
				all = append(all, one...)
				all[len(all)-len(one)+5], all[len(all)-len(one)+6] = byte(id>>8), byte(id)
			}
			if !bytes.Equal(all[:len(one)], one) || !bytes.Equal(all[len(all)-len(one):], wire(t, v, &packet.Publish{Topic: "q", QoS: 2, PacketID: 65535})) {
				t.Fatalf("hand encoding % x", all[:len(one)])
			}
			const n = 4
			idle := perConnection(hostileConns, func(int) any { return mk() })
			held := perConnection(n, func(int) any {
				s := mk()
				for chunk := range inChunks(all, 4<<10) {
					if evs := s.Recv(chunk); evErr(evs) != nil {
						t.Fatal(evs)
					}
				}
				if s.inbound.Len() != 65535 {
					t.Fatalf("%d exchanges", s.inbound.Len())
				}
				s.Recv(nil) // the values of the last chunk's call go
				return s
			})
			// The table of exchanges (an identifier and a step per slot, at
			// most half full, and the table it grew from), and what a
			// Connection keeps from call to call.
			checkHeld(t, v.String()+" 65,535 unreleased QoS 2 exchanges", n, held, idle, idle+2*65536*3+keptPerCall())
		})
	}
}

// inChunks yields b in chunks of at most n bytes, as reads would.
func inChunks(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

// inflightConsistent checks that the count of inbound exchanges toward our
// Receive Maximum matches the exchanges themselves.
func inflightConsistent(t *testing.T, c *tconn[uint16], step string) {
	t.Helper()
	n := 0
	for _, x := range c.inbound.All() {
		if x&counted != 0 {
			n++
		}
	}
	if c.inflightIn != n {
		t.Errorf("after %s: inflightIn = %d, but %d inbound exchanges count toward Receive Maximum (%v)",
			step, c.inflightIn, n, c.inbound)
	}
}

// Was: a client that reuses the packet identifier of its own unanswered
// SUBSCRIBE (or UNSUBSCRIBE) for a QoS 1/2 PUBLISH corrupts the server's
// count of unacknowledged PUBLISH packets. recvPublish increments
// inflightIn only when the identifier has no inbound exchange (x == 0), but
// the exchange it then creates for the PUBLISH is decremented when it ends
// (advance): SUBSCRIBE 1, PUBLISH QoS 1 id 1 leaves inflightIn at -1, and
// each repetition lowers it by one more. The client can then keep more QoS 2
// PUBLISH packets unacknowledged than the server's Receive Maximum without
// the DISCONNECT 0x93 of MQTT-3.3.4-7 — flow control is bypassed. The
// caller's SUBACK for the SUBSCRIBE also fails with ErrIDUnknown, since the
// exchange was overwritten.
//
// The opposite order leaks upward: PUBLISH QoS 2 id 1 (awaiting PUBREL,
// counted), then SUBSCRIBE id 1 overwrites the exchange (recvRequest), which
// the caller's SUBACK ends without the decrement: inflightIn stays 1 for
// ever and a later, legitimate PUBLISH is refused with 0x93.
//
// Expected: the identifier collision is a protocol error (MQTT-2.2.1-3:
// the client must use an identifier not in use) answered with DISCONNECT
// (0x91 Packet Identifier in use or 0x82) and close, or at least inflightIn
// stays equal to the number of counted exchanges.
func TestRegressionReceiveMaximumCountCorruptedByIDCollision(t *testing.T) {
	v := packet.V5
	t.Run("MQTT-3.3.4-7/SUBSCRIBE-then-PUBLISH-same-id", func(t *testing.T) {
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: 1}))
		closed := false
		for i, p := range []packet.Packet{
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}},
			&packet.Publish{Topic: "a", QoS: 1, PacketID: 1},
			&packet.Publish{Topic: "a", QoS: 2, PacketID: 2}, // one unacknowledged: the maximum
			&packet.Publish{Topic: "a", QoS: 2, PacketID: 3}, // two: must be refused with 0x93
		} {
			evs := s.Recv(wire(t, v, p))
			closed = closed || indexOf(evs, EventClose) >= 0
			if !closed {
				inflightConsistent(t, s, p.Type().String()+" "+string(rune('0'+i)))
			}
		}
		if !closed {
			t.Fatalf("Receive Maximum 1, two QoS 2 PUBLISH awaiting PUBREL (%v), and no DISCONNECT", s.inbound)
		}
	})
	t.Run("MQTT-3.3.4-7/PUBLISH-then-SUBSCRIBE-same-id", func(t *testing.T) {
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: 1}))
		s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: 1}))
		evs := s.Recv(wire(t, v, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}}))
		if indexOf(evs, EventClose) >= 0 {
			return // refused as a protocol error: fine
		}
		if _, err := s.Send(&packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{0}}); err != nil {
			t.Fatal(err)
		}
		inflightConsistent(t, s, "SUBACK")
		// the client's QoS 2 exchange 1 is gone; a fresh PUBLISH is within
		// the maximum
		evs = s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 7}))
		if err := evErr(evs); err != nil {
			t.Fatalf("legitimate PUBLISH refused: %v", err)
		}
	})
}

// Input (v5): the client has two QoS 2 exchanges past PUBREC (its PUBRELs
// await PUBCOMP; the server owes them, Config.ManualPubcomp) when the
// connection is lost. It reconnects with the session present, and the
// server's CONNACK now announces Receive Maximum 1.
//
// Expected: SendQuota is never negative ("how many more QoS 1 and QoS 2
// PUBLISH packets may be sent"; section 4.9 keeps the send quota between 0
// and the Receive Maximum).
//
// Was: resend decrements the quota once per re-sent PUBREL without looking
// at it: SendQuota() is -1 after the CONNACK.
func TestRegressionLoweredReceiveMaximumNegativeQuota(t *testing.T) {
	l := newSessLink(t, Config{}, Config{ManualPubcomp: true})
	l.connect(true, false, 60, 2)
	l.flush()
	for _, payload := range []string{"A", "B"} {
		l.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2, Payload: []byte(payload)})
	}
	l.flush() // PUBLISH, PUBREC, PUBREL: the server owes PUBCOMP
	l.cut(Config{ManualPubcomp: true})
	l.connect(false, true, 60, 1)
	if q := l.client.SendQuota(); q < 0 {
		t.Fatalf("SendQuota() = %d after re-sending two PUBRELs under Receive Maximum 1", q)
	}
}

// Input (v5): server Receive Maximum 2 on the first connection, the server
// acknowledges QoS 1 by hand (Config.ManualPuback). The client publishes a
// QoS 1 message A, then a QoS 2 message B; the server receives both
// (delivers them, owes PUBACK for A, has sent PUBREC for B) and the
// connection is lost before A is acknowledged and before the PUBREC
// arrives. The client reconnects with the session present; the server now
// announces Receive Maximum 1. The client's send quota starts at 1 (section
// 4.9): it re-sends A, and B waits in its queue.
//
// Expected: the re-sent A is accepted: the client has one unacknowledged
// PUBLISH on this connection, within the Receive Maximum of 1.
//
// Was: the server counts B, still awaiting PUBREL from the earlier
// connection, toward the new Receive Maximum: A makes two, and the server
// disconnects the client with 0x93 Receive Maximum exceeded (MQTT-3.3.4-9).
// Two Connections of this package disagree on the count; a session whose
// server lowers its Receive Maximum between connections cannot resume.
func TestRegressionLoweredReceiveMaximumCountsOldSession(t *testing.T) {
	l := newSessLink(t, Config{}, Config{ManualPuback: true})
	l.connect(true, false, 60, 2)
	l.flush()
	l.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1, Payload: []byte("A")})
	l.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2, Payload: []byte("B")})
	l.deliverToServer()
	l.cut(Config{ManualPuback: true})
	l.reset()
	l.connect(false, true, 60, 1)
	l.flush()
	for _, e := range l.got[RoleServer] {
		if e.Kind == EventError {
			t.Fatalf("server: %v", e.Err)
		}
	}
}

// TestReceiveMaximumStatements: what still flows when the send quota is
// used up, checked between a client and a server.
func TestReceiveMaximumStatements(t *testing.T) {
	t.Run("MQTT-4.9.0-3/with no send quota everything but QoS 1 and 2 PUBLISH flows", func(t *testing.T) {
		p := newPair(t, Config{}, Config{ManualPuback: true})
		p.connect(&packet.Connect{ClientID: "z", CleanStart: true, KeepAlive: 30}, &packet.Connack{Props: property.Properties{ReceiveMaximum: 1}})
		p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1})
		p.packets(RoleServer)
		if p.client.SendQuota() != 0 {
			t.Fatalf("quota %d", p.client.SendQuota())
		}
		refused(t, p.client, &packet.Publish{Topic: "t", QoS: 1}, ErrQuotaExceeded)
		p.send(RoleClient, &packet.Publish{Topic: "t"})
		sub := &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "t"}}}
		p.send(RoleClient, sub)
		p.send(RoleServer, &packet.Suback{PacketID: sub.PacketID, Reasons: []packet.ReasonCode{0}})
		p.send(RoleServer, &packet.Publish{Topic: "t", QoS: 1})
		p.send(RoleServer, &packet.Publish{Topic: "t", QoS: 2})
		p.run(RoleClient, p.client.TimerFired(TimerPing))
		types := func(ps []packet.Packet) []packet.Type {
			var ts []packet.Type
			for _, q := range ps {
				ts = append(ts, q.Type())
			}
			return ts
		}
		wantServer := []packet.Type{packet.TypePublish, packet.TypeSubscribe, packet.TypePuback, packet.TypePubrec, packet.TypePubcomp, packet.TypePingreq}
		wantClient := []packet.Type{packet.TypeSuback, packet.TypePublish, packet.TypePublish, packet.TypePubrel, packet.TypePingresp}
		if got := types(p.packets(RoleServer)); !slices.Equal(got, wantServer) {
			t.Fatalf("server received %v, want %v", got, wantServer)
		}
		if got := types(p.packets(RoleClient)); !slices.Equal(got, wantClient) {
			t.Fatalf("client received %v, want %v", got, wantClient)
		}
	})

	t.Run("MQTT-3.3.4-10/a server without quota still sends what is not PUBLISH", func(t *testing.T) {
		p := connectedPair(t, Config{ManualPuback: true}, Config{}, &packet.Connect{ClientID: "s", CleanStart: true,
			Props: property.Properties{ReceiveMaximum: 1}}, &packet.Connack{})
		p.send(RoleServer, &packet.Publish{Topic: "t", QoS: 1})
		if p.server.SendQuota() != 0 {
			t.Fatalf("quota %d", p.server.SendQuota())
		}
		p.send(RoleClient, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "t"}}})
		if _, err := p.server.Send(&packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{0}}); err != nil {
			t.Fatalf("SUBACK with no send quota: %v", err)
		}
		p.send(RoleClient, &packet.Pingreq{})
		if got := p.packets(RoleClient); len(got) < 2 {
			t.Fatalf("client got %v, want the SUBACK and the PINGRESP", got)
		}
	})
}
