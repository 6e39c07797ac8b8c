package broker

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// counters are the broker's running counts, for Stats (and through it the
// $SYS topics and the metrics). The counts of the publish path are
// striped: a connection adds to the stripe its address picks, so that
// connections served on different cores seldom share a cache line, and
// no count takes a lock.
type counters struct {
	started time.Time

	// On the connect path: clients connected now and at most, CONNECTs
	// accepted, sessions expired.
	connected    atomic.Int64
	maxConnected atomic.Int64
	connections  atomic.Uint64
	expired      atomic.Uint64

	stripes [counterStripes]counterStripe
}

// counterStripes is how many stripes the publish path's counts have.
const counterStripes = 8

// counterStripe is one stripe of the publish path's counts, alone on its
// cache line: the PUBLISH packets received from clients and sent to them.
type counterStripe struct {
	received, sent atomic.Uint64
	_              [48]byte
}

// stripe returns the stripe of c's counts.
func (n *counters) stripe(c *conn) *counterStripe {
	// Fibonacci hashing of the address: its top bits pick the stripe.
	h := uint64(uintptr(unsafe.Pointer(c))) * 0x9E3779B97F4A7C15
	return &n.stripes[h>>61]
}

// connect counts a client whose CONNECT was accepted.
func (n *counters) connect() {
	now := n.connected.Add(1)
	n.connections.Add(1)
	for {
		m := n.maxConnected.Load()
		if now <= m || n.maxConnected.CompareAndSwap(m, now) {
			return
		}
	}
}

// disconnect counts the end of a connection that connect counted.
func (n *counters) disconnect() { n.connected.Add(-1) }

// published returns the PUBLISH packets received and sent so far.
func (n *counters) published() (received, sent uint64) {
	for i := range n.stripes {
		received += n.stripes[i].received.Load()
		sent += n.stripes[i].sent.Load()
	}
	return received, sent
}

// fill sets the counts of st that counters keep.
func (n *counters) fill(st *Stats) {
	st.Uptime = time.Since(n.started)
	st.Connected = int(n.connected.Load())
	st.MaxConnected = int(n.maxConnected.Load())
	st.Connections = n.connections.Load()
	st.Expired = n.expired.Load()
	st.Received, st.Sent = n.published()
}
