package server

import "sync"

// Write buffers. A connection's out is made when the core first sends,
// and on the event loop handed to the socket whole and dropped: an idle
// connection keeps none. Made afresh for each batch, a busy connection's
// out grew by doubling every time (a subscriber fed 150,000 messages a
// second spent a fifth of the broker's CPU there). So a buffer that was
// written goes to a pool, and the next connection with bytes to send
// takes it from there; the pool lets go of what is not used between two
// garbage collections.
const (
	minOutBuf = 4 << 10  // a new buffer's capacity
	maxOutBuf = 64 << 10 // larger ones go to the collector
)

var outBufs sync.Pool // of *[]byte: empty buffers of minOutBuf to maxOutBuf bytes

// takeOutBuf returns an empty buffer, from the pool if it has one.
func takeOutBuf() []byte {
	if p, _ := outBufs.Get().(*[]byte); p != nil {
		return *p
	}
	return make([]byte, 0, minOutBuf)
}

// giveOutBuf returns b, whose bytes are written, to the pool, unless b is
// not of a size it keeps.
func giveOutBuf(b []byte) {
	if cap(b) < minOutBuf || cap(b) > maxOutBuf {
		return
	}
	b = b[:0]
	outBufs.Put(&b)
}
