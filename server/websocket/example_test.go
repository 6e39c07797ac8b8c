package websocket_test

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/mqttcore/mqtt/client"
	clientws "github.com/mqttcore/mqtt/client/websocket"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
	"github.com/mqttcore/mqtt/server/websocket"
)

// loopback is a Handler that sends each client its own messages back.
type loopback struct{}

func (loopback) OnConnect(*server.Conn, *packet.Connect) packet.Connack { return packet.Connack{} }

func (loopback) OnPacket(c *server.Conn, p packet.Packet) {
	switch p := p.(type) {
	case *packet.Subscribe:
		granted := make([]packet.ReasonCode, len(p.Subscriptions))
		for i, s := range p.Subscriptions {
			granted[i] = packet.ReasonCode(s.QoS) // GrantedQoS0 to 2
		}
		if ack, err := p.Ack(c.Version(), granted...); err == nil {
			_ = c.Send(ack)
		}
	case *packet.Publish:
		_ = c.Send(&packet.Publish{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS})
	}
}

func (loopback) OnClose(*server.Conn, error) {}

// MQTT over WebSocket on a loopback HTTP server, at ws://.../mqtt, and a
// client that connects to it with client/websocket's Dialer.
func Example() {
	srv := server.New(server.Config{Handler: loopback{}})
	mux := http.NewServeMux()
	mux.Handle("/mqtt", &websocket.Handler{Server: srv})
	hs := &http.Server{Handler: mux}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go hs.Serve(l)
	ctx := context.Background()
	defer srv.Shutdown(ctx) // second: the WebSocket connections
	defer hs.Shutdown(ctx)  // first: no new ones

	c, err := client.Connect(ctx, client.Config{
		Servers:  []string{"ws://" + l.Addr().String() + "/mqtt"},
		ClientID: "browser-like",
		Dialer:   &clientws.Dialer{},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	got := make(chan client.Message, 1)
	err = c.Subscribe(ctx, packet.Subscription{Filter: "echo/#", QoS: packet.QoS1}, func(m client.Message) { got <- m })
	if err != nil {
		fmt.Println(err)
		return
	}
	err = c.Publish(ctx, client.Message{Topic: "echo/1", QoS: packet.QoS1, Payload: []byte("over WebSocket")})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := <-got
	fmt.Printf("%s: %s\n", m.Topic, m.Payload)
	// Output:
	// echo/1: over WebSocket
}
