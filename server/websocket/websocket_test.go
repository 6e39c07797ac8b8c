package websocket_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mqttcore/mqtt/client"
	clientws "github.com/mqttcore/mqtt/client/websocket"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
	ws "github.com/mqttcore/mqtt/server/websocket"
)

// echo is a Handler that grants every subscription, sends every PUBLISH
// back to its sender when it subscribed, and reports each OnClose.
type echo struct {
	closed chan error
}

func newEcho() *echo { return &echo{closed: make(chan error, 16)} }

func (*echo) OnConnect(*server.Conn, *packet.Connect) packet.Connack { return packet.Connack{} }

func (*echo) OnPacket(c *server.Conn, p packet.Packet) {
	switch p := p.(type) {
	case *packet.Subscribe:
		granted := make([]packet.ReasonCode, len(p.Subscriptions))
		for i, s := range p.Subscriptions {
			granted[i] = packet.ReasonCode(s.QoS)
		}
		if ack, err := p.Ack(c.Version(), granted...); err == nil {
			_ = c.Send(ack)
		}
	case *packet.Publish:
		_ = c.Send(&packet.Publish{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS})
	}
}

func (e *echo) OnClose(_ *server.Conn, err error) { e.closed <- err }

// serve starts a Server with h behind a Handler on loopback; it returns
// the ws:// URL and the Server, shut down at the end of the test.
func serve(t *testing.T, h server.Handler, wh *ws.Handler) (string, *server.Server) {
	t.Helper()
	srv := server.New(server.Config{Handler: h})
	if wh == nil {
		wh = &ws.Handler{}
	}
	wh.Server = srv
	hs := httptest.NewServer(wh)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/mqtt", srv
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The client package, with client/websocket's Dialer, against the
// Handler: both versions, every QoS, both ways, and a clean end.
func TestClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    packet.Version
	}{
		// The Handler refuses a client that does not offer "mqtt".
		{"5.0/MQTT-6.0.0-3/MQTT-6.0.0-4", packet.V5},
		{"3.1.1/MQTT-6.0.0-3/MQTT-6.0.0-4", packet.V311},
	} {
		v := tc.v
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho()
			url, _ := serve(t, e, nil)
			ctx := timeout(t)
			c, err := client.Connect(ctx, client.Config{Servers: []string{url}, ClientID: "ws-" + v.String(),
				Version: v, Dialer: &clientws.Dialer{}, NoReconnect: true})
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan client.Message, 3)
			if err := c.Subscribe(ctx, packet.Subscription{Filter: "w/#", QoS: packet.QoS2},
				func(m client.Message) { got <- m }); err != nil {
				t.Fatal(err)
			}
			for qos := packet.QoS0; qos <= packet.QoS2; qos++ {
				want := strings.Repeat("payload ", 1000) + string(rune('0'+qos))
				if err := c.Publish(ctx, client.Message{Topic: "w/1", QoS: qos, Payload: []byte(want)}); err != nil {
					t.Fatal(err)
				}
				if m := <-got; string(m.Payload) != want || m.QoS != qos {
					t.Fatalf("got %d bytes at QoS %d, want %d at QoS %d", len(m.Payload), m.QoS, len(want), qos)
				}
			}
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-e.closed; err != nil {
				t.Errorf("OnClose after DISCONNECT: %v, want nil", err)
			}
		})
	}
}

// The subprotocol the server selects from those offered, and the
// requests it refuses.
func TestSubprotocol(t *testing.T) {
	url, _ := serve(t, newEcho(), nil)
	for _, tc := range []struct {
		name  string
		v     packet.Version // of the CONNECT sent once accepted
		offer []string
		want  string // "" for a refusal with 400
	}{
		{"5.0/MQTT-6.0.0-4/mqtt", packet.V5, []string{"mqtt"}, "mqtt"},
		{"3.1.1/MQTT-6.0.0-4/mqtt", packet.V311, []string{"mqtt"}, "mqtt"},
		{"MQTT-6.0.0-4/among others", packet.V5, []string{"chat", "mqtt", "soap"}, "mqtt"},
		{"MQTT-6.0.0-4/before mqttv3.1", packet.V5, []string{"mqttv3.1", "mqtt"}, "mqtt"},
		{"MQTT 3.1 clients/mqttv3.1", packet.V31, []string{"mqttv3.1"}, "mqttv3.1"},
		{"5.0/MQTT-6.0.0-3/none", packet.V5, nil, ""},
		{"3.1.1/MQTT-6.0.0-3/none", packet.V311, nil, ""},
		{"MQTT-6.0.0-3/others only", packet.V5, []string{"chat"}, ""},
		{"MQTT-6.0.0-3/case matters", packet.V5, []string{"MQTT"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := websocket.Dial(timeout(t), url, &websocket.DialOptions{Subprotocols: tc.offer})
			if tc.want == "" {
				if err == nil {
					c.CloseNow()
					t.Fatalf("accepted, with subprotocol %q", c.Subprotocol())
				}
				if resp == nil || resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("refused with %v, want 400 Bad Request", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if c.Subprotocol() != tc.want {
				t.Errorf("selected %q, want %q", c.Subprotocol(), tc.want)
			}
			connect := encode(t, &packet.Connect{ClientID: "sub", CleanStart: true}, tc.v)
			if err := c.Write(timeout(t), websocket.MessageBinary, connect); err != nil {
				t.Fatal(err)
			}
			if b := read(t, c, 3); b[0] != 0x20 {
				t.Fatalf("got % x, want a CONNACK", b)
			}
		})
	}
	t.Run("not an upgrade", func(t *testing.T) {
		resp, err := http.Get(strings.Replace(url, "ws", "http", 1))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired {
			t.Errorf("status %d, want 426", resp.StatusCode)
		}
	})
}

// Origins: a page of another host is refused unless allowed.
func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patterns []string
		origin   string
		ok       bool
	}{
		{"no origin", nil, "", true},
		{"other host", nil, "https://elsewhere.example", false},
		{"allowed host", []string{"*.example"}, "https://elsewhere.example", true},
		{"any", []string{"*"}, "https://elsewhere.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := serve(t, newEcho(), &ws.Handler{OriginPatterns: tc.patterns})
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := websocket.Dial(timeout(t), url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPHeader: h})
			if err == nil {
				c.CloseNow()
			}
			if ok := err == nil; ok != tc.ok {
				t.Fatalf("accepted: %v, want %v (%v)", ok, tc.ok, err)
			}
			if !tc.ok && (resp == nil || resp.StatusCode != http.StatusForbidden) {
				t.Errorf("refused with %v, want 403 Forbidden", err)
			}
		})
	}
}

// raw opens a WebSocket that speaks MQTT by hand.
func raw(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(timeout(t), url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func encode(t *testing.T, p packet.Packet, v packet.Version) []byte {
	t.Helper()
	b, err := p.AppendTo(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// read reads binary messages until they hold n bytes.
func read(t *testing.T, c *websocket.Conn, n int) []byte {
	t.Helper()
	var b []byte
	for len(b) < n {
		typ, m, err := c.Read(timeout(t))
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(b), err)
		}
		if typ != websocket.MessageBinary {
			t.Fatalf("a %v message, not binary", typ)
		}
		b = append(b, m...)
	}
	return b
}

// Packets split over messages and packets sharing one are one stream.
func TestStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    packet.Version
	}{
		{"5.0/MQTT-6.0.0-2", packet.V5},
		{"3.1.1/MQTT-6.0.0-2", packet.V311},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := serve(t, newEcho(), nil)
			c := raw(t, url)
			ctx := timeout(t)
			connect := encode(t, &packet.Connect{ClientID: "raw", CleanStart: true}, tc.v)
			ping := encode(t, &packet.Pingreq{}, tc.v)
			// The CONNECT in three messages.
			for _, part := range [][]byte{connect[:1], connect[1:5], connect[5:]} {
				if err := c.Write(ctx, websocket.MessageBinary, part); err != nil {
					t.Fatal(err)
				}
			}
			if b := read(t, c, 3); b[0] != 0x20 {
				t.Fatalf("got % x, want a CONNACK", b)
			}
			// Two PINGREQ and the first byte of a third in one message,
			// the rest in the next.
			m := append(append(append([]byte{}, ping...), ping...), ping[0])
			if err := c.Write(ctx, websocket.MessageBinary, m); err != nil {
				t.Fatal(err)
			}
			if err := c.Write(ctx, websocket.MessageBinary, ping[1:]); err != nil {
				t.Fatal(err)
			}
			want := []byte{0xd0, 0, 0xd0, 0, 0xd0, 0}
			if b := read(t, c, len(want)); string(b) != string(want) {
				t.Fatalf("got % x, want three PINGRESP", b)
			}
		})
	}
}

// A text message closes the connection: the WebSocket with status 1003
// Unsupported Data, and OnClose gets the error (a will is due).
func TestTextMessage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v       packet.Version
		connect bool
	}{
		{"5.0/MQTT-6.0.0-1/after CONNECT", packet.V5, true},
		{"3.1.1/MQTT-6.0.0-1/after CONNECT", packet.V311, true},
		{"MQTT-6.0.0-1/first", packet.V5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho()
			url, _ := serve(t, e, nil)
			c := raw(t, url)
			ctx := timeout(t)
			connect := encode(t, &packet.Connect{ClientID: "text", CleanStart: true}, tc.v)
			if tc.connect {
				if err := c.Write(ctx, websocket.MessageBinary, connect); err != nil {
					t.Fatal(err)
				}
				read(t, c, 3)
			}
			if err := c.Write(ctx, websocket.MessageText, encode(t, &packet.Pingreq{}, tc.v)); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.Read(ctx)
			if s := websocket.CloseStatus(err); s != websocket.StatusUnsupportedData {
				t.Fatalf("read after a text message: %v (status %d), want status 1003", err, s)
			}
			if !tc.connect {
				return // no OnClose without CONNECT
			}
			select {
			case err := <-e.closed:
				if err == nil || errors.Is(err, server.ErrClosed) {
					t.Errorf("OnClose: %v, want the transport's error", err)
				}
			case <-ctx.Done():
				t.Fatal("no OnClose")
			}
		})
	}
}

