package mqtt

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Keep-alive and the other timers: PINGREQ and PINGRESP, the client's ping
// timer, the server's one and a half Keep Alive, the connect timeout, and
// timers that fire late or were never armed.

func TestRulesPing(t *testing.T) {
	for _, v := range versions {
		t.Run("MQTT-3.12.4-1/"+v.String()+"/PINGRESP", func(t *testing.T) {
			s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			evs := s.Recv(wire(t, v, &packet.Pingreq{}, &packet.Pingreq{}))
			if !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePingresp, packet.TypePingresp}) || len(received(evs)) != 2 {
				t.Fatalf("%v", evs)
			}
			sent(t, v, evs)
		})
		t.Run("MQTT-3.12.4-1/"+v.String()+"/ManualPingresp", func(t *testing.T) {
			s := serverConn(t, v, Config{ManualPingresp: true}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			evs := s.Recv(wire(t, v, &packet.Pingreq{}))
			if len(sentTypes(evs)) != 0 || len(received(evs)) != 1 {
				t.Fatalf("%v", evs)
			}
			evs, err := s.Send(&packet.Pingresp{})
			if err != nil || !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePingresp}) {
				t.Fatalf("%v %v", evs, err)
			}
		})
	}
}

func TestRulesKeepAlive(t *testing.T) {
	for _, v := range versions {
		t.Run("MQTT-3.1.2-22/"+v.String()+"/client-ping-interval-from-CONNECT", func(t *testing.T) {
			_, evs := clientConn(t, v, Config{}, connectFor(v, 30, property.Properties{}), connackFor(v, property.Properties{}))
			if d, ok := timer(evs, TimerPing); !ok || d != 30*time.Second {
				t.Fatalf("%v", evs)
			}
		})
		t.Run("MQTT-3.1.2-22/"+v.String()+"/user-interval", func(t *testing.T) {
			_, evs := clientConn(t, v, Config{PingInterval: 5 * time.Second}, connectFor(v, 30, property.Properties{}),
				connackFor(v, property.Properties{ServerKeepAlive: 10}))
			if d, ok := timer(evs, TimerPing); !ok || d != 5*time.Second {
				t.Fatalf("%v", evs)
			}
		})
		t.Run("MQTT-3.1.2-22/"+v.String()+"/keep-alive-0-no-timer", func(t *testing.T) {
			c, evs := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			if indexOf(evs, EventTimerReset) >= 0 {
				t.Fatalf("%v", evs)
			}
			evs, _ = c.Send(&packet.Publish{Topic: "a"})
			if indexOf(evs, EventTimerReset) >= 0 {
				t.Fatalf("%v", evs)
			}
		})
		t.Run("MQTT-3.1.2-22/"+v.String()+"/re-armed-after-send-and-ping-cycle", func(t *testing.T) {
			c, _ := clientConn(t, v, Config{PingTimeout: 3 * time.Second}, connectFor(v, 20, property.Properties{}), connackFor(v, property.Properties{}))
			evs, err := c.Send(&packet.Publish{Topic: "a"})
			if d, ok := timer(evs, TimerPing); err != nil || !ok || d != 20*time.Second {
				t.Fatalf("after PUBLISH: %v %v", evs, err)
			}
			evs = c.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 1})) // the PUBACK is a send too
			if _, ok := timer(evs, TimerPing); !ok {
				t.Fatalf("after auto PUBACK: %v", evs)
			}
			evs = c.Recv(wire(t, v, &packet.Publish{Topic: "a"})) // receiving alone does not re-arm
			if _, ok := timer(evs, TimerPing); ok {
				t.Fatalf("after receiving: %v", evs)
			}
			evs = c.TimerFired(TimerPing)
			if !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePingreq}) {
				t.Fatalf("ping: %v", evs)
			}
			if d, ok := timer(evs, TimerPingResponse); !ok || d != 3*time.Second {
				t.Fatalf("ping response timer: %v", evs)
			}
			if d, ok := timer(evs, TimerPing); !ok || d != 20*time.Second {
				t.Fatalf("ping timer: %v", evs)
			}
			evs = c.Recv(wire(t, v, &packet.Pingresp{}))
			if !cancels(evs, TimerPingResponse) || len(received(evs)) != 1 {
				t.Fatalf("PINGRESP: %v", evs)
			}
			if evs := c.TimerFired(TimerPingResponse); len(evs) != 0 { // a stale firing
				t.Fatalf("stale ping response timer: %v", evs)
			}
		})
		t.Run("sec3.1.2.10/"+v.String()+"/PINGRESP-timeout-closes-without-DISCONNECT", func(t *testing.T) {
			c, _ := clientConn(t, v, Config{}, connectFor(v, 20, property.Properties{}), connackFor(v, property.Properties{}))
			evs := c.TimerFired(TimerPing)
			if d, ok := timer(evs, TimerPingResponse); !ok || d != 20*time.Second {
				t.Fatalf("ping timeout defaults to the interval: %v", evs)
			}
			evs = c.TimerFired(TimerPingResponse)
			wantClose(t, v, evs, 0)
			if !errors.Is(evErr(evs), ErrPingTimeout) || !cancels(evs, TimerPing) {
				t.Fatalf("%v", evs)
			}
		})
		t.Run("MQTT-3.1.2-24/"+v.String()+"/server-keep-alive-1.5x", func(t *testing.T) {
			s := newTestServer[uint16](Config{})
			s.Recv(wire(t, v, connectFor(v, 10, property.Properties{})))
			evs, err := s.Send(connackFor(v, property.Properties{}))
			if d, ok := timer(evs, TimerKeepAlive); err != nil || !ok || d != 15*time.Second {
				t.Fatalf("%v %v", evs, err)
			}
			evs = s.Recv(wire(t, v, &packet.Publish{Topic: "a"}))
			if d, ok := timer(evs, TimerKeepAlive); !ok || d != 15*time.Second {
				t.Fatalf("not re-armed by a packet: %v", evs)
			}
			evs = s.Recv([]byte{0x30}) // half a packet is not a packet
			if _, ok := timer(evs, TimerKeepAlive); ok {
				t.Fatalf("re-armed by a partial packet: %v", evs)
			}
			evs, _ = s.Send(&packet.Publish{Topic: "a"})
			if _, ok := timer(evs, TimerKeepAlive); ok {
				t.Fatalf("re-armed by a send: %v", evs)
			}
			evs = s.TimerFired(TimerKeepAlive)
			code := packet.ReasonCode(0)
			if v == packet.V5 {
				code = packet.KeepAliveTimeout
			}
			wantClose(t, v, evs, code)
			if evErr(evs) != ErrKeepAliveTimeout {
				t.Fatalf("%v", evErr(evs))
			}
		})
		t.Run("MQTT-3.1.2-24/"+v.String()+"/keep-alive-0-no-server-timer", func(t *testing.T) {
			s := newTestServer[uint16](Config{})
			s.Recv(wire(t, v, connectFor(v, 0, property.Properties{})))
			evs, _ := s.Send(connackFor(v, property.Properties{}))
			if indexOf(evs, EventTimerReset) >= 0 {
				t.Fatalf("%v", evs)
			}
			if evs := s.Recv(wire(t, v, &packet.Pingreq{})); indexOf(evs, EventTimerReset) >= 0 {
				t.Fatalf("%v", evs)
			}
		})
	}
	t.Run("MQTT-3.1.2-23/v5/Server-Keep-Alive", func(t *testing.T) {
		v := packet.V5
		_, evs := clientConn(t, v, Config{}, connectFor(v, 30, property.Properties{}), connackFor(v, property.Properties{ServerKeepAlive: 10}))
		if d, ok := timer(evs, TimerPing); !ok || d != 10*time.Second {
			t.Fatalf("%v", evs)
		}
		// a Server Keep Alive of 0 turns keep-alive off
		a := connackFor(v, property.Properties{})
		a.Props.Zero.Add(property.ServerKeepAlive)
		_, evs = clientConn(t, v, Config{}, connectFor(v, 30, property.Properties{}), a)
		if indexOf(evs, EventTimerReset) >= 0 {
			t.Fatalf("Server Keep Alive 0: %v", evs)
		}
	})
	t.Run("MQTT-3.2.2-21/v5/server-uses-its-Server-Keep-Alive", func(t *testing.T) {
		v := packet.V5
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v, connectFor(v, 100, property.Properties{})))
		evs, _ := s.Send(connackFor(v, property.Properties{ServerKeepAlive: 20}))
		if d, ok := timer(evs, TimerKeepAlive); !ok || d != 30*time.Second {
			t.Fatalf("%v", evs)
		}
	})
}

