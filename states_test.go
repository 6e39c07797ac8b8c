package mqtt

import (
	"errors"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Roles and states: which side may send which packet (section 2.1.2),
// what may come before CONNECT and CONNACK and after DISCONNECT, and how a
// connection ends: a packet out of place closes it, and nothing is handled
// after EventClose.

func TestRulesRoles(t *testing.T) {
	// Section 2.1.2 (no numbered statement) gives the direction of each
	// packet type.
	clientNever := []packet.Packet{&packet.Connack{}, &packet.Suback{PacketID: 1, Reasons: []packet.ReasonCode{0}},
		&packet.Unsuback{PacketID: 1, Reasons: []packet.ReasonCode{0}}, &packet.Pingresp{}}
	serverNever := []packet.Packet{connectFor(packet.V5, 0, property.Properties{}),
		&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}},
		&packet.Unsubscribe{PacketID: 1, Filters: []string{"a"}}, &packet.Pingreq{}}
	for _, v := range versions {
		for _, p := range clientNever {
			t.Run("sec2.1.2/"+v.String()+"/client-sends-"+p.Type().String(), func(t *testing.T) {
				c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
				refused(t, c, p, ErrRole)
				d := newTestClient[uint16](Config{Version: v}) // and before CONNECT
				refused(t, d, p, ErrRole)
			})
		}
		for _, p := range serverNever {
			t.Run("sec2.1.2/"+v.String()+"/server-sends-"+p.Type().String(), func(t *testing.T) {
				s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
				refused(t, s, p, ErrRole)
				refused(t, newTestServer[uint16](Config{}), p, ErrRole)
			})
		}
	}
	t.Run("sec2.1.2/other-identifier-width", func(t *testing.T) {
		c, _ := clientConn(t, packet.V5, Config{}, connectFor(packet.V5, 0, property.Properties{}), connackFor(packet.V5, property.Properties{}))
		refused(t, c, &packet.PublishOf[uint32]{Topic: "a", QoS: 1}, ErrIDWidth)
	})
}

func TestRulesStatesSend(t *testing.T) {
	v := packet.V5
	pub := func() *packet.Publish { return &packet.Publish{Topic: "a", QoS: 1} }
	t.Run("MQTT-3.1.0-1/client-PUBLISH-before-CONNECT", func(t *testing.T) {
		refused(t, newTestClient[uint16](Config{}), pub(), ErrState)
		refused(t, newTestClient[uint16](Config{}), &packet.Pingreq{}, ErrState)
		refused(t, newTestClient[uint16](Config{}), &packet.Disconnect{}, ErrState)
	})
	t.Run("sec3.1.4/client-PUBLISH-before-CONNACK", func(t *testing.T) {
		// The protocol lets a client send before CONNACK; the core refuses,
		// as its documentation says.
		c := newTestClient[uint16](Config{})
		if _, err := c.Send(connectFor(v, 0, property.Properties{})); err != nil {
			t.Fatal(err)
		}
		refused(t, c, pub(), ErrState)
		refused(t, c, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a"}}}, ErrState)
	})
	t.Run("MQTT-3.1.0-2/client-second-CONNECT", func(t *testing.T) {
		c := newTestClient[uint16](Config{})
		if _, err := c.Send(connectFor(v, 0, property.Properties{})); err != nil {
			t.Fatal(err)
		}
		refused(t, c, connectFor(v, 0, property.Properties{}), ErrState)
		c, _ = clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		refused(t, c, connectFor(v, 0, property.Properties{}), ErrState)
	})
	t.Run("MQTT-3.2.0-1/server-PUBLISH-before-CONNACK", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		refused(t, s, pub(), ErrState)
		s.Recv(wire(t, v, connectFor(v, 0, property.Properties{})))
		refused(t, s, pub(), ErrState)
		refused(t, s, &packet.Pingresp{}, ErrState)
	})
	t.Run("MQTT-3.14.0-1/server-DISCONNECT-before-CONNACK", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v, connectFor(v, 0, property.Properties{})))
		refused(t, s, &packet.Disconnect{Reason: packet.ServerBusy}, ErrState)
	})
	t.Run("MQTT-3.2.0-2/server-second-CONNACK", func(t *testing.T) {
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		refused(t, s, &packet.Connack{}, ErrState)
	})
	t.Run("MQTT-3.14.4-1/nothing-after-DISCONNECT", func(t *testing.T) {
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		evs, err := c.Send(&packet.Disconnect{})
		if err != nil || indexOf(evs, EventClose) < 0 {
			t.Fatalf("DISCONNECT: %v, %v", evs, err)
		}
		refused(t, c, pub(), ErrState)
		refused(t, c, &packet.Pingreq{}, ErrState)
		refused(t, c, &packet.Disconnect{}, ErrState)
		if evs := c.TimerFired(TimerPing); len(evs) != 0 {
			t.Fatalf("TimerFired after close: %v", evs)
		}
	})
}

