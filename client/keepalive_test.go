package client

import (
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// TestKeepAlive: the Client sends PINGREQ once it has sent nothing for
// the Keep Alive (MQTT-3.1.2-22), not while it keeps sending (its ping
// timer, armed for the first deadline, fires early and is armed again for
// the time left), and the connection lives on with the PINGRESPs.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	ts := newTestServer(t, accept)
	cfg := pipeConfig(ts)
	cfg.KeepAlive = time.Second
	c := connectForTest(t, cfg)

	// A message every 200 ms for 1.6 Keep Alives.
	var last time.Time
	for end := time.Now().Add(1600 * time.Millisecond); time.Now().Before(end); {
		if err := c.Publish(ctx, Message{Topic: "a", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		last = time.Now()
		time.Sleep(200 * time.Millisecond)
	}
	for pings := 0; pings < 2; pings++ {
		for {
			var p packet.Packet
			select {
			case p = <-ts.got:
			case <-time.After(3 * time.Second):
				t.Fatalf("no PINGREQ within 3 s of silence (%d before)", pings)
			}
			if p.Type() == packet.TypePingreq {
				break
			}
		}
		if since := time.Since(last); since < 900*time.Millisecond {
			t.Fatalf("PINGREQ %v after the last packet, want one Keep Alive (1 s)", since)
		}
		last = time.Now()
	}
	if err := c.Err(); err != nil {
		t.Fatalf("the connection ended: %v", err)
	}
}