// A client that goes away without DISCONNECT: OnClose gets io.EOF
// (its will is due), whether it closes the WebSocket or just the TCP
// connection.
func TestClientGoesAway(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(c *websocket.Conn)
	}{
		{"close message", func(c *websocket.Conn) { c.Close(websocket.StatusGoingAway, "tab closed") }},
		{"TCP close", func(c *websocket.Conn) { c.CloseNow() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho()
			url, _ := serve(t, e, nil)
			c := raw(t, url)
			ctx := timeout(t)
			if err := c.Write(ctx, websocket.MessageBinary, encode(t, &packet.Connect{ClientID: "gone", CleanStart: true}, packet.V5)); err != nil {
				t.Fatal(err)
			}
			read(t, c, 3)
			tc.close(c)
			select {
			case err := <-e.closed:
				if !errors.Is(err, io.EOF) {
					t.Errorf("OnClose: %v, want io.EOF", err)
				}
			case <-ctx.Done():
				t.Fatal("no OnClose")
			}
		})
	}
}

// Shutdown sends a v5 client DISCONNECT 0x8B and closes the WebSocket
// with status 1000; a client that does not answer the closing handshake
// does not keep Shutdown waiting.
func TestShutdown(t *testing.T) {
	t.Run("client package", func(t *testing.T) {
		e := newEcho()
		url, srv := serve(t, e, nil)
		ctx := timeout(t)
		lost := make(chan error, 1)
		c, err := client.Connect(ctx, client.Config{Servers: []string{url}, ClientID: "down",
			Dialer: &clientws.Dialer{}, NoReconnect: true, OnConnectionLost: func(err error) { lost <- err }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-e.closed; !errors.Is(err, server.ErrClosed) {
			t.Errorf("OnClose: %v, want ErrClosed", err)
		}
		var cl *client.ConnectionLostError
		if err := <-lost; !errors.As(err, &cl) || cl.Reason != packet.ServerShuttingDown {
			t.Errorf("the client lost its connection with %v, want DISCONNECT 0x8B", err)
		}
	})
	t.Run("deaf client", func(t *testing.T) {
		e := newEcho()
		url, srv := serve(t, e, &ws.Handler{CloseTimeout: time.Hour})
		c := raw(t, url)
		ctx := timeout(t)
		if err := c.Write(ctx, websocket.MessageBinary, encode(t, &packet.Connect{ClientID: "deaf", CleanStart: true}, packet.V5)); err != nil {
			t.Fatal(err)
		}
		read(t, c, 3)
		// c reads no more: the close message it gets goes unanswered.
		sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(sctx) }()
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("Shutdown waits for the closing handshake")
		}
		if err := <-e.closed; !errors.Is(err, server.ErrClosed) {
			t.Errorf("OnClose: %v, want ErrClosed", err)
		}
	})
	t.Run("after Shutdown", func(t *testing.T) {
		url, srv := serve(t, newEcho(), nil)
		if err := srv.Shutdown(timeout(t)); err != nil {
			t.Fatal(err)
		}
		c := raw(t, url) // the upgrade succeeds, the Server closes it
		if _, _, err := c.Read(timeout(t)); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("read: %v, want status 1000", err)
		}
	})
}

// Closing a connection that nobody reads waits for the client's close
// message at most CloseTimeout, and a second Close ends the wait at once.
func TestCloseBounded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		second  bool // a second Close cuts the first short
	}{
		{"CloseTimeout", 50 * time.Millisecond, false},
		{"second Close", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wh := &ws.Handler{CloseTimeout: tc.timeout}
			conns := make(chan net.Conn, 1)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if nc, err := wh.Upgrade(w, r); err == nil {
					conns <- nc // and nothing reads it
				}
			}))
			defer hs.Close()
			c := raw(t, "ws"+strings.TrimPrefix(hs.URL, "http")) // c reads nothing: the close goes unanswered
			ctx := timeout(t)
			nc := <-conns
			closed := make(chan error, 1)
			go func() { closed <- nc.Close() }()
			if tc.second {
				select {
				case <-closed:
					t.Fatal("Close returned before the client's answer, without a second Close")
				case <-time.After(50 * time.Millisecond):
				}
				nc.Close()
			}
			// github.com/coder/websocket's own limit is 5 s: 4 s, 80 times
			// CloseTimeout, tell the bound applied.
			select {
			case <-closed:
			case <-time.After(4 * time.Second):
				t.Fatal("Close still waits")
			}
			if _, _, err := c.Read(ctx); err == nil {
				t.Error("the client reads on")
			}
		})
	}
}