// TestTimersConnect: Config.ConnectTimeout bounds the handshake on both
// sides: the client from its CONNECT to the CONNACK (AUTH round trips do
// not extend it), the server from Opened to the CONNECT.
func TestTimersConnect(t *testing.T) {
	const limit = 5 * time.Second
	for _, v := range versions {
		t.Run(v.String()+"/client/no-CONNACK", func(t *testing.T) {
			c := newTestClient[uint16](Config{Version: v, ConnectTimeout: limit})
			evs, err := c.Send(connectFor(v, 30, property.Properties{}))
			if d, ok := timer(evs, TimerConnect); err != nil || !ok || d != limit {
				t.Fatalf("after CONNECT: %v %v", evs, err)
			}
			evs = c.TimerFired(TimerConnect)
			if !errors.Is(evErr(evs), ErrConnectTimeout) || count(evs, EventClose) != 1 || len(sentTypes(evs)) != 0 {
				t.Fatalf("connect timeout: %v", evs)
			}
			if c.State() != StateDisconnected {
				t.Fatalf("state %v", c.State())
			}
		})
		t.Run(v.String()+"/client/CONNACK-stops-it", func(t *testing.T) {
			c, evs := clientConn(t, v, Config{ConnectTimeout: limit}, connectFor(v, 30, property.Properties{}), connackFor(v, property.Properties{}))
			if !cancels(evs, TimerConnect) {
				t.Fatalf("CONNACK did not stop the connect timer: %v", evs)
			}
			if evs := c.TimerFired(TimerConnect); len(evs) != 0 || c.State() != StateConnected {
				t.Fatalf("a stale connect timer acted: %v", evs)
			}
		})
		t.Run(v.String()+"/server/no-CONNECT", func(t *testing.T) {
			s := newTestServer[uint16](Config{ConnectTimeout: limit})
			evs := s.capture(s.Opened)
			if d, ok := timer(evs, TimerConnect); !ok || d != limit {
				t.Fatalf("Opened: %v", evs)
			}
			evs = s.TimerFired(TimerConnect)
			if !errors.Is(evErr(evs), ErrConnectTimeout) || count(evs, EventClose) != 1 || len(sentTypes(evs)) != 0 {
				t.Fatalf("connect timeout: %v", evs)
			}
			if evs := s.Recv(wire(t, v, connectFor(v, 30, property.Properties{}))); len(evs) != 0 {
				t.Fatalf("a CONNECT after the timeout was handled: %v", evs)
			}
		})
		t.Run(v.String()+"/server/CONNECT-stops-it", func(t *testing.T) {
			s := newTestServer[uint16](Config{ConnectTimeout: limit})
			s.capture(s.Opened)
			evs := s.Recv(wire(t, v, connectFor(v, 30, property.Properties{})))
			if !cancels(evs, TimerConnect) || count(evs, EventPacket) != 1 {
				t.Fatalf("CONNECT: %v", evs)
			}
			if evs := s.TimerFired(TimerConnect); len(evs) != 0 || s.State() != StateConnecting {
				t.Fatalf("a stale connect timer acted: %v", evs)
			}
		})
		t.Run(v.String()+"/server/transport-closed-first", func(t *testing.T) {
			s := newTestServer[uint16](Config{ConnectTimeout: limit})
			s.capture(s.Opened)
			if evs := s.Closed(); !cancels(evs, TimerConnect) {
				t.Fatalf("Closed: %v", evs)
			}
		})
	}
	t.Run("no-timeout-configured", func(t *testing.T) {
		c := newTestClient[uint16](Config{})
		evs, _ := c.Send(connectFor(packet.V5, 30, property.Properties{}))
		s := newTestServer[uint16](Config{})
		evs = append(evs, s.capture(s.Opened)...)
		if _, ok := timer(evs, TimerConnect); ok {
			t.Fatalf("a connect timer without Config.ConnectTimeout: %v", evs)
		}
	})
	t.Run("5.0/client/AUTH-does-not-extend-it", func(t *testing.T) {
		auth := property.Properties{AuthMethod: "SCRAM-SHA-256", AuthData: []byte("c")}
		c := newTestClient[uint16](Config{ConnectTimeout: limit})
		if _, err := c.Send(connectFor(packet.V5, 30, auth)); err != nil {
			t.Fatal(err)
		}
		evs := c.Recv(wire(t, packet.V5, &packet.Auth{Reason: packet.ContinueAuthentication, Props: auth}))
		if _, ok := timer(evs, TimerConnect); ok || count(evs, EventPacket) != 1 {
			t.Fatalf("AUTH: %v", evs)
		}
		evs, err := c.Send(&packet.Auth{Reason: packet.ContinueAuthentication, Props: auth})
		if _, ok := timer(evs, TimerConnect); err != nil || ok {
			t.Fatalf("AUTH answered: %v %v", evs, err)
		}
		if evs := c.TimerFired(TimerConnect); !errors.Is(evErr(evs), ErrConnectTimeout) {
			t.Fatalf("connect timeout during AUTH: %v", evs)
		}
	})
}

