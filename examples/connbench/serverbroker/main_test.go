package main

import (
	"context"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/cmdtest"
)

// A client connects on either path (the event loop, a goroutine per
// connection); the command stops when its context ends.
func TestRun(t *testing.T) {
	for _, args := range [][]string{{}, {"-no-event-loop"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		addrs, stop := cmdtest.Start(t, run, 1, append(args, "-addr", "127.0.0.1:0")...)
		_ = cmdtest.Connect(t, ctx, addrs[0]).Close(ctx)
		if err := stop(); err != nil {
			t.Fatalf("%v: run: %v", args, err)
		}
		cancel()
	}
}
