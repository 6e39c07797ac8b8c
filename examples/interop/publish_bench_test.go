package interop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// Publish throughput of three clients against the example broker, in the
// same run: our client package, eclipse/paho.golang's autopaho (MQTT 5)
// and eclipse/paho.mqtt.golang (3.1.1 only). Ours runs at both versions,
// so that each peer has a like-for-like partner: mqttcore against
// autopaho (v5), mqttcore-3.1.1 against paho.
//
// Each iteration publishes one 64-byte message on one topic, at the QoS
// of the sub-benchmark, with no subscriber (the broker routes it to
// nobody). BenchmarkClientPublish keeps up to benchWindow messages in
// flight, each library in its own way: our PublishAsync (a ring of
// Pendings, MaxInFlight the same window), autopaho's Publish from
// benchWindow goroutines, paho.mqtt.golang's tokens (a ring of them).
// BenchmarkClientPublishSync sends one message at a time, each call
// waiting for the acknowledgement (QoS 1, 2) or the write (QoS 0):
// latency-bound throughput. A run ends once every message is
// acknowledged or written; any error fails it.
//
// The broker runs in the benchmark's process, one per run: allocations
// and CPU time include its share, which is the same for every client of
// one protocol version. cpu-ns/op is the CPU time the process used per
// message (user and system, all threads): on a shared machine it moves
// less than ns/op with the other programs' load.
//
//	go test -run '^$' -bench BenchmarkClientPublish -benchmem -count 5

const (
	benchWindow = 64 // messages in flight, every library (the broker's Receive Maximum is 256)
	benchTopic  = "bench/publish"
)

var benchPayload = make([]byte, 64)

// publisher is one library's connected client.
type publisher interface {
	// publish sends n messages on topic at qos, keeping up to window
	// unacknowledged (window 1: the library's synchronous call), and
	// returns once each is acknowledged (QoS 1, 2) or written (QoS 0).
	publish(topic string, n int, qos byte, window int) error
	close() error
}

// publishers are the libraries compared, in the order of the report.
var publishers = []struct {
	name    string
	connect func(addr, id string) (publisher, error)
}{
	{"mqttcore", connectOurs(packet.V5)},
	{"autopaho", connectAutopaho},
	{"mqttcore-3.1.1", connectOurs(packet.V311)},
	{"paho", connectPahoV3},
}

// BenchmarkClientPublish measures publish throughput with benchWindow
// messages in flight.
func BenchmarkClientPublish(b *testing.B) { benchPublish(b, benchWindow) }

// BenchmarkClientPublishSync measures publish throughput one message at
// a time.
func BenchmarkClientPublishSync(b *testing.B) { benchPublish(b, 1) }

