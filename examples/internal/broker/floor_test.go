package broker_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// fakeSessions is a SessionCluster whose claims all succeed at once, with
// no other node: the broker's floors are computed against its Position
// and Floor.
type fakeSessions struct {
	fakeCluster
	rev        atomic.Uint64
	pos, floor atomic.Uint64

	mu    sync.Mutex
	saved map[string][]byte // the last SaveSession of each client
}

func (f *fakeSessions) ClaimSession(_ string, _ bool, _ func([]byte), done func(broker.ClusterClaim)) {
	go done(broker.ClusterClaim{Rev: f.rev.Add(1)})
}

func (f *fakeSessions) SessionCurrent(string, uint64) bool { return true }

func (f *fakeSessions) SaveSession(id string, _ uint64, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saved == nil {
		f.saved = make(map[string][]byte)
	}
	f.saved[id] = data
}

func (f *fakeSessions) MaxSessionBytes() int { return 1 << 20 }
func (f *fakeSessions) Position() uint64     { return f.pos.Load() }
func (f *fakeSessions) Floor() uint64        { return f.floor.Load() }

// awaitFloor calls SessionFloors until it has reported want for id (it
// reports a floor once per change).
func awaitFloor(t *testing.T, b *broker.Broker, id string, want uint64) {
	t.Helper()
	var last uint64
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.SessionFloors(func(client string, _, floor uint64) {
			if client == id {
				last = floor
			}
		})
		if last == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("floor of %s: %d, want %d", id, last, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A persistent session's floor is the lowest position of what is queued
// for it or sent to its client and not yet acknowledged: each PUBACK
// retires the oldest QoS 1 message (MQTT-4.6.0-2: the client sends them
// in the order it received them), each PUBREC the oldest QoS 2 one
// (MQTT-4.6.0-3); with nothing left, the cluster's Floor. A message
// published here counts from the cluster's Position.
func TestSessionFloor(t *testing.T) {
	t.Parallel()
	f := &fakeSessions{}
	f.floor.Store(1000)
	f.pos.Store(900)
	b, addr := brokertest.Serve(t, broker.Config{Cluster: f, Logger: brokertest.Logger(t, 0)})
	sub := dialHostile(t, addr, packet.V5)
	sub.connect(&packet.Connect{ClientID: "sub", KeepAlive: 30, Props: property.Properties{SessionExpiry: 60}})
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t/#", QoS: packet.QoS2}}})
	sub.expect(packet.TypeSuback)
	awaitFloor(t, b, "sub", 1000)

	deliver := func(topic string, qos packet.QoS, pos uint64) {
		b.DeliverTaken(&packet.Publish{Topic: topic, QoS: qos, Payload: []byte(topic)}, "", "", broker.Mark{Pos: pos}, func(bool) {})
	}
	deliver("t/a", packet.QoS1, 10)
	deliver("t/b", packet.QoS2, 20)
	deliver("t/c", packet.QoS1, 5)
	ids := make(map[string]uint16)
	for range 3 {
		p := sub.expect(packet.TypePublish).(*packet.Publish)
		ids[p.Topic] = p.PacketID
	}
	awaitFloor(t, b, "sub", 5)
	sub.send(&packet.Puback{PacketID: ids["t/a"]})
	awaitFloor(t, b, "sub", 5) // t/c, at 5, still in flight
	sub.send(&packet.Puback{PacketID: ids["t/c"]})
	awaitFloor(t, b, "sub", 20)
	sub.send(&packet.Pubrec{PacketID: ids["t/b"]})
	sub.expect(packet.TypePubrel)
	awaitFloor(t, b, "sub", 1000) // the client has it: not to be given again
	sub.send(&packet.Pubcomp{PacketID: ids["t/b"]})

	// A message published on this node: below the position it gets.
	pub := dialHostile(t, addr, packet.V5)
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30})
	pub.send(&packet.Publish{Topic: "t/local", QoS: packet.QoS1, PacketID: 1, Payload: []byte("x")})
	pub.expect(packet.TypePuback)
	p := sub.expect(packet.TypePublish).(*packet.Publish)
	awaitFloor(t, b, "sub", 900)
	sub.send(&packet.Puback{PacketID: p.PacketID})
	awaitFloor(t, b, "sub", 1000)

	// Unchanged: not reported again. The publisher's session, not
	// persistent, has none.
	b.SessionFloors(func(id string, _, floor uint64) {
		t.Errorf("floor of %s (%d) reported with no change", id, floor)
	})
}
