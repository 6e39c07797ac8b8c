package mqtt

import (
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// Handler carries out a Connection's events, one at a time, in the order
// the Connection produced them: write the bytes of EventSend, arm or stop
// timers, act on packets received, close the transport on EventClose.
//
// The handler may call the Connection's methods (Send a SUBSCRIBE when the
// CONNACK arrives, a PUBLISH when a command does); such a nested call
// changes the state at once and returns its error at once, but its events
// are handed to the handler after those of the call being carried out, as
// if the caller had collected the packets to send and sent them after the
// loop. An event's Bytes and Packet stay valid until the next call on the
// Connection made from outside the handler: a driver may collect the Bytes
// of a call's EventSend events and write them at once after the call
// returns (net.Buffers). Copy (packet Clone methods) what must live longer.
type Handler[ID packetid.ID] func(Event[ID])

// scratch is what the calls on a Connection work in, apart from the
// protocol state: the events of the call being carried out, the bytes and
// packet values they point to, and the input buffers. A top-level call
// starts from empty lists; calls nested in its dispatch append to them, so
// nothing the handler may still hold is overwritten.
type scratch[ID packetid.ID] struct {
	events   []Event[ID]
	out      []byte    // encodings of the packets sent
	received pools[ID] // packet values decoded
	sent     pools[ID] // packet values the Connection sent itself

	// Receiving: a partial packet waits in one of two buffers. Packets of
	// the current dispatch alias the chunk or the buffers they came from
	// (pinned), so a tail goes to a buffer that no such packet aliases.
	bufs   [2][]byte
	cur    int
	pinned uint8 // bit i: bufs[i] holds packets of the current dispatch

	// Encodings of stored PUBLISH packets to reuse, and those let go of in
	// this dispatch, whose events may still alias them.
	spare, retired [][]byte

	journal []byte // records of the current call's session changes (journal.go)

	dispatching bool // the handler is carrying out the events
	at          int  // while dispatching: the event being carried out, from 1 (Input.During)
	idle        bool // a call of this dispatch asked to let go of the scratch
	didSend,
	didRecv bool // the current call sent, received a packet
}

// enter starts a call and returns the index of its first event. A top-level
// call finds the previous call's events and buffers free; a call nested in
// a dispatch keeps them.
func (c *Connection[ID]) enter() int {
	if c.scratch == nil {
		c.scratch = getScratch[ID]()
	}
	c.takeFlight()
	if !c.dispatching {
		c.begin()
	}
	c.didSend, c.didRecv = false, false
	return len(c.events)
}

// begin frees the previous dispatch's events, packet values and buffers.
func (c *Connection[ID]) begin() {
	shrunk := c.received.reset(c.idle)
	shrunk = c.sent.reset(c.idle) || shrunk
	if cap(c.events) > keepEvents || c.idle && cap(c.events) > keepPooled {
		c.events = nil
	} else if shrunk {
		// The events of a flood point to packet values the pools let go
		// of: forget them, or the kept slice would keep them alive.
		clear(c.events)
	}
	if cap(c.out) > keepOut {
		c.out = nil
	}
	if other := 1 - c.cur; cap(c.bufs[other]) > keepOut {
		c.bufs[other] = nil // held a large packet once: not kept for ever
	}
	c.events, c.out = c.events[:0], c.out[:0]
	c.pinned, c.idle = 0, false
	c.recycle()
}

// retire keeps an encoding no longer needed, for reuse after the dispatch.
func (s *scratch[ID]) retire(wire []byte) { s.retired = append(s.retired, wire) }

// recycle makes the encodings retired in the last dispatch reusable.
func (s *scratch[ID]) recycle() {
	s.spare = append(s.spare, s.retired...)
	clear(s.retired)
	s.retired = s.retired[:0]
}

// leave finishes the call whose first event is first: the keep-alive
// timers follow what it sent and received, and its journal batch goes
// before its events. A top-level call then hands every event to the
// handler, including those of the calls the handler makes.
func (c *Connection[ID]) leave(first int) {
	if c.state == StateConnected && !c.closing && c.keepAlive > 0 {
		if c.role == RoleClient && c.didSend {
			c.arm(TimerPing, c.keepAlive)
		}
		if c.role == RoleServer && c.didRecv {
			c.arm(TimerKeepAlive, c.keepAlive*3/2)
		}
	}
	c.journalBatch(first)
	if !c.dispatching {
		c.dispatch()
	}
}

// dispatch hands the events to the handler, those that nested calls add
// included. When a call asked for it, it then lets go of the flight state
// if nothing is in flight, and of the scratch if no partial packet waits.
func (c *Connection[ID]) dispatch() {
	s := c.scratch
	s.dispatching = true
	done := false
	defer func() {
		if !done {
			s.dispatching = false // a handler that panics leaves a usable Connection
		}
	}()
	if c.cfg.Trace != nil {
		c.dispatchTraced(s)
	} else {
		for i := 0; i < len(s.events); i++ {
			c.handler(s.events[i])
		}
	}
	done = true
	s.dispatching = false
	if s.idle && c.scratch == s {
		c.dropFlight()
		if len(s.bufs[s.cur]) == 0 {
			c.scratch = nil
			if len(s.events) == 0 {
				putScratch(s) // idle_pools.go
			}
		}
	}
}

// abandon undoes the events of a failed Send that started at first; a
// Connection that was idle (no scratch) lets go of what the call took.
func (c *Connection[ID]) abandon(first int, idle bool) {
	clear(c.events[first:])
	c.events = c.events[:first]
	c.journal = c.journal[:0]
	if idle {
		c.idle = true
		c.dispatch() // no events: only lets go
	}
}

func (c *Connection[ID]) emit(e Event[ID]) { c.events = append(c.events, e) }

// sentBytes emits EventSend for p, encoded in c.out from start on.
func (c *Connection[ID]) sentBytes(p packet.Packet, start int) {
	c.didSend = true
	end := len(c.out)
	c.emit(Event[ID]{Kind: EventSend, Bytes: c.out[start:end:end], Packet: p})
}
