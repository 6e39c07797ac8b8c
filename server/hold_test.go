package server_test

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// holder is a Handler for the tests of the requests a Handler makes of a
// connection besides Send and Close: it records the topics published to
// it, pauses reading after the first when pause is set, defers its
// CONNACK when deferConnack is set, and runs what a test hands to OnWake.
type holder struct {
	pause, deferConnack bool

	mu      sync.Mutex
	conn    *server.Conn
	topics  []string
	onWake  func(c *server.Conn)
	wakes   int
	locked  bool // a Handler call is in progress: the calls never overlap
	overlap bool
	got     chan string
	closed  chan error
}

func newHolder() *holder { return &holder{got: make(chan string, 100), closed: make(chan error, 1)} }

func (h *holder) enter() {
	h.mu.Lock()
	if h.locked {
		h.overlap = true
	}
	h.locked = true
	h.mu.Unlock()
}

func (h *holder) leave() {
	h.mu.Lock()
	h.locked = false
	h.mu.Unlock()
}

func (h *holder) OnConnect(c *server.Conn, p *packet.Connect) packet.Connack {
	h.enter()
	defer h.leave()
	h.mu.Lock()
	h.conn = c
	h.mu.Unlock()
	c.SetValue(p.ClientID + "!")
	if h.deferConnack {
		c.DeferConnack()
	}
	return packet.Connack{}
}

func (h *holder) OnPacket(c *server.Conn, p packet.Packet) {
	h.enter()
	defer h.leave()
	if pub, ok := p.(*packet.Publish); ok {
		topic := strings.Clone(pub.Topic) // it aliases the read buffer
		h.mu.Lock()
		h.topics = append(h.topics, topic)
		first := len(h.topics) == 1
		h.mu.Unlock()
		if first && h.pause {
			c.PauseReading()
		}
		h.got <- topic
	}
}

func (h *holder) OnClose(c *server.Conn, err error) {
	select {
	case h.closed <- err:
	default: // the tests look at the first connection's end only
	}
}

func (h *holder) OnWake(c *server.Conn) {
	h.enter()
	defer h.leave()
	h.mu.Lock()
	h.wakes++
	f := h.onWake
	h.onWake = nil
	h.mu.Unlock()
	if c.Value() != "id!" {
		panic("the value of the connection is lost")
	}
	if f != nil {
		f(c)
	}
}

// run has OnWake call f, and waits for it.
func (h *holder) run(f func(c *server.Conn)) {
	done := make(chan struct{})
	h.mu.Lock()
	h.onWake = func(c *server.Conn) { f(c); close(done) }
	c := h.conn
	h.mu.Unlock()
	c.Wake()
	<-done
}

func (h *holder) expect(t *testing.T, topics ...string) {
	t.Helper()
	for _, want := range topics {
		select {
		case got := <-h.got:
			if got != want {
				t.Fatalf("PUBLISH %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no PUBLISH %q", want)
		}
	}
}

// none checks that no PUBLISH arrives for a moment.
func (h *holder) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-h.got:
		t.Fatalf("PUBLISH %q, want none yet", got)
	case <-time.After(100 * time.Millisecond):
	}
}

// publishes writes a PUBLISH of 3,000 bytes for each topic, in one
// write: a piece of a read (4 KiB) holds no two of them.
func publishes(t *testing.T, rc *raw, topics ...string) {
	t.Helper()
	var b []byte
	for _, tp := range topics {
		var err error
		if b, err = (&packet.Publish{Topic: tp, Payload: make([]byte, 3000)}).AppendTo(b, rc.v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rc.Write(b); err != nil {
		t.Fatal(err)
	}
}

// Wake calls OnWake, under the connection's lock (never during another
// Handler call), once for the Wake calls made before it, and from any
// goroutine; WakeAtBacklog with nothing waiting wakes at once.
func TestWake(t *testing.T) {
	h := newHolder()
	srv, addr := start(t, server.Config{Handler: h})
	rc := handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: "id", CleanStart: true})
	h.run(func(*server.Conn) {})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				h.conn.Wake()
			}
		}()
	}
	publishes(t, rc, "a", "b")
	h.expect(t, "a", "b")
	wg.Wait()
	h.run(func(c *server.Conn) {
		// Inside OnWake: the next OnWake follows this one.
		c.Wake()
	})
	h.run(func(c *server.Conn) { c.WakeAtBacklog(1) }) // nothing waits: at once
	h.run(func(*server.Conn) {})
	h.mu.Lock()
	wakes, overlap := h.wakes, h.overlap
	h.mu.Unlock()
	if wakes < 5 || wakes > 6+800 {
		t.Errorf("%d calls of OnWake for 800 Wake calls and 6 more", wakes)
	}
	if overlap {
		t.Error("OnWake ran during another Handler call of the connection")
	}
	if n := srv.Conns(); n != 1 {
		t.Errorf("Conns: %d, want 1", n)
	}
}

