package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/cmdtest"
)

// The command listens on loopback, announces its address, carries a
// message at QoS 1, and stops when its context ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, stop := cmdtest.Start(t, run, 1, "-addr", "127.0.0.1:0")
	if !strings.HasPrefix(addrs[0], "127.0.0.1:") {
		t.Fatalf("announced %q", addrs[0])
	}
	c := cmdtest.RoundTrip(t, ctx, addrs[0])
	_ = c.Close(ctx) // DISCONNECT 0x00
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
