package mqtt

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// CONNECT and CONNACK: the protocol name and level (MQTT 3.1, 3.1.1, 5.0),
// a malformed CONNECT, what the server holds until its CONNACK and drops
// after a refusing one, and what a CONNACK may say given the CONNECT.

// rawConnect is a CONNECT with protocol name and level of our choice.
func rawConnect(name string, level byte) []byte {
	body := []byte{0, byte(len(name))}
	body = append(body, name...)
	body = append(body, level, 0x02, 0, 30, 0, 1, 'c')
	if level == 5 {
		body = slices.Insert(body, 2+len(name)+4, 0) // empty properties
	}
	return append([]byte{0x10, byte(len(body))}, body...)
}

func TestRulesConnect(t *testing.T) {
	t.Run("MQTT-3.1.2-2/3.1.1/old-level-return-code-0x01", func(t *testing.T) {
		for _, level := range []byte{1, 2, 3} {
			s := newTestServer[uint16](Config{})
			evs := s.Recv(rawConnect("MQTT", level))
			if !slices.Equal(sentBytes(evs), []byte{0x20, 0x02, 0x00, 0x01}) {
				t.Fatalf("level %d: sent % x", level, sentBytes(evs))
			}
			if indexOf(evs, EventClose) < 0 || !errors.Is(evErr(evs), packet.ErrUnsupportedVersion) {
				t.Fatalf("level %d: %v", level, evs)
			}
		}
	})
	t.Run("MQTT-3.1.2-2/v5-only-server-3.1.1-client-return-code-0x01", func(t *testing.T) {
		s := newTestServer[uint16](Config{Version: packet.V5})
		evs := s.Recv(rawConnect("MQTT", 4))
		if !slices.Equal(sentBytes(evs), []byte{0x20, 0x02, 0x00, 0x01}) || indexOf(evs, EventClose) < 0 {
			t.Fatalf("sent % x: %v", sentBytes(evs), evs)
		}
	})
	t.Run("MQTT-3.1.2-2/3.1.1-only-server-v5-client-CONNACK-0x84", func(t *testing.T) {
		s := newTestServer[uint16](Config{Version: packet.V311})
		evs := s.Recv(rawConnect("MQTT", 5))
		if !slices.Equal(sentBytes(evs), []byte{0x20, 0x03, 0x00, 0x84, 0x00}) || indexOf(evs, EventClose) < 0 {
			t.Fatalf("sent % x: %v", sentBytes(evs), evs)
		}
	})
	t.Run("MQTT-3.1.0-1/configured-version-first-packet-not-CONNECT", func(t *testing.T) {
		for _, v := range versions {
			evs := newTestServer[uint16](Config{Version: v}).Recv(wire(t, v, &packet.Pingreq{}))
			wantClose(t, v, evs, 0)
			if statement(evErr(evs)) != "MQTT-3.1.0-1" {
				t.Fatalf("%v: %v", v, evErr(evs))
			}
		}
	})
	t.Run("MQTT-3.1.2-1/bad-protocol-name-closes", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		evs := s.Recv(rawConnect("MQTX", 4))
		if indexOf(evs, EventClose) < 0 || evErr(evs) == nil {
			t.Fatalf("%v", evs)
		}
	})
	t.Run("MQTT-3.1.2-2/v5-server-level-5-accepted", func(t *testing.T) {
		s := newTestServer[uint16](Config{Version: packet.V5})
		if evs := s.Recv(rawConnect("MQTT", 5)); len(received(evs)) != 1 {
			t.Fatalf("%v", evs)
		}
	})
	t.Run("MQTT-3.1.4-1/v5/malformed-CONNECT-CONNACK-0x81", func(t *testing.T) {
		b := rawConnect("MQTT", 5)
		b[9] |= 0x01 // reserved flag (MQTT-3.1.2-3)
		s := newTestServer[uint16](Config{})
		evs := s.Recv(b)
		ps := sent(t, packet.V5, evs)
		if len(ps) != 1 || ps[0].(*packet.Connack).Reason != packet.MalformedPacket {
			t.Fatalf("%v", evs)
		}
		if indexOf(evs, EventClose) < indexOf(evs, EventSend) || statement(evErr(evs)) != "MQTT-3.1.2-3" {
			t.Fatalf("%v", evs)
		}
	})
	// A CONNECT whose fixed-header flags are not 0000 is malformed like one
	// with a bad body: the v5 client learns it from CONNACK 0x81, whatever
	// the split of the stream (the framing refused it before any CONNACK).
	t.Run("MQTT-3.1.4-1/MQTT-2.1.3-1/v5/CONNECT-with-invalid-flags-CONNACK-0x81", func(t *testing.T) {
		for _, flags := range []byte{0x01, 0x02, 0x08, 0x0F} {
			b := rawConnect("MQTT", 5)
			b[0] |= flags
			for _, split := range []int{len(b), 1, 2, 5} {
				s := newTestServer[uint16](Config{})
				var evs []Event[uint16]
				for rest := b; len(rest) > 0; {
					k := min(split, len(rest))
					evs = append(evs, s.Recv(rest[:k])...)
					rest = rest[k:]
				}
				ps := sent(t, packet.V5, evs)
				if len(ps) != 1 || ps[0].(*packet.Connack).Reason != packet.MalformedPacket {
					t.Fatalf("flags %04b, chunks of %d: %v", flags, split, evs)
				}
				if indexOf(evs, EventClose) < indexOf(evs, EventSend) || statement(evErr(evs)) != "MQTT-2.1.3-1" ||
					len(received(evs)) != 0 {
					t.Fatalf("flags %04b, chunks of %d: %v", flags, split, evs)
				}
			}
		}
		// A server configured for v5 answers so too.
		b := rawConnect("MQTT", 5)
		b[0] |= 0x02
		if ps := sent(t, packet.V5, newTestServer[uint16](Config{Version: packet.V5}).Recv(b)); len(ps) != 1 ||
			ps[0].(*packet.Connack).Reason != packet.MalformedPacket {
			t.Fatalf("%v", ps)
		}
	})
	t.Run("MQTT-3.1.4-1/3.1.1/CONNECT-with-invalid-flags-closes-without-CONNACK", func(t *testing.T) {
		b := rawConnect("MQTT", 4)
		b[0] |= 0x02
		for _, cfg := range []Config{{}, {Version: packet.V5}} { // also to a v5 server: the client speaks 3.1.1
			evs := newTestServer[uint16](cfg).Recv(b)
			wantClose(t, packet.V311, evs, 0)
			if !errors.Is(evErr(evs), packet.ErrMalformed) {
				t.Fatalf("%v", evErr(evs))
			}
		}
	})
	t.Run("MQTT-3.1.4-1/3.1.1/malformed-CONNECT-closes-without-CONNACK", func(t *testing.T) {
		b := rawConnect("MQTT", 4)
		b[9] |= 0x01
		evs := newTestServer[uint16](Config{}).Recv(b)
		wantClose(t, packet.V311, evs, 0)
		// A server configured for v5 reads the client's version too: no v5
		// CONNACK for a 3.1.1 client (it sent CONNACK 0x81).
		wantClose(t, packet.V311, newTestServer[uint16](Config{Version: packet.V5}).Recv(b), 0)
	})
	for _, v := range versions {
		t.Run("MQTT-3.2.2-7/"+v.String()+"/client-CONNACK-failure-closes", func(t *testing.T) {
			c := newTestClient[uint16](Config{Version: v})
			if _, err := c.Send(connectFor(v, 30, property.Properties{})); err != nil {
				t.Fatal(err)
			}
			code := packet.NotAuthorized
			if v != packet.V5 {
				code = packet.RefusedNotAuthorized
			}
			evs := c.Recv(wire(t, v, &packet.Connack{Reason: code}))
			if len(received(evs)) != 1 || indexOf(evs, EventClose) < 0 || indexOf(evs, EventTimerReset) >= 0 || len(sentTypes(evs)) != 0 {
				t.Fatalf("%v", evs)
			}
			refused(t, c, &packet.Publish{Topic: "a"}, ErrState)
			evs = c.Closed()
			if count(evs, EventClose) != 0 || c.State() != StateDisconnected {
				t.Fatalf("Closed: %v", evs)
			}
		})
		t.Run("MQTT-3.1.4-6/"+v.String()+"/server-CONNACK-failure-drops-held-packets", func(t *testing.T) {
			s := newTestServer[uint16](Config{})
			evs := s.Recv(wire(t, v, connectFor(v, 30, property.Properties{}), &packet.Publish{Topic: "a", QoS: 1, PacketID: 1}, &packet.Pingreq{}))
			if len(received(evs)) != 1 {
				t.Fatalf("%v", evs)
			}
			code := packet.BadUserNameOrPassword
			if v != packet.V5 {
				code = packet.RefusedBadUserNameOrPassword
			}
			evs, err := s.Send(&packet.Connack{Reason: code})
			if err != nil || !slices.Equal(sentTypes(evs), []packet.Type{packet.TypeConnack}) || len(received(evs)) != 0 || indexOf(evs, EventClose) < 0 {
				t.Fatalf("MQTT-3.2.2-7: %v %v", evs, err)
			}
			if evs := s.Recv(wire(t, v, &packet.Pingreq{})); len(evs) != 0 {
				t.Fatalf("after refusal: %v", evs)
			}
		})
		t.Run("MQTT-3.2.0-1/"+v.String()+"/held-until-CONNACK", func(t *testing.T) {
			s := newTestServer[uint16](Config{})
			evs := s.Recv(wire(t, v, connectFor(v, 30, property.Properties{}),
				&packet.Publish{Topic: "a", QoS: 1, PacketID: 1}, &packet.Pingreq{},
				&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "b"}}}))
			if len(received(evs)) != 1 || len(sentTypes(evs)) != 0 {
				t.Fatalf("before CONNACK: %v", evs)
			}
			// more arrives, in pieces, while the CONNACK is pending
			more := wire(t, v, &packet.Publish{Topic: "c", QoS: 2, PacketID: 3})
			if evs := s.Recv(more[:3]); len(evs) != 0 {
				t.Fatalf("%v", evs)
			}
			if evs := s.Recv(more[3:]); len(evs) != 0 {
				t.Fatalf("%v", evs)
			}
			evs, err := s.Send(connackFor(v, property.Properties{}))
			if err != nil {
				t.Fatal(err)
			}
			want := []packet.Type{packet.TypeConnack, packet.TypePuback, packet.TypePingresp, packet.TypePubrec}
			if got := sentTypes(evs); !slices.Equal(got, want) {
				t.Fatalf("sent %v, want %v", got, want)
			}
			var types []packet.Type
			for _, p := range received(evs) {
				types = append(types, p.Type())
			}
			if !slices.Equal(types, []packet.Type{packet.TypePublish, packet.TypePingreq, packet.TypeSubscribe, packet.TypePublish}) {
				t.Fatalf("delivered %v", types)
			}
			if got := received(evs)[0].(*packet.Publish).Topic; got != "a" {
				t.Fatalf("held packet corrupted: topic %q", got)
			}
		})
	}
	t.Run("MQTT-3.1.4-6/AUTH-and-DISCONNECT-not-held", func(t *testing.T) {
		v := packet.V5
		s := newTestServer[uint16](Config{})
		evs := s.Recv(wire(t, v, connectFor(v, 0, property.Properties{AuthMethod: "m"}),
			&packet.Auth{Reason: packet.ContinueAuthentication, Props: property.Properties{AuthMethod: "m"}}))
		if len(received(evs)) != 2 {
			t.Fatalf("%v", evs)
		}
		evs = s.Recv(wire(t, v, &packet.Disconnect{}))
		if len(received(evs)) != 1 || indexOf(evs, EventClose) < 0 {
			t.Fatalf("%v", evs)
		}
	})
	t.Run("sec3.1.4/hold-limit", func(t *testing.T) {
		v := packet.V5
		s := newTestServer[uint16](Config{MaxPacketSize: 1024})
		s.Recv(wire(t, v, connectFor(v, 0, property.Properties{})))
		big := wire(t, v, &packet.Publish{Topic: "a", Payload: make([]byte, 1000)})
		var evs []Event[uint16]
		for i := 0; i < 100 && indexOf(evs, EventClose) < 0; i++ {
			evs = s.Recv(big)
		}
		if !slices.Equal(sentTypes(evs), nil) || indexOf(evs, EventClose) < 0 || evErr(evs) == nil {
			t.Fatalf("hold without a limit: %v", evs)
		}
	})
}

