package cluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// BenchmarkHop measures what the cluster costs a message, with real MQTT
// clients on loopback: on one broker without a cluster ("single"), and
// on a cluster of three brokers over three NATS servers (the stream
// replicated three times) with the subscriber on the publisher's node
// ("same") or another ("cross").
//
// latency: one message at a time, published and received (ns/op is the
// round trip from the publisher's call to the subscriber's receipt).
// throughput: b.N QoS 1 messages published as fast as the publisher's
// Receive Maximum allows, and all received (msgs/s).
//
//	go test ./examples/cluster -run '^$' -bench Hop -benchtime 2000x
//
// MQTT_CLUSTER_NATS=1 runs the cluster on one NATS server (the stream not
// replicated) instead of three.
func BenchmarkHop(b *testing.B) {
	single := brokertest.Start(b, broker.Config{})
	servers := 3
	if os.Getenv("MQTT_CLUSTER_NATS") == "1" {
		servers = 1
	}
	tc := startClusterOn(b, servers, broker.Config{})
	type place struct {
		name     string
		pub, sub string // broker addresses
	}
	places := []place{{"single", single, single}, {"same", tc.addrs[0], tc.addrs[0]}, {"cross", tc.addrs[0], tc.addrs[1]}}
	for _, p := range places {
		pub := dialAddr(b, p.pub, "bench-pub-"+p.name)
		sub := dialAddr(b, p.sub, "bench-sub-"+p.name)
		subscribe(b, sub, packet.QoS1, "bench/"+p.name, probeTopic)
		awaitRoute(b, pub, sub)
		time.Sleep(50 * time.Millisecond)
		drain(sub)
		for _, qos := range []packet.QoS{packet.QoS0, packet.QoS1} {
			b.Run(fmt.Sprintf("latency/qos%d/%s", qos, p.name), func(b *testing.B) {
				m := client.Message{Topic: "bench/" + p.name, QoS: qos, Payload: make([]byte, 64)}
				for b.Loop() {
					if err := pub.Publish(ctx(b), m); err != nil {
						b.Fatal(err)
					}
					receive(b, sub, 1)
				}
			})
		}
		b.Run("throughput/qos1/"+p.name, func(b *testing.B) {
			m := client.Message{Topic: "bench/" + p.name, QoS: packet.QoS1, Payload: make([]byte, 64)}
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				c := context.Background()
				var last *client.Pending
				for range b.N {
					pd, err := pub.PublishAsync(c, m)
					if err != nil {
						done <- err
						return
					}
					last = pd
				}
				if last != nil {
					done <- last.Wait(c)
					return
				}
				done <- nil
			}()
			receive(b, sub, b.N)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// dialAddr connects a v5 client with a clean session to a broker.
func dialAddr(t testing.TB, addr, id string) *brokertest.Client {
	t.Helper()
	return brokertest.Dial(t, brokertest.Config("tcp://"+addr, packet.V5, &packet.Connect{ClientID: id, CleanStart: true}))
}

// drain takes what c has received so far.
func drain(c *brokertest.Client) {
	for {
		select {
		case <-c.Messages():
		default:
			return
		}
	}
}
