package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
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

// runClient is a client process.
func runClient(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("connbench client", flag.ContinueOnError)
	addr := fs.String("addr", "", "broker address")
	src := fs.String("src", "", "source address")
	n := fs.Int("n", 0, "connections")
	inflight := fs.Int("inflight", 1, "connections being set up at a time")
	keepAlive := fs.Int("keepalive", 300, "Keep Alive in seconds")
	prefix := fs.String("id", "connbench", "prefix of the client identifiers")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on one connection's CONNECT to CONNACK")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := raiseNoFile(); err != nil {
		return err
	}
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(*src)}, Timeout: *timeout, Control: noPortAtBind}
	lines := bufio.NewScanner(in)
	fmt.Fprintln(out, "ready")
	if !lines.Scan() || lines.Text() != "go" {
		return errors.New("no go")
	}

	conns := make([]*net.TCPConn, *n)
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
				c, err := connect(&dialer, *addr, *prefix+"-"+strconv.Itoa(i), uint16(*keepAlive), *timeout, buf)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				conns[i] = c
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
			fmt.Fprintf(out, "alive %d\n", alive(conns))
		}
	}
	for _, c := range conns {
		if c != nil {
			c.SetLinger(0) // a reset: no TIME_WAIT to hold the port for the next run
			c.Close()
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

// noPortAtBind sets IP_BIND_ADDRESS_NO_PORT on a socket bound to a source
// address: its port is chosen by connect, for the four-tuple rather than
// for the address alone, and may reuse one in TIME_WAIT.
func noPortAtBind(network, address string, rc syscall.RawConn) error {
	var err error
	rc.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	return err
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT of Linux (not in package
// syscall).
const ipBindAddressNoPort = 24

// connect opens a connection, sends CONNECT and waits for a CONNACK that
// accepts it.
func connect(d *net.Dialer, addr, id string, keepAlive uint16, timeout time.Duration, buf []byte) (*net.TCPConn, error) {
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := nc.(*net.TCPConn)
	c.SetDeadline(time.Now().Add(timeout))
	connect := packet.Connect{CleanStart: true, KeepAlive: keepAlive, ClientID: id}
	b, err := connect.AppendTo(buf[:0], packet.V5)
	if err == nil {
		_, err = c.Write(b)
	}
	if err == nil {
		err = readConnack(c, buf)
	}
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// readConnack reads the first packet and checks that it is a CONNACK
// that accepts the connection.
func readConnack(c net.Conn, buf []byte) error {
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
		n, err := c.Read(b[len(b):cap(b)])
		if err != nil {
			return err
		}
		b = b[:len(b)+n]
	}
}

// alive counts the connections that have nothing to read: neither bytes
// nor the end of the stream (a non-blocking peek at each).
func alive(conns []*net.TCPConn) int {
	var n int
	var b [1]byte
	for _, c := range conns {
		if c == nil {
			continue
		}
		rc, err := c.SyscallConn()
		if err != nil {
			continue
		}
		var errno error
		rc.Read(func(fd uintptr) bool {
			_, _, errno = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return true
		})
		if errno == syscall.EAGAIN {
			n++
		}
	}
	return n
}
