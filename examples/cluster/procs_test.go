package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// The broker command with cluster support, built once per run of the
// test binary (brokerBinary) into a directory TestMain removes.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// brokerBinary returns the path of the broker command built with -tags
// cluster (the repository's go.work resolves this module from the
// test's directory); the test is skipped if there is no go command, or
// with -short.
func brokerBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the broker command")
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the broker with: %v", err)
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "mqttcore-cluster-broker-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "broker")
		cmd := exec.Command(gocmd, "build", "-tags", "cluster", "-o", built.bin, "github.com/mqttcore/mqtt/examples/broker")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build -tags cluster: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// brokerProc is a broker command running as a process of its own.
type brokerProc struct {
	name string // for messages
	addr string // its MQTT listener, as it announced it
	cmd  *exec.Cmd
	done chan struct{} // closed once it has ended
}

// startBrokerProc runs the broker binary bin with args, listening on a
// loopback port of its choosing (-addr 127.0.0.1:0, read from its
// "listening on" line), and waits until it accepts MQTT connections. A
// process that ends before it listens (a cluster node whose JetStream is
// still settling) is started again, for 20 s at most. Its log (the
// standard error) goes to a file in dir, whose last part is shown if the
// test fails; it is killed at the end of the test.
func startBrokerProc(t testing.TB, bin, dir, name string, args ...string) *brokerProc {
	t.Helper()
	logFile := filepath.Join(dir, name+".log")
	t.Cleanup(func() {
		if b, err := os.ReadFile(logFile); t.Failed() && err == nil && len(b) > 0 {
			t.Logf("the log of broker %s, last part:\n%s", name, b[max(0, len(b)-4<<10):])
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := tryStartBrokerProc(bin, logFile, name, append([]string{"-addr", "127.0.0.1:0"}, args...))
		if err == nil {
			t.Cleanup(p.kill)
			awaitMQTT(t, p.addr)
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %s: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tryStartBrokerProc starts the process once and waits for its
// "listening on" line; if it ends first, it returns why.
func tryStartBrokerProc(bin, logFile, name string, args []string) (*brokerProc, error) {
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the process has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &brokerProc{name: name, cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		r := bufio.NewScanner(out)
		for r.Scan() {
			if a, ok := strings.CutPrefix(r.Text(), "mqtt broker listening on "); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	select {
	case p.addr = <-addr:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("ended before listening (%v): see its log %s", cmd.ProcessState, logFile)
	case <-time.After(20 * time.Second):
		p.kill()
		return nil, errors.New("did not listen within 20 s")
	}
}

// awaitMQTT waits until the broker at addr answers a CONNECT.
func awaitMQTT(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := brokertest.Connect(ctx, brokertest.Config("tcp://"+addr, packet.V5,
			&packet.Connect{ClientID: "await-" + addr, CleanStart: true}))
		cancel()
		if err == nil {
			c.Drop()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker at %s accepts no MQTT connection: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL, as a crash would (nothing it
// holds is written anywhere), and waits for it to end.
func (p *brokerProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}
