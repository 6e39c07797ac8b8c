//go:build linux

package server

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// The event loop (Linux): a connection over TCP is a bare socket
// descriptor registered with the Server's epoll instance. It has no
// net.Conn, no goroutine and no buffer of its own while idle. A few
// workers wait in EpollWait; the one that gets a connection's event
// reads it once into its own buffer, hands the bytes to the core (the
// Handler runs then), writes the replies without blocking, and arms the
// connection again.
//
// Reads: the registration is level-triggered with EPOLLONESHOT. An event
// disarms the connection until the worker that got it is done, so one
// worker at a time owns a connection's reading without a flag of ours, a
// busy connection gets one read per turn (bytes left over are reported
// again, since the trigger is the level) instead of holding a worker
// until EAGAIN, and backpressure is simply not arming a connection again
// while its backlog is over MaxBacklog.
//
// Writes: whoever sets Conn.writing owns the writing side until out is
// empty (loop.go). The worker that read a connection writes the replies
// itself; bytes sent from elsewhere (a Handler of another connection, a
// timer, any goroutine) put the connection on the ready list, and the
// workers write the connections of that list once they have served the
// events of their wait, as many bytes as gathered in one write each. A
// write the socket does not take whole waits for EPOLLOUT on a second
// epoll instance, whose descriptor is registered in the first: a
// connection's reading and writing are armed independently, each
// one-shot. No goroutine writes.
//
// The ready list is shared: whoever adds to it while a worker waits for
// events wakes one through a pipe, unless a wake-up is pending (poked),
// so that a publisher's worker that sends to eight subscribers shares
// their writes with the other workers. A worker counts itself out of
// active before it serves the list, and a sender adds to the list before
// it reads active: what is added is seen either by a worker that serves
// the list after it, or by its sender, who finds a worker waiting and
// wakes it.

// Events of the registrations.
const (
	readEvents  = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT
	writeEvents = syscall.EPOLLOUT | syscall.EPOLLONESHOT
)

// wakeByte is what is written to the pipes that wake the workers.
var wakeByte = []byte{0}

// poller is a Server's epoll instances and their workers.
type poller struct {
	epfd  int    // reads, the write instance, and the pipes
	wepfd int    // writes
	stop  [2]int // a pipe whose reading end, once written, stops the workers
	poke  [2]int // a pipe that wakes a worker to write dirty connections
	wg    sync.WaitGroup
	once  sync.Once

	mu    sync.RWMutex
	conns []*Conn // by file descriptor
	gen   uint32  // the last registration's generation

	workers int32        // how many
	active  atomic.Int32 // workers serving events
	poked   atomic.Bool  // a wake-up is in the poke pipe
	dmu     sync.Mutex
	ready   []*Conn // connections whose bytes wait for a worker (their writing set for it)
	woken   []*Conn // connections whose OnWake waits for a worker (WakeShared)
}

func newPoller() (p *poller, err error) {
	p = &poller{epfd: -1, wepfd: -1, stop: [2]int{-1, -1}, poke: [2]int{-1, -1}}
	defer func() {
		if err != nil {
			p.closeFDs()
		}
	}()
	if p.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if p.wepfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	for _, fds := range []*[2]int{&p.stop, &p.poke} {
		if err = syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
			return nil, os.NewSyscallError("pipe2", err)
		}
	}
	// Level-triggered and not one-shot: every worker sees them.
	for _, fd := range []int{p.stop[0], p.poke[0], p.wepfd} {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
		if err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, os.NewSyscallError("epoll_ctl", err)
		}
	}
	n := max(runtime.GOMAXPROCS(0), 2)
	p.workers = int32(n)
	p.wg.Add(n)
	for range n {
		go p.work()
	}
	return p, nil
}

