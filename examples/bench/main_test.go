package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
)

// startBroker runs the example broker in-process on a loopback port.
func startBroker(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := broker.New(broker.Config{})
	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return "tcp://" + l.Addr().String()
}

// A one-second run at QoS 1, two publishers to one subscriber, delivers
// messages and loses none.
func TestFanInQoS1(t *testing.T) {
	url := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	r, err := run(ctx, []string{"-url", url, "-fanin", "2", "-q", "1", "-d", "1s", "-drain", "5s"}, &out, io.Discard)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if r.DeliveryRate() <= 0 || r.PublishRate() <= 0 {
		t.Errorf("delivery rate %.0f/s, publish rate %.0f/s: want both > 0", r.DeliveryRate(), r.PublishRate())
	}
	if r.Lost != 0 || r.Unacked != 0 {
		t.Errorf("lost %d, unacknowledged %d: want 0", r.Lost, r.Unacked)
	}
	if r.Delivered < r.Published || r.Latency.n != r.Delivered {
		t.Errorf("published %d, delivered %d, latencies %d", r.Published, r.Delivered, r.Latency.n)
	}
	for _, want := range []string{"msg/s", "p50", "p99", "lost", "duplicated"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// A fixed count at QoS 2 fanned out over 3.1.1 arrives exactly once at
// every subscriber.
func TestFanOutQoS2Count(t *testing.T) {
	url := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := run(ctx, []string{"-url", url, "-fanout", "3", "-q", "2", "-n", "300", "-V", "3.1.1", "-size", "20"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Published != 300 || r.Delivered != 900 || r.Lost != 0 || r.Duplicated != 0 {
		t.Errorf("published %d, delivered %d, lost %d, duplicated %d: want 300, 900, 0, 0",
			r.Published, r.Delivered, r.Lost, r.Duplicated)
	}
}

// QoS 0 at a set rate: the rate holds and nothing is lost on an idle
// broker.
func TestRateQoS0(t *testing.T) {
	url := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := run(ctx, []string{"-url", url, "-pubs", "2", "-subs", "2", "-rate", "200", "-n", "100"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Published != 200 || r.Lost != 0 || r.Delivered != 400 {
		t.Errorf("published %d, delivered %d, lost %d", r.Published, r.Delivered, r.Lost)
	}
	if r.PublishTime < 400*time.Millisecond {
		t.Errorf("100 messages at 200/s took %v", r.PublishTime)
	}
}

func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := run(context.Background(), []string{"-h"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, f := range []string{"-url", "-fanin", "-fanout", "-q", "-size", "-d", "-n", "-V"} {
		if !strings.Contains(stderr.String(), f+" ") {
			t.Errorf("-h does not document %s", f)
		}
	}
	for _, args := range [][]string{{"-q", "3"}, {"-V", "4.0"}, {"-size", "8"}, {"-fanin", "2", "-fanout", "2"}, {"extra"}} {
		var ue usageError
		if _, err := run(context.Background(), args, io.Discard, io.Discard); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(c.q)
		if d := got - c.want; d < -c.want/50 || d > c.want/50 {
			t.Errorf("quantile %v = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
	for v := uint64(0); v < 1<<20; v = v*5/4 + 1 {
		if b := bucketOf(v); bucketOf(valueOf(b)) != b {
			t.Fatalf("value %d: bucket %d, its middle %d is in bucket %d", v, b, valueOf(b), bucketOf(valueOf(b)))
		}
	}
}
