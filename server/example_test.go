package server_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
	"github.com/mqttcore/mqtt/topic"
)

// broker is a minimal broker: it accepts every client and routes each
// PUBLISH to the subscriptions that match its topic. (No sessions kept
// after the connection, retained messages or wills: those are the
// broker's to add.)
type broker struct {
	mu      sync.RWMutex
	subs    topic.Tree[*server.Conn, packet.QoS]
	filters map[*server.Conn][]string // to remove them when a client goes
}

func (b *broker) OnConnect(c *server.Conn, p *packet.Connect) packet.Connack {
	return packet.Connack{} // accepted
}

func (b *broker) OnPacket(c *server.Conn, p packet.Packet) {
	switch p := p.(type) {
	case *packet.Publish:
		b.mu.RLock()
		b.subs.Match(p.Topic, func(sub *server.Conn, max packet.QoS) {
			// Send copies what it keeps; ErrBacklog drops the message
			// for a subscriber that does not keep up.
			_ = sub.Send(&packet.Publish{Topic: p.Topic, Payload: p.Payload, QoS: min(p.QoS, max)})
		})
		b.mu.RUnlock()
	case *packet.Subscribe:
		granted := make([]packet.ReasonCode, len(p.Subscriptions))
		b.mu.Lock()
		for i, s := range p.Subscriptions {
			f := strings.Clone(s.Filter) // p is valid during the call only
			if !b.subs.Add(f, c, s.QoS) {
				b.filters[c] = append(b.filters[c], f)
			}
			granted[i] = packet.ReasonCode(s.QoS) // GrantedQoS0 to 2
		}
		b.mu.Unlock()
		if ack, err := p.Ack(c.Version(), granted...); err == nil {
			_ = c.Send(ack)
		}
	case *packet.Unsubscribe:
		results := make([]packet.ReasonCode, len(p.Filters))
		b.mu.Lock()
		for i, f := range p.Filters {
			if !b.subs.Remove(f, c) {
				results[i] = packet.NoSubscriptionExisted
			}
		}
		b.mu.Unlock()
		if ack, err := p.Ack(c.Version(), results...); err == nil {
			_ = c.Send(ack)
		}
	}
}

func (b *broker) OnClose(c *server.Conn, err error) {
	b.mu.Lock()
	for _, f := range b.filters[c] {
		b.subs.Remove(f, c)
	}
	delete(b.filters, c)
	b.mu.Unlock()
}

// A minimal broker on loopback TCP, and two clients of the public client
// package: a v5 subscriber and a v3.1.1 publisher.
func Example() {
	srv := server.New(server.Config{Handler: &broker{filters: map[*server.Conn][]string{}}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	ctx := context.Background()
	addr := "tcp://" + l.Addr().String()

	sub, err := client.Connect(ctx, client.Config{Servers: []string{addr}, ClientID: "display"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close(ctx)
	got := make(chan client.Message, 1)
	err = sub.Subscribe(ctx, packet.Subscription{Filter: "sensors/+/temp", QoS: packet.QoS1},
		func(m client.Message) { got <- m })
	if err != nil {
		fmt.Println(err)
		return
	}

	pub, err := client.Connect(ctx, client.Config{Servers: []string{addr}, ClientID: "sensor-7", Version: packet.V311})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pub.Close(ctx)
	err = pub.Publish(ctx, client.Message{Topic: "sensors/7/temp", QoS: packet.QoS2, Payload: []byte("21.5")})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := <-got
	fmt.Printf("%s: %s at QoS %d\n", m.Topic, m.Payload, m.QoS)
	// Output:
	// sensors/7/temp: 21.5 at QoS 1
}
