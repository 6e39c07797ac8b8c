package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/packet"
)

// A node stopped and started again on the same NodeName, without a
// broker Store: its persistent client reconnects to it and finds its
// session (Session Present 1, MQTT-3.2.2-3), with what was published
// while the node was down and what was queued there when it stopped
// (resumed as from a node that crashed: the session as last saved, and
// the stream from its floor; MQTT-4.4.0-1).
func TestNodeRestarted(t *testing.T) {
	urls := startNATS(t, 1)
	cfg := func(name string) Config {
		return Config{URL: urls[0], NodeName: name, FloorInterval: 50 * time.Millisecond}
	}
	a := startBrokerNode(t, cfg("restart-a"), broker.Config{}, "")
	b := startBrokerNode(t, cfg("restart-b"), broker.Config{}, "")
	sub := persistentClient(t, a.addr, "restarted", nil)
	subscribe(t, sub, packet.QoS1, "restart/#", probeTopic)
	pub := dialAddr(t, b.addr, "restart-pub")
	awaitRoute(t, pub, sub)

	const n = 300
	send := func(from, to int) {
		for i := from; i < to; i++ {
			m := client.Message{Topic: "restart/x", QoS: packet.QoS1, Payload: fmt.Appendf(nil, "%d", i)}
			if err := pub.Publish(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, n/2)
	seen := make(map[string]int)
	for _, m := range receive(t, sub, 50) {
		seen[string(m.Payload)]++
	}
	// The client stops reading; A stops with the rest queued or in flight.
	a.stop()
	ended(t, sub, "node A")
	countHeld(seen, sub)
	send(n/2, n) // while A is down
	a.start()
	resumed := persistentClient(t, a.addr, "restarted", sub.Store())
	if !resumed.Connack().SessionPresent {
		t.Fatal("Session Present 0 on the node started again")
	}
	countUntil(t, seen, resumed, n, "resumed on the node started again")
}
