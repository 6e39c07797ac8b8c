package server

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// ext is what a Conn has for the requests a Handler makes of it besides
// Send and Close: wake-ups (wake.go), reading held back and the deferred
// CONNACK (hold.go), the end of the connection after its reads
// (closeread.go), and the Handler's value (Value). Requests from other
// goroutines are bits of todo, carried out by whoever holds Conn.mu before
// it lets go (runTodo), like the mailbox but with no allocation.
type ext struct {
	value any // the Handler's, guarded by Conn.mu

	todo atomic.Uint32 // todo* bits
	// hold is the reasons the connection is not read (hold* bits).
	hold atomic.Uint32
	// wakeBelow is the backlog, plus 1, under which OnWake is wanted
	// (WakeAtBacklog); 0 for none.
	wakeBelow atomic.Int64

	// lazy is what few connections need, made on first use (extra): an
	// idle connection's Conn stays small.
	lazy atomic.Pointer[extLazy]
}

// extLazy is the part of ext that DeferConnack, CloseRead and held
// reads need.
type extLazy struct {
	mu      sync.Mutex // guards connack, reason, grace and limit
	connack *packet.Connack
	reason  packet.ReasonCode
	grace   time.Duration
	limit   *time.Timer // ends what CloseRead started

	// Guarded by Conn.mu.
	rest []byte // bytes read and not handed to the core: reading is held
	// held is bytes to write that wait for the commit of heldPos
	// (journal.go, the event loop with a JournalNotifier).
	held    []byte
	heldPos uint64
}

// extra returns x's lazy part, made on the first call.
func (x *ext) extra() *extLazy {
	if l := x.lazy.Load(); l != nil {
		return l
	}
	x.lazy.CompareAndSwap(nil, new(extLazy))
	return x.lazy.Load()
}

// Requests posted in ext.todo.
const (
	todoWake      = 1 << iota // call OnWake
	todoConnack               // send the deferred CONNACK (ext.connack)
	todoResume                // reading may resume: hand ext.rest to the core
	todoCloseRead             // start CloseRead (ext.reason, ext.grace)
)

// Reasons in ext.hold.
const (
	holdPaused     = 1 << iota // PauseReading
	holdConnack                // DeferConnack, until Connack
	holdDraining               // CloseRead: read to the end, whatever else holds
	holdShut                   // the reading side is shut down: the end of reads ends the connection
	holdFinalWrite             // CloseRead's close is being written: the reader waits for it
	holdKept                   // ext.rest waits to be handed to the core: it comes before what is read next
	holdAuth                   // ReadAuth: the deferred CONNACK does not hold reading back
)

// post asks for t and carries it out if c.mu is free.
func (c *Conn) request(t uint32) {
	c.x.todo.Or(t)
	if c.mu.TryLock() {
		c.unlock()
	}
}

// pending reports whether requests wait (for unlock).
func (c *Conn) pending() bool { return c.x.todo.Load() != 0 }

// runTodo carries out the requests, with c.mu held; it reports whether
// there were any. The CONNACK goes first, so that what OnWake sends after
// a deferred acceptance follows it.
func (c *Conn) runTodo() bool {
	t := c.x.todo.Swap(0)
	if t == 0 {
		return false
	}
	if c.ended {
		return true
	}
	if t&todoConnack != 0 {
		c.connackLocked()
	}
	if t&todoCloseRead != 0 {
		c.closeReadLocked()
	}
	if t&todoResume != 0 {
		c.resumeLocked()
	}
	if t&todoWake != 0 && c.connected && !c.ended {
		if w, ok := c.srv.cfg.Handler.(Waker); ok {
			w.OnWake(c)
		}
	}
	return true
}

// Value returns what SetValue stored. Call it inside the Handler's calls
// for c.
func (c *Conn) Value() any { return c.x.value }

// SetValue stores v with the connection, for the Handler's later calls
// (its own state of the client, set in OnConnect). Call it inside the
// Handler's calls for c.
func (c *Conn) SetValue(v any) { c.x.value = v }
