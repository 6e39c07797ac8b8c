package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/cmdtest"
	"github.com/mqttcore/mqtt/examples/internal/testcert"
	"github.com/mqttcore/mqtt/examples/internal/transport"
)

// testBroker is the example broker on loopback listeners of every kind.
type testBroker struct {
	tcp, tls, ws, wss string // URLs
	caFile            string
	tracked           *trackingListener // the TCP listener
}

// trackingListener remembers the connections it accepted, so a test can
// cut them all as a network failure would. It hands the broker each
// connection wrapped, not as a *net.TCPConn: the broker's server then
// serves it with a goroutine that reads it (rather than taking its socket
// onto the event loop), and sees a Close behind its back. These tests are
// about the client; the event loop's own tests cut connections too.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// tracked is an accepted connection, as trackingListener hands it out.
type tracked struct{ net.Conn }

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	return tracked{c}, nil
}

// cut ends every connection accepted so far, as a network failure would.
func (l *trackingListener) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func startBroker(t *testing.T) *testBroker {
	t.Helper()
	files, err := testcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{caFile: files.CA}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}

	b := broker.New(broker.Config{})
	serve := func(raw string, cfg *tls.Config) net.Listener {
		l, err := transport.Listen(raw, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	tb.tracked = &trackingListener{Listener: serve("tcp://127.0.0.1:0", nil)}
	tl := serve("tls://127.0.0.1:0", tlsCfg)
	wl := serve("ws://127.0.0.1:0/mqtt", nil)
	wsl := serve("wss://127.0.0.1:0/mqtt", tlsCfg)
	tb.tcp = "tcp://" + tb.tracked.Addr().String()
	tb.tls = "tls://" + tl.Addr().String()
	tb.ws = "ws://" + wl.Addr().String() + "/mqtt"
	tb.wss = "wss://" + wsl.Addr().String() + "/mqtt"
	var wg sync.WaitGroup
	for _, l := range []net.Listener{tb.tracked, tl, wl, wsl} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Serve(l)
		}()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Shutdown(ctx)
		wg.Wait()
	})
	return tb
}

// result is how a run of the command ended.
type result struct {
	code           int
	stdout, stderr string
}

// cmd runs the command in-process.
func cmd(ctx context.Context, stdin string, args ...string) result {
	var out, errOut cmdtest.Buffer
	code := runContext(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// startSub runs "client sub" in the background and returns once it has
// subscribed; the channel delivers its result.
func startSub(t *testing.T, ctx context.Context, args ...string) (<-chan result, *cmdtest.Buffer) {
	t.Helper()
	ready := make(chan struct{})
	done := make(chan result, 1)
	var out cmdtest.Buffer
	go func() {
		var errOut cmdtest.Buffer
		code := runContext(context.WithValue(ctx, readyKey{}, ready), append([]string{"sub"}, args...),
			strings.NewReader(""), &out, &errOut)
		done <- result{code, out.String(), errOut.String()}
	}()
	select {
	case <-ready:
	case r := <-done:
		t.Fatalf("sub ended before subscribing: %d %s", r.code, r.stderr)
	case <-ctx.Done():
		t.Fatal("sub did not subscribe")
	}
	return done, &out
}

func wantResult(t *testing.T, what string, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit code %d, want %d; stderr: %s", what, r.code, code, r.stderr)
	}
}

// pub and sub meet through the broker over every transport, in both
// versions, at every QoS.
func TestPubSub(t *testing.T) {
	tb := startBroker(t)
	for _, tr := range []struct{ name, url string }{{"tcp", tb.tcp}, {"tls", tb.tls}, {"ws", tb.ws}, {"wss", tb.wss}} {
		for _, v := range []string{"5", "3.1.1"} {
			for _, q := range []string{"0", "1", "2"} {
				t.Run(fmt.Sprintf("%s/v%s/qos%s", tr.name, v, q), func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					common := []string{"-url", tr.url, "-V", v, "-q", q, "--cafile", tb.caFile}
					topic := "test/" + tr.name + "/" + v + "/" + q
					done, _ := startSub(t, ctx, append(common, "-t", "test/"+tr.name+"/#", "-C", "3", "-v")...)
					r := cmd(ctx, "", append([]string{"pub"}, append(common, "-t", topic, "-m", "hello", "-n", "3")...)...)
					wantResult(t, "pub", r, 0)
					r = <-done
					wantResult(t, "sub", r, 0)
					want := strings.Repeat(topic+" hello\n", 3)
					if r.stdout != want {
						t.Fatalf("sub printed %q, want %q", r.stdout, want)
					}
				})
			}
		}
	}
}