// TestTimersStale: TimerFired for a timer that is not armed does nothing,
// and with Config.Clock a firing before the timer's deadline (the timer
// was re-armed after it was scheduled) asks for the time left instead of
// acting. Without it, a server whose keep-alive timer raced with a packet
// would disconnect a live client.
func TestTimersStale(t *testing.T) {
	for _, v := range versions {
		t.Run("MQTT-3.1.2-24/"+v.String()+"/re-armed-keep-alive", func(t *testing.T) {
			now := time.Unix(1000, 0)
			clock := func() time.Time { return now }
			s := serverConn(t, v, Config{Clock: clock}, connectFor(v, 10, property.Properties{}), connackFor(v, property.Properties{}))
			now = now.Add(14 * time.Second)
			evs := s.Recv(wire(t, v, &packet.Pingreq{})) // re-armed: 15 s from now
			if d, ok := timer(evs, TimerKeepAlive); !ok || d != 15*time.Second {
				t.Fatalf("PINGREQ: %v", evs)
			}
			now = now.Add(time.Second) // the firing scheduled before the PINGREQ
			evs = s.TimerFired(TimerKeepAlive)
			if d, ok := timer(evs, TimerKeepAlive); !ok || d != 14*time.Second || count(evs, EventClose) != 0 {
				t.Fatalf("stale firing: %v", evs)
			}
			now = now.Add(14 * time.Second)
			evs = s.TimerFired(TimerKeepAlive)
			if !errors.Is(evErr(evs), ErrKeepAliveTimeout) || count(evs, EventClose) != 1 {
				t.Fatalf("due firing: %v", evs)
			}
		})
		t.Run(v.String()+"/cancelled-ping-response", func(t *testing.T) {
			c, _ := clientConn(t, v, Config{}, connectFor(v, 10, property.Properties{}), connackFor(v, property.Properties{}))
			if evs := c.TimerFired(TimerPing); !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePingreq}) {
				t.Fatalf("ping: %v", evs)
			}
			if evs := c.Recv(wire(t, v, &packet.Pingresp{})); !cancels(evs, TimerPingResponse) {
				t.Fatalf("PINGRESP: %v", evs)
			}
			if evs := c.TimerFired(TimerPingResponse); len(evs) != 0 || c.State() != StateConnected {
				t.Fatalf("a cancelled ping response timer acted: %v", evs)
			}
		})
		t.Run(v.String()+"/never-armed", func(t *testing.T) {
			c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			for k := TimerPing; k <= timerLast; k++ {
				if evs := c.TimerFired(k); len(evs) != 0 {
					t.Fatalf("%v fired unarmed: %v", k, evs)
				}
			}
			if evs := c.TimerFired(TimerKind(0)); len(evs) != 0 {
				t.Fatalf("timer 0: %v", evs)
			}
			if evs := c.TimerFired(TimerKind(200)); len(evs) != 0 {
				t.Fatalf("timer 200: %v", evs)
			}
		})
	}
}