func benchPublish(b *testing.B, window int) {
	addr := brokertest.Start(b, broker.Config{Logger: brokertest.Logger(b, slog.LevelWarn)})
	var ids atomic.Int64
	for _, lib := range publishers {
		for qos := range byte(3) {
			b.Run(fmt.Sprintf("%s/qos%d", lib.name, qos), func(b *testing.B) {
				p, err := lib.connect(addr, fmt.Sprintf("bench-%s-%d", lib.name, ids.Add(1)))
				if err != nil {
					b.Fatal(err)
				}
				defer func() {
					if err := p.close(); err != nil {
						b.Error(err)
					}
				}()
				b.ReportAllocs()
				b.ResetTimer()
				cpu := cpuTime()
				if err := p.publish(benchTopic, b.N, qos, window); err != nil {
					b.Fatal(err)
				}
				cpu = cpuTime() - cpu
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				if cpu > 0 {
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

// TestClientPublishCount checks the benchmark's publishers once: a
// subscriber at QoS 2 receives every message each sends, windowed and
// synchronous.
func TestClientPublishCount(t *testing.T) {
	addr := startBroker(t)
	const n = 300
	var mu sync.Mutex
	got := map[string]int{}
	ctx := testContext(t)
	sub, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + addr}, ClientID: "bench-count",
		NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	err = sub.Subscribe(ctx, packet.Subscription{Filter: "count/#", QoS: packet.QoS2}, func(m client.Message) {
		mu.Lock()
		got[m.Topic]++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, lib := range publishers {
		for qos := range byte(3) {
			for _, window := range []int{benchWindow, 1} {
				topic := fmt.Sprintf("count/%s/%d/%d", lib.name, qos, window)
				t.Run(topic, func(t *testing.T) {
					p, err := lib.connect(addr, "count-"+lib.name)
					if err != nil {
						t.Fatal(err)
					}
					if err := p.publish(topic, n, qos, window); err != nil {
						t.Fatal(err)
					}
					if err := p.close(); err != nil {
						t.Fatal(err)
					}
					deadline := time.Now().Add(5 * time.Second)
					for {
						mu.Lock()
						c := got[topic]
						mu.Unlock()
						if c == n {
							break
						}
						if c > n || time.Now().After(deadline) {
							t.Fatalf("subscriber received %d messages, want %d", c, n)
						}
						time.Sleep(5 * time.Millisecond)
					}
				})
			}
		}
	}
}

// ours is our client package.
type ours struct{ c *client.Client }

func connectOurs(v packet.Version) func(addr, id string) (publisher, error) {
	return func(addr, id string) (publisher, error) {
		c, err := client.Connect(context.Background(), client.Config{Servers: []string{"tcp://" + addr},
			Version: v, ClientID: id, CleanStart: true, KeepAlive: 30 * time.Second, NoReconnect: true,
			MaxInFlight: benchWindow})
		if err != nil {
			return nil, err
		}
		return ours{c}, nil
	}
}

func (o ours) publish(topic string, n int, qos byte, window int) error {
	ctx := context.Background()
	m := client.Message{Topic: topic, Payload: benchPayload, QoS: packet.QoS(qos)}
	if window == 1 {
		for range n {
			if err := o.c.Publish(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	ring := make([]*client.Pending, window)
	for i := range n {
		if qos == 0 && i == n-1 {
			// QoS 0 has nothing to wait for but the write; a synchronous
			// Publish returns once its bytes, and so all before them, are
			// written.
			return o.c.Publish(ctx, m)
		}
		slot := &ring[i%window]
		if *slot != nil {
			if err := (*slot).Wait(ctx); err != nil {
				return err
			}
		}
		p, err := o.c.PublishAsync(ctx, m)
		if err != nil {
			return err
		}
		*slot = p
	}
	for _, p := range ring {
		if p != nil {
			if err := p.Wait(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (o ours) close() error { return o.c.Close(context.Background()) }

// autopahoPub is eclipse/paho.golang's autopaho. Its PublishViaQueue
// tells nothing of a message's acknowledgement, so window goroutines call
// Publish, each waiting for its message's.
type autopahoPub struct{ cm *autopaho.ConnectionManager }

func connectAutopaho(addr, id string) (publisher, error) {
	u, err := url.Parse("mqtt://" + addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm, err := autopaho.NewConnection(context.Background(), autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true,
		ClientConfig: paho.ClientConfig{ClientID: id},
	})
	if err != nil {
		return nil, err
	}
	if err := cm.AwaitConnection(ctx); err != nil {
		cm.Disconnect(ctx)
		return nil, err
	}
	return autopahoPub{cm}, nil
}

func (a autopahoPub) publish(topic string, n int, qos byte, window int) error {
	ctx := context.Background()
	var next atomic.Int64
	errs := make([]error, window)
	var wg sync.WaitGroup
	for w := range window {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				r, err := a.cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: benchPayload})
				if err == nil && r != nil && r.ReasonCode >= 0x80 {
					err = fmt.Errorf("autopaho: reason code %#x", r.ReasonCode)
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// close sends DISCONNECT after a QoS 1 message: autopaho's Disconnect
// does not wait for the QoS 0 messages still on their way out (up to a
// tenth of them were lost), and the acknowledgement of a message written
// after them says they are written.
func (a autopahoPub) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.cm.Publish(ctx, &paho.Publish{Topic: "flush", QoS: 1}); err != nil {
		return err
	}
	return a.cm.Disconnect(ctx)
}

// pahoV3Pub is eclipse/paho.mqtt.golang, whose Publish returns a token
// at once: a ring of window tokens, the oldest waited for before its
// slot is used again.
type pahoV3Pub struct{ c pahov3.Client }

func connectPahoV3(addr, id string) (publisher, error) {
	o := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(true).SetProtocolVersion(4).SetAutoReconnect(false).
		SetKeepAlive(30 * time.Second)
	c := pahov3.NewClient(o)
	if err := waitToken(c.Connect()); err != nil {
		return nil, err
	}
	return pahoV3Pub{c}, nil
}

func (p pahoV3Pub) publish(topic string, n int, qos byte, window int) error {
	ring := make([]pahov3.Token, window)
	for i := range n {
		slot := &ring[i%window]
		if *slot != nil {
			if err := waitToken(*slot); err != nil {
				return err
			}
		}
		*slot = p.c.Publish(topic, qos, false, benchPayload)
	}
	for _, tok := range ring {
		if tok != nil {
			if err := waitToken(tok); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p pahoV3Pub) close() error {
	p.c.Disconnect(100)
	return nil
}

func waitToken(tok pahov3.Token) error {
	if !tok.WaitTimeout(30 * time.Second) {
		return errors.New("paho.mqtt.golang: no answer within 30s")
	}
	return tok.Error()
}
