//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// result is one run's measurement of one broker.
type result struct {
	broker    string
	n         int           // connections asked for
	accepted  int           // connections that got their CONNACK
	alive     int           // connections still open after the settle time
	ramp      time.Duration // first attempt to last CONNACK
	rssBefore int64         // bytes
	rssAfter  int64         // bytes
	overflows int64         // the system's TCP listen queue overflows during the ramp
	cpu       time.Duration // the broker's CPU time (user and system) during the ramp
	clientCPU time.Duration // the client processes' CPU time during the ramp
}

// rate is the connections per second over the ramp.
func (r result) rate() float64 { return float64(r.accepted) / r.ramp.Seconds() }

// cpuPerConn is the broker's CPU time per connection accepted.
func (r result) cpuPerConn() time.Duration { return r.cpu / time.Duration(max(r.accepted, 1)) }

// clientCPUPerConn is the client processes' CPU time per connection.
func (r result) clientCPUPerConn() time.Duration {
	return r.clientCPU / time.Duration(max(r.accepted, 1))
}

// perConn is the resident memory added per connection, in bytes.
func (r result) perConn() float64 { return float64(r.rssAfter-r.rssBefore) / float64(r.n) }

// measure runs the broker name once.
func measure(ctx context.Context, o *options, name, bin, self string) (r result, err error) {
	b, err := startBroker(ctx, o, name, bin)
	if err != nil {
		return r, err
	}
	defer func() {
		if serr := b.stop(); err == nil {
			err = serr
		}
	}()
	r = result{broker: name, n: o.n}
	if err := sleep(ctx, o.settle); err != nil {
		return r, err
	}
	if r.rssBefore, err = b.rss(); err != nil {
		return r, err
	}

	clients, err := startClients(o, b.addr, self)
	defer func() {
		for _, c := range clients {
			c.end()
		}
	}()
	if err != nil {
		return r, err
	}
	overflows, err := listenOverflows()
	if err != nil {
		return r, err
	}
	cpu, err := b.cpu()
	if err != nil {
		return r, err
	}
	for _, c := range clients {
		fmt.Fprintln(c.in, "go")
	}
	var first, last int64
	var failures []string
	for i, c := range clients {
		f, err := c.fields("done", 6)
		if err != nil {
			return r, err
		}
		ok, _ := strconv.Atoi(f[0])
		start, _ := strconv.ParseInt(f[2], 10, 64)
		end, _ := strconv.ParseInt(f[3], 10, 64)
		cpu, _ := strconv.ParseInt(f[4], 10, 64)
		r.clientCPU += time.Duration(cpu)
		r.accepted += ok
		if i == 0 || start < first {
			first = start
		}
		last = max(last, end)
		if f[1] != "0" {
			failures = append(failures, fmt.Sprintf("%s failed, the first: %s", f[1], strings.Join(f[5:], " ")))
		}
	}
	r.ramp = time.Duration(last - first)
	if n, err := listenOverflows(); err == nil {
		r.overflows = n - overflows
	}
	if t, err := b.cpu(); err == nil {
		r.cpu = t - cpu
	}
	if len(failures) > 0 {
		return r, fmt.Errorf("%d of %d connections accepted (%s)", r.accepted, r.n, strings.Join(failures, "; "))
	}
	if err := sleep(ctx, o.settle); err != nil {
		return r, err
	}
	if r.rssAfter, err = b.rss(); err != nil {
		return r, err
	}
	for _, c := range clients {
		fmt.Fprintln(c.in, "check")
	}
	for _, c := range clients {
		f, err := c.fields("alive", 1)
		if err != nil {
			return r, err
		}
		n, _ := strconv.Atoi(f[0])
		r.alive += n
	}
	if r.alive != r.accepted {
		return r, fmt.Errorf("%d of the %d connections still open after %v", r.alive, r.accepted, o.settle)
	}
	return r, nil
}

// listenOverflows returns the count of connections dropped because a
// listen queue was full (ListenOverflows in /proc/net/netstat): the
// client's SYN is then answered late, after its retransmission.
func listenOverflows() (int64, error) {
	text, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(text), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) {
			continue
		}
		for j, name := range names {
			if name == "ListenOverflows" {
				return strconv.ParseInt(values[j], 10, 64)
			}
		}
	}
	return 0, errors.New("/proc/net/netstat: no TcpExt ListenOverflows")
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// clientProc is a client process.
type clientProc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr strings.Builder
}

// startClients starts the client processes for o.n connections to addr
// and waits until each is ready.
func startClients(o *options, addr, self string) ([]*clientProc, error) {
	count := (o.n + o.perClient - 1) / o.perClient
	var clients []*clientProc
	for i := range count {
		n := min(o.perClient, o.n-i*o.perClient)
		inflight := max(1, o.inflight/count)
		c := &clientProc{cmd: exec.Command(self,
			"-addr", addr, "-src", fmt.Sprintf("127.0.0.%d", 2+i), "-n", strconv.Itoa(n),
			"-inflight", strconv.Itoa(inflight), "-keepalive", strconv.Itoa(o.keepAlive),
			"-id", fmt.Sprintf("connbench-%d", i), "-timeout", o.timeout.String())}
		c.cmd.Env = append(os.Environ(), clientEnv+"=1")
		c.cmd.Stderr = &c.stderr
		var err error
		if c.in, err = c.cmd.StdinPipe(); err != nil {
			return clients, err
		}
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			return clients, err
		}
		c.out = bufio.NewScanner(stdout)
		if err := c.cmd.Start(); err != nil {
			return clients, err
		}
		clients = append(clients, c)
	}
	for _, c := range clients {
		if _, err := c.fields("ready", 0); err != nil {
			return clients, err
		}
	}
	return clients, nil
}

// fields reads the process's next line, which must start with word and
// have at least n more fields, and returns those.
func (c *clientProc) fields(word string, n int) ([]string, error) {
	if !c.out.Scan() {
		c.cmd.Wait()
		return nil, fmt.Errorf("client process ended before %q: %v %s", word, c.cmd.ProcessState, strings.TrimSpace(c.stderr.String()))
	}
	f := strings.Fields(c.out.Text())
	if len(f) < n+1 || f[0] != word {
		return nil, fmt.Errorf("client process: %q instead of %q", c.out.Text(), word)
	}
	return f[1:], nil
}

// end closes the process's input, which ends it, and waits for it (and
// kills it after 10 s).
func (c *clientProc) end() {
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}
