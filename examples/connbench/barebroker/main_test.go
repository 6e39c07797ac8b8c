//go:build linux

package main

import (
	"context"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/cmdtest"
)

// A client of package client gets its CONNACK; the command stops when its
// context ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, stop := cmdtest.Start(t, run, 1, "-addr", "127.0.0.1:0")
	cmdtest.Connect(t, ctx, addrs[0]).Close(ctx) // its DISCONNECT is not read
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
