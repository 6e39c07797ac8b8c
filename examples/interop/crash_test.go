package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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

// TestCrashResume: a publisher process, four goroutines publishing QoS 1
// (even numbers) and QoS 2 (odd numbers) messages with the client
// package and a client.FileStore, is killed with SIGKILL at random
// moments and started again on the same store file, to the example
// broker (in this process) and to mosquitto (a process), in 3.1.1 and
// 5.0. A subscriber with a persistent session counts what arrives; it
// leaves (DISCONNECT, session kept) before every other round and comes
// back after it, so that the broker keeps for it the messages it
// acknowledged to a publisher killed since. Every message whose Publish
// returned nil arrives, QoS 1 at least once and QoS 2 exactly once, at
// its QoS; messages in flight at a kill may arrive too (the next process
// sends them again from the store), a QoS 2 one at most once.
//
// The publisher is this test binary, run as TestCrashPublisher with the
// variable crashPublisherEnv. The kill comes when the test has read a
// random number of the process's confirmations or, one time in four,
// after a random delay of at most 50 ms, while the process starts,
// connects and sends again what its store kept. A run kills it six times
// per broker and version, 200 messages a round (24 kills, a few seconds);
// MQTTCORE_CRASH_FULL=1 kills it 50 times per broker and version, 500
// messages a round (200 kills, about a minute and a half):
//
//	MQTTCORE_CRASH_FULL=1 go test -run TestCrashResume ./examples/interop
func TestCrashResume(t *testing.T) {
	t.Parallel()
	size := crashSize{rounds: 7, perRound: 200}
	if os.Getenv("MQTTCORE_CRASH_FULL") != "" {
		size = crashSize{rounds: 51, perRound: 500}
	}
	brokers := []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"example", startBroker},
		{"mosquitto", startMosquitto},
	}
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			url := "tcp://" + b.start(t)
			for _, v := range []packet.Version{packet.V311, packet.V5} {
				t.Run(versionName(v), func(t *testing.T) { crashResume(t, url, v, size) })
			}
		})
	}
}

// crashSize is how many publisher processes a run starts (all but the
// last killed) and how many messages each is given.
type crashSize struct{ rounds, perRound int }

