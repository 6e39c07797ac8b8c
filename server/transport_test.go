package server_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// Clients that connect all at once are each served, and each
// connection knows its client's address (on the event loop most are
// accepted without a net.Conn).
func TestAcceptBurst(t *testing.T) {
	const n = 300
	r := newRecorder()
	_, addr := start(t, server.Config{Handler: r})
	addr = addr[len("tcp://"):]
	var wg sync.WaitGroup
	errs := make(chan error, n)
	locals := make([]string, n)
	clients := make([]*raw, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			locals[i] = nc.LocalAddr().String()
			clients[i] = handshake(t, nc, packet.V5, &packet.Connect{ClientID: fmt.Sprint("c", i), CleanStart: true})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, rc := range clients {
		c := r.conn(fmt.Sprint("c", i))
		if c == nil {
			t.Fatalf("client %d: no connection", i)
		}
		if got := c.RemoteAddr().String(); got != locals[i] {
			t.Errorf("client %d: RemoteAddr %s, want %s", i, got, locals[i])
		}
		rc.send(t, &packet.Pingreq{})
		if p, ok := rc.next(t).(*packet.Pingresp); !ok {
			t.Fatalf("client %d: got %v, want PINGRESP", i, p)
		}
		rc.Close()
	}
}

// A client that stops reading while messages are sent to it, from a
// goroutine that is none of the server's, gets every one of them, in
// order, once it reads again: what the socket does not take waits for
// it to take more.
func TestSlowReader(t *testing.T) {
	const n, size = 8000, 1024
	r := newRecorder()
	_, addr := start(t, server.Config{Handler: r, MaxBacklog: 2 * n * size})
	nc := dialSmall(t, addr[len("tcp://"):])
	rc := handshake(t, nc, packet.V5, &packet.Connect{ClientID: "slow", CleanStart: true})
	c := r.conn("slow")
	payload := make([]byte, size)
	for i := range n {
		binary.BigEndian.PutUint32(payload, uint32(i))
		if err := c.Send(&packet.Publish{Topic: "t", Payload: payload}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if c.Backlog() == 0 {
		t.Error("8 MB taken by a client that reads nothing: the test proves nothing")
	}
	time.Sleep(100 * time.Millisecond)
	for i := range n {
		p, ok := rc.next(t).(*packet.Publish)
		if !ok {
			t.Fatalf("message %d: got %v", i, p)
		}
		if got := binary.BigEndian.Uint32(p.Payload); got != uint32(i) {
			t.Fatalf("message %d: got message %d", i, got)
		}
	}
	drained(t, c)
}

// A client that takes no bytes for WriteTimeout is disconnected, and
// OnClose says why.
func TestWriteTimeout(t *testing.T) {
	r := newRecorder()
	_, addr := start(t, server.Config{Handler: r, WriteTimeout: 200 * time.Millisecond})
	nc := dialSmall(t, addr[len("tcp://"):])
	defer nc.Close()
	handshake(t, nc, packet.V5, &packet.Connect{ClientID: "deaf", CleanStart: true})
	c := r.conn("deaf")
	// Until the kernel's buffers are full too, and the server's writes
	// wait.
	payload := make([]byte, 4096)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		err := c.Send(&packet.Publish{Topic: "t", Payload: payload})
		if errors.Is(err, server.ErrClosed) {
			break
		}
		if err != nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
	select {
	case cl := <-r.closed:
		if !errors.Is(cl.err, os.ErrDeadlineExceeded) {
			t.Errorf("OnClose got %v, want os.ErrDeadlineExceeded", cl.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a client that reads nothing is still connected")
	}
}

// dialSmall connects with a receive buffer of 4 KiB, set before the
// connection is made (set after, the window already announced outgrows
// it, and the sender's segments are dropped and sent again with growing
// delays).
func dialSmall(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}
