package broker

import (
	"sync"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// scratch is what a connection reuses from message to message while a
// Handler call runs, so that the publish path allocates nothing but the
// broker's copy of each message. A connection borrows one from
// scratchPool on first use in a call (conn.scratch) and gives it back at
// the end of the call (conn.giveBack): an idle connection holds none, and
// a few are enough for thousands of connections.
type scratch struct {
	router  router         // route's scratch space
	taken   []delivery     // the batch sendBatch takes from the outbox
	sent    []bool         // in a SessionCluster: which of taken were sent (floor.go)
	pub     packet.Publish // the PUBLISH deliver hands the Connection, which only encodes it
	puback  packet.Puback  // the acknowledgements ack hands the Connection
	pubcomp packet.Pubcomp
	// toWake lists the subscribers' connections to wake after the read
	// (wakeLater); while it is not empty the connection keeps the
	// scratch from one call to the next.
	toWake []*server.Conn
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// scratch returns the scratch space of the call running, borrowed on
// first use.
func (c *conn) scratch() *scratch {
	if c.s == nil {
		c.s = scratchPool.Get().(*scratch)
	}
	return c.s
}

// giveBack returns the scratch space to the pool at the end of a Handler
// call, unless connections wait to be woken (toWake). What the last
// message left in it is cleared: the pool must not keep messages alive.
func (c *conn) giveBack() {
	s := c.s
	if s == nil || len(s.toWake) > 0 {
		return
	}
	c.s = nil
	s.pub = packet.Publish{}
	scratchPool.Put(s)
}
