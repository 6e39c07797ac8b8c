package server

import "testing"

// A written buffer of a size the stock keeps is taken again by the next
// connection with bytes to send; others go to the collector.
func TestOutBufs(t *testing.T) {
	for len(outBufs) > 0 {
		<-outBufs
	}
	b := append(takeOutBuf(), "bytes"...)
	if cap(b) != minOutBuf {
		t.Fatalf("a new buffer of %d bytes, want %d", cap(b), minOutBuf)
	}
	giveOutBuf(b)
	if again := takeOutBuf(); len(again) != 0 || &again[:1][0] != &b[0] {
		t.Fatal("the buffer given back was not taken again, empty")
	}
	giveOutBuf(make([]byte, 0, maxOutBuf+1))
	giveOutBuf(make([]byte, 0, minOutBuf-1))
	if n := len(outBufs); n != 0 {
		t.Fatalf("%d buffers kept of sizes the stock does not keep", n)
	}
	for range keepOutBufs + 1 {
		giveOutBuf(make([]byte, 0, minOutBuf))
	}
	if n := len(outBufs); n != keepOutBufs {
		t.Fatalf("%d buffers kept, want at most %d", n, keepOutBufs)
	}
}
