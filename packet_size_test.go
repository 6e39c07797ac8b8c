package mqtt

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Maximum Packet Size: what a side announces (or Config.MaxPacketSize)
// refuses a larger packet from its fixed header alone, however large the
// Remaining Length it announces; the sender does not send what its peer
// would refuse, leaving out the Reason String and User Properties when
// they are what makes a packet too large.

func TestRulesOversize(t *testing.T) {
	// A v5 PUBLISH of 1000 bytes announced by its fixed header alone: it is
	// refused before its body arrives.
	header := []byte{0x30, 0xe5, 0x07} // Remaining Length 997
	t.Run("MQTT-3.2.2-15/server-refuses-from-fixed-header", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{MaximumPacketSize: 999}))
		evs := s.Recv(header)
		wantClose(t, v, evs, packet.PacketTooLarge)
		if !errors.Is(evErr(evs), packet.ErrPacketTooLarge) {
			t.Fatalf("%v", evErr(evs))
		}
		// one byte under the limit passes the header check
		s = serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{MaximumPacketSize: 1000}))
		if evs := s.Recv(header); len(evs) != 0 {
			t.Fatalf("size == maximum: %v", evs)
		}
	})
	t.Run("MQTT-3.2.2-15/server-Config.MaxPacketSize", func(t *testing.T) {
		for _, v := range versions {
			s := serverConn(t, v, Config{MaxPacketSize: 100}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			code := packet.PacketTooLarge
			if v != packet.V5 {
				code = 0
			}
			wantClose(t, v, s.Recv(header), code)
		}
	})
	t.Run("MQTT-3.2.2-15/server-before-CONNECT", func(t *testing.T) {
		s := newTestServer[uint16](Config{MaxPacketSize: 100})
		wantClose(t, packet.V5, s.Recv([]byte{0x10, 0xe5, 0x07}), 0)
	})
	t.Run("MQTT-3.1.2-27/client-refuses-from-fixed-header", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{MaximumPacketSize: 500}), connackFor(v, property.Properties{}))
		wantClose(t, v, c.Recv(header), packet.PacketTooLarge)
	})
	t.Run("config-hard-cap-in-3.1.1", func(t *testing.T) {
		c, _ := clientConn(t, packet.V311, Config{MaxPacketSize: 64}, connectFor(packet.V311, 0, property.Properties{}), connackFor(packet.V311, property.Properties{}))
		wantClose(t, packet.V311, c.Recv(header), 0)
	})
	t.Run("MQTT-3.2.2-15/client-send-too-large", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{MaximumPacketSize: 100}))
		p := &packet.Publish{Topic: "a", QoS: 1, Payload: make([]byte, 200)}
		refused(t, c, p, ErrPacketTooLarge)
		if p.PacketID != 0 || c.ids.InUse() != 0 {
			t.Fatalf("MQTT-2.2.1-3: id %d kept after a failed send, %d in use", p.PacketID, c.ids.InUse())
		}
		p.Payload = p.Payload[:90]
		if _, err := c.Send(p); err != nil || p.PacketID == 0 {
			t.Fatalf("fitting PUBLISH: %v, id %d", err, p.PacketID)
		}
	})
	t.Run("MQTT-3.1.2-27/server-send-too-large", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{MaximumPacketSize: 100}), connackFor(v, property.Properties{}))
		refused(t, s, &packet.Publish{Topic: "a", QoS: 2, Payload: make([]byte, 200)}, ErrPacketTooLarge)
		refused(t, s, &packet.Publish{Topic: "a", Payload: make([]byte, 200)}, ErrPacketTooLarge)
	})
}

