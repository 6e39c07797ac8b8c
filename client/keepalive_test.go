package client

import (
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// TestKeepAlive: the Client sends PINGREQ after Keep Alive of silence
// (MQTT-3.1.2-20), not while it sends more often than that, and again
// after each Keep Alive of silence that follows. Its ping timer is not
// reset for each packet sent: it fires early and runs again for the time
// left, which must not change when the PINGREQs go out.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	var mu sync.Mutex
	var pings []time.Time
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if p.Type() == packet.TypePingreq {
			mu.Lock()
			pings = append(pings, time.Now())
			mu.Unlock()
		}
		accept(ts, p)
	})
	cfg := pipeConfig(ts)
	cfg.KeepAlive = time.Second
	c := connectForTest(t, cfg)

	// Busy for 1.4 s, a message every 200 ms: the timer started with the
	// CONNECT fires during it, early.
	var last time.Time
	for start := time.Now(); time.Since(start) < 1400*time.Millisecond; time.Sleep(200 * time.Millisecond) {
		if err := c.Publish(ctx, Message{Topic: "t", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		last = time.Now()
	}
	// Then silent: a PINGREQ a second after the last message, and one a
	// second after that (the PINGREQ was sent: the timer runs again).
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(pings)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pings) < 2 {
		t.Fatalf("%d PINGREQs within %v of the last message, want 2", len(pings), deadline.Sub(last).Round(time.Second))
	}
	// A late timer is tolerated (a loaded machine); an early PINGREQ is not.
	for i, want := range []time.Time{last.Add(time.Second), pings[0].Add(time.Second)} {
		if got := pings[i]; got.Before(want.Add(-50*time.Millisecond)) || got.After(want.Add(time.Second)) {
			t.Errorf("PINGREQ %d at %v after the last message, want about %v", i+1,
				got.Sub(last).Round(time.Millisecond), want.Sub(last).Round(time.Millisecond))
		}
	}
}