// TestRulesMQTT31: where 3.1 differs from 3.1.1. It has no numbered
// statements; the cases name the 3.1.1 statement of the same rule.
func TestRulesMQTT31(t *testing.T) {
	v := packet.V31
	t.Run("MQTT-3.1.3-9 3.1.1 numbering/3.1/empty-client-id-rejected-0x02", func(t *testing.T) {
		// 3.1 asks for a Client Identifier of 1 to 23 characters, even
		// with a clean session.
		s := newTestServer[uint16](Config{})
		evs := s.Recv(wire(t, v, &packet.Connect{CleanStart: true}))
		if !slices.Equal(sentBytes(evs), []byte{0x20, 0x02, 0x00, 0x02}) || len(received(evs)) != 0 {
			t.Fatalf("%v", evs)
		}
		if ie, ic := indexOf(evs, EventError), indexOf(evs, EventClose); ie < 0 || ic < ie {
			t.Fatalf("want EventError then EventClose: %v", evs)
		}
		if code, _ := packet.ReasonOf(evErr(evs)); code != packet.ClientIdentifierNotValid || statement311(evErr(evs)) != "MQTT-3.1.3-9" {
			t.Fatalf("%v", evErr(evs))
		}
		c := newTestClient[uint16](Config{Version: v})
		refused(t, c, &packet.Connect{CleanStart: true}, ErrClientID)
		// 3.1.1 allows it with a clean session.
		if evs := newTestServer[uint16](Config{}).Recv(wire(t, packet.V311, &packet.Connect{CleanStart: true})); len(received(evs)) != 1 {
			t.Fatalf("3.1.1: %v", evs)
		}
	})
	t.Run("MQTT-3.6.1-1 3.1.1 numbering/3.1/re-sent-PUBREL-with-DUP-accepted", func(t *testing.T) {
		pubrelDUP := []byte{0x6A, 0x02, 0x00, 0x01}
		s := serverConn(t, v, Config{}, &packet.Connect{ClientID: "c", CleanStart: true}, &packet.Connack{})
		s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: 1}))
		for range 2 { // the PUBREL, then the same re-sent
			evs := s.Recv(pubrelDUP)
			if ts := sentTypes(evs); evErr(evs) != nil || len(ts) != 1 || ts[0] != packet.TypePubcomp {
				t.Fatalf("%v", evs)
			}
		}
		// SUBSCRIBE and UNSUBSCRIBE re-sent with DUP too.
		sub := wire(t, v, &packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "a"}}},
			&packet.Unsubscribe{PacketID: 3, Filters: []string{"a"}})
		sub[0] |= 0x08
		sub[len(sub)-7] |= 0x08 // the UNSUBSCRIBE: 2 header bytes, id, filter "a"
		if evs := s.Recv(sub); evErr(evs) != nil || len(received(evs)) != 2 {
			t.Fatalf("%v", evs)
		}
		// 3.1.1 refuses DUP on PUBREL (MQTT-3.6.1-1 of 3.1.1).
		s = serverConn(t, packet.V311, Config{}, connectFor(packet.V311, 0, property.Properties{}), &packet.Connack{})
		s.Recv(wire(t, packet.V311, &packet.Publish{Topic: "a", QoS: 2, PacketID: 1}))
		evs := s.Recv(pubrelDUP)
		wantClose(t, packet.V311, evs, 0)
		if statement311(evErr(evs)) != "MQTT-3.6.1-1" {
			t.Fatalf("%v", evErr(evs))
		}
	})
}

