//go:build linux

package server

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
)

// The event loop's connections are bare socket descriptors: accepted by
// accept4(2) from the listener's descriptor (no net.Conn, no registration
// with Go's poller, no address values), read and written with read(2)
// and write(2) without waiting.

// rawFD is a connection's socket descriptor, closed once nobody uses it:
// the worker that ends a connection closes it while a Send's flush, a
// timer or pokeRoom may be about to write it or arm it, and a descriptor
// closed under them could be reused by a new connection meanwhile.
type rawFD struct {
	fd int32
	// state counts the users, 2 each, and has bit 0 once closing; 3
	// (closing, one user that never leaves) once closed.
	state atomic.Int32
}

// acquire reports whether fd may be used; release must follow.
func (f *rawFD) acquire() bool {
	if f.state.Add(2)&1 != 0 {
		f.release()
		return false
	}
	return true
}

func (f *rawFD) release() {
	if f.state.Add(-2) == 1 && f.state.CompareAndSwap(1, 3) {
		syscall.Close(int(f.fd))
	}
}

// close closes fd once its users are done.
func (f *rawFD) close() {
	for {
		s := f.state.Load()
		if s&1 != 0 {
			return
		}
		if f.state.CompareAndSwap(s, s|1) {
			if s == 0 && f.state.CompareAndSwap(1, 3) {
				syscall.Close(int(f.fd))
			}
			return
		}
	}
}

// acceptBatch is how many connections one wake-up of the listener
// accepts at most.
const acceptBatch = 256

// acceptWaiting accepts the clients waiting on a TCP listener with
// accept4(2), until none is left or acceptBatch were: a burst of clients
// costs no net.Conn each. Serve waits for the first of a burst in the
// listener's Accept, which also wakes when the listener is closed (a
// raw listener cannot be waited on in Go's poller).
func (s *Server) acceptWaiting(l *net.TCPListener, p *poller) {
	rc, err := l.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		for range acceptBatch {
			nfd, sa, err := syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			switch err {
			case nil:
				s.serveFD(p, int32(nfd), sockaddrPort(sa))
			case syscall.EINTR, syscall.ECONNABORTED:
			default:
				return // EAGAIN: none left; or what Accept will report
			}
		}
	})
}

// serveFD serves an accepted socket on the event loop.
func (s *Server) serveFD(p *poller, fd int32, remote netip.AddrPort) {
	// As Go does for the connections it accepts: no Nagle delay for
	// small packets. (No TCP keep-alive: MQTT has its own.)
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	c := newConn(s, nil)
	c.fd.fd, c.remote = fd, makePeerAddr(remote)
	s.start(c, p)
}

// takeFD moves a TCP connection onto the event loop: its descriptor is
// duplicated for the Conn, and the net.Conn closed. It returns false
// when that cannot be done, and the connection takes the goroutine path.
func (c *Conn) takeFD(tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if rc.Control(func(s uintptr) {
		fd, err = dupCloexec(int(s))
	}) != nil || err != nil {
		return false
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return false
	}
	if a, ok := tc.RemoteAddr().(*net.TCPAddr); ok {
		c.remote = makePeerAddr(a.AddrPort())
	}
	c.fd.fd = int32(fd)
	tc.Close() // Go's poller lets go of it; the socket stays open
	return true
}

func dupCloexec(fd int) (int, error) {
	nfd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, os.NewSyscallError("fcntl", errno)
	}
	return int(nfd), nil
}

// sockaddrPort converts an accepted peer's address.
func sockaddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// arm has the poller report c's next read event; after the close it does
// nothing.
func (c *Conn) arm() {
	if !c.fd.acquire() {
		return
	}
	ev := syscall.EpollEvent{Events: readEvents, Fd: c.fd.fd, Pad: int32(c.gen)}
	_ = syscall.EpollCtl(c.srv.poll.epfd, syscall.EPOLL_CTL_MOD, int(c.fd.fd), &ev)
	c.fd.release()
}

// armWrite has the poller report when the socket takes bytes again, with
// c.mu held.
func (c *Conn) armWrite() error {
	if !c.fd.acquire() {
		return ErrClosed
	}
	defer c.fd.release()
	ev := syscall.EpollEvent{Events: writeEvents, Fd: c.fd.fd, Pad: int32(c.gen)}
	op := syscall.EPOLL_CTL_MOD
	if !c.wreg {
		op = syscall.EPOLL_CTL_ADD
	}
	if err := syscall.EpollCtl(c.srv.poll.wepfd, op, int(c.fd.fd), &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	c.wreg = true
	return nil
}

// rawRead reads once without waiting: 0, nil when there is nothing to
// read yet, and io.EOF at the end.
func (c *Conn) rawRead(buf []byte) (int, error) {
	if !c.fd.acquire() {
		return 0, net.ErrClosed
	}
	n, err := syscall.Read(int(c.fd.fd), buf)
	for err == syscall.EINTR {
		n, err = syscall.Read(int(c.fd.fd), buf)
	}
	c.fd.release()
	switch {
	case err == syscall.EAGAIN:
		return 0, nil
	case err != nil:
		return 0, os.NewSyscallError("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// rawWrite writes what it can of b without waiting.
func (c *Conn) rawWrite(b []byte) (n int, err error) {
	if !c.fd.acquire() {
		return 0, net.ErrClosed
	}
	defer c.fd.release()
	for len(b) > n {
		k, e := syscall.Write(int(c.fd.fd), b[n:])
		if k > 0 {
			n += k
		}
		switch e {
		case nil, syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return n, nil
		}
		return n, os.NewSyscallError("write", e)
	}
	return n, nil
}

// shutdown ends the socket's both directions: the event loop sees the
// end and finishes the connection.
func (c *Conn) shutdown() {
	if c.fd.acquire() {
		_ = syscall.Shutdown(int(c.fd.fd), syscall.SHUT_RDWR)
		c.fd.release()
	}
}

// shutdownRead shuts down the socket's reading side: reads return what
// was received, then the end (see CloseRead).
func (c *Conn) shutdownRead() bool {
	if !c.fd.acquire() {
		return false
	}
	defer c.fd.release()
	return syscall.Shutdown(int(c.fd.fd), syscall.SHUT_RD) == nil
}

// closeFD unregisters and closes the socket, once it has ended.
func (c *Conn) closeFD() {
	c.srv.poll.forget(c)
	c.fd.close()
}
