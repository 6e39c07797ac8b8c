//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// packages are the Go brokers' main packages.
var packages = map[string]string{
	"example": "github.com/mqttcore/mqtt/examples/broker",
	"server":  "github.com/mqttcore/mqtt/examples/connbench/serverbroker",
	// server-goroutines: the same with server.Config.NoEventLoop
	"server-goroutines": "github.com/mqttcore/mqtt/examples/connbench/serverbroker",
	"mochi":             "github.com/mqttcore/mqtt/examples/bench/mochibroker",
	"bare":              "github.com/mqttcore/mqtt/examples/connbench/barebroker",
}

// build builds the Go brokers among names into a temporary directory and
// returns their paths; cleanup removes the directory.
func build(ctx context.Context, names []string) (bins map[string]string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "connbench")
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	bins = map[string]string{}
	built := map[string]string{} // package → binary
	for _, name := range names {
		pkg, ok := packages[name]
		if !ok || bins[name] != "" {
			continue
		}
		if bin, ok := built[pkg]; ok {
			bins[name] = bin
			continue
		}
		bin := filepath.Join(dir, name)
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("go build %s (run connbench from inside the repository): %v\n%s", pkg, err, out)
		}
		bins[name], built[pkg] = bin, bin
	}
	return bins, cleanup, nil
}

// broker is a broker process under test.
type broker struct {
	name string
	addr string
	cmd  *exec.Cmd
	out  strings.Builder // its output, for the error when it fails
	dir  string          // mosquitto's configuration, removed by stop
	done chan struct{}   // closed when it has exited
}

// startBroker starts the broker name (bin for a Go broker) on a free port
// of 127.0.0.1 and waits until it accepts connections.
func startBroker(ctx context.Context, o *options, name, bin string) (*broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &broker{name: name, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	var args []string
	switch name {
	case "example":
		args = []string{bin, "-addr", b.addr, "-quiet"}
	case "server", "mochi", "bare":
		args = []string{bin, "-addr", b.addr}
	case "server-goroutines":
		args = []string{bin, "-addr", b.addr, "-no-event-loop"}
	case "mosquitto":
		if b.dir, err = os.MkdirTemp("", "connbench-mosquitto"); err != nil {
			return nil, err
		}
		conf := filepath.Join(b.dir, "mosquitto.conf")
		text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\nlog_dest none\n", port)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			os.RemoveAll(b.dir)
			return nil, err
		}
		args = []string{o.mosquitto, "-c", conf}
	}
	b.cmd = exec.Command(args[0], args[1:]...)
	b.cmd.Stdout = &b.out
	b.cmd.Stderr = &b.out
	if err := b.cmd.Start(); err != nil {
		os.RemoveAll(b.dir)
		return nil, err
	}
	b.done = make(chan struct{})
	go func() { b.cmd.Wait(); close(b.done) }()
	deadline := time.Now().Add(o.timeout)
	for {
		c, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			os.RemoveAll(b.dir)
			return nil, fmt.Errorf("%s exited at start: %v\n%s", name, b.cmd.ProcessState, b.out.String())
		case <-ctx.Done():
			b.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.stop()
			return nil, fmt.Errorf("%s: not listening on %s after %v: %v", name, b.addr, o.timeout, err)
		}
	}
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// rss returns the broker's resident memory in bytes.
func (b *broker) rss() (int64, error) {
	return procStatus(b.cmd.Process.Pid, "VmRSS")
}

// cpu returns the CPU time the broker has used, user and system.
func (b *broker) cpu() (time.Duration, error) {
	text, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses: state,
	// then utime and stime are the 12th and 13th, in clock ticks (100 a
	// second on Linux: sysconf(_SC_CLK_TCK) is 100 on every architecture
	// Go supports).
	_, rest, _ := strings.Cut(string(text), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", b.cmd.Process.Pid, text)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", b.cmd.Process.Pid, text)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// procStatus reads a field in kB of /proc/PID/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	text, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(text), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// stop ends the broker: SIGTERM, and SIGKILL if it has not exited 10 s
// later. It returns an error if the broker had exited by itself.
func (b *broker) stop() error {
	defer os.RemoveAll(b.dir)
	select {
	case <-b.done:
		return fmt.Errorf("%s exited early: %v\n%s", b.name, b.cmd.ProcessState, b.out.String())
	default:
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	return nil
}