// TestKeepAliveStatements: the Keep Alive a server keeps, checked between a
// client and a server.
func TestKeepAliveStatements(t *testing.T) {
	t.Run("MQTT-3.2.2-22/server keeps the client's Keep Alive without Server Keep Alive", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "s", CleanStart: true, KeepAlive: 8})
		evs, err := p.server.Send(&packet.Connack{})
		if err != nil {
			t.Fatal(err)
		}
		var armed time.Duration
		for _, e := range evs {
			if e.Kind == EventTimerReset && e.Timer == TimerKeepAlive {
				armed = e.Duration
			}
		}
		if armed != 12*time.Second {
			t.Fatalf("keep-alive timer %v, want 1.5 x 8 s", armed)
		}
	})
}

// TestKeepAliveStatementsV311: the keep-alive statements of 3.1.1, under
// their 3.1.1 numbers.
func TestKeepAliveStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-3.1.2-23 3.1.1/the client sends PINGREQ when it has sent nothing for Keep Alive", func(t *testing.T) {
		c := newTestClient[uint16](Config{Version: v})
		if _, err := c.Send(&packet.Connect{ClientID: "k", CleanStart: true, KeepAlive: 5}); err != nil {
			t.Fatal(err)
		}
		if d, ok := timer(c.Recv(wire(t, v, &packet.Connack{})), TimerPing); !ok || d != 5*time.Second {
			t.Fatalf("ping timer %v %v after CONNACK", d, ok)
		}
		evs, err := c.Send(&packet.Publish{Topic: "t"})
		if d, ok := timer(evs, TimerPing); err != nil || !ok || d != 5*time.Second {
			t.Fatalf("ping timer %v %v after a PUBLISH: %v", d, ok, err)
		}
		evs = c.TimerFired(TimerPing)
		if !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePingreq}) || !bytes.Equal(sentBytes(evs), []byte{0xC0, 0x00}) {
			t.Fatalf("ping timer fired: %v", evs)
		}
		if _, ok := timer(evs, TimerPingResponse); !ok {
			t.Fatalf("no PINGRESP timer: %v", evs)
		}
	})

	t.Run("MQTT-3.12.4-1 in 3.1.1/PINGRESP", func(t *testing.T) {
		p := pairFor(t, v, Config{}, Config{})
		p.send(RoleClient, &packet.Pingreq{})
		if got := p.packets(RoleClient); len(got) != 1 || got[0].Type() != packet.TypePingresp {
			t.Fatalf("client got %v", got)
		}
	})

	t.Run("MQTT-3.1.2-24 in 3.1.1/keep-alive expiry closes", func(t *testing.T) {
		p := newPair(t, Config{Version: v}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 4})
		evs, _ := p.server.Send(&packet.Connack{})
		armed := false
		for _, e := range evs {
			armed = armed || e.Kind == EventTimerReset && e.Timer == TimerKeepAlive && e.Duration == 6*time.Second
		}
		if !armed {
			t.Fatalf("no 1.5 x keep-alive timer: %v", evs)
		}
		closedWithoutAnswer(t, p.server.TimerFired(TimerKeepAlive))
	})
}
