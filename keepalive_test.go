package mqtt

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

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
