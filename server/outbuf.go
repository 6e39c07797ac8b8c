package server

// Write buffers. A connection's out is made when the core first sends,
// and on the event loop handed to the socket whole and dropped: an idle
// connection keeps none. Made afresh for each batch, a busy connection's
// out grows by doubling every time (a subscriber fed 150,000 messages a
// second spent a fifth of the broker's CPU there). So a buffer that was
// written comes back to a small shared stock, and the next connection
// with bytes to send takes it from there.
const (
	keepOutBufs = 64       // buffers in the stock, at most
	minOutBuf   = 4 << 10  // a new buffer's capacity
	maxOutBuf   = 64 << 10 // larger ones go to the collector
)

var outBufs = make(chan []byte, keepOutBufs)

// takeOutBuf returns an empty buffer, from the stock if it has one.
func takeOutBuf() []byte {
	select {
	case b := <-outBufs:
		return b
	default:
		return make([]byte, 0, minOutBuf)
	}
}

// giveOutBuf returns b, whose bytes are written, to the stock, unless it
// is full or b is not of a size it keeps.
func giveOutBuf(b []byte) {
	if cap(b) < minOutBuf || cap(b) > maxOutBuf {
		return
	}
	select {
	case outBufs <- b[:0]:
	default:
	}
}
