//go:build linux

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// clientEnv set in the environment starts connbench as a client process:
// runClient, with its arguments.
const clientEnv = "CONNBENCH_CLIENT"

// A client process talks with connbench in lines. It writes "ready" once
// started; on "go" it opens its connections and writes
// "done OK FAILED START END CPU ERROR" (START and END in Unix
// nanoseconds: its first attempt and its last CONNACK; CPU the
// nanoseconds of CPU time it took meanwhile; ERROR the first failure, or
// "-"); on "check" it writes "alive N": its connections that the broker
// has neither closed nor sent anything since the CONNACK. It closes them
// and exits when its standard input ends.

// runClient is a client process. Its connections are plain blocking
// sockets, one goroutine (and thread) per connection being set up, so
// that it takes as little CPU time as it can: six system calls per
// connection and no poller.
func runClient(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("connbench client", flag.ContinueOnError)
	addr := fs.String("addr", "", "broker address, IPv4:port")
	src := fs.String("src", "", "source address, IPv4")
	n := fs.Int("n", 0, "connections")
	inflight := fs.Int("inflight", 1, "connections being set up at a time")
	keepAlive := fs.Int("keepalive", 300, "Keep Alive in seconds")
	prefix := fs.String("id", "connbench", "prefix of the client identifiers")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on one connection's CONNECT to CONNACK")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dst, err := netip.ParseAddrPort(*addr)
	if err != nil || !dst.Addr().Is4() {
		return fmt.Errorf("-addr %q: not IPv4:port", *addr)
	}
	from, err := netip.ParseAddr(*src)
	if err != nil || !from.Is4() {
		return fmt.Errorf("-src %q: not IPv4", *src)
	}
	d := dialer{
		src:     syscall.SockaddrInet4{Addr: from.As4()},
		dst:     syscall.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())},
		timeout: syscall.NsecToTimeval(timeout.Nanoseconds()),
	}
	if _, err := raiseNoFile(); err != nil {
		return err
	}
	lines := bufio.NewScanner(in)
	fmt.Fprintln(out, "ready")
	if !lines.Scan() || lines.Text() != "go" {
		return errors.New("no go")
	}

	fds := make([]int, *n)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	for range min(*inflight, *n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64)
			for {
				i := int(next.Add(1) - 1)
				if i >= *n {
					return
				}
				p := packet.Connect{CleanStart: true, KeepAlive: uint16(*keepAlive), ClientID: *prefix + "-" + strconv.Itoa(i)}
				fd, err := d.connect(&p, buf)
				if err != nil {
					fd = -1
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				fds[i] = fd
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	errText := "-"
	if e, ok := firstErr.Load().(string); ok {
		errText = strconv.Quote(e)
	}
	fmt.Fprintf(out, "done %d %d %d %d %d %s\n", int64(*n)-failed.Load(), failed.Load(), start.UnixNano(), end.UnixNano(),
		cpuTime()-cpu0, errText)

	for lines.Scan() {
		if lines.Text() == "check" {
			fmt.Fprintf(out, "alive %d\n", alive(fds))
		}
	}
	for _, fd := range fds {
		if fd >= 0 {
			// A reset: no TIME_WAIT to hold the port for the next run.
			syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
			syscall.Close(fd)
		}
	}
	return nil
}

// cpuTime returns the process's CPU time, user and system, in
// nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// dialer opens the connections of a client process.
type dialer struct {
	src, dst syscall.SockaddrInet4
	timeout  syscall.Timeval // of each read (SO_RCVTIMEO)
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT of Linux (not in package
// syscall): the port of a socket bound to a source address is chosen by
// connect, for the four-tuple rather than for the address alone, and may
// reuse one in TIME_WAIT.
const ipBindAddressNoPort = 24

// connect opens a connection from d.src to d.dst, sends p and waits for a
// CONNACK that accepts it. It returns the socket.
func (d *dialer) connect(p *packet.Connect, buf []byte) (fd int, err error) {
	fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	step := "setsockopt"
	if err = syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, ipBindAddressNoPort, 1); err == nil {
		err = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &d.timeout)
	}
	if err == nil {
		step = "bind"
		err = syscall.Bind(fd, &d.src)
	}
	if err == nil {
		step = "connect"
		err = syscall.Connect(fd, &d.dst)
	}
	var b []byte
	if err == nil {
		step = "CONNECT"
		b, err = p.AppendTo(buf[:0], packet.V5)
	}
	if err == nil {
		step = "write"
		var n int
		n, err = syscall.Write(fd, b)
		if err == nil && n < len(b) {
			err = io.ErrShortWrite
		}
	}
	if err == nil {
		step = "CONNACK"
		err = readConnack(fd, buf)
	}
	if err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("%s: %w", step, err)
	}
	return fd, nil
}

// readConnack reads the first packet and checks that it is a CONNACK
// that accepts the connection.
func readConnack(fd int, buf []byte) error {
	b := buf[:0]
	for {
		p, size, err := packet.Decode[uint16](packet.V5, b, 1<<16)
		if err != nil {
			return err
		}
		if size > 0 {
			ack, ok := p.(*packet.Connack)
			switch {
			case !ok:
				return fmt.Errorf("%v instead of CONNACK", p.Type())
			case ack.Reason != packet.Success:
				return fmt.Errorf("CONNACK %v", ack.Reason)
			}
			return nil
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		switch {
		case err == syscall.EINTR:
			// The Go runtime's signals (preemption) interrupt a read
			// with SO_RCVTIMEO (signal(7)): the others restart.
			continue
		case err == syscall.EAGAIN:
			return errors.New("timed out")
		case err != nil:
			return err
		case n == 0:
			return io.EOF
		}
		b = b[:len(b)+n]
	}
}

// alive counts the connections that have nothing to read: neither bytes
// nor the end of the stream (a non-blocking peek at each).
func alive(fds []int) int {
	var n int
	var b [1]byte
	for _, fd := range fds {
		if fd < 0 {
			continue
		}
		if _, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT); err == syscall.EAGAIN {
			n++
		}
	}
	return n
}
