package mqtttest_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/mqtttest"
	"github.com/mqttcore/mqtt/packet"
)

// clientAdapter drives this module's client (package client) for
// CheckClient: one client.Client per connection (NoReconnect), sharing a
// MemoryStore, so that each Connect resumes the session the last one
// left, messages in flight and QoS 2 messages received included.
type clientAdapter struct {
	setup mqtttest.ClientSetup
	store *client.MemoryStore
	// deliver hands a received message to the application; nil means
	// setup.Received once. Faulty adapters replace it.
	deliver   func(c *client.Client, m client.Message)
	manualAck bool

	mu      sync.Mutex
	c       *client.Client
	changed chan struct{} // closed when c changes
}

func newClientAdapter(s mqtttest.ClientSetup) *clientAdapter {
	return &clientAdapter{setup: s, store: &client.MemoryStore{}, changed: make(chan struct{})}
}

func (a *clientAdapter) Connect(ctx context.Context, addr string) error {
	if old := a.current(); old != nil {
		select { // the connection ended: wait for the client to see it
		case <-old.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var c *client.Client
	cfg := client.Config{
		Servers:       []string{"tcp://" + addr},
		Version:       a.setup.Version,
		ClientID:      a.setup.ClientID,
		KeepAlive:     a.setup.KeepAlive,
		SessionExpiry: time.Minute,
		Store:         a.store,
		NoReconnect:   true,
		TopicAliases:  true,
		ManualAck:     a.manualAck,
		OnMessage: func(m client.Message) {
			if a.deliver != nil {
				a.deliver(c, m)
				return
			}
			a.setup.Received(m.Topic, m.Payload, m.QoS)
		},
		EditConnect: func(p *packet.Connect) {
			if a.setup.Version == packet.V5 {
				p.Props.ReceiveMaximum = 2 // the broker keeps to it
			}
		},
	}
	if a.setup.Version == packet.V311 {
		cfg.SessionExpiry = 0
	}
	c, err := client.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.c = c
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
	return nil
}

func (a *clientAdapter) current() *client.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c
}

// ready returns the client of the connection that is up, waiting for the
// next one while the last has ended.
func (a *clientAdapter) ready(ctx context.Context) (*client.Client, error) {
	for {
		a.mu.Lock()
		c, changed := a.c, a.changed
		a.mu.Unlock()
		if c != nil {
			select {
			case <-c.Done():
			default:
				return c, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (a *clientAdapter) Subscribe(ctx context.Context, filter string, qos packet.QoS) error {
	c, err := a.ready(ctx)
	if err != nil {
		return err
	}
	return c.Subscribe(ctx, packet.Subscription{Filter: filter, QoS: qos}, nil)
}

func (a *clientAdapter) Publish(ctx context.Context, topic string, payload []byte, qos packet.QoS) error {
	c, err := a.ready(ctx)
	if err != nil {
		return err
	}
	_, err = c.PublishAsync(ctx, client.Message{Topic: topic, Payload: payload, QoS: qos})
	return err
}

func (a *clientAdapter) Disconnect(ctx context.Context) error {
	if c := a.current(); c != nil {
		return c.Close(ctx)
	}
	return nil
}

// clientChecks is the number of CheckClient scenarios per version: 10
// in CI, MQTTTEST_CHECKS of them for a thorough run (with -rapid.checks
// at least as large: it caps them, at 100 by default).
func clientChecks(t *testing.T) int {
	if s := os.Getenv("MQTTTEST_CHECKS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("MQTTTEST_CHECKS=%q: %v", s, err)
		}
		return n
	}
	return 10
}

// CheckClient against this module's client, in both versions.
func TestCheckClientOurClient(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			mqtttest.CheckClient(t, func(s mqtttest.ClientSetup) mqtttest.Client { return newClientAdapter(s) },
				mqtttest.ClientOptions{Versions: []packet.Version{v}, Checks: clientChecks(t)})
		})
	}
}

// failures is a testing.T for CheckClient that records its failures
// instead of failing the test.
type failures struct {
	*testing.T
	mu  sync.Mutex
	got []string
}

func (f *failures) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, s)
}
func (f *failures) Errorf(format string, args ...any) { f.record(fmt.Sprintf(format, args...)) }
func (f *failures) Fatalf(format string, args ...any) { f.record(fmt.Sprintf(format, args...)) }
func (f *failures) Error(args ...any)                 { f.record(fmt.Sprint(args...)) }
func (f *failures) Fatal(args ...any)                 { f.record(fmt.Sprint(args...)) }
func (f *failures) Fail()                             { f.record("Fail") }
func (f *failures) FailNow()                          { f.record("FailNow") }
func (f *failures) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got) > 0
}

// checkFaultyClient runs CheckClient on clients that adapt makes faulty,
// and returns what it reported.
func checkFaultyClient(t *testing.T, v packet.Version, adapt func(a *clientAdapter)) string {
	f := &failures{T: t}
	// Shrinking waits out timeouts: two seconds of it find a small
	// scenario; and no fail file for a failure wanted.
	for name, value := range map[string]string{"rapid.shrinktime": "2s", "rapid.nofailfile": "true"} {
		old := flag.Lookup(name).Value.String()
		flag.Set(name, value)
		t.Cleanup(func() { flag.Set(name, old) })
	}
	mqtttest.CheckClient(f, func(s mqtttest.ClientSetup) mqtttest.Client {
		a := newClientAdapter(s)
		adapt(a)
		return a
	}, mqtttest.ClientOptions{Versions: []packet.Version{v}, Checks: 100, Timeout: 300 * time.Millisecond, NoIdle: true})
	return strings.Join(f.got, "\n")
}

// CheckClient can fail: a client that hands each QoS 2 message to its
// application twice breaks exactly once (MQTT-4.3.3-10), and the check
// names it.
func TestCheckClientFindsDuplicateDelivery(t *testing.T) {
	got := checkFaultyClient(t, packet.V5, func(a *clientAdapter) {
		a.deliver = func(_ *client.Client, m client.Message) {
			a.setup.Received(m.Topic, m.Payload, m.QoS)
			if m.QoS == packet.QoS2 {
				a.setup.Received(m.Topic, m.Payload, m.QoS)
			}
		}
	})
	if !strings.Contains(got, "MQTT-4.3.3-10 broken") {
		t.Fatalf("CheckClient against a client that delivers QoS 2 messages twice: want MQTT-4.3.3-10 named, got %q", got)
	}
}

// CheckClient can fail: a 3.1.1 client that never acknowledges a message
// breaks MQTT-4.3.2-2 (no PUBACK) or MQTT-4.3.3-2 (no PUBREC), and the
// check names it.
func TestCheckClientFindsMissingAckV311(t *testing.T) {
	got := checkFaultyClient(t, packet.V311, func(a *clientAdapter) {
		a.manualAck = true // and never Ack
	})
	if !strings.Contains(got, "MQTT-4.3.2-2 broken") && !strings.Contains(got, "MQTT-4.3.3-2 broken") {
		t.Fatalf("CheckClient against a client that never acknowledges: want MQTT-4.3.2-2 or MQTT-4.3.3-2 named, got %q", got)
	}
}
