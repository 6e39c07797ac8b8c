//go:build linux

package server

import (
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"
)

// The event loop (Linux): a connection over TCP is registered with the
// Server's epoll instance when it is served, and has no goroutine and no
// read buffer of its own. A few workers wait in EpollWait; the one that
// gets a connection's event reads it once into its own buffer, hands the
// bytes to the core (the Handler runs then), writes the replies without
// blocking, and arms the connection again.
//
// The registration is level-triggered with EPOLLONESHOT: an event
// disarms the connection until the worker that got it is done, so one
// worker at a time owns a connection's reading without a flag of ours,
// a busy connection gets one read per turn (bytes left over are reported
// again, since the trigger is the level) instead of holding a worker
// until EAGAIN, and backpressure is simply not arming a connection again
// while its backlog is over MaxBacklog. The price is one epoll_ctl per
// wake-up. Edge-triggered registration would need our own "being served"
// flag, reads until EAGAIN, and a re-trigger of our own after a backlog.
//
// Writes the worker cannot finish (EAGAIN) are left to the writer
// goroutine of the goroutine path, which waits for the socket in Go's
// own poller; so does what other goroutines send. Closing goes through
// the kernel: shutdown(2) wakes the connection's event, and the worker
// that gets it ends the connection.

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// poller is a Server's epoll instance and its workers.
type poller struct {
	epfd   int
	wake   [2]int // a pipe whose reading end, once written, stops the workers
	wg     sync.WaitGroup
	closed sync.Once

	mu    sync.RWMutex
	conns []*Conn // by file descriptor
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	p := &poller{epfd: epfd}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("pipe2", err)
	}
	// Level-triggered and not one-shot: every worker sees it.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	n := max(runtime.GOMAXPROCS(0), 2)
	p.wg.Add(n)
	for range n {
		go p.work()
	}
	return p, nil
}

func (p *poller) closeFDs() {
	syscall.Close(p.epfd)
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
}

// close stops the workers, once no connection is registered.
func (p *poller) close() {
	p.closed.Do(func() {
		syscall.Write(p.wake[1], []byte{0})
		p.wg.Wait()
		p.closeFDs()
	})
}

// prepare gives c the handle of its socket, for the event loop; c.rc
// stays nil when the descriptor cannot be had.
func (p *poller) prepare(c *Conn, sc syscall.Conn) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	fd := -1
	if rc.Control(func(s uintptr) { fd = int(s) }) != nil || fd < 0 {
		return
	}
	c.rc, c.fd = rc, int32(fd)
}

// add registers c, prepared, with the event loop.
func (p *poller) add(c *Conn) error {
	p.mu.Lock()
	if int(c.fd) >= len(p.conns) {
		p.conns = append(p.conns, make([]*Conn, int(c.fd)+1-len(p.conns)+len(p.conns)/2)...)
	}
	p.conns[c.fd] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: pollEvents, Fd: c.fd}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(c.fd), &ev); err != nil {
		p.forget(c)
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// forget unregisters c, before its transport is closed.
func (p *poller) forget(c *Conn) {
	p.mu.Lock()
	if p.conns[c.fd] == c {
		p.conns[c.fd] = nil
	}
	p.mu.Unlock()
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(c.fd), &syscall.EpollEvent{})
}

func (p *poller) conn(fd int32) *Conn {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if int(fd) < len(p.conns) {
		return p.conns[fd]
	}
	return nil
}

// work is a worker: it serves the connections whose events it gets.
func (p *poller) work() {
	defer p.wg.Done()
	events := make([]syscall.EpollEvent, 32)
	buf := make([]byte, maxRead)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		stop := false
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.wake[0]) {
				stop = true
				continue
			}
			if c := p.conn(ev.Fd); c != nil {
				c.pollRead(buf)
			}
		}
		if stop {
			return
		}
	}
}

// arm has the poller report c's next event. The transport's own
// reference (Control) keeps its descriptor from being closed and reused
// meanwhile; after the close, arming does nothing.
func (c *Conn) arm() {
	_ = c.rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(fd)}
		_ = syscall.EpollCtl(c.srv.poll.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
	})
}

// rawRead reads once without waiting: 0, nil when there is nothing to
// read yet, and io.EOF at the end.
func (c *Conn) rawRead(buf []byte) (int, error) {
	var n int
	var err error
	if cerr := c.rc.Read(func(fd uintptr) bool {
		for {
			n, err = syscall.Read(int(fd), buf)
			if err != syscall.EINTR {
				return true
			}
		}
	}); cerr != nil {
		return 0, cerr
	}
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
func (c *Conn) rawWrite(b []byte) (int, error) {
	var n int
	var err error
	if cerr := c.rc.Write(func(fd uintptr) bool {
		for len(b) > n {
			k, e := syscall.Write(int(fd), b[n:])
			if k > 0 {
				n += k
			}
			if e == syscall.EINTR {
				continue
			}
			if e != nil {
				if e != syscall.EAGAIN {
					err = os.NewSyscallError("write", e)
				}
				break
			}
		}
		return true
	}); cerr != nil {
		return n, cerr
	}
	return n, err
}

// shutdown ends the transport's both directions: the event loop sees
// the end and finishes the connection.
func (c *Conn) shutdown() {
	_ = c.rc.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
}
