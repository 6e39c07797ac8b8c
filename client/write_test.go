package client

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// TestWriteThrough: a caller writes the queued bytes itself on a TCP
// socket, until the socket is full; then the rest waits for the writer,
// in order, and the writer is poked. It does not write while another
// goroutine is, nor on a transport that is not a plain socket.
func TestWriteThrough(t *testing.T) {
	if !writeThroughSupported {
		t.Skip("writeThrough needs a Unix socket API")
	}
	conn, server, err := tcpPair()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer server.Close()
	c := &Client{}
	l := newLink(conn)
	if l.raw == nil {
		t.Fatal("no raw socket for a TCP connection")
	}
	var want []byte
	queue := func(i int) {
		chunk := bytes.Repeat([]byte{byte(i)}, 1000)
		l.out = append(l.out, chunk...)
		l.queued += uint64(len(chunk))
		want = append(want, chunk...)
	}
	poked := func() bool {
		select {
		case <-l.wake:
			return true
		default:
			return false
		}
	}

	c.mu.Lock()
	l.writing = true // the writer is busy: the bytes wait for it
	queue(0)
	c.writeThrough(l)
	if l.written != 0 || len(l.out) != 1000 || !poked() {
		t.Fatalf("while another writes: %d written, %d queued, want 0 and 1000, and a poke", l.written, len(l.out))
	}
	l.writing = false

	// The server reads nothing: the socket fills up.
	for i := 1; len(l.out) == 0 || l.written == 0; i++ {
		if i > 100000 {
			t.Fatal("the socket never filled up")
		}
		queue(i)
		c.writeThrough(l)
	}
	if !poked() {
		t.Fatal("the writer was not poked for the bytes left")
	}
	if l.written+uint64(len(l.out)) != uint64(len(want)) || l.queued != uint64(len(want)) {
		t.Fatalf("%d written and %d left of %d", l.written, len(l.out), len(want))
	}
	rest := l.out
	c.mu.Unlock()

	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(want))
		_, err := io.ReadFull(server, b)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	if _, err := conn.Write(rest); err != nil { // as the writer would
		t.Fatal(err)
	}
	if !bytes.Equal(<-got, want) {
		t.Fatal("the bytes arrived out of order")
	}

	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if newLink(p1).raw != nil {
		t.Fatal("a raw socket for a net.Pipe")
	}
}
