// Command mqttcore is the sensor of issue 11 written with the mqttcore
// client: keep-alive 5 s, a session that outlives the connection,
// commands received on cmd/# at QoS 2, and 1,000 QoS 1 and 1,000 QoS 2
// readings published with topic aliases, each one again until the server
// acknowledges it. It exits 0 when every reading was acknowledged.
//
//	go run ./sensor/mqttcore -broker tcp://127.0.0.1:1883 -id sensor-7
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
)

func main() {
	broker := flag.String("broker", "tcp://127.0.0.1:1883", "the MQTT server's URL")
	id := flag.String("id", "sensor-1", "the client identifier")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *broker, *id); err != nil {
		fmt.Println("failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, broker, id string) error {
	c, err := client.Connect(ctx, client.Config{
		Servers:          []string{broker},
		ClientID:         id,
		KeepAlive:        5 * time.Second,
		SessionExpiry:    time.Hour,
		TopicAliases:     true,
		OnConnectionLost: func(err error) { fmt.Println("connection lost:", err) },
		OnConnectionUp:   func(present bool) { fmt.Println("connected again, session present:", present) },
	})
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	fmt.Println("connected")
	// The client subscribes again on a connection whose session was lost.
	err = c.Subscribe(ctx, packet.Subscription{Filter: "cmd/#", QoS: packet.QoS2}, func(m client.Message) {
		fmt.Printf("command %s: %s\n", m.Topic, m.Payload)
	})
	if err != nil {
		return err
	}
	topic := "sensors/" + id + "/reading"
	for i := range 2000 {
		m := client.Message{Topic: topic, QoS: packet.QoS(1 + i%2), Payload: []byte(strconv.Itoa(i))}
		// Publish waits while the client reconnects; a message whose
		// session the server did not keep is published again.
		err := c.Publish(ctx, m)
		for errors.Is(err, client.ErrSessionLost) {
			fmt.Printf("reading %d: %v: publishing it again\n", i, err)
			err = c.Publish(ctx, m)
		}
		if err != nil {
			return fmt.Errorf("reading %d: %w", i, err)
		}
	}
	fmt.Println("published 2000 readings, every one acknowledged")
	return c.Close(ctx)
}