// TestErrorPacketTooLarge: ErrPacketTooLarge is what Send refuses, whatever
// the limit; a packet received over this side's limit is a *PeerError that
// matches packet.ErrPacketTooLarge and names the statement the peer broke.
func TestErrorPacketTooLarge(t *testing.T) {
	v := packet.V5
	header := []byte{0x30, 0xe5, 0x07} // a PUBLISH of 1000 bytes
	t.Run("MQTT-3.2.2-15/received-from-a-client", func(t *testing.T) {
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{MaximumPacketSize: 999}))
		err := evErr(s.Recv(header))
		if !errors.Is(err, packet.ErrPacketTooLarge) || errors.Is(err, ErrPacketTooLarge) || statement(err) != "MQTT-3.2.2-15" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("MQTT-3.1.2-27/received-from-a-server", func(t *testing.T) {
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{MaximumPacketSize: 999}), connackFor(v, property.Properties{}))
		err := evErr(c.Recv(header))
		if !errors.Is(err, packet.ErrPacketTooLarge) || errors.Is(err, ErrPacketTooLarge) || statement(err) != "MQTT-3.1.2-27" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("MQTT-3.2.2-15/send-over-the-peer-maximum", func(t *testing.T) {
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{MaximumPacketSize: 100}))
		_, err := c.Send(&packet.Publish{Topic: "a", Payload: make([]byte, 200)})
		if err != ErrPacketTooLarge {
			t.Fatalf("%v", err)
		}
	})
	t.Run("send-over-the-protocol-limit", func(t *testing.T) {
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		// Never written to: the size is refused before the payload is read.
		_, err := c.Send(&packet.Publish{Topic: "a", Payload: make([]byte, packet.MaxRemainingLength)})
		if err != ErrPacketTooLarge {
			t.Fatalf("%v (%T)", err, err)
		}
	})
}

// TestHostileHugeLength: a fixed header announcing more than the maximum
// packet size, up to the protocol's 268,435,455 bytes, is refused from the
// header alone (v5: DISCONNECT 0x95), before anything is buffered; and
// without a configured limit a large announced length allocates nothing
// until the bytes arrive.
func TestHostileHugeLength(t *testing.T) {
	types := []struct {
		name  string
		first byte
	}{{"PUBLISH", 0x30}, {"PUBLISH-QoS2", 0x34}, {"PUBREL", 0x62}, {"SUBSCRIBE", 0x82},
		{"UNSUBSCRIBE", 0xa2}, {"PINGREQ", 0xc0}, {"DISCONNECT", 0xe0}, {"AUTH", 0xf0}}
	lengths := []int{hostileMax - 1, 1 << 20, packet.MaxRemainingLength}
	for _, v := range versions {
		for _, typ := range types {
			for _, n := range lengths {
				name := fmt.Sprintf("%s/%s/declared-%d", v, typ.name, n)
				if v == packet.V5 {
					name = "MQTT-3.2.2-15/" + name
				}
				t.Run(name, func(t *testing.T) {
					hdr := fixedHeader(typ.first, n)
					code := packet.ReasonCode(0)
					if v == packet.V5 {
						code = packet.PacketTooLarge
					}
					// The allocation count is the process's: a goroutine
					// of an earlier test can add to one attempt, so the
					// least of three counts.
					least := int64(-1)
					for range 3 {
						s := hostileServer(t, v)
						var evs []Event[uint16]
						alloc := allocatedBy(func() { evs = s.Recv(hdr) })
						wantClose(t, v, evs, code)
						if !errors.Is(evErr(evs), packet.ErrPacketTooLarge) {
							t.Fatalf("error %v, want packet too large", evErr(evs))
						}
						if least < 0 || alloc < least {
							least = alloc
						}
					}
					if least > 1<<10 {
						t.Fatalf("refusing the header allocated %d bytes", least)
					}
				})
			}
		}
		t.Run(v.String()+"/at-the-maximum-accepted", func(t *testing.T) {
			s := hostileServer(t, v)
			hdr := fixedHeader(0x30, hostileMax-3)
			if len(hdr)+hostileMax-3 != hostileMax {
				t.Fatal("header size")
			}
			if evs := s.Recv(hdr); len(evs) != 0 {
				t.Fatalf("a packet of exactly the maximum size refused: %v", evs)
			}
		})
	}
	t.Run("before-CONNECT/declared-268435455", func(t *testing.T) {
		s := newTestServer[uint16](Config{MaxPacketSize: hostileMax})
		evs := s.Recv(fixedHeader(0x10, packet.MaxRemainingLength))
		wantClose(t, packet.V5, evs, 0) // no version yet: no CONNACK
		if !errors.Is(evErr(evs), packet.ErrPacketTooLarge) {
			t.Fatalf("%v", evErr(evs))
		}
	})
	for _, v := range versions {
		t.Run(v.String()+"/no-limit/nothing-allocated-for-the-declared-length", func(t *testing.T) {
			// No Config.MaxPacketSize and no Maximum Packet Size announced:
			// the protocol's limit applies, and the server buffers what
			// arrives, not what is announced.
			mk := func() *tconn[uint16] {
				return serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			}
			s := mk()
			chunk := append(fixedHeader(0x30, packet.MaxRemainingLength), 0, 1, 'a')
			chunk = append(chunk, make([]byte, 1<<10)...)
			var evs []Event[uint16]
			alloc := allocatedBy(func() { evs = s.Recv(chunk) })
			if len(evs) != 0 {
				t.Fatalf("%v", evs)
			}
			t.Logf("header announcing %d bytes plus %d bytes of body: %d bytes allocated", packet.MaxRemainingLength, len(chunk)-5, alloc)
			if alloc > 16<<10 {
				t.Fatalf("%d bytes allocated for %d bytes received", alloc, len(chunk))
			}
			idle := perConnection(hostileConns, func(int) any { return mk() })
			held := perConnection(hostileConns, func(int) any {
				s := mk()
				s.Recv(fixedHeader(0x30, packet.MaxRemainingLength))
				return s
			})
			checkHeld(t, v.String()+" header announcing 268,435,455 bytes, no limit configured", hostileConns, held, idle, idle+1<<10)
		})
	}
}

