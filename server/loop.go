package server

import (
	"os"
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// The driver: the core's handler (event) runs under Conn.mu, inside the
// call that made the event; it appends bytes to out, arms timers, and
// hands packets to the Handler. The reader (the read loop, or the event
// loop's worker that got the connection's event: poll_linux.go) owns the
// socket's reading side; whoever set Conn.writing (the reader, or a
// writer goroutine started when bytes come from elsewhere and gone when
// they are written) owns its writing side; timers are entries of the
// Server's timer queue (timers.go). The reader writes what its own reads
// made the core send (see the package doc for why). An idle connection
// therefore has its core, its Conn and, on the goroutine path only, one
// goroutine (its reader) and its read buffer.

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
		if c.out == nil {
			c.out = takeOutBuf() // outbuf.go
		}
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
	case mqtt.EventJournal:
		c.record(e.Bytes) // journal.go
	}
}

// connackPool holds the CONNACK values packet hands the Connection.
var connackPool = sync.Pool{New: func() any { return new(packet.Connack) }}

// packet hands a packet received to the Handler, with c.mu held.
func (c *Conn) packet(p packet.Packet) {
	h := c.srv.cfg.Handler
	switch p := p.(type) {
	case *packet.Connect:
		c.version, c.connected = c.mc.Version(), true
		// The CONNACK is handed to Send through a pooled value: one made
		// here would escape, and each connection would leave 280 bytes
		// of garbage behind.
		ack := connackPool.Get().(*packet.Connack)
		defer func() {
			*ack = packet.Connack{} // it must not keep what the Handler put in it alive
			connackPool.Put(ack)
		}()
		*ack = h.OnConnect(c, p)
		if c.connackDeferred() { // hold.go: Connack sends it
			return
		}
		// A nested call: the core handles the packets that followed the
		// CONNECT in it, or closes after a refusal (MQTT-3.2.2-7).
		if err := c.mc.Send(ack); err != nil {
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
// connection: the goroutine path.
func (c *Conn) readLoop() {
	buf := make([]byte, minRead)
	for {
		n, err := c.nc.Read(buf)
		c.countIn(n)
		c.mu.Lock()
		c.recvLocked(buf[:n])
		if err != nil && !c.readEnded() { // closeread.go: CloseRead's end goes on
			c.finish(err) // with c.mu held
			return
		}
		if c.ownWrites() {
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
}

// pollRead serves an event of the event loop: one read, handed to the
// core, the replies written (what cannot be written at once is left to
// the writer goroutine), and the connection armed again unless its
// backlog is full or it ended.
func (c *Conn) pollRead(buf []byte) {
	n, err := c.rawRead(buf)
	c.countIn(n)
	if n == 0 && err == nil { // nothing after all
		c.rearm()
		return
	}
	c.mu.Lock()
	c.recvLocked(buf[:n])
	if err != nil && !c.readEnded() { // closeread.go: CloseRead's end goes on
		c.finish(err) // with c.mu held
		return
	}
	if c.ownWrites() {
		c.writeNow()
	}
	c.rearm()
}

// ownWrites, after a read and with c.mu held, reports whether the
// reader writes the replies itself (inlineWrites, and no writer runs),
// having set c.writing, or else starts the writer if needed; it releases
// c.mu.
func (c *Conn) ownWrites() bool {
	own := inlineWrites && !c.writing && len(c.out) > 0
	if own {
		c.writing = true
	} else {
		c.startWriter() // for a hang-up without bytes
	}
	c.unlock()
	return own
}

// recvLocked hands b to the core, with c.mu held.
func (c *Conn) recvLocked(b []byte) {
	c.inRead = inlineWrites
	for len(b) > 0 && !c.hangUp {
		if c.holdRest(b) { // hold.go: the rest waits
			break
		}
		k := min(len(b), recvPiece)
		c.mc.Recv(b[:k])
		b = b[k:]
	}
	if !c.quiet && c.mc.State() == mqtt.StateConnected {
		// Most connections go quiet after the handshake: the core
		// lets go of its scratch.
		c.quiet = true
		c.mc.Recv(nil)
	}
	c.inRead = false
}

// finish ends the connection once its transport has ended, with c.mu
// held; it releases c.mu.
func (c *Conn) finish(readErr error) {
	c.ended = true
	c.closing.Store(true)
	c.endExt() // closeread.go
	c.mc.Closed()
	for i := range c.timers {
		c.stopTimer(mqtt.TimerKind(i + 1))
	}
	if c.stall != nil {
		c.stall.Stop()
	}
	err := c.err
	if err == nil && !c.disconnected {
		err = readErr
	}
	c.closeTransportNow()
	if c.connected {
		c.srv.cfg.Handler.OnClose(c, err)
	}
	c.unlock() // what was posted meets ErrClosed
	c.srv.remove(c)
}

// closeTransport closes the transport from any goroutine: the reader
// sees the end and finishes the connection. On the event loop the
// socket is shut down rather than closed: the worker that gets the
// event closes it, once it is no longer registered.
func (c *Conn) closeTransport() {
	c.finalWritten() // closeread.go
	if c.nc != nil {
		c.nc.Close()
		return
	}
	c.shutdown()
	c.pokeRoom() // a connection waiting for room is armed again
}

// closeTransportNow closes the transport of a connection that has ended
// (or was never served).
func (c *Conn) closeTransportNow() {
	if c.nc != nil {
		c.nc.Close()
		return
	}
	c.closeFD()
}

// rearm arms the connection again after an event, unless more than
// MaxBacklog bytes wait for the client: then pokeRoom arms it once they
// are written (or the connection closes).
func (c *Conn) rearm() {
	c.roomWake() // wake.go
	if c.full() {
		c.parked.Store(true)
		if c.full() || !c.parked.CompareAndSwap(true, false) {
			return
		}
	}
	c.arm()
}

// full reports whether reading the connection waits for room, or for
// the Handler (hold.go).
func (c *Conn) full() bool {
	return c.backlog.Load() > int64(c.srv.cfg.MaxBacklog) && !c.closing.Load() || c.readHeld() // hold.go
}

// waitRoom stops reading while more than MaxBacklog bytes wait for the
// client, so that what it makes the server answer cannot pile up.
func (c *Conn) waitRoom() {
	for c.full() {
		<-c.room
	}
}

// pokeRoom wakes a read loop waiting for room, or arms a connection of
// the event loop that waits for it.
func (c *Conn) pokeRoom() {
	c.roomWake() // wake.go
	if c.nc == nil {
		if c.parked.Load() && !c.full() && c.parked.CompareAndSwap(true, false) {
			c.arm()
		}
		return
	}
	select {
	case c.room <- struct{}{}:
	default:
	}
}

// startWriter starts the writer if bytes wait and none runs, with c.mu
// held: a writer goroutine, or on the event loop a worker's flush.
func (c *Conn) startWriter() {
	if !c.writing && (len(c.out) > 0 || c.hangUp) {
		c.writing = true
		if c.nc == nil {
			c.srv.poll.schedule(c)
			return
		}
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
			giveOutBuf(buf)
			giveOutBuf(c.out)
			c.out = nil // an idle connection keeps no buffer
			c.unlock()
			if hangUp {
				c.closeTransport() // the reader sees the end
			}
			c.pokeRoom()
			return
		}
		buf, c.out = c.out, buf[:0]
		pos := c.seal() // journal.go
		c.unlock()
		err := c.synced(pos)
		n := 0
		if err == nil {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
			n, err = c.nc.Write(buf)
		}
		c.countOut(n)
		c.backlog.Add(-int64(len(buf)))
		c.pokeRoom()
		if err != nil {
			c.mu.Lock()
			c.writeFailed(err, 0) // os.ErrDeadlineExceeded after WriteTimeout
			c.unlock()
			c.closeTransport()
			c.pokeRoom()
			return
		}
	}
}

// writeFailed gives up the bytes that wait after a failed write, with
// c.mu held: unwritten of the write's own, and out. The connection ends;
// err is why, unless it ends for another reason already.
func (c *Conn) writeFailed(err error, unwritten int) {
	if c.err == nil {
		c.err = err
	}
	c.writing = false
	c.hangUp = true
	c.closing.Store(true)
	c.backlog.Add(-int64(unwritten + len(c.out)))
	c.out = nil
}

// writeNow writes out without waiting, on the event loop, for whoever
// set c.writing: the worker that read the connection, a worker's flush
// of the dirty connections, or the worker that got the socket's
// EPOLLOUT. What the socket does not take waits for the next EPOLLOUT,
// and a client that takes no bytes for WriteTimeout is disconnected.
func (c *Conn) writeNow() {
	c.mu.Lock()
	for (len(c.out) > 0 || c.hasHeld()) && !c.ended {
		buf, pos, ok := c.takeOut() // journal.go
		if !ok {
			c.unlock() // c.writing stays set: the journal schedules c once the bytes may go
			return
		}
		c.unlock()
		n, err := 0, c.synced(pos)
		if err == nil {
			n, err = c.rawWrite(buf)
		}
		c.countOut(n)
		c.backlog.Add(-int64(n))
		c.mu.Lock()
		unwritten := len(buf) - n // not in out
		if err == nil && n == len(buf) {
			giveOutBuf(buf)
		}
		if err == nil && n < len(buf) {
			c.out, unwritten = append(buf[n:], c.out...), 0
			if err = c.armWrite(); err == nil {
				c.watchStall(n > 0)
				c.unlock()
				if n > 0 {
					c.pokeRoom()
				}
				return // c.writing stays set: the EPOLLOUT's now
			}
		}
		if err != nil {
			c.writeFailed(err, unwritten)
			c.unlock()
			c.closeTransport()
			return
		}
	}
	c.writing = false
	c.dropHeld()
	if c.stalled {
		c.stalled = false
		c.stall.Stop()
	}
	hangUp := c.hangUp && !c.ended
	c.out = nil
	c.unlock()
	if hangUp {
		c.closeTransport()
	}
	c.pokeRoom()
}

// watchStall starts the clock of a write that waits for the socket, or
// restarts it after progress, with c.mu held.
func (c *Conn) watchStall(progress bool) {
	switch {
	case c.stall == nil:
		c.stall = time.AfterFunc(c.srv.cfg.WriteTimeout, c.stallEnded)
	case progress || !c.stalled:
		c.stall.Reset(c.srv.cfg.WriteTimeout)
	}
	c.stalled = true
}

// stallEnded disconnects a client that took no bytes for WriteTimeout,
// on the timer's goroutine.
func (c *Conn) stallEnded() {
	c.mu.Lock()
	stuck := c.stalled && !c.ended
	if stuck {
		if c.err == nil {
			c.err = os.ErrDeadlineExceeded
		}
		c.hangUp = true
		c.closing.Store(true)
	}
	c.unlock()
	if stuck {
		c.closeTransport()
	}
}
