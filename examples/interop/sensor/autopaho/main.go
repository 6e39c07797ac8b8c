// Command autopaho is the sensor of issue 11 written with
// eclipse/paho.golang's autopaho: keep-alive 5 s, a session that outlives
// the connection, commands received on cmd/# at QoS 2, and 1,000 QoS 1
// and 1,000 QoS 2 readings published with topic aliases, each one again
// until the server acknowledges it. It exits 0 when every reading was
// acknowledged.
//
//	go run ./sensor/autopaho -broker mqtt://127.0.0.1:1883 -id sensor-7
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/extensions/topicaliases"
)

func main() {
	broker := flag.String("broker", "mqtt://127.0.0.1:1883", "the MQTT server's URL")
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
	u, err := url.Parse(broker)
	if err != nil {
		return err
	}
	// One topic, so one alias; the table and the server's consent hold for
	// one connection only.
	aliases := topicaliases.NewTAHandler(1)
	var aliasesOn atomic.Bool
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls:            []*url.URL{u},
		KeepAlive:             5,
		SessionExpiryInterval: 3600,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ack *paho.Connack) {
			fmt.Println("connected, session present:", ack.SessionPresent)
			aliasesOn.Store(ack.Properties != nil && ack.Properties.TopicAliasMaximum != nil && *ack.Properties.TopicAliasMaximum > 0)
			// Subscribing on every connection, as autopaho's README
			// recommends, in case the session was lost.
			if _, err := cm.Subscribe(context.Background(), &paho.Subscribe{
				Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/#", QoS: 2}},
			}); err != nil {
				fmt.Println("subscribe failed:", err)
			}
		},
		OnConnectionDown: func() bool {
			fmt.Println("connection lost")
			aliasesOn.Store(false)
			aliases.ResetAll()
			return true
		},
		ClientConfig: paho.ClientConfig{
			ClientID: id,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				fmt.Printf("command %s: %s\n", pr.Packet.Topic, pr.Packet.Payload)
				return true, nil
			}},
			PublishHook: func(p *paho.Publish) {
				if aliasesOn.Load() {
					aliases.PublishHook(p)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	defer cm.Disconnect(ctx)
	if err := cm.AwaitConnection(ctx); err != nil {
		return err
	}
	topic := "sensors/" + id + "/reading"
	for i := range 2000 {
		// Publish fails while the connection is down, and after its
		// PacketTimeout (10 s) for a message of a session the server lost;
		// a new packet each time, since the alias hook rewrites it.
		for {
			pr, err := cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: byte(1 + i%2), Payload: []byte(strconv.Itoa(i))})
			if err == nil && pr.ReasonCode < 0x80 {
				break
			}
			if pr != nil {
				return fmt.Errorf("reading %d: refused: reason code %d", i, pr.ReasonCode)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("reading %d: %w", i, err)
			}
			fmt.Printf("reading %d: %v: publishing it again\n", i, err)
			if err := cm.AwaitConnection(ctx); err != nil {
				return err
			}
		}
	}
	fmt.Println("published 2000 readings, every one acknowledged")
	return cm.Disconnect(ctx)
}