// A retained message reaches a subscriber that comes later; -l publishes
// lines of standard input; -C stops after that many messages.
func TestRetainedAndLines(t *testing.T) {
	tb := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wantResult(t, "pub -r", cmd(ctx, "", "pub", "-url", tb.tcp, "-t", "keep/me", "-m", "kept", "-r", "-q", "1"), 0)
	r := cmd(ctx, "", "sub", "-url", tb.ws, "-t", "keep/#", "-C", "1", "-v")
	wantResult(t, "sub", r, 0)
	if r.stdout != "keep/me kept\n" {
		t.Fatalf("retained: got %q", r.stdout)
	}

	done, _ := startSub(t, ctx, "-url", tb.tcp, "-t", "lines", "-C", "2", "-q", "2", "-V", "3.1.1")
	wantResult(t, "pub -l", cmd(ctx, "one\ntwo\nthree\n", "pub", "-url", tb.tcp, "-t", "lines", "-l", "-q", "2",
		"-D", "k=v", "--rate", "1000"), 0)
	r = <-done
	wantResult(t, "sub -C 2", r, 0)
	if r.stdout != "one\ntwo\n" {
		t.Fatalf("-C 2 printed %q", r.stdout)
	}
}

// Bad command lines fail with exit code 2 and a one-line message.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"publish"}, "unknown command"},
		{[]string{"pub", "-m", "x"}, "-t is required"},
		{[]string{"pub", "-t", "a"}, "give one of -m"},
		{[]string{"pub", "-t", "a", "-m", "x", "-q", "3"}, "QoS is 0, 1 or 2"},
		{[]string{"pub", "-t", "a", "-m", "x", "-V", "4"}, "want 5 or 3.1.1"},
		{[]string{"pub", "-t", "a", "-m", "x", "-url", "http://x"}, "unknown scheme"},
		{[]string{"pub", "-t", "a", "-m", "x", "-D", "novalue"}, "want key=value"},
		{[]string{"pub", "-t", "a", "-m", "x", "-V", "3.1.1", "-x", "10"}, "-x needs -V 5"},
		{[]string{"sub", "-t", "a", "-bogus"}, "flag provided but not defined"},
		{[]string{"sub", "-t", "a", "-c"}, "-c needs a client id"},
		{[]string{"sub", "-t", "a", "-C", "-1"}, "-C -1"},
		{[]string{"sub", "-t", "a", "--cert", "c.pem"}, "--cert and --key"},
		{[]string{"pub", "-t", "a", "-m", "x", "--session", "s"}, "--session needs -c"},
	} {
		r := cmd(context.Background(), "", tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
		if len(tc.args) > 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%q: more than one line: %q", tc.args, r.stderr)
		}
	}
}

// -h documents every option and exits 0.
func TestHelp(t *testing.T) {
	r := cmd(context.Background(), "", "pub", "-h")
	wantResult(t, "pub -h", r, 0)
	if n := strings.Count(r.stdout, "usage:"); n != 1 {
		t.Errorf("pub -h printed the usage %d times", n)
	}
	for _, f := range []string{"-url", "-V", "-q", "-r", "-t", "-m", "-l", "-n", "-i", "-c", "-x", "-k", "-u", "-P",
		"-will-topic", "-will-payload", "-will-qos", "-will-retain", "-D", "-cafile", "-cert", "-key", "-insecure", "-rate",
		"-retry-max", "-session"} {
		if !documents(r.stdout, f) {
			t.Errorf("pub -h does not document %s", f)
		}
	}
	r = cmd(context.Background(), "", "sub", "-h")
	wantResult(t, "sub -h", r, 0)
	for _, f := range []string{"-C", "-v"} {
		if !documents(r.stdout, f) {
			t.Errorf("sub -h does not document %s", f)
		}
	}
}

