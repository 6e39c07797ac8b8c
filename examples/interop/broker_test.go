package interop

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
)

// startBroker serves the example broker on a free loopback port for the
// test and returns its address.
func startBroker(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := broker.New(broker.Config{Logf: t.Logf})
	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
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
