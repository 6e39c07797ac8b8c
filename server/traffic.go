package server

import (
	"sync/atomic"
	"unsafe"
)

// Traffic is what a Server has read from and written to its clients'
// transports since it was made.
type Traffic struct {
	// BytesIn and BytesOut count the bytes read and written: the MQTT
	// packets, as the transport's net.Conn carries them (inside TLS or
	// WebSocket framing, which they leave out).
	BytesIn, BytesOut uint64
}

// Traffic returns the bytes read and written so far.
func (s *Server) Traffic() Traffic {
	var t Traffic
	for i := range s.traffic {
		t.BytesIn += s.traffic[i].in.Load()
		t.BytesOut += s.traffic[i].out.Load()
	}
	return t
}

// trafficStripes is how many counters of each kind a Server keeps: a
// connection adds to one chosen by its address, so that connections
// served on different cores seldom share a cache line.
const trafficStripes = 8

// trafficStripe is one counter of each kind, alone on its cache line.
type trafficStripe struct {
	in, out atomic.Uint64
	_       [48]byte
}

// stripe is the counter of c.
func (c *Conn) stripe() *trafficStripe {
	// Conns are 256-byte objects: the bits above those spread them.
	return &c.srv.traffic[uintptr(unsafe.Pointer(c))>>8%trafficStripes]
}

// countIn adds n bytes read from the client.
func (c *Conn) countIn(n int) {
	if n > 0 {
		c.stripe().in.Add(uint64(n))
	}
}

// countOut adds n bytes written to the client.
func (c *Conn) countOut(n int) {
	if n > 0 {
		c.stripe().out.Add(uint64(n))
	}
}