func documents(help, flag string) bool {
	for _, sep := range []string{" ", "\t", "\n"} {
		if strings.Contains(help, "\n  "+flag+sep) {
			return true
		}
	}
	return false
}

// A broker nobody listens for gives exit code 1 and one clear line; so
// does a TLS server the client cannot verify.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, url := range []string{"tcp://" + addr, "ws://" + addr + "/mqtt"} {
		r := cmd(context.Background(), "", "pub", "-url", url, "-t", "a", "-m", "x")
		if r.code != exitError || !strings.Contains(r.stderr, "broker unreachable") ||
			strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q", url, r.code, r.stderr)
		}
	}
	tb := startBroker(t)
	r := cmd(context.Background(), "", "sub", "-url", tb.tls, "-t", "a")
	if r.code != exitError || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("unverified TLS: exit %d, stderr %q", r.code, r.stderr)
	}
	r = cmd(context.Background(), "", "pub", "-url", tb.tls, "--insecure", "-t", "a", "-m", "x")
	wantResult(t, "--insecure", r, 0)
}

// Connections cut while a QoS 1 publisher runs: both clients reconnect,
// resume their sessions, and every message arrives.
func TestReconnectLosesNothing(t *testing.T) {
	tb := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 300
	var lines strings.Builder
	for i := range n {
		fmt.Fprintf(&lines, "m%d\n", i)
	}
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	done, out := startSub(t, subCtx, "-url", tb.tcp, "-t", "r/#", "-q", "1", "-i", "rsub", "-x", "60")
	pubDone := make(chan result, 1)
	go func() {
		pubDone <- cmd(ctx, lines.String(), "pub", "-url", tb.tcp, "-t", "r/1", "-l", "-q", "1",
			"-i", "rpub", "-x", "60", "--rate", "3000")
	}()
	for range 3 {
		time.Sleep(25 * time.Millisecond)
		tb.tracked.cut()
	}
	r := <-pubDone
	wantResult(t, "pub", r, 0)
	if !strings.Contains(r.stderr, "reconnected") {
		t.Logf("the publisher did not need to reconnect: %s", r.stderr)
	}
	missing := func() []string {
		seen := map[string]bool{}
		for _, l := range strings.Split(out.String(), "\n") {
			seen[l] = true
		}
		var miss []string
		for i := range n {
			if m := fmt.Sprintf("m%d", i); !seen[m] {
				miss = append(miss, m)
			}
		}
		return miss
	}
	for len(missing()) > 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stopSub()
	sr := <-done
	wantResult(t, "sub", sr, 0)
	if m := missing(); len(m) > 0 {
		t.Fatalf("%d messages lost, first %s; pub stderr: %s; sub stderr: %s", len(m), m[0], r.stderr, sr.stderr)
	}
	if !strings.Contains(sr.stderr, "reconnected") {
		t.Fatalf("the subscriber did not reconnect: %s", sr.stderr)
	}
}

// An interrupt stops publishing, waits for the acknowledgements in flight
// and disconnects: exit 0, and what was published arrived.
func TestInterrupt(t *testing.T) {
	tb := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done, out := startSub(t, ctx, "-url", tb.tcp, "-t", "int", "-q", "2", "-C", "2")
	pr, pw := io.Pipe()
	defer pw.Close()
	pubCtx, interrupt := context.WithCancel(ctx)
	res := make(chan int, 1)
	go func() {
		res <- runContext(pubCtx, []string{"pub", "-url", tb.tcp, "-t", "int", "-l", "-q", "2"}, pr, io.Discard, io.Discard)
	}()
	fmt.Fprint(pw, "a\nb\n") // stdin stays open
	for !strings.Contains(out.String(), "b\n") && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	interrupt()
	if code := <-res; code != 0 {
		t.Fatalf("interrupted pub: exit %d", code)
	}
	wantResult(t, "sub", <-done, 0)
}
