package server

import (
	"net"
	"runtime"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// CloseRead ends the connection as Close(reason) does, but only once what
// the client sent before has been handed to the core (and the Handler): a
// broker whose client reconnects at once, its DISCONNECT still on its way
// on the old connection, takes the session over from a connection that
// has handled the DISCONNECT (the will deleted, a Session Expiry of 0
// honoured) rather than one the DISCONNECT never reached.
//
// Where the transport's reading side can be shut down (TCP, and TLS over
// TCP, on Linux, which keeps what was received), it is: the connection is
// read to that end, whatever held its reading back (PauseReading), and
// then closed with reason. Elsewhere (a WebSocket, other systems) the
// connection is read for grace more, then closed with reason; a grace of
// 0 closes it at once. Either way, after limit (if above 0) the transport
// is closed however far it got: a client that goes on sending, or does
// not read, holds the end up no longer. It may be called from any
// goroutine, and does nothing for a connection that ends already.
func (c *Conn) CloseRead(reason packet.ReasonCode, grace, limit time.Duration) {
	x := c.x.extra()
	x.mu.Lock()
	x.reason, x.grace = reason, grace
	x.mu.Unlock()
	c.request(todoCloseRead)
	if limit > 0 {
		t := time.AfterFunc(limit, c.closeTransport)
		x.mu.Lock()
		if x.limit != nil {
			x.limit.Stop()
		}
		x.limit = t
		x.mu.Unlock()
	}
}

// endExt lets go of what ext holds once the connection has ended: the
// timer of CloseRead's limit, which would keep the Conn until it fires,
// and the rest of a read.
func (c *Conn) endExt() {
	x := c.x.lazy.Load()
	if x == nil {
		return
	}
	x.mu.Lock()
	if x.limit != nil {
		x.limit.Stop()
		x.limit = nil
	}
	x.mu.Unlock()
	x.rest = nil
}

// closeReadLocked starts CloseRead, with c.mu held.
func (c *Conn) closeReadLocked() {
	if c.hangUp || c.x.hold.Load()&holdDraining != 0 {
		return
	}
	x := c.x.extra()
	x.mu.Lock()
	reason, grace := x.reason, x.grace
	x.mu.Unlock()
	switch {
	case c.shutReadSide():
		c.x.hold.Or(holdDraining | holdShut)
	case grace > 0:
		c.x.hold.Or(holdDraining)
		time.AfterFunc(grace, func() { c.Close(reason) })
	default:
		c.closeLocked(reason)
		return
	}
	c.resumeLocked() // what was kept of a read held back, and reading again
}

// readEnded, when a read has failed and with c.mu held, reports whether
// it is the end of what CloseRead reads: then it closes the connection
// (the writer writes the DISCONNECT and closes the transport, which ends
// the holdFinalWrite wait: see finalWritten) and the reader is to go on
// until it sees that end.
func (c *Conn) readEnded() bool {
	h := c.x.hold.Load()
	if h&holdShut == 0 || h&holdDraining == 0 || c.hangUp || c.ended {
		return false
	}
	x := c.x.extra()
	x.mu.Lock()
	reason := x.reason
	x.mu.Unlock()
	c.x.hold.Or(holdFinalWrite)
	c.x.hold.And(^uint32(holdDraining))
	c.closeLocked(reason)
	if !c.hangUp {
		c.x.hold.And(^uint32(holdFinalWrite))
		return false
	}
	return true
}

// finalWritten ends the wait for CloseRead's last write: the transport is
// being closed (closeTransport).
func (c *Conn) finalWritten() { c.x.hold.And(^uint32(holdFinalWrite)) }

// shutReadSide shuts down the reading side of the connection's socket:
// the event loop's (fd_linux.go), or nc's (shutRead).
func (c *Conn) shutReadSide() bool {
	if c.nc == nil {
		return c.shutdownRead()
	}
	return shutRead(c.nc)
}

// shutRead shuts down the reading side of nc's socket, which it finds
// through the NetConn method of a wrapper such as *tls.Conn: a read then
// returns what the socket has received and io.EOF after it, without
// waiting for the client, which may still be written to. It reports false,
// doing nothing, for a transport without a reading side it can shut down
// (a WebSocket), and on systems where shutting it down loses what was
// received (BSD and macOS discard it, Windows resets the connection if
// anything is left unread).
func shutRead(nc net.Conn) bool {
	if runtime.GOOS != "linux" && runtime.GOOS != "android" {
		return false
	}
	for {
		switch c := nc.(type) {
		case interface{ CloseRead() error }:
			return c.CloseRead() == nil
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return false
		}
	}
}
