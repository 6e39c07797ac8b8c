package broker

import (
	"time"

	"github.com/mqttcore/mqtt/examples/internal/netio"
	"github.com/mqttcore/mqtt/packet"
)

// takeoverWait bounds how long a connection taking a session over waits
// for the old connection to hand it back before closing its socket.
const takeoverWait = 2 * time.Second

// takeOver makes the connection hand its session over: it asks, waits a
// while, then closes the socket (which ends a blocked write) and waits for
// the owner to finish. The session is handed over once the owner has
// handled what its client sent before (see handOver) and torn down.
func (c *conn) takeOver() {
	c.post(ctlTakeover)
	select {
	case <-c.done:
		return
	case <-time.After(takeoverWait):
	}
	c.nc.Close()
	<-c.done
}

// handOver ends the connection because another one takes its session
// over: what the client sent before counts (drainRead), then a v5 client
// still connected is sent DISCONNECT 0x8E Session taken over and the
// socket is closed (MQTT-3.1.4-3).
func (c *conn) handOver() {
	c.drainRead()
	if !c.closing {
		c.disconnect(packet.SessionTakenOver)
	}
}

// takeoverGrace bounds how long a connection being taken over goes on
// reading, where the reading side of its socket cannot be shut down,
// while a DISCONNECT could still change how it ends: one its client sent
// before the new connection came may still be on its way.
const takeoverGrace = 50 * time.Millisecond

// drainRead handles what the client sent before the connection was taken
// over, so that a DISCONNECT it sent first ends the connection as it
// says: the will deleted (MQTT-3.14.4-3), a v5 session ended by a Session
// Expiry Interval of 0 (MQTT-4.1.0-2). A client that sends DISCONNECT,
// closes the socket and connects again at once has its new CONNECT read
// on another goroutine, often before this one has had the DISCONNECT: the
// bytes are in the socket, or with the reader goroutine. The connection
// taking over waits for this one to end, so for drainRead too.
//
// The reading side of the socket is shut down (netio.CloseRead), after
// which the reader delivers what the socket has received, and what TLS
// holds of it, then ends without waiting for the client: drainRead
// handles every chunk up to there. (A client that goes on sending faster
// than it is read holds it up until takeOver closes the socket.)
//
// Where the reading side cannot be shut down (a WebSocket, a system other
// than Linux), it handles the chunks the reader has ready and, while a
// DISCONNECT would change how the connection ends (a will to publish or
// not, a v5 session to keep or not), those that come until the client
// closes its side (a client that reconnects), the connection ends (its
// DISCONNECT arrived) or takeoverGrace passes (a client still connected).
func (c *conn) drainRead() {
	if c.rest != nil {
		// The rest of a read the loop paused in.
		c.batched(func() { c.recv(c.rest, false) })
		c.rest = nil
		c.reader.Release()
	}
	shut := netio.CloseRead(c.nc)
	var grace <-chan time.Time
	if !shut && (c.will != nil || c.version == packet.V5 && c.mc.SessionPersists()) {
		t := time.NewTimer(takeoverGrace)
		defer t.Stop()
		grace = t.C
	}
	for !c.closing {
		var chunk []byte
		var ok bool
		switch {
		case shut:
			chunk, ok = <-c.reader.Chunks()
		case grace != nil:
			select {
			case chunk, ok = <-c.reader.Chunks():
			case <-grace:
				return
			}
		default:
			select {
			case chunk, ok = <-c.reader.Chunks():
			default:
				return
			}
		}
		if !ok {
			// Not shut: the client closed its side, and is not written
			// to. Shut: this is the end of what the socket received.
			c.closing = !shut
			return
		}
		c.batched(func() {
			c.recv(chunk, false)
			c.reader.Release()
		})
	}
}
