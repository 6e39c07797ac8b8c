package broker

import (
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/examples/internal/netio"
	"github.com/mqttcore/mqtt/packet"
)

// batchBytes is how much batched lets accumulate before it writes.
const batchBytes = 64 << 10

// recvPiece bounds the bytes handed to the Connection in one call. The
// Connection keeps 64 packet values of each type from call to call and
// allocates any more that one call needs: pieces of a 32 KiB read hold
// few enough PUBLISH packets of common sizes to need none.
const recvPiece = 4 << 10

// trimEvents is the number of events of one call on the Connection above
// which, once the client has gone quiet for trimQuiet, the connection calls
// Recv(nil): the Connection then lets go of the packet values and events
// it kept from its largest calls. Reads of common packets stay below it
// and cost nothing more; a flood of small packets that goes on is not
// trimmed between its reads.
const (
	trimEvents = 64
	trimQuiet  = 20 * time.Millisecond
)

// run serves the connection from CONNECT to close.
func (c *conn) run() {
	defer close(c.done)
	defer c.teardown()
	c.reader = netio.NewReader(c.nc, c.stop)
	c.timers = netio.NewTimers(c.stop)
	c.mc = newServer(&c.b.cfg, c.event)
	// The CONNECT must come in time; once it is answered the Connection
	// watches the Keep Alive.
	deadline := time.NewTimer(c.b.cfg.ConnectTimeout)
	defer deadline.Stop()
	connectBy := deadline.C
	defer c.stopTimer(&c.idleTimer)
	defer c.stopTimer(&c.quietTimer)
	defer c.stopTimer(&c.recheckTimer)

	var wake chan struct{}
	var idle, quiet, recheck <-chan time.Time
	for !c.closing {
		if wake == nil && c.connected {
			wake, connectBy = c.sess.wake, nil
			if c.idleTimer != nil {
				idle = c.idleTimer.C
			}
		}
		chunks := c.reader.Chunks()
		if c.readPaused() || c.rest != nil {
			chunks = nil
		}
		if c.rest != nil && !c.readPaused() {
			// The rest of a read the loop paused in (readPaused).
			c.batched(func() {
				c.handleRead(c.rest)
				c.flushPending()
			})
			continue
		}
		if recheck == nil && len(c.blockers) > 0 {
			recheck = c.arm(&c.recheckTimer, recheckEvery)
		}
		select {
		case chunk, ok := <-chunks:
			if !ok {
				return
			}
			c.peakEvents = 0
			c.batched(func() {
				c.handleRead(chunk)
				c.flushPending() // acknowledgements may have freed send quota
			})
			if c.peakEvents > trimEvents && !c.closing {
				quiet = c.arm(&c.quietTimer, trimQuiet)
			}
		case <-quiet:
			quiet = nil
			c.trim() // the burst is over
		case <-idle:
			if since := time.Since(c.heard); since < c.idle {
				c.idleTimer.Reset(c.idle - since)
				break
			}
			c.logf("no packet for %v (Keep Alive above the maximum of %d s): closed", c.idle, c.b.cfg.MaxKeepAlive)
			c.close()
		case f := <-c.timers.C():
			if c.timers.Accept(f) {
				c.mc.TimerFired(f.Kind)
				c.carryOut()
			}
		case <-wake:
			c.flushPending()
		case <-c.unblock:
			c.batched(c.release)
		case <-recheck:
			recheck = nil
			c.batched(c.release)
		case <-connectBy:
			if !c.connected {
				c.logf("no CONNECT answered within %v", c.b.cfg.ConnectTimeout)
				return
			}
		case r := <-c.ctl:
			if r == ctlShutdown {
				c.shutdown = true
				c.disconnect(packet.ServerShuttingDown)
			} else {
				c.handOver()
			}
		}
	}
}

// newServer returns the server Connection of a new network connection,
// which hands its events to h.
func newServer(cfg *Config, h mqtt.Handler[uint16]) *mqtt.Connection[uint16] {
	return mqtt.NewServer(mqtt.Config{
		MaxPacketSize: cfg.MaxPacketSize,
		// The broker acknowledges each PUBLISH once it is routed, or
		// later: flow.go.
		ManualPuback:            true,
		ManualPubcomp:           true,
		QueueWhenQuotaExhausted: true,
		MaxQueued:               connQueueMax + cfg.MaxQueued, // room for retained messages on SUBSCRIBE
		Clock:                   time.Now,
	}, h)
}

// handleRead hands a read to the Connection (recv), unless the
// connection pauses in it: then the rest waits in c.rest, and the reader
// keeps its buffer until the rest is handled.
func (c *conn) handleRead(chunk []byte) {
	c.rest = c.recv(chunk, true)
	if c.rest == nil {
		c.reader.Release()
	}
}

// recv hands bytes read from the socket to the Connection, a piece at a
// time, and carries out the events. It notes the most events a piece
// made, and for a client watched by the idle timer whether a whole packet
// came. With mayPause, it stops between two pieces when the connection
// is to stop reading the client (readPaused), and returns the rest.
func (c *conn) recv(chunk []byte, mayPause bool) (rest []byte) {
	for len(chunk) > 0 && !c.closing {
		if mayPause && c.readPaused() {
			return chunk
		}
		n := min(len(chunk), recvPiece)
		c.events, c.packetIn = 0, false
		c.mc.Recv(chunk[:n])
		c.peakEvents = max(c.peakEvents, c.events)
		if c.idle > 0 && c.packetIn {
			c.heard = time.Now()
		}
		c.carryOut()
		chunk = chunk[n:]
	}
	return nil
}

// batched runs fn with the bytes it has the Connection send held back
// until it returns (but for one write per batchBytes), and then written
// at once.
func (c *conn) batched(fn func()) {
	if c.batch {
		fn()
		return
	}
	c.batch = true
	fn()
	c.batch = false
	c.flush()
}

// flush writes what the Connection asked to send.
func (c *conn) flush() {
	if len(c.wbuf) == 0 {
		return
	}
	if !c.closing {
		_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.nc.Write(c.wbuf); err != nil {
			c.close()
		}
	}
	c.wbuf = c.wbuf[:0]
}

// trim lets go of what the connection and its Connection kept for the
// largest calls of a burst: the Connection's packet values and events
// beyond its minimum (Recv(nil)), the list of packets to act on and the
// write buffer.
func (c *conn) trim() {
	c.mc.Recv(nil)
	c.carryOut()
	if cap(c.todo) > trimEvents {
		c.todo = nil
	}
	if len(c.wbuf) == 0 && cap(c.wbuf) > recvPiece {
		c.wbuf = nil
	}
}

// arm starts *t, made on first use, to fire after d, and returns its
// channel.
func (c *conn) arm(t **time.Timer, d time.Duration) <-chan time.Time {
	if *t == nil {
		*t = time.NewTimer(d)
	} else {
		(*t).Reset(d)
	}
	return (*t).C
}

// stopTimer stops *t, if it was ever made.
func (c *conn) stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
	}
}