func TestConnackMustHonourConnect(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.send(RoleClient, &packet.Connect{ClientID: "w", Will: packet.Will{Topic: "w", QoS: 2, Retain: true}})
	// MQTT-3.2.2-12, MQTT-3.2.2-13: a server that cannot honour the will
	// must refuse the connection rather than accept it.
	if _, err := p.server.Send(&packet.Connack{Props: property.Properties{MaximumQoS: 1}}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("MQTT-3.2.2-12: accepting a QoS 2 will with Maximum QoS 1: %v", err)
	}
	if _, err := p.server.Send(&packet.Connack{Props: property.Properties{Zero: property.NewSet(property.RetainAvailable)}}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("MQTT-3.2.2-13: accepting a retained will without retain: %v", err)
	}
	// MQTT-3.1.2-31: Response Information only when asked for.
	if _, err := p.server.Send(&packet.Connack{Props: property.Properties{ResponseInfo: "r/"}}); err != ErrResponseInformation {
		t.Fatalf("MQTT-3.1.2-31: unrequested response information: %v", err)
	}
	p.send(RoleServer, &packet.Connack{Reason: packet.QoSNotSupported})
	if !p.closed[RoleServer] {
		t.Fatal("refusing CONNACK did not close")
	}
}

// The will travels in CONNECT for the broker to act on: its topic, payload,
// QoS, retain flag and properties (Will Delay Interval among them) reach the
// server application intact (MQTT-3.1.2-7, MQTT-3.1.2-9), and DISCONNECT
// 0x04 (disconnect with will) reaches it too.
func TestWillCarriedToTheServer(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	will := packet.Will{Topic: "clients/c/status", QoS: packet.QoS1, Retain: true, Payload: []byte("gone"),
		Props: property.Properties{WillDelay: 30, ContentType: "text/plain", MessageExpiry: 3600}}
	p.send(RoleClient, &packet.Connect{ClientID: "c", CleanStart: true, Will: will})
	got := p.packets(RoleServer)[0].(*packet.Connect)
	if got.Will.Topic != will.Topic || got.Will.QoS != will.QoS || !got.Will.Retain ||
		string(got.Will.Payload) != "gone" || got.Will.Props.WillDelay != 30 ||
		got.Will.Props.ContentType != "text/plain" || got.Will.Props.MessageExpiry != 3600 {
		t.Fatalf("MQTT-3.1.2-7, MQTT-3.1.2-9: server got will %+v", got.Will)
	}
	p.send(RoleServer, &packet.Connack{})
	p.send(RoleClient, &packet.Disconnect{Reason: packet.DisconnectWithWillMessage})
	d := p.packets(RoleServer)
	if len(d) != 1 || d[0].(*packet.Disconnect).Reason != packet.DisconnectWithWillMessage || !p.closed[RoleServer] {
		t.Fatalf("server got %v, closed %v", d, p.closed[RoleServer])
	}
}

// acceptedWithSuccess checks that a server that received CONNECT sends
// nothing before its CONNACK, and that an accepted CONNECT is answered
// with the bytes want (return code or reason code 0).
func acceptedWithSuccess(t *testing.T, v packet.Version, want []byte) {
	t.Helper()
	s := newTestServer[uint16](Config{})
	s.Recv(wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true}))
	for _, p := range []packet.Packet{&packet.Publish{Topic: "t"}, &packet.Pingresp{}, &packet.Disconnect{}} {
		want := ErrState
		if p.Type() == packet.TypeDisconnect && v != packet.V5 {
			want = ErrRole // a 3.1.1 server never sends DISCONNECT
		}
		refused(t, s, p, want)
	}
	evs, err := s.Send(&packet.Connack{})
	if err != nil || !bytes.Equal(sentBytes(evs), want) || s.State() != StateConnected {
		t.Fatalf("CONNACK: % X, %v, %v; want % X", sentBytes(evs), err, s.State(), want)
	}
}

// TestConnectStatements: how a server accepts or refuses a CONNECT.
func TestConnectStatements(t *testing.T) {
	v5 := packet.V5

	t.Run("MQTT-3.1.4-2/a CONNECT failing the server's checks closes the connection", func(t *testing.T) {
		for _, code := range []packet.ReasonCode{packet.BadUserNameOrPassword, packet.NotAuthorized, packet.Banned, packet.ServerBusy} {
			s := newTestServer[uint16](Config{})
			s.Recv(wire(t, v5, &packet.Connect{ClientID: "c", CleanStart: true, Username: "u", Password: []byte("p")}))
			evs, err := s.Send(&packet.Connack{Reason: code})
			if err != nil || count(evs, EventClose) != 1 || s.State() != StateDisconnected {
				t.Fatalf("CONNACK %v: %v, %v", code, evs, err)
			}
		}
		// Or without a CONNACK: the caller closes the transport.
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v5, &packet.Connect{ClientID: "c", CleanStart: true}))
		if evs := s.Closed(); count(evs, EventClose) != 1 || len(sentTypes(evs)) != 0 {
			t.Fatalf("Closed: %v", evs)
		}
	})
	t.Run("MQTT-3.1.4-5/an accepted CONNECT is acknowledged with CONNACK 0x00", func(t *testing.T) {
		acceptedWithSuccess(t, v5, []byte{0x20, 0x03, 0x00, 0x00, 0x00})
	})
}

