package interop

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
)

// startBroker serves the example broker on a free loopback port for the
// test and returns its address.
func startBroker(t *testing.T) string {
	t.Helper()
	return brokertest.Start(t, broker.Config{Logger: brokertest.Logger(t, slog.LevelInfo)})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// msg is a message as a peer client received it.
type msg struct {
	topic   string
	payload string
	qos     byte
	retain  bool
}

// expect checks that the next message on ch is want.
func expect(t *testing.T, ch <-chan msg, want msg) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("received %+v, want %+v", got, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("no message within 3s, want %+v", want)
	}
}

// quiet checks that nothing arrives on ch for a short while.
func quiet(t *testing.T, ch <-chan msg) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected message %+v", got)
	case <-time.After(150 * time.Millisecond):
	}
}
