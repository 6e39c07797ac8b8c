package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
)

// The sensor scenario of issue 11, written twice: sensor/mqttcore (our
// client package) and sensor/autopaho (eclipse/paho.golang's autopaho).
var sensorPrograms = []string{"mqttcore", "autopaho"}

const sensorReadings = 2000 // 1,000 at QoS 1 and 1,000 at QoS 2, alternating

// TestSensorLines counts the code lines (neither blank nor comment) of the
// two sensor programs; ours may not be longer.
func TestSensorLines(t *testing.T) {
	n := map[string]int{}
	for _, name := range sensorPrograms {
		c, err := codeLines(filepath.Join("sensor", name, "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		n[name] = c
	}
	t.Logf("code lines: sensor/mqttcore %d, sensor/autopaho %d", n["mqttcore"], n["autopaho"])
	if n["mqttcore"] > n["autopaho"] {
		t.Errorf("sensor/mqttcore has %d code lines, more than sensor/autopaho's %d", n["mqttcore"], n["autopaho"])
	}
}

// codeLines counts the lines of a Go file that are neither blank nor only
// comment.
func codeLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, inBlock := 0, false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if inBlock {
			if i := strings.Index(line, "*/"); i >= 0 {
				inBlock, line = false, strings.TrimSpace(line[i+2:])
			} else {
				continue
			}
		}
		if strings.HasPrefix(line, "/*") && !strings.Contains(line, "*/") {
			inBlock = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		n++
	}
	return n, s.Err()
}

// TestSensor builds each sensor program and runs it against mosquitto,
// which the test kills with SIGKILL and starts again on the same port
// while the program publishes (persistence off: the broker forgets every
// session). A subscriber of ours on sensors/# at QoS 2 counts what
// arrives: every reading must arrive, and the program must exit 0 (every
// reading acknowledged). Duplicates are reported, not failed: a reading
// in flight at the kill is published again to a broker that may have
// delivered it already.
//
// The program reaches mosquitto through a gate (a TCP relay of the test)
// that holds new connections while the broker restarts, until the
// subscriber has subscribed again, so that no reading goes to a broker
// without the subscription; the program still loses its connection and
// its session, and reconnects without a failed attempt (autopaho would
// wait 10 s, its default ReconnectBackoff, after a refused one).
func TestSensor(t *testing.T) {
	bin := tool(t, "mosquitto")
	for _, name := range sensorPrograms {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runSensor(t, bin, name)
		})
	}
}

func runSensor(t *testing.T, mosquittoBin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prog := buildSensor(t, ctx, name)
	m := newRestartableMosquitto(t, mosquittoBin)
	g := newGate(t, m.addr)

	rec := &readings{seen: map[int]int{}, probes: map[string]bool{}}
	up := make(chan bool, 8)
	sub, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + m.addr}, ClientID: "sensor-test-" + name,
		CleanStart: true, MinRetryDelay: 20 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond,
		OnConnectionUp: func(present bool) { up <- present }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	if err := sub.Subscribe(ctx, packet.Subscription{Filter: "sensors/#", QoS: packet.QoS2}, rec.add); err != nil {
		t.Fatal(err)
	}

	id := "sensor-" + name
	start := time.Now()
	cmd := exec.CommandContext(ctx, prog, "-broker", "tcp://"+g.addr(), "-id", id)
	var out syncBuilder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var exitErr error
	done := false
	// waitFor polls cond until it holds, or the program exits.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !done && !cond() {
			select {
			case exitErr = <-exited:
				done = true
			case <-ctx.Done():
				t.Fatalf("%s: %v\nprogram output:\n%s", what, ctx.Err(), out.String())
			case <-time.After(2 * time.Millisecond):
			}
		}
	}

	waitFor("100 readings", func() bool { return rec.distinct() >= 100 })
	command := "cmd/" + id + "/led"
	if err := sub.Publish(ctx, client.Message{Topic: command, QoS: packet.QoS2, Payload: []byte("on")}); err != nil {
		t.Fatal(err)
	}
	waitFor("700 readings", func() bool { return rec.distinct() >= 700 })
	if done {
		t.Fatalf("the program exited before the restart: %v\n%s", exitErr, out.String())
	}
	restart := time.Now()
	g.hold()
	m.kill()
	m.start()
	select {
	case <-up:
	case <-ctx.Done():
		t.Fatal("the subscriber did not reconnect")
	}
	for i := 0; ; i++ { // until the subscriber has subscribed again
		probe := fmt.Sprint(i)
		if err := sub.Publish(ctx, client.Message{Topic: "sensors/probe", QoS: packet.QoS1, Payload: []byte(probe)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if rec.probed(probe) {
			break
		}
	}
	g.release()
	t.Logf("%s: broker restarted after %d readings, relay held for %v", name, rec.distinct(), time.Since(restart).Round(time.Millisecond))
	if !done {
		select {
		case exitErr = <-exited:
		case <-ctx.Done():
			t.Fatalf("the program did not finish: %v\nprogram output:\n%s", ctx.Err(), out.String())
		}
	}
	took := time.Since(start)
	for end := time.Now().Add(5 * time.Second); rec.distinct() < sensorReadings && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}

	lost, dup, wrongQoS := rec.report()
	retries := strings.Count(out.String(), "publishing it again")
	t.Logf("%s: %d readings published in %v (exit: %v), %d published again; at the subscriber: %d lost, duplicates QoS 1: %d, QoS 2: %d",
		name, sensorReadings, took.Round(time.Millisecond), exitErr, retries, len(lost), dup[1], dup[2])
	if exitErr != nil {
		t.Errorf("the program failed: %v", exitErr)
	}
	if len(lost) > 0 {
		t.Errorf("%d readings never arrived, the first: %v", len(lost), lost[:min(len(lost), 10)])
	}
	if wrongQoS > 0 {
		t.Errorf("%d readings arrived at a QoS other than the one they were published at", wrongQoS)
	}
	if !strings.Contains(out.String(), "command "+command+": on") {
		t.Errorf("the program did not print the command it received")
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("program output:\n%s", out.String())
	}
}