// TestConnectStatementsV311: the CONNECT and CONNACK statements of 3.1.1,
// under their 3.1.1 numbers.
func TestConnectStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-3.1.4-1 in 3.1.1/malformed CONNECT closes without CONNACK", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		bad := wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true})
		bad[9] |= 0x01 // the reserved Connect Flag
		closedWithoutAnswer(t, s.Recv(bad))
	})
	t.Run("MQTT-3.1.4-4 3.1.1/an accepted CONNECT is acknowledged with return code 0", func(t *testing.T) {
		acceptedWithSuccess(t, v, []byte{0x20, 0x02, 0x00, 0x00})
	})
	t.Run("MQTT-3.1.4-5 3.1.1/after a refused CONNECT nothing the client sent is processed", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		evs := s.Recv(wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true},
			&packet.Publish{Topic: "t", QoS: 1, PacketID: 1}, &packet.Pingreq{},
			&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "t"}}}))
		if got := received(evs); len(got) != 1 || got[0].Type() != packet.TypeConnect {
			t.Fatalf("before CONNACK: %v", evs)
		}
		evs, err := s.Send(&packet.Connack{Reason: packet.RefusedNotAuthorized})
		if err != nil || !slices.Equal(sentTypes(evs), []packet.Type{packet.TypeConnack}) || len(received(evs)) != 0 || indexOf(evs, EventClose) < 0 {
			t.Fatalf("refusing CONNACK: %v, %v", evs, err)
		}
		if evs := s.Recv(wire(t, v, &packet.Publish{Topic: "t", QoS: 1, PacketID: 3}, &packet.Pingreq{})); len(evs) != 0 {
			t.Fatalf("after the refusal: %v", evs)
		}
		// The Connection's own refusal (an empty ClientId without
		// CleanSession) drops what follows the CONNECT in the same chunk.
		s = newTestServer[uint16](Config{})
		evs = s.Recv(wire(t, v, &packet.Connect{}, &packet.Publish{Topic: "t", QoS: 1, PacketID: 1}, &packet.Pingreq{}))
		if !bytes.Equal(sentBytes(evs), []byte{0x20, 0x02, 0x00, 0x02}) || len(received(evs)) != 0 || indexOf(evs, EventClose) < 0 {
			t.Fatalf("empty ClientId without CleanSession: %v", evs)
		}
	})
	t.Run("MQTT-3.2.2-4 MQTT-3.2.2-5 in 3.1.1/refusing CONNACK", func(t *testing.T) {
		p := newPair(t, Config{Version: v}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "c"})
		if _, err := p.server.Send(&packet.Connack{SessionPresent: true, Reason: packet.RefusedNotAuthorized}); err == nil {
			t.Fatal("CONNACK with a return code and Session Present 1 was sent")
		}
		p.send(RoleServer, &packet.Connack{Reason: packet.RefusedNotAuthorized})
		if !p.closed[RoleServer] {
			t.Fatal("the server did not close after a refusing CONNACK")
		}
	})
	t.Run("MQTT-3.2.2-6 3.1.1/when no return code applies the server closes without CONNACK", func(t *testing.T) {
		// A v5 reason code has no 3.1.1 return code: no CONNACK carries it,
		// and the server closes.
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true}))
		if evs, err := s.Send(&packet.Connack{Reason: packet.NotAuthorized}); err == nil || len(evs) != 0 {
			t.Fatalf("CONNACK 0x87 in 3.1.1: %v, %v", evs, err)
		}
		if evs := s.Closed(); count(evs, EventClose) != 1 || len(sentTypes(evs)) != 0 {
			t.Fatalf("Closed: %v", evs)
		}
		// A CONNECT that breaks the protocol has no return code either.
		bad := wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true})
		bad[9] |= 0x18 // Will QoS 3
		wantClose(t, v, newTestServer[uint16](Config{}).Recv(bad), 0)
	})
	t.Run("MQTT-4.8.0-2 3.1.1/running out of room for what the client sent closes the connection", func(t *testing.T) {
		// Before its CONNACK the server holds what the client sends after
		// CONNECT, up to a bound; beyond it, it closes without an answer.
		s := newTestServer[uint16](Config{MaxPacketSize: 1024})
		s.Recv(wire(t, v, &packet.Connect{ClientID: "c", CleanStart: true}))
		flood := wire(t, v, &packet.Publish{Topic: "t", Payload: make([]byte, 1000)})
		var evs []Event[uint16]
		for i := 0; i < 200 && indexOf(evs, EventClose) < 0; i++ {
			evs = s.Recv(flood)
		}
		wantClose(t, v, evs, 0)
		if code, _ := packet.ReasonOf(evErr(evs)); code != packet.QuotaExceeded {
			t.Fatalf("error %v", evErr(evs))
		}
	})
}
