package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
)

// TestStoreCrash: the broker command, built and run as a process with
// -store, is killed with SIGKILL at random moments while publishers (a
// 5.0 and a 3.1.1 client, two goroutines each, QoS 1 and QoS 2 messages
// in turn) publish to it, and started again on the same store and port
// each time. A subscriber with a persistent session (5.0, Session Expiry
// one hour) receives every message whose Publish returned nil (the
// broker acknowledged it): QoS 1 at least once, QoS 2 exactly once, at
// its QoS. Before every other kill the subscriber leaves (its session
// kept), and it comes back after the restart to find its session and the
// messages queued for it. A client with a will, live at the first kill,
// has its will published when the broker starts again, and a
// retained message published before the kills is there after them. The clients are the importable client, in this process, which
// reconnect and resume their sessions (their side kept in a MemoryStore).
//
// A run kills the broker 3 times (a few seconds);
// MQTTCORE_STORE_CRASH_FULL=1 kills it 30 times:
//
//	MQTTCORE_STORE_CRASH_FULL=1 go test -run TestStoreCrash -v ./examples/broker
func TestStoreCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the broker command")
	}
	kills := 3
	if os.Getenv("MQTTCORE_STORE_CRASH_FULL") != "" {
		kills = 30
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second+time.Duration(kills)*2*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "broker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	store := filepath.Join(dir, "broker.db")
	proc := startProcess(t, bin, addr, store)
	url := "tcp://" + addr

	sub := &crashSub{arrived: map[string][]packet.QoS{}}
	subCfg := client.Config{Servers: []string{url}, ClientID: "store-crash-sub",
		SessionExpiry: time.Hour, Store: &client.MemoryStore{}, OnMessage: sub.add,
		MinRetryDelay: 10 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond}
	subc, err := client.Connect(ctx, subCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { subc.Close(context.Background()) }()
	if err := subc.Subscribe(ctx, packet.Subscription{Filter: "crash/#", QoS: packet.QoS2}, nil); err != nil {
		t.Fatal(err)
	}
	if err := subc.Subscribe(ctx, packet.Subscription{Filter: "wills/#", QoS: packet.QoS1}, nil); err != nil {
		t.Fatal(err)
	}
	// A client with a will, live at the first kill: its will is due when
	// the broker starts again (MQTT-3.1.2-8). A retained message,
	// confirmed before the kills, is there after them.
	willc, err := client.Connect(ctx, client.Config{Servers: []string{url}, ClientID: "store-crash-will",
		CleanStart: true, NoReconnect: true,
		Will: &client.Message{Topic: "wills/store-crash-will", QoS: packet.QoS1, Payload: []byte("lost")}})
	if err != nil {
		t.Fatal(err)
	}
	defer willc.Close(context.Background())
	retained := client.Message{Topic: "kept/retained", QoS: packet.QoS1, Retain: true, Payload: []byte("still here")}
	if err := willc.Publish(ctx, retained); err != nil {
		t.Fatal(err)
	}

	var confirmed sync.Map // payload -> QoS, for every Publish that returned nil
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pubs []*client.Client
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		name := fmt.Sprintf("store-crash-pub-%v", v)
		pc, err := client.Connect(ctx, client.Config{Servers: []string{url}, Version: v, ClientID: name,
			SessionExpiry: time.Hour, Store: &client.MemoryStore{},
			MinRetryDelay: 10 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pc)
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					payload := fmt.Sprintf("%s/%d/%d", name, g, n)
					qos := packet.QoS1 + packet.QoS(n%2)
					err := pc.Publish(ctx, client.Message{Topic: "crash/" + name, QoS: qos, Payload: []byte(payload)})
					if err == nil {
						confirmed.Store(payload, qos)
					} else if ctx.Err() != nil {
						return
					}
				}
			}()
		}
	}

	count := func() int {
		n := 0
		confirmed.Range(func(any, any) bool { n++; return true })
		return n
	}
	for i := range kills {
		// Every other time the subscriber leaves (DISCONNECT, its
		// session kept) before the kill and comes back after the restart,
		// so that what is queued for it offline goes through the store.
		away := i%2 == 1
		if away {
			if err := subc.Close(ctx); err != nil {
				t.Fatalf("subscriber leaving: %v", err)
			}
		}
		time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
		before := count()
		proc.kill(t)
		t.Logf("kill %d: %d messages confirmed so far; subscriber away %v", i+1, before, away)
		proc = startProcess(t, bin, addr, store)
		if away {
			time.Sleep(50 * time.Millisecond) // publishers reconnect; the session queues
			if subc, err = client.Connect(ctx, subCfg); err != nil {
				t.Fatalf("subscriber back: %v", err)
			}
			if !subc.Connack().SessionPresent {
				t.Fatal("the subscriber's session is gone after the restart")
			}
		}
	}
	time.Sleep(300 * time.Millisecond) // publishing on the last broker
	close(stop)
	wg.Wait()
	for _, pc := range pubs {
		if err := pc.Close(ctx); err != nil {
			t.Fatalf("publisher Close: %v", err)
		}
	}

	// Every confirmed message is in the subscriber's session by now: wait
	// for them all.
	var lost []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		lost = lost[:0]
		sub.mu.Lock()
		confirmed.Range(func(k, _ any) bool {
			if len(sub.arrived[k.(string)]) == 0 {
				lost = append(lost, k.(string))
			}
			return true
		})
		sub.mu.Unlock()
		if len(lost) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Errorf("%d acknowledged messages never arrived: %v", len(lost), lost[:min(len(lost), 20)])
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	total, unconfirmed := 0, 0
	for payload, got := range sub.arrived {
		total++
		qv, ok := confirmed.Load(payload)
		if !ok {
			unconfirmed++ // in flight at a kill, or published at the end
		}
		want := qosOf(payload)
		if want == packet.QoS2 && len(got) > 1 {
			t.Errorf("QoS 2 message %s arrived %d times", payload, len(got))
		}
		for _, q := range got {
			if q != want || ok && qv.(packet.QoS) != want {
				t.Errorf("message %s arrived at QoS %d, want %d", payload, q, want)
			}
		}
	}
	n := count()
	if n == 0 {
		t.Fatal("no message confirmed: nothing was tested")
	}
	if sub.wills == 0 { // QoS 1: a later kill may bring it twice
		t.Error("the will of the client live at the first kill never arrived")
	}
	t.Logf("%d kills; %d messages confirmed, %d arrived (%d of them unconfirmed)", kills, n, total, unconfirmed)

	got := make(chan client.Message, 1)
	late, err := client.Connect(ctx, client.Config{Servers: []string{url}, ClientID: "store-crash-late", CleanStart: true,
		OnMessage: func(m client.Message) {
			select {
			case got <- m:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close(context.Background())
	if err := late.Subscribe(ctx, packet.Subscription{Filter: "kept/#", QoS: packet.QoS1}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic != retained.Topic || string(m.Payload) != string(retained.Payload) || !m.Retain {
			t.Errorf("retained message: got %q %q retain %v", m.Topic, m.Payload, m.Retain)
		}
	case <-ctx.Done():
		t.Error("the retained message is gone after the kills")
	}
	proc.kill(t)
}

// qosOf returns the QoS a message was published at, from its number.
func qosOf(payload string) packet.QoS {
	n, _ := strconv.Atoi(payload[strings.LastIndexByte(payload, '/')+1:])
	return packet.QoS1 + packet.QoS(n%2)
}

type crashSub struct {
	mu      sync.Mutex
	arrived map[string][]packet.QoS
	wills   int
}

func (s *crashSub) add(m client.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(m.Topic, "wills/") {
		s.wills++
		return
	}
	s.arrived[string(m.Payload)] = append(s.arrived[string(m.Payload)], m.QoS)
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startProcess runs the broker binary on addr with -store, and waits for
// its listening line.
func startProcess(t *testing.T, bin, addr, store string) *process {
	t.Helper()
	cmd := exec.Command(bin, "-addr", addr, "-store", store)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logFile := store + ".log" // the broker's log, shown if the test fails
	cmd.Stderr, err = os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Stderr.(*os.File).Close()
		if b, err := os.ReadFile(logFile); t.Failed() && err == nil {
			t.Logf("the broker's log, last part:\n%s", b[max(0, len(b)-8<<10):])
			os.Remove(logFile) // once
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		s, _ := r.ReadString('\n')
		line <- s
		for {
			if _, err := r.ReadString('\n'); err != nil {
				break
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	select {
	case s := <-line:
		if !strings.Contains(s, "listening on") {
			t.Fatalf("broker did not start: %q", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("broker did not start in 20 s")
	}
	return p
}

// kill ends the process with SIGKILL and waits for it.
func (p *process) kill(t *testing.T) {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Error("broker process did not end after SIGKILL")
	}
}
