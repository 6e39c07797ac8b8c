//go:build unix

package client

import (
	"net"
	"syscall"
)

// writeThroughSupported: a QoS 0 Publish on a TCP or Unix socket writes
// its bytes itself.
const writeThroughSupported = true

// socketWriter writes to a socket without the runtime's poller: what the
// socket takes at once, never waiting for room.
type socketWriter struct {
	rc    syscall.RawConn
	write func(fd uintptr) bool // made once: a closure per write would be an allocation
	b     []byte
	n     int
}

// rawSocket returns a socketWriter for conn when conn is a plain TCP or
// Unix connection, whose bytes go to the socket as they are; nil for
// anything else (TLS, a proxy's or a Dialer's own type), even one that
// wraps a socket.
func rawSocket(conn net.Conn) *socketWriter {
	var rc syscall.RawConn
	var err error
	switch c := conn.(type) {
	case *net.TCPConn:
		rc, err = c.SyscallConn()
	case *net.UnixConn:
		rc, err = c.SyscallConn()
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	w := &socketWriter{rc: rc}
	w.write = func(fd uintptr) bool {
		for w.n < len(w.b) {
			m, err := syscall.Write(int(fd), w.b[w.n:])
			if err == syscall.EINTR {
				continue
			}
			if err != nil || m <= 0 {
				break // EAGAIN: the socket is full; another error: the writer meets it too
			}
			w.n += m
		}
		return true // done, whatever was written: never wait for the poller
	}
	return w
}

// writeNow writes what the socket takes of b at once and returns how much
// that was: less than len(b) when the socket is full or failed. One
// goroutine at a time may call it.
func (w *socketWriter) writeNow(b []byte) int {
	w.b, w.n = b, 0
	err := w.rc.Write(w.write)
	w.b = nil
	if err != nil { // closed: write was not called
		return 0
	}
	return w.n
}
