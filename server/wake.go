package server

// Waker is a Handler that is told when other goroutines have something
// for a connection: a broker whose routing leaves messages in a
// subscriber's queue of its own (rather than calling Send for each) wakes
// the subscriber's connection, and takes the queue in OnWake, with the
// connection's lock held, as its other calls. Why not Send: a queue of the
// broker's own holds the broker's one copy of each message, counts what
// waits for a client that is away, and lets the broker choose what goes
// out when (flow control, its own bounds on what is in flight), where Send
// copies each packet that finds the connection busy.
type Waker interface {
	// OnWake is called after Wake (once for any number of Wake calls
	// made before it) and after WakeAtBacklog, with the connection's
	// lock held, from OnConnect on and until the connection has ended.
	// The core is the Handler's to call (Conn.Core), as in OnPacket.
	OnWake(c *Conn)
}

// Wake asks for a call of the Handler's OnWake (the Handler must be a
// Waker) for c: at once, on this goroutine, if no one is working on the
// connection; otherwise by the goroutine that is, before it lets go of
// the connection (a Handler call on c included: OnWake follows the call).
// It never waits, allocates nothing, and may be called from any goroutine.
func (c *Conn) Wake() { c.request(todoWake) }

// WakeShared asks for OnWake as Wake does, but on the event loop leaves
// the call to its workers, the first that is free, rather than making it
// on this goroutine: a Handler call that wakes many connections (a
// publisher's, whose message went to the queues of eight subscribers)
// shares their work with the other workers instead of doing it all in
// turn. For a connection with a goroutine of its own it is Wake.
func (c *Conn) WakeShared() {
	if c.nc != nil {
		c.Wake()
		return
	}
	c.x.todo.Or(todoWake)
	c.srv.poll.pushWake(c)
}

// WakeAtBacklog asks for one call of OnWake once fewer than n bytes wait
// to be written to the client (Backlog), at once if fewer do already. A
// Handler that stopped handing the connection bytes because too many wait
// (its queue of messages stays with it) resumes there. A later call
// replaces an earlier one.
func (c *Conn) WakeAtBacklog(n int) {
	c.x.wakeBelow.Store(int64(n) + 1)
	c.roomWake()
}

// roomWake wakes c if WakeAtBacklog asked for it and its backlog is now
// low enough: called where bytes were written (pokeRoom, rearm).
func (c *Conn) roomWake() {
	if w := c.x.wakeBelow.Load(); w > 0 && c.backlog.Load() < w && c.x.wakeBelow.CompareAndSwap(w, 0) {
		c.Wake()
	}
}
