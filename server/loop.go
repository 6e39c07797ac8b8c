package server

import (
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// The driver: the core's handler (event) runs under Conn.mu, inside the
// call that made the event; it appends bytes to out, arms timers, and
// hands packets to the Handler. The read loop owns the socket's reading
// side; whoever set Conn.writing (the read loop, or a writer goroutine
// started when bytes come from elsewhere and gone when they are written)
// owns its writing side; timers are time.AfterFunc
// callbacks. The read loop writes what its own reads made the core send
// (see the package doc for why). An idle connection therefore has one
// goroutine (its reader), its read buffer, its core and no timer
// goroutine.

// A connection's read buffer starts at minRead bytes, doubles up to
// maxRead when a read fills it, and halves when a read takes less than a
// quarter of it: a quiet client costs a small buffer, a busy one gets
// large reads. recvPiece is the most bytes handed to the core in one call
// (the core keeps the packet values of a call for the next, up to 256 of
// a type: 4 KiB of packets of 16 bytes or more need no more).
const (
	minRead   = 512
	maxRead   = 32 << 10
	recvPiece = 4 << 10
)

// inlineWrites has the read loop write what its reads made the core send,
// instead of the writer goroutine (a variant the benchmarks compare).
var inlineWrites = true

// event is the core's handler, with c.mu held.
func (c *Conn) event(e mqtt.Event[uint16]) {
	switch e.Kind {
	case mqtt.EventSend:
		c.out = append(c.out, e.Bytes...)
		c.backlog.Add(int64(len(e.Bytes)))
		if !c.inRead {
			c.startWriter()
		}
	case mqtt.EventTimerReset:
		c.resetTimer(e.Timer, e.Duration)
	case mqtt.EventTimerCancel:
		c.stopTimer(e.Timer)
	case mqtt.EventPacket:
		c.packet(e.Packet)
	case mqtt.EventError:
		if c.err == nil {
			c.err = e.Err
		}
	case mqtt.EventClose:
		c.hang()
	}
}

// packet hands a packet received to the Handler, with c.mu held.
func (c *Conn) packet(p packet.Packet) {
	h := c.srv.cfg.Handler
	switch p := p.(type) {
	case *packet.Connect:
		c.clientID, c.version, c.connected = c.mc.ClientID(), c.mc.Version(), true
		ack := h.OnConnect(c, p)
		// A nested call: the core handles the packets that followed the
		// CONNECT in it, or closes after a refusal (MQTT-3.2.2-7).
		if err := c.mc.Send(&ack); err != nil {
			// The Handler's CONNACK breaks a rule (a session present
			// after a clean start, ...): the client is not left waiting.
			if c.err == nil {
				c.err = err
			}
			c.hang()
		}
	case *packet.Disconnect:
		c.disconnected = true
		h.OnPacket(c, p)
	default:
		h.OnPacket(c, p)
	}
}

// readLoop reads the client until the transport ends, then finishes the
// connection.
func (c *Conn) readLoop() {
	c.mu.Lock()
	c.mc.Opened()
	c.unlock()
	buf := make([]byte, minRead)
	handshake := true
	var readErr error
	for {
		n, err := c.nc.Read(buf)
		c.mu.Lock()
		c.inRead = inlineWrites
		for b := buf[:n]; len(b) > 0 && !c.hangUp; {
			k := min(len(b), recvPiece)
			c.mc.Recv(b[:k])
			b = b[k:]
		}
		if handshake && c.mc.State() == mqtt.StateConnected {
			// Most connections go quiet after the handshake: the core
			// lets go of its scratch.
			handshake = false
			c.mc.Recv(nil)
		}
		c.inRead = false
		if err != nil {
			readErr = err
			break // with c.mu held
		}
		own := inlineWrites && !c.writing && len(c.out) > 0
		if own {
			c.writing = true
		} else {
			c.startWriter() // for a hang-up without bytes
		}
		c.unlock()
		if own {
			c.writeLoop() // the replies to the read, written before the next
		}
		switch {
		case n == len(buf) && n < maxRead:
			buf = make([]byte, 2*n)
		case n < len(buf)/4 && len(buf) > minRead:
			buf = make([]byte, len(buf)/2)
		}
		c.waitRoom()
	}
	c.ended = true
	c.closing.Store(true)
	c.mc.Closed()
	for k := range c.timers {
		c.stopTimer(mqtt.TimerKind(k))
	}
	err := c.err
	if err == nil && !c.disconnected {
		err = readErr
	}
	c.nc.Close()
	if c.connected {
		c.srv.cfg.Handler.OnClose(c, err)
	}
	c.unlock() // what was posted meets ErrClosed
	c.srv.remove(c)
}

// waitRoom stops reading while more than MaxBacklog bytes wait for the
// client, so that what it makes the server answer cannot pile up.
func (c *Conn) waitRoom() {
	for c.backlog.Load() > int64(c.srv.cfg.MaxBacklog) && !c.closing.Load() {
		<-c.room
	}
}

// pokeRoom wakes a read loop waiting for room.
func (c *Conn) pokeRoom() {
	select {
	case c.room <- struct{}{}:
	default:
	}
}

// startWriter starts the writer if bytes wait and none runs, with c.mu
// held.
func (c *Conn) startWriter() {
	if !c.writing && (len(c.out) > 0 || c.hangUp) {
		c.writing = true
		go c.writeLoop()
	}
}

// writeLoop writes out until it is empty, then ends (closing the
// transport if asked to).
func (c *Conn) writeLoop() {
	var buf []byte
	for {
		c.mu.Lock()
		if len(c.out) == 0 || c.ended {
			c.writing = false
			hangUp := c.hangUp
			c.out = nil // an idle connection keeps no buffer
			c.unlock()
			if hangUp {
				c.nc.Close() // the read loop sees the end
			}
			c.pokeRoom()
			return
		}
		buf, c.out = c.out, buf[:0]
		c.unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		_, err := c.nc.Write(buf)
		c.backlog.Add(-int64(len(buf)))
		c.pokeRoom()
		if err != nil {
			c.nc.Close()
			c.mu.Lock()
			c.writing = false
			c.hangUp = true
			c.closing.Store(true)
			c.backlog.Add(-int64(len(c.out)))
			c.out = nil
			c.unlock()
			c.pokeRoom()
			return
		}
	}
}

const timerKinds = 8

// timer runs one of the core's timers.
type timer struct {
	t *time.Timer
	// runs is the duration the timer was last started for, while it
	// runs; 0 once it fired or was stopped.
	runs time.Duration
}

// resetTimer (re)arms timer k for d, with c.mu held. The core re-arms the
// keep-alive timer on every packet received; a timer that runs and was
// started for no longer than d is left running: it fires early, and the
// core (which has Config.Conn.Clock) asks for the time left then. That
// spares a reset of the runtime timer per packet.
func (c *Conn) resetTimer(k mqtt.TimerKind, d time.Duration) {
	if int(k) >= timerKinds {
		return
	}
	t := &c.timers[k]
	switch {
	case t.t == nil:
		t.t = time.AfterFunc(d, func() { c.timerFired(k) })
		t.runs = d
	case t.runs > 0 && d >= t.runs:
	default:
		t.t.Reset(d)
		t.runs = d
	}
}

// stopTimer stops timer k, with c.mu held.
func (c *Conn) stopTimer(k mqtt.TimerKind) {
	if int(k) < timerKinds && c.timers[k].t != nil {
		c.timers[k].t.Stop()
		c.timers[k].runs = 0
	}
}

// timerFired runs on the timer's goroutine.
func (c *Conn) timerFired(k mqtt.TimerKind) {
	c.mu.Lock()
	c.timers[k].runs = 0
	if !c.ended {
		c.mc.TimerFired(k)
	}
	c.unlock()
}
