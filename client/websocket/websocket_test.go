package websocket_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	mqtt "github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/client"
	ws "github.com/mqttcore/mqtt/client/websocket"
	"github.com/mqttcore/mqtt/packet"
)

// TestWebSocket: a Client connects over a real WebSocket (an HTTP server
// that accepts the subprotocol mqtt, in front of a server Connection),
// subscribes and gets its own messages back at every QoS; a server that
// does not speak the subprotocol is refused.
func TestWebSocket(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{ws.Subprotocol}})
		if err != nil {
			return
		}
		if c.Subprotocol() != ws.Subprotocol {
			c.Close(websocket.StatusPolicyViolation, "mqtt only")
			return
		}
		echo(websocket.NetConn(context.Background(), c, websocket.MessageBinary))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/mqtt"
	c, err := client.Connect(ctx, client.Config{Servers: []string{url}, ClientID: "ws", Dialer: &ws.Dialer{}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 3)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "w/#", QoS: packet.QoS2}, func(m client.Message) {
		got <- string(m.Payload)
	}); err != nil {
		t.Fatal(err)
	}
	for qos := packet.QoS0; qos <= packet.QoS2; qos++ {
		want := "over websocket " + string(rune('0'+qos))
		if err := c.Publish(ctx, client.Message{Topic: "w/1", QoS: qos, Payload: []byte(want)}); err != nil {
			t.Fatal(err)
		}
		if p := <-got; p != want {
			t.Fatalf("got %q, want %q", p, want)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil) // no subprotocol
		if err == nil {
			c.CloseNow()
		}
	}))
	defer plain.Close()
	_, err = client.Connect(ctx, client.Config{Servers: []string{"ws" + strings.TrimPrefix(plain.URL, "http")},
		ClientID: "ws", Dialer: &ws.Dialer{}, NoReconnect: true})
	if err == nil || !strings.Contains(err.Error(), "subprotocol") {
		t.Fatalf("a server without the mqtt subprotocol: %v", err)
	}
}

// echo is a one-client broker: it grants every subscription and sends
// every message back to its sender.
func echo(conn net.Conn) {
	out := make(chan []byte, 64)
	go func() {
		for b := range out {
			conn.Write(b)
		}
		conn.Close()
	}()
	var s *mqtt.Connection[uint16]
	s = mqtt.NewServer(mqtt.Config{}, func(e mqtt.Event[uint16]) {
		switch e.Kind {
		case mqtt.EventSend:
			out <- append([]byte(nil), e.Bytes...)
		case mqtt.EventClose:
			close(out)
		case mqtt.EventPacket:
			switch p := e.Packet.(type) {
			case *packet.Connect:
				s.Send(&packet.Connack{})
			case *packet.Subscribe:
				ack, _ := p.Ack(s.Version(), packet.ReasonCode(p.Subscriptions[0].QoS))
				s.Send(ack)
			case *packet.Publish:
				s.Send(&packet.Publish{Topic: p.Topic, QoS: p.QoS, Payload: p.Payload})
			}
		}
	})
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			s.Closed()
			return
		}
		s.Recv(buf[:n])
	}
}
