package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFor waits until cond holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A one-shot pub without a session to keep does not reconnect: a cut
// connection ends it with exit 1. pub -l, a stream, reconnects.
func TestPubReconnectPolicy(t *testing.T) {
	tb := startBroker(t)
	for _, tc := range []struct {
		name      string
		args      []string
		reconnect bool
	}{
		{"one-shot", []string{"-m", "x", "-n", "100"}, false},
		{"lines", []string{"-l"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			subCtx, stopSub := context.WithCancel(ctx)
			defer stopSub()
			topic := "policy/" + tc.name
			done, out := startSub(t, subCtx, "-url", tb.tcp, "-t", topic)
			pubDone := make(chan result, 1)
			go func() {
				pubDone <- cmd(ctx, strings.Repeat("x\n", 100), append([]string{"pub", "-url", tb.tcp, "-t", topic,
					"-q", "1", "--rate", "200"}, tc.args...)...)
			}()
			waitFor(t, ctx, "a first message", func() bool { return out.String() != "" })
			tb.tracked.cut()
			r := <-pubDone
			stopSub()
			<-done
			if tc.reconnect {
				if !strings.Contains(r.stderr, "reconnected") || r.code != 0 && !strings.Contains(r.stderr, "lost with a connection") {
					t.Fatalf("pub %s did not go on after reconnecting: exit %d, stderr %q", tc.name, r.code, r.stderr)
				}
				return
			}
			if r.code != exitError || !strings.Contains(r.stderr, "connection lost") || strings.Contains(r.stderr, "reconnect") {
				t.Fatalf("pub %s: exit %d, stderr %q; want 1 and the connection lost, no reconnection", tc.name, r.code, r.stderr)
			}
		})
	}
}

// sub acknowledges what it printed, and nothing past -C: a session kept
// for it (-c -x, --session) delivers the rest to the next run, including
// what the broker sends before the new SUBSCRIBE. A run without the
// session file cannot resume the session, and says so.
func TestSubAcknowledgesWhatItPrints(t *testing.T) {
	tb := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resume := []string{"-url", tb.tcp, "-t", "ack/#", "-q", "1", "-i", "acksub", "-c", "-x", "60"}
	session := append(resume, "--session", filepath.Join(t.TempDir(), "session"))
	done, _ := startSub(t, ctx, append(session, "-C", "1")...)
	wantResult(t, "pub", cmd(ctx, "one\ntwo\nthree\n", "pub", "-url", tb.tcp, "-t", "ack/1", "-q", "1", "-l"), 0)
	r := <-done
	wantResult(t, "sub -C 1", r, 0)
	if r.stdout != "one\n" {
		t.Fatalf("sub -C 1 printed %q", r.stdout)
	}
	r = cmd(ctx, "", append([]string{"sub"}, resume...)...)
	if r.code != exitError || !strings.Contains(r.stderr, "--session") || r.stdout != "" {
		t.Fatalf("sub -c without the session file: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = cmd(ctx, "", append([]string{"sub"}, append(session, "-C", "2")...)...)
	wantResult(t, "sub -c", r, 0)
	if r.stdout != "two\nthree\n" {
		t.Fatalf("the resumed session printed %q, want the two messages not printed before", r.stdout)
	}
}

// blackHole is a proxy to the broker that forwards what the client sends
// first (its CONNECT) and drops the rest: what pub publishes through it
// stays in flight.
func blackHole(t *testing.T, broker string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", broker)
			if err != nil {
				c.Close()
				continue
			}
			go func() {
				io.Copy(c, b)
				c.Close()
			}()
			go func() {
				defer b.Close()
				buf := make([]byte, 4096)
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				b.Write(buf[:n])
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return "tcp://" + l.Addr().String()
}

// --session keeps the client's side of the session in a file: a message
// left unacknowledged by one run is sent again by the next.
func TestSessionFile(t *testing.T) {
	tb := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done, _ := startSub(t, ctx, "-url", tb.tcp, "-t", "sf", "-q", "1", "-C", "2")
	session := []string{"pub", "-t", "sf", "-q", "1", "-i", "sfpub", "-c", "-x", "60",
		"--session", filepath.Join(t.TempDir(), "session")}
	r := cmd(ctx, "", append(session, "-url", blackHole(t, strings.TrimPrefix(tb.tcp, "tcp://")),
		"-m", "first", "--drain-timeout", "200ms")...)
	if r.code != exitError || !strings.Contains(r.stderr, "1 messages not acknowledged") {
		t.Fatalf("pub through the black hole: exit %d, stderr %q", r.code, r.stderr)
	}
	wantResult(t, "pub --session", cmd(ctx, "", append(session, "-url", tb.tcp, "-m", "second")...), 0)
	r = <-done
	wantResult(t, "sub", r, 0)
	if r.stdout != "first\nsecond\n" {
		t.Fatalf("sub printed %q, want the message of the first run, then the second's", r.stdout)
	}
}
