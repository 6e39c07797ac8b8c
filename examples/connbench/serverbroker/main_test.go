package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/cmdtest"
)

// The command listens on loopback, announces its address, accepts a
// client, and stops when its context ends.
func TestRun(t *testing.T) {
	for _, args := range [][]string{{}, {"-no-event-loop"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		addrs, stop := cmdtest.Start(t, run, 1, append(args, "-addr", "127.0.0.1:0")...)
		if !strings.HasPrefix(addrs[0], "127.0.0.1:") {
			t.Fatalf("announced %q", addrs[0])
		}
		c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + addrs[0]}, NoReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close(ctx)
		if err := stop(); err != nil {
			t.Fatalf("%v: run: %v", args, err)
		}
		cancel()
	}
}