// PauseReading stops reading after the piece of a read being handled
// (the first PUBLISH and part of the second): the rest waits, and comes
// first when ResumeReading is called.
func TestPauseReading(t *testing.T) {
	h := newHolder()
	h.pause = true
	_, addr := start(t, server.Config{Handler: h})
	rc := handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: "id", CleanStart: true})
	publishes(t, rc, "a", "b", "c") // one read: the rest of it is kept
	h.expect(t, "a")
	h.none(t)
	publishes(t, rc, "d") // not read
	h.none(t)
	h.run(func(c *server.Conn) { c.ResumeReading() })
	h.expect(t, "b", "c", "d")
	// A PINGREQ is answered once reading resumes: the timers and writes
	// went on meanwhile.
	rc.send(t, &packet.Pingreq{})
	if p, ok := rc.next(t).(*packet.Pingresp); !ok {
		t.Fatalf("got %v, want PINGRESP", p)
	}
}

// DeferConnack leaves the CONNACK to Connack, from another goroutine; the
// packets sent after the CONNECT are handled after it.
func TestDeferConnack(t *testing.T) {
	h := newHolder()
	h.deferConnack = true
	_, addr := start(t, server.Config{Handler: h})
	nc := dialRaw(t, addr)
	rc := &raw{Conn: nc, r: newReader(nc), v: packet.V5}
	rc.send(t, &packet.Connect{ClientID: "id", CleanStart: true})
	publishes(t, rc, "a")
	h.none(t)
	_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := rc.r.Peek(1); err == nil {
		t.Fatal("a CONNACK before Connack")
	}
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	go c.Connack(packet.Connack{})
	if p, ok := rc.next(t).(*packet.Connack); !ok || p.Reason != 0 {
		t.Fatalf("got %v, want the CONNACK", p)
	}
	h.expect(t, "a")

	// Refused later: the connection ends after the CONNACK (MQTT-3.2.2-7).
	nc = dialRaw(t, addr)
	rc = &raw{Conn: nc, r: newReader(nc), v: packet.V5}
	rc.send(t, &packet.Connect{ClientID: "id2", CleanStart: true})
	for {
		h.mu.Lock()
		c2 := h.conn
		h.mu.Unlock()
		if c2 != c {
			c2.Connack(packet.Connack{Reason: packet.NotAuthorized})
			break
		}
		time.Sleep(time.Millisecond)
	}
	if p, ok := rc.next(t).(*packet.Connack); !ok || p.Reason != packet.NotAuthorized {
		t.Fatalf("got %v, want CONNACK 0x87", p)
	}
	if p := rc.next(t); p != nil {
		t.Fatalf("got %v after a refusing CONNACK, want the end", p)
	}
}

// CloseRead reads what the client sent before, held back or not, before
// it ends the connection: a DISCONNECT among it ends the connection as
// the client asked (OnClose gets nil); otherwise a v5 client is sent
// DISCONNECT with the reason, and OnClose gets ErrClosed.
func TestCloseRead(t *testing.T) {
	for _, bye := range []bool{true, false} {
		h := newHolder()
		h.pause = true
		_, addr := start(t, server.Config{Handler: h})
		rc := handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: "id", CleanStart: true})
		publishes(t, rc, "a", "b") // "b" is kept
		h.expect(t, "a")
		publishes(t, rc, "c") // not read
		if bye {
			rc.send(t, &packet.Disconnect{})
		}
		h.none(t)
		h.mu.Lock()
		c := h.conn
		h.mu.Unlock()
		c.CloseRead(packet.SessionTakenOver, 0, 5*time.Second)
		h.expect(t, "b", "c")
		var err error
		select {
		case err = <-h.closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection did not end")
		}
		if bye {
			if err != nil {
				t.Errorf("OnClose(%v), want nil: the DISCONNECT was read", err)
			}
			continue
		}
		if !errors.Is(err, server.ErrClosed) {
			t.Errorf("OnClose(%v), want ErrClosed", err)
		}
		if p, ok := rc.next(t).(*packet.Disconnect); !ok || p.Reason != packet.SessionTakenOver {
			t.Fatalf("got %v, want DISCONNECT 0x8E", p)
		}
		if p := rc.next(t); p != nil {
			t.Fatalf("got %v, want the end", p)
		}
	}
}

func newReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }
