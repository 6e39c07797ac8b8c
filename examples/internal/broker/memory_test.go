package broker_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// TestIdleMemory measures what an idle client costs the broker: heap and
// goroutine stacks after n v5 clients (Keep Alive 60 s, a clean session
// each) have connected over loopback TCP and gone quiet, per client, the
// client's own socket included (about 300 bytes of the heap). It logs
// the result and fails above a ceiling: 2 KiB and no goroutine on Linux,
// where package server's event loop serves TCP (it measured 1.4 KB: the
// server's connection and the core's Connection, 0.6 KB; the broker's
// session, 0.26 KB, and its conn, 0.13 KB, whose scratch space is
// borrowed for the length of a call; both sockets), 12 KiB and one
// goroutine elsewhere (a goroutine's stack, and the server's read
// buffer). The broker's own loop of before (a goroutine per connection
// and one reading it, with its 32 KiB buffer) measured 47.7 KB and 2
// goroutines; on the event loop, with the scratch space in each conn,
// 2.7 KB. Under the race detector only the goroutines are counted.
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	n := 2000
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		n = min(n, (int(lim.Cur)-100)/2) // both ends are in this process
	}
	b, addr := brokertest.Serve(t, broker.Config{})
	clients := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	connack := make([]byte, 64)
	heap0, stack0, g0 := liveHeap(), stackInuse(), runtime.NumGoroutine()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		connect, err := (&packet.Connect{ClientID: fmt.Sprint("idle-", i), KeepAlive: 60, CleanStart: true}).AppendTo(nil, packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(connect); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAtLeast(c, connack, 3); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the writers end
	heap1, stack1, g1 := liveHeap(), stackInuse(), runtime.NumGoroutine()
	heap, stack := (heap1-heap0)/int64(n), (stack1-stack0)/int64(n)
	g := float64(g1-g0) / float64(n)
	t.Logf("%d idle connections: %d B heap + %d B stack = %d B per connection, %.2f goroutines each; %d served",
		n, heap, stack, heap+stack, g, b.Stats().Conns)
	ceiling, goroutines := int64(12<<10), 1.05
	if runtime.GOOS == "linux" {
		ceiling, goroutines = 2<<10, 0.05
	}
	if per := heap + stack; per > ceiling && !raceEnabled {
		t.Errorf("%d B per idle connection, more than %d B", per, ceiling)
	}
	if g > goroutines {
		t.Errorf("%.2f goroutines per idle connection, want at most %.2f", g, goroutines)
	}
}

// stackInuse returns the bytes of goroutine stacks in use.
func stackInuse() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.StackInuse)
}
