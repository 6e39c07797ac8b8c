// Package brokertest serves the example broker in-process for the
// examples' tests, and adapts the public client (package client) to
// them: a Client with a channel of the messages it receives, a session
// kept in a Store for the next Client to resume, and a way to drop the
// connection without DISCONNECT.
package brokertest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/transport"
)

// Start serves a broker made with cfg on a loopback TCP port until the test
// ends, then shuts it down and checks that Serve ended as Shutdown says it
// does. It returns the listening address (host:port).
func Start(t testing.TB, cfg broker.Config) string {
	t.Helper()
	_, addr := Serve(t, cfg)
	return addr
}

// Serve is Start, and also returns the Broker, for its Stats.
func Serve(t testing.TB, cfg broker.Config) (*broker.Broker, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, cfg, l), l.Addr().String()
}

// ServeWebSocket is Serve with a WebSocket listener too, on another
// loopback port; it also returns that listener's URL (ws://host:port/mqtt).
func ServeWebSocket(t testing.TB, cfg broker.Config) (b *broker.Broker, addr, wsURL string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := transport.ListenWebSocket("127.0.0.1:0", transport.DefaultPath, nil)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	return serve(t, cfg, l, ws), l.Addr().String(), "ws://" + ws.Addr().String() + transport.DefaultPath
}

// serve serves a broker made with cfg on each listener until the test
// ends, then shuts it down and checks that every Serve ended as Shutdown
// says it does.
func serve(t testing.TB, cfg broker.Config, ls ...net.Listener) *broker.Broker {
	b := broker.New(cfg)
	served := make(chan error, len(ls))
	for _, l := range ls {
		go func() { served <- b.Serve(l) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range ls {
			if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	return b
}

// Logger returns a structured logger (log/slog, for broker.Config.Logger)
// that writes each record from level up to the test's log.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

// testWriter writes to a test's log, a call a line.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
