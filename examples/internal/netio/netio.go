// Package netio is the I/O plumbing shared by the example client and
// broker: a goroutine that reads a net.Conn and hands each chunk to the
// goroutine that owns the mqtt.Connection, and the timers a Connection asks
// for, which fire back into that same goroutine.
//
// A Connection is not safe for concurrent use, so exactly one goroutine
// calls it; everything else (the network, the clock, other connections)
// talks to that goroutine through channels.
package netio

import (
	"net"
	"runtime"
	"time"

	"github.com/mqttcore/mqtt"
)

// Reader reads a net.Conn on its own goroutine. Each chunk it delivers
// stays valid until Release: packets decoded from a chunk alias it, so the
// owner releases it only after it has handled (and copied what it keeps
// of) the events of Recv.
type Reader struct {
	chunks chan []byte
	ack    chan struct{}
	err    error
}

// NewReader starts reading conn. It stops when a read fails (the owner
// closes conn to stop it) or when stop is closed.
func NewReader(conn net.Conn, stop <-chan struct{}) *Reader {
	r := &Reader{chunks: make(chan []byte), ack: make(chan struct{})}
	go r.loop(conn, stop)
	return r
}

func (r *Reader) loop(conn net.Conn, stop <-chan struct{}) {
	defer close(r.chunks)
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			select {
			case r.chunks <- buf[:n]:
			case <-stop:
				return
			}
			select {
			case <-r.ack:
			case <-stop:
				return
			}
		}
		if err != nil {
			r.err = err
			return
		}
	}
}

// Chunks delivers what was read, one chunk at a time; it is closed when
// reading ends.
func (r *Reader) Chunks() <-chan []byte { return r.chunks }

// Release lets the reader overwrite the chunk it delivered last.
func (r *Reader) Release() { r.ack <- struct{}{} }

// Err returns why reading ended, once Chunks is closed.
func (r *Reader) Err() error { return r.err }

// CloseRead shuts down the reading side of conn's socket, which it finds
// through the NetConn method of a wrapper such as *tls.Conn: a read then
// returns what the socket has received and io.EOF after it, without
// waiting for the peer, which may still be written to. It reports false,
// and does nothing, if conn has no reading side it can shut down (a
// WebSocket), or on a system where shutting it down loses what was
// received: all but Linux (BSD and macOS discard it, Windows resets the
// connection if anything is left unread).
func CloseRead(conn net.Conn) bool {
	if !closeReadKeeps {
		return false
	}
	for {
		switch c := conn.(type) {
		case interface{ CloseRead() error }:
			return c.CloseRead() == nil
		case interface{ NetConn() net.Conn }:
			conn = c.NetConn()
		default:
			return false
		}
	}
}

// closeReadKeeps tells whether a socket whose reading side is shut down
// still delivers what it received.
const closeReadKeeps = runtime.GOOS == "linux" || runtime.GOOS == "android"

// Fired is a timer expiry posted to the owning goroutine.
type Fired struct {
	Kind mqtt.TimerKind
	gen  uint64
}

const timerKinds = 8

// Timers runs the timers of one Connection. Reset and Stop are called by
// the owning goroutine only; expiries arrive on C, and Accept filters out
// those of timers re-armed or stopped since they were posted.
type Timers struct {
	c      chan Fired
	stop   <-chan struct{}
	timers [timerKinds]*time.Timer
	gen    [timerKinds]uint64
}

// NewTimers returns the timers of one Connection; closing stop discards
// expiries nobody will receive.
func NewTimers(stop <-chan struct{}) *Timers {
	return &Timers{c: make(chan Fired, timerKinds), stop: stop}
}

// C delivers timer expiries.
func (t *Timers) C() <-chan Fired { return t.c }

// Reset (re)arms timer k to fire after d.
func (t *Timers) Reset(k mqtt.TimerKind, d time.Duration) {
	if int(k) >= timerKinds {
		return
	}
	t.Stop(k)
	g := t.gen[k]
	t.timers[k] = time.AfterFunc(d, func() {
		select {
		case t.c <- Fired{Kind: k, gen: g}:
		case <-t.stop:
		}
	})
}

// Stop disarms timer k.
func (t *Timers) Stop(k mqtt.TimerKind) {
	if int(k) >= timerKinds {
		return
	}
	t.gen[k]++
	if t.timers[k] != nil {
		t.timers[k].Stop()
		t.timers[k] = nil
	}
}

// StopAll disarms every timer.
func (t *Timers) StopAll() {
	for k := range t.timers {
		t.Stop(mqtt.TimerKind(k))
	}
}

// Accept reports whether f is the expiry of a timer still armed as it was
// when f was posted, and if so counts the timer as no longer armed.
func (t *Timers) Accept(f Fired) bool {
	if int(f.Kind) >= timerKinds || t.gen[f.Kind] != f.gen || t.timers[f.Kind] == nil {
		return false
	}
	t.timers[f.Kind] = nil
	t.gen[f.Kind]++
	return true
}