func TestRulesStatesRecv(t *testing.T) {
	for _, v := range versions {
		code := func(c packet.ReasonCode) packet.ReasonCode {
			if v == packet.V5 {
				return c
			}
			return 0 // 3.1.1 has no DISCONNECT reason: the connection just closes
		}
		t.Run("MQTT-3.1.0-2/"+v.String()+"/second-CONNECT", func(t *testing.T) {
			s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			evs := s.Recv(wire(t, v, connectFor(v, 0, property.Properties{})))
			wantClose(t, v, evs, code(packet.ProtocolError))
			if got := statement(evErr(evs)); got != "MQTT-3.1.0-2" {
				t.Fatalf("statement %q", got)
			}
			if len(received(evs)) != 0 {
				t.Fatalf("second CONNECT delivered: %v", evs)
			}
		})
		t.Run("MQTT-3.1.0-2/"+v.String()+"/second-CONNECT-while-CONNACK-pending", func(t *testing.T) {
			s := newTestServer[uint16](Config{})
			c := connectFor(v, 0, property.Properties{})
			s.Recv(wire(t, v, c, c))
			evs, err := s.Send(connackFor(v, property.Properties{}))
			if err != nil {
				t.Fatal(err)
			}
			if ts := sentTypes(evs); len(ts) < 1 || ts[0] != packet.TypeConnack {
				t.Fatalf("sent %v", ts)
			}
			if statement(evErr(evs)) != "MQTT-3.1.0-2" || indexOf(evs, EventClose) < 0 {
				t.Fatalf("held second CONNECT: %v", evs)
			}
		})
		for _, first := range []packet.Packet{&packet.Publish{Topic: "a"}, &packet.Pingreq{}, &packet.Disconnect{},
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}}} {
			t.Run("MQTT-3.1.0-1/"+v.String()+"/first-packet-"+first.Type().String(), func(t *testing.T) {
				s := newTestServer[uint16](Config{})
				evs := s.Recv(wire(t, v, first))
				wantClose(t, v, evs, 0) // no CONNACK yet: nothing may be sent (MQTT-3.2.0-1)
				if got := statement(evErr(evs)); got != "MQTT-3.1.0-1" {
					t.Fatalf("error %v, statement %q", evErr(evs), got)
				}
			})
		}
		t.Run("MQTT-4.13.1-1/"+v.String()+"/CONNACK-to-server", func(t *testing.T) {
			s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			evs := s.Recv(wire(t, v, &packet.Connack{}))
			wantClose(t, v, evs, code(packet.ProtocolError))
			s = newTestServer[uint16](Config{})
			wantClose(t, v, s.Recv(wire(t, v, &packet.Connack{})), 0)
		})
		for _, p := range []packet.Packet{&packet.Connect{ClientID: "x"}, &packet.Pingreq{},
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}}} {
			t.Run("sec2.1.2/"+v.String()+"/client-receives-"+p.Type().String(), func(t *testing.T) {
				c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
				wantClose(t, v, c.Recv(wire(t, v, p)), code(packet.ProtocolError))
			})
		}
		t.Run("MQTT-3.2.0-2/"+v.String()+"/second-CONNACK-to-client", func(t *testing.T) {
			c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			wantClose(t, v, c.Recv(wire(t, v, &packet.Connack{})), code(packet.ProtocolError))
		})
		t.Run("MQTT-3.2.0-1/"+v.String()+"/PUBLISH-to-client-before-CONNACK", func(t *testing.T) {
			c := newTestClient[uint16](Config{Version: v})
			if _, err := c.Send(connectFor(v, 0, property.Properties{})); err != nil {
				t.Fatal(err)
			}
			wantClose(t, v, c.Recv(wire(t, v, &packet.Publish{Topic: "a"})), 0)
		})
	}
	// A 3.1.1 server never sends DISCONNECT (section 2.2.1 of 3.1.1): one
	// that does breaks the protocol, and the client closes as on any other
	// violation, without delivering it. It was taken for a normal
	// disconnect.
	t.Run("MQTT-4.8.0-1/3.1.1/client-receives-DISCONNECT", func(t *testing.T) {
		v := packet.V311
		c, _ := clientConn(t, v, Config{}, connectFor(v, 10, property.Properties{}), connackFor(v, property.Properties{}))
		evs := c.Recv(wire(t, v, &packet.Disconnect{}))
		wantClose(t, v, evs, 0)
		var pe *packet.Error
		if err := evErr(evs); !errors.As(err, &pe) || pe.Code != packet.ProtocolError || pe.StatementFor(v) != "MQTT-4.8.0-1" {
			t.Fatalf("%v", err)
		}
		if len(received(evs)) != 0 || !cancels(evs, TimerPing) {
			t.Fatalf("%v", evs)
		}
	})
	t.Run("sec2.2.1/3.1.1/server-sends-no-DISCONNECT", func(t *testing.T) {
		v := packet.V311
		s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		refused(t, s, &packet.Disconnect{}, ErrRole)
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		if _, err := c.Send(&packet.Disconnect{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("MQTT-3.14.2-2/server-DISCONNECT-with-Session-Expiry", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		evs := c.Recv(wire(t, v, &packet.Disconnect{Props: property.Properties{SessionExpiry: 5}}))
		wantClose(t, v, evs, packet.ProtocolError)
		if statement(evErr(evs)) != "MQTT-3.14.2-2" {
			t.Fatalf("%v", evErr(evs))
		}
	})
	t.Run("MQTT-3.14.4-2/peer-DISCONNECT-closes", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{}, connectFor(v, 10, property.Properties{}), connackFor(v, property.Properties{}))
		evs := s.Recv(wire(t, v, &packet.Disconnect{}))
		if len(received(evs)) != 1 || indexOf(evs, EventClose) < 0 || len(sentTypes(evs)) != 0 ||
			indexOf(evs, EventError) >= 0 || !cancels(evs, TimerKeepAlive) {
			t.Fatalf("%v", evs)
		}
		if evs := s.Recv(wire(t, v, &packet.Publish{Topic: "a"})); len(evs) != 0 {
			t.Fatalf("Recv after close: %v", evs)
		}
		evs = s.Closed()
		if count(evs, EventClose) != 0 || s.State() != StateDisconnected {
			t.Fatalf("Closed after EventClose: %v, %v", evs, s.State())
		}
	})
}

// Was: the State constants say a Connection is
// "Disconnected again after EventClose or Closed", but State() keeps
// returning StateConnected (or StateConnecting) after EventClose until the
// caller calls Closed: close() only sets the closing flag. A caller that
// checks State() after a DISCONNECT from the peer, a protocol error or a
// keep-alive timeout believes the connection is still up.
//
// Expected: State() == StateDisconnected once EventClose was returned, or
// the State documentation says it changes only with Closed.
func TestRegressionStateAfterEventClose(t *testing.T) {
	v := packet.V5
	for name, trigger := range map[string]func(*tconn[uint16]) []Event[uint16]{
		"peer-DISCONNECT": func(s *tconn[uint16]) []Event[uint16] { return s.Recv(wire(t, v, &packet.Disconnect{})) },
		"protocol-error":  func(s *tconn[uint16]) []Event[uint16] { return s.Recv(wire(t, v, &packet.Connack{})) },
		"keep-alive":      func(s *tconn[uint16]) []Event[uint16] { return s.TimerFired(TimerKeepAlive) },
	} {
		t.Run(name, func(t *testing.T) {
			s := serverConn(t, v, Config{}, connectFor(v, 10, property.Properties{}), connackFor(v, property.Properties{}))
			evs := trigger(s)
			if indexOf(evs, EventClose) < 0 {
				t.Fatalf("no EventClose: %v", evs)
			}
			if s.State() != StateDisconnected {
				t.Fatalf("State() = %v after EventClose, documented as disconnected", s.State())
			}
		})
	}
}

// TestStateStatements: how a refusal ends the connection, checked between
// a client and a server.
func TestStateStatements(t *testing.T) {
	basic := func(t *testing.T) *pair { return pairFor(t, packet.V5, Config{}, Config{}) }

	t.Run("MQTT-4.13.2-1/a failure CONNACK or DISCONNECT closes", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "s", CleanStart: true})
		p.send(RoleServer, &packet.Connack{Reason: packet.NotAuthorized})
		if !p.closed[RoleServer] || !p.closed[RoleClient] {
			t.Fatalf("after CONNACK 0x87: server closed %v, client closed %v", p.closed[RoleServer], p.closed[RoleClient])
		}
		q := basic(t)
		q.send(RoleServer, &packet.Disconnect{Reason: packet.ServerShuttingDown})
		if !q.closed[RoleServer] || !q.closed[RoleClient] {
			t.Fatalf("after DISCONNECT 0x8B: server closed %v, client closed %v", q.closed[RoleServer], q.closed[RoleClient])
		}
	})
}

// TestStateStatementsV311: the order of packets in 3.1.1, under the 3.1.1
// numbers.
func TestStateStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-3.1.0-1 in 3.1.1/first packet not CONNECT", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		closedWithoutAnswer(t, s.Recv(wire(t, v, &packet.Pingreq{})))
	})
	t.Run("MQTT-3.1.0-2 MQTT-4.8.0-1 in 3.1.1/second CONNECT", func(t *testing.T) {
		p := pairFor(t, v, Config{}, Config{})
		closedWithoutAnswer(t, p.server.Recv(wire(t, v, &packet.Connect{ClientID: "c"})))
	})
	t.Run("MQTT-3.2.0-1 in 3.1.1/CONNACK first", func(t *testing.T) {
		p := newPair(t, Config{Version: v}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "c", CleanStart: true})
		if _, err := p.server.Send(&packet.Publish{Topic: "t"}); err != ErrState {
			t.Fatalf("PUBLISH before CONNACK: %v", err)
		}
	})
	t.Run("MQTT-3.14.4-1 MQTT-3.14.4-2 in 3.1.1/after DISCONNECT", func(t *testing.T) {
		p := pairFor(t, v, Config{}, Config{})
		evs, err := p.client.Send(&packet.Disconnect{})
		if err != nil || indexOf(evs, EventClose) < 0 {
			t.Fatalf("DISCONNECT: %v, %v", evs, err)
		}
		if _, err := p.client.Send(&packet.Pingreq{}); err != ErrState {
			t.Fatalf("a packet after DISCONNECT: %v", err)
		}
	})
}
