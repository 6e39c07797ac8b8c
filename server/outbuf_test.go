package server

import "testing"

// A written buffer of a size the pool keeps is taken again by the next
// connection with bytes to send, empty; others go to the collector.
func TestOutBufs(t *testing.T) {
	b := append(takeOutBuf(), "bytes"...)
	if cap(b) < minOutBuf {
		t.Fatalf("a buffer of %d bytes, want at least %d", cap(b), minOutBuf)
	}
	again := false
	for range 100 { // the pool may drop what it is given (always under the race detector: sometimes)
		giveOutBuf(b)
		c := takeOutBuf()
		if len(c) != 0 {
			t.Fatalf("a buffer taken with %d bytes in it", len(c))
		}
		if cap(c) > 0 && &c[:1][0] == &b[0] {
			again = true
			break
		}
	}
	if !again {
		t.Error("a buffer given back was never taken again")
	}
	big := make([]byte, 0, maxOutBuf+1)
	small := make([]byte, 0, minOutBuf-1)
	for range 100 {
		giveOutBuf(big)
		giveOutBuf(small)
		if c := takeOutBuf(); cap(c) == cap(big) || cap(c) == cap(small) {
			t.Fatalf("a buffer of %d bytes kept: the pool keeps %d to %d", cap(c), minOutBuf, maxOutBuf)
		}
	}
}
