package server

import "github.com/mqttcore/mqtt/packet"

// Reading held back. A connection is read in pieces (recvPiece) handed to
// the core one after the other; a reason to hold reading that arises
// while a piece is handled (the Handler's PauseReading, DeferConnack)
// stops the reading after that piece: the rest of the read is kept in
// ext.rest, and the connection is not read again (the event loop does not
// arm it, the read loop waits, as for a backlog over MaxBacklog) until
// the reasons are gone; then the rest is handed to the core first.

// PauseReading stops reading the client: the piece of a read (at most 4
// KiB) being handed to the core is finished, the rest of the read is kept,
// and nothing more is read until ResumeReading. The connection's timers
// run on (a client not read for longer than its Keep Alive is
// disconnected). A broker pauses a publisher that it cannot tell to stop,
// such as a 3.1.1 client whose messages it no longer has room for. Call
// it inside the Handler's calls for c.
func (c *Conn) PauseReading() { c.x.hold.Or(holdPaused) }

// ResumeReading undoes PauseReading: the rest of the read is handed to the
// core once the Handler's call has returned, and the client read again.
// Call it inside the Handler's calls for c.
func (c *Conn) ResumeReading() {
	if c.x.hold.And(^uint32(holdPaused))&holdPaused != 0 {
		c.request(todoResume) // the rest of the read, once the call has returned
	}
}

// DeferConnack, called inside OnConnect, leaves the CONNACK to a later
// call of Connack: the Connack that OnConnect returns is ignored, the
// client is not read meanwhile (the core holds what came after the
// CONNECT), and the connection is served otherwise as before (timers,
// Close, Wake).
//
// Why: OnConnect runs on the goroutine that reads the connection, on the
// event loop one of a few workers (GOMAXPROCS) that serve every
// connection. A broker that must wait before it answers — for another
// connection of the same client identifier to end and hand the session
// over, which takes a worker to read that connection to its end; for an
// authentication service — would hold the worker, and as many such
// CONNECTs as there are workers would wait for ever. With DeferConnack
// the worker moves on, and whoever learns the answer calls Connack.
func (c *Conn) DeferConnack() { c.x.hold.Or(holdConnack) }

// ReadAuth, called inside OnConnect after DeferConnack, goes on reading
// the client while its CONNACK waits, for v5 enhanced authentication
// (section 4.12): the AUTH packets of the exchange, which come before the
// CONNACK, reach OnPacket (and a DISCONNECT ends the connection), while
// the core holds any other packet until the CONNACK is sent (at most its
// maximum packet size plus 64 KiB; a client that sends more is
// disconnected). The Handler answers each AUTH with Send (or the core's
// Send, inside its call) and ends the exchange with Connack.
func (c *Conn) ReadAuth() { c.x.hold.Or(holdAuth) }

// Connack sends the CONNACK of a connection whose OnConnect called
// DeferConnack, as OnConnect would have (the zero Connack accepts), and
// resumes reading it; the packets the client sent after the CONNECT are
// then handed to OnPacket. It may be called from any goroutine, Handler
// calls included (for c: it is sent once the call has returned), and does
// nothing for a connection that has ended or whose CONNACK is sent.
func (c *Conn) Connack(ack packet.Connack) {
	a := ack.Clone()
	x := c.x.extra()
	x.mu.Lock()
	x.connack = a
	x.mu.Unlock()
	c.request(todoConnack)
}

// connackDeferred reports, after OnConnect, whether it deferred the
// CONNACK.
func (c *Conn) connackDeferred() bool { return c.x.hold.Load()&holdConnack != 0 }

// connackLocked sends the deferred CONNACK, with c.mu held.
func (c *Conn) connackLocked() {
	var ack *packet.Connack
	if x := c.x.lazy.Load(); x != nil {
		x.mu.Lock()
		ack, x.connack = x.connack, nil
		x.mu.Unlock()
	}
	if ack == nil || c.x.hold.Load()&holdConnack == 0 {
		return
	}
	c.x.hold.And(^uint32(holdConnack | holdAuth))
	if c.hangUp {
		return
	}
	if err := c.mc.Send(ack); err != nil {
		if c.err == nil {
			c.err = err
		}
		c.hang()
	}
	c.startWriter()
	c.resumeLocked()
}

// readHeld reports whether reading waits: for the Handler (handlerHolds),
// for the rest of a read kept to be handed to the core (resumeLocked), or
// for CloseRead's last write. Reading that is to end (the connection
// closes) waits only for the last.
func (c *Conn) readHeld() bool {
	h := c.x.hold.Load()
	return h&holdFinalWrite != 0 || (h&holdKept != 0 || c.handlerHolds()) && !c.closing.Load()
}

// handlerHolds reports whether the Handler holds reading back
// (PauseReading, DeferConnack without ReadAuth), unless CloseRead reads
// to the end or the connection closes.
func (c *Conn) handlerHolds() bool {
	h := c.x.hold.Load()
	held := h&holdPaused != 0 || h&holdConnack != 0 && h&holdAuth == 0
	return held && h&holdDraining == 0 && !c.closing.Load()
}

// holdRest, between two pieces of a read and with c.mu held, keeps b, the
// rest of the read, if the Handler holds reading back, and reports
// whether it did.
func (c *Conn) holdRest(b []byte) bool {
	if !c.handlerHolds() {
		return false
	}
	c.x.extra().rest = append([]byte(nil), b...) // b may be the rest itself, or the worker's buffer
	c.x.hold.Or(holdKept)
	return true
}

// resumeLocked, with c.mu held, hands the rest of the read to the core
// unless the Handler holds reading back, and has the connection read
// again. The reader, which does not wait for c.mu to look at readHeld,
// reads nothing before the rest is handed over (holdKept), and what it
// reads then waits for c.mu.
func (c *Conn) resumeLocked() {
	if c.handlerHolds() || c.ended {
		return
	}
	if x := c.x.lazy.Load(); x != nil && x.rest != nil {
		rest := x.rest
		x.rest = nil
		c.x.hold.And(^uint32(holdKept))
		c.recvLocked(rest) // may be held again: the rest of it is kept
		c.startWriter()    // nobody else writes what it made the core send
	}
	if !c.readHeld() {
		c.pokeRoom()
	}
}
