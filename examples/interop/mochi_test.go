package interop

import (
	"errors"
	"log/slog"
	"net"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startMochi serves an embedded mochi-mqtt broker (every client allowed,
// default capabilities) on a free loopback port for the test and returns
// its address.
func startMochi(t *testing.T) string {
	t.Helper()
	log := new(syncBuilder)
	server := mochi.New(&mochi.Options{
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := server.AddListener(listeners.NewNet("tcp", l)); err != nil {
		l.Close()
		t.Fatal(err)
	}
	if err := server.Serve(); err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := server.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("mochi Close: %v", err)
		}
		if t.Failed() {
			t.Logf("mochi log:\n%s", log.String())
		}
	})
	return l.Addr().String()
}

// The example client against an embedded mochi-mqtt broker, in both
// versions: QoS 0, 1 and 2 round trips, retained messages, a will
// delivered when the client drops without DISCONNECT, and a persistent
// session that receives, after it reconnects, the QoS 1 message published
// while it was offline.
func TestClientAgainstMochi(t *testing.T) {
	t.Parallel()
	addr := startMochi(t)
	clientScenario(t, urlDialer("tcp://"+addr, nil), "mochi")
}