func TestDropReasonStringToFit(t *testing.T) {
	p := newPair(t, Config{}, Config{ManualPuback: true})
	p.connect(&packet.Connect{ClientID: "d", Props: property.Properties{MaximumPacketSize: 20}}, &packet.Connack{})
	p.send(RoleClient, &packet.Publish{Topic: "t", QoS: packet.QoS1})
	pub := p.packets(RoleServer)[0].(*packet.Publish)
	ack := &packet.Puback{PacketID: pub.PacketID, Reason: packet.NoMatchingSubscribers,
		Props: property.Properties{ReasonString: "nobody is listening to this topic"}}
	evs, err := p.server.Send(ack)
	if err != nil {
		t.Fatal(err)
	}
	// MQTT-3.4.2-2: the Reason String would exceed the client's maximum.
	if len(evs[0].Bytes) > 20 || ack.Props.ReasonString != "" {
		t.Fatalf("MQTT-3.4.2-2: sent %d bytes, reason string %q", len(evs[0].Bytes), ack.Props.ReasonString)
	}
}

// MQTT-3.1.2-27, MQTT-3.1.2-28: a PUBLISH too large for the client's
// Maximum Packet Size is not sent; the server discards it: the call fails,
// its packet identifier and send quota are as if it had never been tried.
func TestServerDiscardsPublishTooLargeForClient(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.connect(&packet.Connect{ClientID: "s", CleanStart: true, Props: property.Properties{MaximumPacketSize: 64}}, &packet.Connack{})
	quota := p.server.SendQuota()
	pub := &packet.Publish{Topic: "t", QoS: 1, Payload: make([]byte, 100)}
	evs, err := p.server.Send(pub)
	if !errors.Is(err, ErrPacketTooLarge) || evs != nil {
		t.Fatalf("MQTT-3.1.2-27: Send of 100 bytes to a 64-byte client = %v, %v", evs, err)
	}
	if pub.PacketID != 0 || p.server.ids.InUse() != 0 || p.server.SendQuota() != quota {
		t.Fatalf("MQTT-3.1.2-28: after the discarded PUBLISH: id %d, ids in use %d, quota %d (was %d)",
			pub.PacketID, p.server.ids.InUse(), p.server.SendQuota(), quota)
	}
	next := &packet.Publish{Topic: "t", QoS: 1}
	if _, err := p.server.Send(next); err != nil || next.PacketID != 1 {
		t.Fatalf("MQTT-3.1.2-28: the PUBLISH after the discarded one: id %d, %v; want 1, the first", next.PacketID, err)
	}
}

// TestRefusedAckKeepsProperties: a SUBACK too large for the client even
// without its Reason String and User Properties, which Send leaves out to
// fit (MQTT-3.9.2-1, MQTT-3.9.2-2), is refused as it was given: the caller
// gets its packet back whole.
func TestRefusedAckKeepsProperties(t *testing.T) {
	for _, c := range []struct {
		name      string
		noProblem bool // the client asked for no problem information
	}{
		{"MQTT-3.9.2-1/MQTT-3.9.2-2/refused-whole", false},
		{"MQTT-3.1.2-32/refused-whole", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, Config{}, Config{})
			props := property.Properties{MaximumPacketSize: 64}
			if c.noProblem {
				props.Zero.Add(property.RequestProblemInformation)
			}
			p.connect(&packet.Connect{ClientID: "s", CleanStart: true, Props: props}, &packet.Connack{})
			p.send(RoleClient, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "t"}}})
			sub := p.packets(RoleServer)[0].(*packet.Subscribe)
			user := []property.User{{Key: "k", Value: "v"}}
			ack := &packet.Suback{PacketID: sub.PacketID, Reasons: make([]packet.ReasonCode, 100),
				Props: property.Properties{ReasonString: "why", User: user}}
			refused(t, p.server, ack, ErrPacketTooLarge)
			if ack.Props.ReasonString != "why" || !slices.Equal(ack.Props.User, user) {
				t.Fatalf("refused SUBACK left with Reason String %q, User Properties %v", ack.Props.ReasonString, ack.Props.User)
			}
		})
	}
}

