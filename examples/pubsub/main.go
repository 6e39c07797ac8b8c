// Command pubsub is the shortest complete tour of the core: it starts the
// example broker in this process on a free loopback port, connects two
// clients (package client, on the core) over TCP, subscribes one to a
// wildcard filter, publishes a message at each QoS from the other, and
// prints what arrives.
//
//	go run ./examples/pubsub
//
// It exits 0 when every message arrived, and 1 on any failure or after 10
// seconds.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/packet"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := run(ctx, os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pubsub:", err)
		os.Exit(1)
	}
}

// The messages published, one per QoS.
var readings = []struct {
	topic   string
	qos     packet.QoS
	payload string
}{
	{"sensors/room1/temperature", packet.QoS0, "21.5"},
	{"sensors/room2/temperature", packet.QoS1, "19.0"},
	{"sensors/kitchen/temperature", packet.QoS2, "23.4"},
}

const filter = "sensors/+/temperature"

func run(ctx context.Context, w io.Writer) (err error) {
	start := time.Now()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b := broker.New(broker.Config{})
	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = errors.Join(err, b.Shutdown(sctx))
		if serr := <-served; !errors.Is(serr, broker.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	}()
	addr := l.Addr().String()
	fmt.Fprintf(w, "broker listening on %s\n", addr)

	url := "tcp://" + addr
	sub, err := client.Connect(ctx, client.Config{Servers: []string{url}, ClientID: "pubsub-subscriber", CleanStart: true})
	if err != nil {
		return fmt.Errorf("subscriber: %w", err)
	}
	defer sub.Close(ctx)
	pub, err := client.Connect(ctx, client.Config{Servers: []string{url}, ClientID: "pubsub-publisher", CleanStart: true})
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	defer pub.Close(ctx)

	received := make(chan client.Message, len(readings))
	err = sub.Subscribe(ctx, packet.Subscription{Filter: filter, QoS: packet.QoS2}, func(m client.Message) { received <- m })
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	fmt.Fprintf(w, "subscribed to %s\n", filter)

	for _, r := range readings {
		m := client.Message{Topic: r.topic, QoS: r.qos, Payload: []byte(r.payload)}
		if err := pub.Publish(ctx, m); err != nil {
			return fmt.Errorf("publish %s: %w", r.topic, err)
		}
	}

	for i := range readings {
		select {
		case m := <-received:
			fmt.Fprintf(w, "received %s qos=%d: %s\n", m.Topic, m.QoS, m.Payload)
		case <-sub.Done():
			return fmt.Errorf("subscriber connection ended: %v", sub.Err())
		case <-ctx.Done():
			return fmt.Errorf("received %d of %d messages: %w", i, len(readings), ctx.Err())
		}
	}

	if err := pub.Close(ctx); err != nil {
		return fmt.Errorf("publisher disconnect: %w", err)
	}
	if err := sub.Close(ctx); err != nil {
		return fmt.Errorf("subscriber disconnect: %w", err)
	}
	fmt.Fprintf(w, "%d messages published at QoS 0, 1 and 2 and received through the broker over MQTT %v in %v\n",
		len(readings), packet.V5, time.Since(start).Round(time.Millisecond))
	return nil
}
