package client

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// TestCrashResume: a publisher process with a FileStore is killed with
// SIGKILL at random moments while four goroutines publish QoS 1 and QoS 2
// messages to mosquitto, and started again on the same store; a
// subscriber receives them. Every message whose Publish returned nil
// arrives; no QoS 2 message arrives twice, those in flight at a kill
// included (the new process sends them again from the store).
func TestCrashResume(t *testing.T) {
	m := startMosquitto(t)
	ctx := testContext(t)
	var mu sync.Mutex
	arrived := map[int]int{}
	sub, err := Connect(ctx, Config{Servers: []string{m.url()}, ClientID: "crash-sub", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctx)
	if err := sub.Subscribe(ctx, packet.Subscription{Filter: "crash/t", QoS: packet.QoS2}, func(msg Message) {
		n, _ := strconv.Atoi(string(msg.Payload))
		mu.Lock()
		arrived[n]++
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(t.TempDir(), "publisher.log")
	confirmed := map[int]bool{}
	const perRound = 300
	rounds := 8
	next := 0
	for round := 0; round < rounds; round++ {
		last := round == rounds-1
		kill := time.Duration(rand.IntN(150)+40) * time.Millisecond
		if last {
			kill = 0
		}
		oks, exit := runPublisher(t, m.url(), store, next, perRound, kill)
		for _, n := range oks {
			confirmed[n] = true
		}
		t.Logf("round %d: %d of %d confirmed, %s", round, len(oks), perRound, exit)
		next += perRound
	}
	// Wait until every confirmed message has arrived (they were
	// acknowledged by the broker, so they are on their way).
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for n := range confirmed {
			if arrived[n] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d confirmed messages never arrived", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let duplicates, if any, arrive
	mu.Lock()
	defer mu.Unlock()
	resumed := 0
	for n, times := range arrived {
		if n%2 == 1 && times > 1 {
			t.Errorf("QoS 2 message %d arrived %d times", n, times)
		}
		if !confirmed[n] {
			resumed++
		}
	}
	t.Logf("%d messages confirmed, %d arrived; %d arrived unconfirmed: in flight at a kill, sent again from the store by the next process (or received by the broker just before the kill)",
		len(confirmed), len(arrived), resumed)
	if len(confirmed) == 0 {
		t.Fatal("no message was confirmed")
	}
}

// runPublisher runs the publisher helper process: messages from..from+n-1,
// killed with SIGKILL after kill (0: left to finish). It returns the
// messages whose Publish returned nil, and how the process ended.
func runPublisher(t *testing.T, url, store string, from, n int, kill time.Duration) ([]int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPublisher$", "-test.v=false")
	cmd.Env = append(os.Environ(), "MQTTCORE_PUBLISHER="+strings.Join([]string{url, store, strconv.Itoa(from), strconv.Itoa(n)}, "|"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if kill > 0 {
		timer := time.AfterFunc(kill, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	var oks []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ok "); ok {
			n, _ := strconv.Atoi(v)
			oks = append(oks, n)
		}
	}
	err = cmd.Wait()
	if kill == 0 && err != nil {
		t.Fatalf("the last publisher failed: %v", err)
	}
	exit := "finished"
	if err != nil {
		exit = "killed: " + err.Error()
	}
	return oks, exit
}

// TestHelperPublisher is the publisher process of TestCrashResume; it
// does nothing in a normal test run.
func TestHelperPublisher(t *testing.T) {
	args := os.Getenv("MQTTCORE_PUBLISHER")
	if args == "" {
		t.Skip("the publisher process of TestCrashResume")
	}
	parts := strings.Split(args, "|")
	url, path := parts[0], parts[1]
	from, _ := strconv.Atoi(parts[2])
	n, _ := strconv.Atoi(parts[3])
	store, err := OpenFileStore(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Connect(ctx, Config{Servers: []string{url}, ClientID: "crash-pub", SessionExpiry: time.Hour, Store: store})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				qos := packet.QoS(1 + i%2) // odd: QoS 2
				if err := c.Publish(ctx, Message{Topic: "crash/t", QoS: qos, Payload: []byte(strconv.Itoa(i))}); err != nil {
					fmt.Fprintln(os.Stderr, "publish:", err)
					os.Exit(2)
				}
				out.Lock()
				fmt.Println("ok", i)
				out.Unlock()
			}
		}()
	}
	for i := from; i < from+n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := c.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		os.Exit(2)
	}
	os.Exit(0)
}