// sentFitting sends pk from side from, whose peer announced a Maximum
// Packet Size of max, and returns the packet as it went on the wire, after
// checking its size and that the peer took it without complaint.
func sentFitting(t *testing.T, p *pair, from Role, pk packet.Packet, max int) packet.Packet {
	t.Helper()
	evs, err := p.conn(from).Send(pk)
	if err != nil {
		t.Fatalf("Send(%v): %v", pk.Type(), err)
	}
	var got packet.Packet
	for _, e := range evs {
		if e.Kind == EventSend && e.Packet.Type() == pk.Type() {
			if len(e.Bytes) > max {
				t.Fatalf("%v of %d bytes sent to a peer with a maximum of %d", pk.Type(), len(e.Bytes), max)
			}
			got = sent(t, packet.V5, []Event[uint16]{e})[0]
		}
	}
	if got == nil {
		t.Fatalf("no %v sent: %v", pk.Type(), evs)
	}
	peer := peerOf(from)
	p.run(from, evs)
	if evErr(p.got[peer]) != nil {
		t.Fatalf("the peer refused the %v: %v", pk.Type(), p.got[peer])
	}
	return got
}

// TestPacketSizeStatements: the sender leaves out a Reason String, then
// User Properties, that would make a packet exceed the receiver's Maximum
// Packet Size; a packet that fits keeps them.
func TestPacketSizeStatements(t *testing.T) {
	const max = 48
	long := strings.Repeat("r", 60)
	small := []property.User{{Key: "k", Value: "v"}}
	var big []property.User
	for i := range 6 {
		big = append(big, property.User{Key: "key-" + string(rune('a'+i)), Value: "value-" + string(rune('a'+i))})
	}
	// tight connects a pair whose sides both announce max; the CONNECT
	// may carry an Authentication Method.
	tight := func(t *testing.T, ccfg, scfg Config, method string) *pair {
		p := newPair(t, ccfg, scfg)
		p.connect(&packet.Connect{ClientID: "m", CleanStart: true, Props: property.Properties{MaximumPacketSize: max, AuthMethod: method}},
			&packet.Connack{Props: property.Properties{MaximumPacketSize: max, AuthMethod: method}})
		return p
	}
	// publish has the client send a PUBLISH of qos and returns its identifier.
	publish := func(p *pair, qos packet.QoS) uint16 {
		pub := &packet.Publish{Topic: "t", QoS: qos}
		p.send(RoleClient, pub)
		return pub.PacketID
	}
	fitCases := []struct {
		name, reasonString, userProperty string
		// setup returns a pair ready for the packet, its sender, and the
		// packet with the given properties.
		setup func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet)
	}{
		{"CONNACK", "MQTT-3.2.2-19", "MQTT-3.2.2-20", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			p := newPair(t, Config{}, Config{})
			p.send(RoleClient, &packet.Connect{ClientID: "m", CleanStart: true, Props: property.Properties{MaximumPacketSize: max}})
			return p, RoleServer, func(pr property.Properties) packet.Packet { return &packet.Connack{Props: pr} }
		}},
		{"PUBACK", "MQTT-3.4.2-2", "MQTT-3.4.2-3", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			p := tight(t, Config{}, Config{ManualPuback: true}, "")
			id := publish(p, 1)
			return p, RoleServer, func(pr property.Properties) packet.Packet {
				return &packet.Puback{PacketID: id, Reason: packet.NoMatchingSubscribers, Props: pr}
			}
		}},
		{"PUBREC", "MQTT-3.5.2-2", "MQTT-3.5.2-3", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			p := tight(t, Config{}, Config{ManualPubrec: true}, "")
			id := publish(p, 2)
			return p, RoleServer, func(pr property.Properties) packet.Packet { return &packet.Pubrec{PacketID: id, Props: pr} }
		}},
		{"PUBREL", "MQTT-3.6.2-2", "MQTT-3.6.2-3", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			p := tight(t, Config{ManualPubrel: true}, Config{}, "")
			id := publish(p, 2)
			return p, RoleClient, func(pr property.Properties) packet.Packet { return &packet.Pubrel{PacketID: id, Props: pr} }
		}},
		{"PUBCOMP", "MQTT-3.7.2-2", "MQTT-3.7.2-3", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			p := tight(t, Config{}, Config{ManualPubcomp: true}, "")
			id := publish(p, 2)
			return p, RoleServer, func(pr property.Properties) packet.Packet { return &packet.Pubcomp{PacketID: id, Props: pr} }
		}},
		{"SUBACK", "MQTT-3.9.2-1", "MQTT-3.9.2-2", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			p := tight(t, Config{}, Config{}, "")
			sub := &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 1}}}
			p.send(RoleClient, sub)
			return p, RoleServer, func(pr property.Properties) packet.Packet {
				return &packet.Suback{PacketID: sub.PacketID, Props: pr, Reasons: []packet.ReasonCode{1}}
			}
		}},
		{"UNSUBACK", "MQTT-3.11.2-1", "MQTT-3.11.2-2", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			p := tight(t, Config{}, Config{}, "")
			unsub := &packet.Unsubscribe{Filters: []string{"a/#"}}
			p.send(RoleClient, unsub)
			return p, RoleServer, func(pr property.Properties) packet.Packet {
				return &packet.Unsuback{PacketID: unsub.PacketID, Props: pr, Reasons: []packet.ReasonCode{packet.NoSubscriptionExisted}}
			}
		}},
		{"DISCONNECT from the server", "MQTT-3.14.2-3", "MQTT-3.14.2-4", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			return tight(t, Config{}, Config{}, ""), RoleServer, func(pr property.Properties) packet.Packet {
				return &packet.Disconnect{Reason: packet.ServerShuttingDown, Props: pr}
			}
		}},
		{"DISCONNECT from the client", "MQTT-3.14.2-3", "MQTT-3.14.2-4", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			return tight(t, Config{}, Config{}, ""), RoleClient, func(pr property.Properties) packet.Packet {
				return &packet.Disconnect{Reason: packet.DisconnectWithWillMessage, Props: pr}
			}
		}},
		{"AUTH before CONNACK", "MQTT-3.15.2-2", "", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			p := newPair(t, Config{}, Config{})
			p.send(RoleClient, &packet.Connect{ClientID: "m", CleanStart: true, Props: property.Properties{MaximumPacketSize: max, AuthMethod: "m"}})
			return p, RoleServer, func(pr property.Properties) packet.Packet {
				pr.AuthMethod = "m"
				return &packet.Auth{Reason: packet.ContinueAuthentication, Props: pr}
			}
		}},
		{"AUTH re-authenticating", "MQTT-3.15.2-2", "", func(t *testing.T) (*pair, Role, func(property.Properties) packet.Packet) {
			return tight(t, Config{}, Config{}, "m"), RoleClient, func(pr property.Properties) packet.Packet {
				pr.AuthMethod = "m"
				return &packet.Auth{Reason: packet.ReAuthenticate, Props: pr}
			}
		}},
	}
	for _, c := range fitCases {
		// The table has no statement for AUTH's User Property.
		name := c.reasonString + "/" + c.name
		if c.userProperty != "" {
			name = c.reasonString + "/" + c.userProperty + "/" + c.name
		}
		t.Run(name, func(t *testing.T) {
			variants := []struct {
				what  string
				props property.Properties
				ok    func(reason string, user []property.User) bool
			}{
				// Leaving out the Reason String is enough: the User
				// Property stays.
				{"Reason String too long", property.Properties{ReasonString: long, User: small},
					func(r string, u []property.User) bool { return r == "" && slices.Equal(u, small) }},
				// The User Properties go; the short Reason String may.
				{"User Properties too long", property.Properties{ReasonString: "ok", User: big},
					func(r string, u []property.User) bool { return (r == "ok" || r == "") && len(u) == 0 }},
				{"both too long", property.Properties{ReasonString: long, User: big},
					func(r string, u []property.User) bool { return r == "" && len(u) == 0 }},
				// What fits is sent.
				{"both fit", property.Properties{ReasonString: "ok", User: small},
					func(r string, u []property.User) bool { return r == "ok" && slices.Equal(u, small) }},
			}
			for _, w := range variants {
				p, from, build := c.setup(t)
				props := w.props
				props.User = slices.Clone(w.props.User)
				got := droppable(sentFitting(t, p, from, build(props), max))
				if !w.ok(got.ReasonString, got.User) {
					t.Fatalf("%s: sent Reason String %q, User Properties %v", w.what, got.ReasonString, got.User)
				}
			}
		})
	}
}