func (p *poller) closeFDs() {
	for _, fd := range []int{p.epfd, p.wepfd, p.stop[0], p.stop[1], p.poke[0], p.poke[1]} {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
}

// close stops the workers, once no connection is registered.
func (p *poller) close() {
	p.once.Do(func() {
		syscall.Write(p.stop[1], wakeByte)
		p.wg.Wait()
		p.closeFDs()
	})
}

// add registers c, which has its descriptor, with the event loop.
func (p *poller) add(c *Conn) error {
	fd := int(c.fd.fd)
	p.mu.Lock()
	if fd >= len(p.conns) {
		p.conns = append(p.conns, make([]*Conn, fd+1-len(p.conns)+len(p.conns)/2)...)
	}
	p.conns[fd] = c
	p.gen++
	if p.gen == 0 {
		p.gen = 1
	}
	c.gen = p.gen
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: readEvents, Fd: c.fd.fd, Pad: int32(c.gen)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.forget(c)
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// forget unregisters c, before its descriptor is closed.
func (p *poller) forget(c *Conn) {
	fd := int(c.fd.fd)
	p.mu.Lock()
	if fd < len(p.conns) && p.conns[fd] == c {
		p.conns[fd] = nil
	}
	p.mu.Unlock()
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, &syscall.EpollEvent{})
	if c.wreg {
		_ = syscall.EpollCtl(p.wepfd, syscall.EPOLL_CTL_DEL, fd, &syscall.EpollEvent{})
	}
}

// appendConns appends the registered connections to conns.
func (p *poller) appendConns(conns []*Conn) []*Conn {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, c := range p.conns {
		if c != nil {
			conns = append(conns, c)
		}
	}
	return conns
}

// conn returns the connection of an event: registered under that
// descriptor by that registration (a descriptor closed and reused since
// the event was reported has a new generation).
func (p *poller) conn(ev *syscall.EpollEvent) *Conn {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if int(ev.Fd) < len(p.conns) {
		if c := p.conns[ev.Fd]; c != nil && c.gen == uint32(ev.Pad) {
			return c
		}
	}
	return nil
}

// work is a worker: it serves the events it gets, then writes the dirty
// connections.
func (p *poller) work() {
	defer p.wg.Done()
	events := make([]syscall.EpollEvent, 32)
	wevents := make([]syscall.EpollEvent, 32)
	buf := make([]byte, maxRead)
	var drained [16]byte
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		p.active.Add(1)
		stop := false
		for i := range events[:n] {
			switch ev := &events[i]; int(ev.Fd) {
			case p.stop[0]:
				stop = true
			case p.poke[0]:
				// The pipe emptied first, then poked cleared: a sender
				// that finds poked still set has its connection on the
				// list before this worker serves it, and one that
				// finds it clear writes a byte that stays in the pipe.
				// (The other way round, a byte written meanwhile could
				// be read here and poked left set with an empty pipe:
				// no sender would wake a worker again.)
				for {
					if k, _ := syscall.Read(p.poke[0], drained[:]); k <= 0 {
						break
					}
				}
				p.poked.Store(false)
			case p.wepfd:
				p.writeEvents(wevents)
			default:
				if c := p.conn(ev); c != nil {
					c.pollRead(buf)
				}
			}
		}
		p.active.Add(-1)
		p.flush()
		if stop {
			return
		}
	}
}

// writeEvents serves the connections whose sockets take bytes again.
func (p *poller) writeEvents(events []syscall.EpollEvent) {
	n, err := syscall.EpollWait(p.wepfd, events, 0)
	if err != nil {
		return
	}
	for i := range events[:n] {
		if c := p.conn(&events[i]); c != nil {
			c.writeNow()
		}
	}
}

// schedule has a worker write c's bytes, for a sender that set
// c.writing; c.mu is held.
func (p *poller) schedule(c *Conn) { p.push(c) }

// push adds c to the connections whose bytes wait, and wakes a worker if
// one waits for events: the writes are shared between the one that
// pushed (a publisher's worker, writing to eight subscribers) and the
// others.
func (p *poller) push(c *Conn) {
	p.dmu.Lock()
	p.ready = append(p.ready, c)
	p.dmu.Unlock()
	p.pokeIdle()
}

// pushWake adds c, whose todo has todoWake set, to the connections whose
// OnWake waits for a worker, and wakes a worker if one waits for events.
func (p *poller) pushWake(c *Conn) {
	p.dmu.Lock()
	p.woken = append(p.woken, c)
	p.dmu.Unlock()
	p.pokeIdle()
}

// pokeIdle wakes a worker that waits for events, unless none does or a
// wake-up is pending already.
func (p *poller) pokeIdle() {
	if p.active.Load() < p.workers && p.poked.CompareAndSwap(false, true) {
		syscall.Write(p.poke[1], wakeByte)
	}
}

// flush makes the OnWake calls that wait, and writes the connections
// whose bytes wait (those calls add to them), one at a time, as the
// other workers do meanwhile.
func (p *poller) flush() {
	for {
		p.dmu.Lock()
		if c := pop(&p.woken); c != nil {
			p.dmu.Unlock()
			// As in Conn.request: if another goroutine holds the
			// connection, it makes the call before it lets go.
			if c.mu.TryLock() {
				c.unlock()
			}
			continue
		}
		c := pop(&p.ready)
		p.dmu.Unlock()
		if c == nil {
			return
		}
		c.writeNow()
	}
}

// pop takes the last connection off *list (nil if it is empty); one that
// grew large for a burst is let go once empty.
func pop(list *[]*Conn) *Conn {
	n := len(*list)
	if n == 0 {
		if cap(*list) > 1024 {
			*list = nil // a burst once: not kept for ever
		}
		return nil
	}
	c := (*list)[n-1]
	(*list)[n-1] = nil
	*list = (*list)[:n-1]
	return c
}