func crashResume(t *testing.T, url string, v packet.Version, size crashSize) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+time.Duration(size.rounds)*2*time.Second)
	defer cancel()
	name := "crash-" + versionName(v)
	sub := &crashSubscriber{arrived: map[int]int{}, end: make(chan struct{})}
	sub.cfg = client.Config{Servers: []string{url}, Version: v, ClientID: name + "-sub",
		SessionExpiry: time.Hour, Store: &client.MemoryStore{}, OnMessage: sub.add}
	sub.join(t, ctx, false)
	if err := sub.c.Subscribe(ctx, packet.Subscription{Filter: name + "/#", QoS: packet.QoS2}, nil); err != nil {
		t.Fatal(err)
	}
	pub := crashArgs{URL: url, Version: v, ClientID: name + "-pub", Topic: name + "/m",
		Store: filepath.Join(t.TempDir(), "publisher.log")}
	confirmed := map[int]bool{}
	kills := 0
	for round := range size.rounds {
		last := round == size.rounds-1
		away := round%2 == 1 && !last
		if away {
			if err := sub.c.Close(ctx); err != nil {
				t.Fatalf("subscriber leaving: %v", err)
			}
		}
		pub.From, pub.N = round*size.perRound, size.perRound
		killAt := -1 // the last process finishes
		if !last {
			killAt = rand.IntN(size.perRound)
			if rand.IntN(4) == 0 {
				killAt = 0 // while it starts, connects, sends again what its store kept
			}
		}
		oks, killed := runCrashPublisher(t, ctx, pub, killAt)
		for _, n := range oks {
			confirmed[n] = true
		}
		if killed {
			kills++
		}
		plan := fmt.Sprintf("killed at confirmation %d", killAt)
		switch {
		case !killed:
			plan = "finished"
		case killAt == 0:
			plan = "killed within 50 ms of its start"
		}
		t.Logf("round %d: %d of %d confirmed, %s; subscriber away %v", round, len(oks), size.perRound, plan, away)
		if away {
			sub.join(t, ctx, true)
		}
	}
	// Every message routed to the subscriber is in its session before the
	// last publisher's Close returns: a marker published now arrives
	// after them all, duplicates included.
	marker, err := client.Connect(ctx, client.Config{Servers: []string{url}, Version: v, ClientID: name + "-end", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := marker.Publish(ctx, client.Message{Topic: name + "/end", QoS: packet.QoS1}); err != nil {
		t.Fatal(err)
	}
	if err := marker.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.end:
	case <-ctx.Done():
		t.Fatal("the end marker never arrived")
	}
	if err := sub.c.Close(ctx); err != nil {
		t.Fatal(err)
	}

	sub.mu.Lock()
	defer sub.mu.Unlock()
	var lost []int
	for n := range confirmed {
		if sub.arrived[n] == 0 {
			lost = append(lost, n)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Errorf("%d messages whose Publish returned nil never arrived: %v", len(lost), lost[:min(len(lost), 20)])
	}
	resent := 0
	for n, times := range sub.arrived {
		if n%2 == 1 && times > 1 {
			t.Errorf("QoS 2 message %d arrived %d times", n, times)
		}
		if !confirmed[n] {
			resent++
		}
	}
	if len(sub.wrongQoS) > 0 {
		t.Errorf("messages arrived at the wrong QoS: %v", sub.wrongQoS)
	}
	if len(confirmed) == 0 || kills == 0 {
		t.Fatalf("%d messages confirmed, %d kills: nothing was tested", len(confirmed), kills)
	}
	t.Logf("%d kills; %d messages confirmed, %d arrived, %d of them unconfirmed (in flight at a kill: sent again by the next process, or delivered before it)",
		kills, len(confirmed), len(sub.arrived), resent)
}

// crashSubscriber counts the messages of the publisher by number. Its
// session (subscription and unacknowledged messages, at the broker and in
// its MemoryStore) outlives each of its Clients.
type crashSubscriber struct {
	cfg   client.Config
	c     *client.Client
	end   chan struct{} // closed when the end marker arrives
	ended sync.Once

	mu       sync.Mutex
	arrived  map[int]int
	wrongQoS []int
}

// join connects a Client of the subscriber's session; back says the
// broker must have kept it.
func (s *crashSubscriber) join(t *testing.T, ctx context.Context, back bool) {
	t.Helper()
	c, err := client.Connect(ctx, s.cfg)
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	s.c = c
	if back && !c.Connack().SessionPresent {
		t.Fatal("the broker did not keep the subscriber's session")
	}
}

func (s *crashSubscriber) add(m client.Message) {
	if strings.HasSuffix(m.Topic, "/end") {
		s.ended.Do(func() { close(s.end) })
		return
	}
	n, err := strconv.Atoi(string(m.Payload))
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived[n]++
	if m.QoS != crashQoS(n) {
		s.wrongQoS = append(s.wrongQoS, n)
	}
}

// crashQoS is the QoS of message n: 2 for odd numbers, 1 for even ones.
func crashQoS(n int) packet.QoS { return packet.QoS(1 + n%2) }

// crashArgs tells the publisher process what to do, in JSON in the
// variable crashPublisherEnv: publish messages From..From+N-1 on Topic.
type crashArgs struct {
	URL      string
	Version  packet.Version
	ClientID string
	Topic    string
	Store    string // the FileStore's path
	From, N  int
}

const crashPublisherEnv = "MQTTCORE_CRASH_PUBLISHER"

// runCrashPublisher runs the publisher process and kills it with SIGKILL
// once it has confirmed killAt messages (0: after a random delay of up to
// 50 ms; negative: never). It returns the messages whose Publish returned
// nil, and whether the kill ended the process (it may finish first).
func runCrashPublisher(t *testing.T, ctx context.Context, a crashArgs, killAt int) (oks []int, killed bool) {
	t.Helper()
	env, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashPublisher$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashPublisherEnv+"="+string(env))
	var stderr syncBuilder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() { _ = cmd.Process.Signal(syscall.SIGKILL) }
	if killAt == 0 {
		defer time.AfterFunc(time.Duration(rand.IntN(50_000))*time.Microsecond, kill).Stop()
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		v, ok := strings.CutPrefix(lines.Text(), "ok ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("publisher printed %q", lines.Text())
		}
		oks = append(oks, n)
		if len(oks) == killAt {
			kill()
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL && ctx.Err() == nil {
			return oks, true
		}
	}
	if err != nil {
		t.Fatalf("publisher of %d..%d: %v\n%s", a.From, a.From+a.N-1, err, stderr.String())
	}
	return oks, false
}

// TestCrashPublisher is the publisher process of TestCrashResume: it
// connects with a FileStore, resuming the session the store kept,
// publishes its messages from four goroutines, prints "ok N" for each
// whose Publish returned nil, and closes. It does nothing in a normal
// test run.
func TestCrashPublisher(t *testing.T) {
	env := os.Getenv(crashPublisherEnv)
	if env == "" {
		t.Skip("the publisher process of TestCrashResume, run by it")
	}
	var a crashArgs
	if err := json.Unmarshal([]byte(env), &a); err != nil {
		t.Fatal(err)
	}
	if err := crashPublish(a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}

func crashPublish(a crashArgs) error {
	store, err := client.OpenFileStore(a.Store)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Config{Servers: []string{a.URL}, Version: a.Version, ClientID: a.ClientID,
		SessionExpiry: time.Hour, Store: store})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	work := make(chan int)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				m := client.Message{Topic: a.Topic, QoS: crashQoS(n), Payload: []byte(strconv.Itoa(n))}
				if err := c.Publish(ctx, m); err != nil {
					errs <- fmt.Errorf("publish %d: %w", n, err)
					cancel()
					return
				}
				fmt.Printf("ok %d\n", n) // one write: whole lines, whatever the interleaving
			}
		}()
	}
feed:
	for n := a.From; n < a.From+a.N; n++ {
		select {
		case work <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := c.Close(ctx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
