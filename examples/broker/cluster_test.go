package main

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// Without the tag "cluster", -cluster is refused with the way to build a
// broker that has it, before anything listens; the single node needs no
// outside service.
func TestClusterFlagWithoutSupport(t *testing.T) {
	if joinCluster != nil {
		t.Skip("built with the tag cluster: examples/cluster tests the cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"-addr", "127.0.0.1:0", "-cluster", "nats://127.0.0.1:4222"}, io.Discard, io.Discard)
	if !errors.Is(err, errNoCluster) {
		t.Errorf("-cluster in a build without it: %v, want errNoCluster", err)
	}
}