// buildSensor builds sensor/<name> into a directory of the test.
func buildSensor(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./sensor/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./sensor/%s: %v\n%s", name, err, out)
	}
	return bin
}

// readings counts the readings a subscriber received, by number.
type readings struct {
	mu       sync.Mutex
	seen     map[int]int
	probes   map[string]bool
	wrongQoS int
}

func (r *readings) add(m client.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Topic == "sensors/probe" {
		r.probes[string(m.Payload)] = true
		return
	}
	i, err := strconv.Atoi(string(m.Payload))
	if err != nil || i < 0 || i >= sensorReadings {
		return
	}
	r.seen[i]++
	if m.QoS != packet.QoS(1+i%2) {
		r.wrongQoS++
	}
}

func (r *readings) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *readings) probed(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.probes[p]
}

// report returns the readings that never arrived, the extra copies by
// QoS, and how many arrived at the wrong QoS.
func (r *readings) report() (lost []int, dup [3]int, wrongQoS int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range sensorReadings {
		switch n := r.seen[i]; {
		case n == 0:
			lost = append(lost, i)
		case n > 1:
			dup[1+i%2] += n - 1
		}
	}
	return lost, dup, r.wrongQoS
}

// restartableMosquitto is a mosquitto process without persistence that
// the test can kill and start again on the same loopback port.
type restartableMosquitto struct {
	t         *testing.T
	bin, conf string
	addr      string
	cmd       *exec.Cmd
	log       syncBuilder
}

func newRestartableMosquitto(t *testing.T, bin string) *restartableMosquitto {
	t.Helper()
	port := freePorts(t, 1)[0]
	m := &restartableMosquitto{t: t, bin: bin, addr: "127.0.0.1:" + port, conf: filepath.Join(t.TempDir(), "mosquitto.conf")}
	text := "allow_anonymous true\npersistence false\nlistener " + port + " 127.0.0.1\n"
	if u, err := user.Current(); err == nil {
		text = "user " + u.Username + "\n" + text
	}
	if err := os.WriteFile(m.conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(func() {
		m.kill()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", m.log.String())
		}
	})
	return m
}

// start runs mosquitto and waits until it accepts connections.
func (m *restartableMosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = &m.log, &m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if nc, err := net.Dial("tcp", m.addr); err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto does not listen on %s:\n%s", m.addr, m.log.String())
		}
	}
}

// kill stops mosquitto with SIGKILL.
func (m *restartableMosquitto) kill() {
	if m.cmd != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		m.cmd = nil
	}
}

// gate relays TCP connections to a server; while held, new connections
// wait before the relay dials the server.
type gate struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	open   chan struct{} // closed while the gate is open
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target, open: make(chan struct{})}
	close(g.open)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		g.release()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.relay(c)
			}()
		}
	}()
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// relay waits for the gate to open, then copies both ways until either
// side ends.
func (g *gate) relay(c net.Conn) {
	defer c.Close()
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	<-open
	s, err := net.Dial("tcp", g.target)
	if err != nil {
		return
	}
	defer s.Close()
	ended := make(chan struct{}, 2)
	go func() { io.Copy(s, c); ended <- struct{}{} }()
	go func() { io.Copy(c, s); ended <- struct{}{} }()
	<-ended
}
