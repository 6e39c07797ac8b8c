package cluster

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// consumerInfo returns the info of the consumer name of the stream MQTT,
// asked of the NATS server at url.
func consumerInfo(t testing.TB, url, name string) *jetstream.ConsumerInfo {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.Consumer(ctx(t), "MQTT", name)
	if err != nil {
		t.Fatalf("consumer %s: %v", name, err)
	}
	return c.CachedInfo()
}

// awaitPulls waits until the consumer name has n pulls waiting: n nodes
// pull from it.
func awaitPulls(t testing.TB, url, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info := consumerInfo(t, url, name)
		if info.NumWaiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s: %d pulls waiting, want %d", name, info.NumWaiting, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
