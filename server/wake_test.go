package server_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// fanout is a Handler whose connection "pub" wakes every other connection
// with WakeShared for each PUBLISH it sends; the others record the round
// they were woken in.
type fanout struct {
	mu     sync.Mutex
	subs   []*server.Conn
	round  int
	seen   map[*server.Conn]int
	inPub  uint64 // the goroutine of the pub connection's OnPacket, while it runs
	inline int    // OnWake calls made inside it
	woke   chan struct{}
}

func (f *fanout) OnConnect(c *server.Conn, p *packet.Connect) packet.Connack {
	if p.ClientID != "pub" {
		f.mu.Lock()
		f.subs = append(f.subs, c)
		f.mu.Unlock()
	}
	return packet.Connack{}
}

func (f *fanout) OnPacket(c *server.Conn, p packet.Packet) {
	if _, ok := p.(*packet.Publish); !ok {
		return
	}
	f.mu.Lock()
	f.round++
	f.inPub = goroutineID()
	subs := f.subs
	f.mu.Unlock()
	for _, s := range subs {
		s.WakeShared()
	}
	f.mu.Lock()
	f.inPub = 0
	f.mu.Unlock()
}

func (f *fanout) OnWake(c *server.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inPub != 0 && f.inPub == goroutineID() {
		f.inline++
	}
	f.seen[c] = f.round
	select {
	case f.woke <- struct{}{}:
	default:
	}
}

func (f *fanout) OnClose(*server.Conn, error) {}

// goroutineID returns the calling goroutine's number, from its stack
// trace's first line ("goroutine 42 [running]:").
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	var id uint64
	fmt.Sscan(string(b[:bytes.IndexByte(b, ' ')]), &id)
	return id
}

// WakeShared wakes every connection, round after round (none is lost),
// and on the event loop leaves the OnWake calls to the workers: none is
// made inside the Handler call that woke it.
func TestWakeShared(t *testing.T) {
	f := &fanout{seen: make(map[*server.Conn]int), woke: make(chan struct{}, 1)}
	_, addr := start(t, server.Config{Handler: f})
	const subs = 8
	for i := range subs {
		handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: fmt.Sprint("sub", i), CleanStart: true})
	}
	pub := handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	const rounds = 300
	for r := 1; r <= rounds; r++ {
		publishes(t, pub, "t")
		deadline := time.Now().Add(5 * time.Second)
		for {
			f.mu.Lock()
			behind := 0
			for _, c := range f.subs {
				if f.seen[c] < r {
					behind++
				}
			}
			f.mu.Unlock()
			if behind == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d connections not woken", r, behind, subs)
			}
			select {
			case <-f.woke:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	f.mu.Lock()
	inline := f.inline
	f.mu.Unlock()
	if inline > 0 && *server.EventLoop {
		t.Errorf("%d OnWake calls made inside the Handler call that woke them (want them left to the workers)", inline)
	}
}
