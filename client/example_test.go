package client_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	mqtt "github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// The shortest client: connect, subscribe, publish, close. Here the server
// is reached through a custom Dialer (a net.Pipe to a server Connection in
// this process); with a broker it is Servers: "tcp://host:1883" and no
// Dialer.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://demo"}, ClientID: "sensor-7", Dialer: pipeDialer{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	got := make(chan string, 1)
	err = c.Subscribe(ctx, packet.Subscription{Filter: "sensors/#", QoS: packet.QoS1}, func(m client.Message) {
		got <- fmt.Sprintf("%s: %s", m.Topic, m.Payload)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Publish(ctx, client.Message{Topic: "sensors/7/temp", QoS: packet.QoS1, Payload: []byte("21.5")}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-got)
	fmt.Println("close:", c.Close(ctx))
	// Output:
	// sensors/7/temp: 21.5
	// close: <nil>
}

// Request/response (v5): the request carries a Response Topic and a
// Correlation Data of the client's, and Request returns the answer that
// the responder published there with the same Correlation Data.
func ExampleClient_Request() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://demo"}, ClientID: "asker", Dialer: pipeDialer{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	resp, err := c.Request(ctx, client.Message{Topic: "svc/time", QoS: packet.QoS1, Payload: []byte("now?")})
	fmt.Printf("%s %v\n", resp.Payload, err)
	// Output:
	// re: now? <nil>
}

// Many messages in flight from one goroutine: PublishAsync returns once
// the message is handed to the connection (waiting, like Publish, while
// the server's Receive Maximum is used up), and each Pending says when the
// server has acknowledged its message.
func ExampleClient_PublishAsync() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://demo"}, ClientID: "logger", Dialer: pipeDialer{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	var pending []*client.Pending
	for i := range 100 {
		p, err := c.PublishAsync(ctx, client.Message{Topic: "logs", QoS: packet.QoS1, Payload: fmt.Appendf(nil, "line %d", i)})
		if err != nil {
			fmt.Println(err)
			return
		}
		pending = append(pending, p)
	}
	acked := 0
	for _, p := range pending {
		if p.Wait(ctx) == nil {
			acked++
		}
	}
	fmt.Println("acknowledged:", acked)
	// Output:
	// acknowledged: 100
}

// A session that survives a crash of the process: with a FileStore, the
// session's journal is on disk before the bytes that depend on it are
// written, and the next process that connects with the same store and
// client identifier sends again what was in flight.
func ExampleOpenFileStore() {
	dir, err := os.MkdirTemp("", "mqtt-session")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	store, err := client.OpenFileStore(filepath.Join(dir, "sensor-7.log"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://demo"}, ClientID: "sensor-7",
		SessionExpiry: time.Hour, Store: store, Dialer: pipeDialer{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = c.Publish(ctx, client.Message{Topic: "sensors/7/temp", QoS: packet.QoS2, Payload: []byte("21.5")})
	fmt.Println("published:", err)
	fmt.Println("close:", c.Close(ctx))
	// Output:
	// published: <nil>
	// close: <nil>
}

// pipeDialer is a custom transport: a net.Pipe whose other end is served
// by echoServer.
type pipeDialer struct{}

func (pipeDialer) Dial(ctx context.Context, _ *url.URL) (net.Conn, error) {
	c, s := net.Pipe()
	go echoServer(s)
	return c, nil
}

// echoServer is a one-client broker: it grants every subscription and
// sends every message back to its sender.
func echoServer(conn net.Conn) {
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
				if rt := p.Props.ResponseTopic; rt != "" { // a request: answer it
					s.Send(&packet.Publish{Topic: rt, QoS: p.QoS, Payload: append([]byte("re: "), p.Payload...),
						Props: property.Properties{CorrelationData: p.Props.CorrelationData}})
					return
				}
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
