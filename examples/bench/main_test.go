package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/examples/internal/testcert"
	"github.com/mqttcore/mqtt/examples/internal/transport"
)

// startBroker runs the example broker in-process on a loopback port.
func startBroker(t *testing.T) string {
	t.Helper()
	return "tcp://" + brokertest.Start(t, broker.Config{})
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

// -sub-url connects the subscribers to another broker: two brokers that
// are no cluster, so every QoS 0 message is lost on the way.
func TestSubURL(t *testing.T) {
	pubs, subs := startBroker(t), startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	r, err := run(ctx, []string{"-url", pubs, "-sub-url", subs, "-fanout", "2", "-q", "0", "-n", "50", "-drain", "200ms"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Expected != 100 || r.Delivered != 0 || r.Lost != r.Expected {
		t.Errorf("expected %d, delivered %d, lost %d: want 100, 0, 100", r.Expected, r.Delivered, r.Lost)
	}
	if !strings.Contains(out.String(), pubs+" -> "+subs) {
		t.Errorf("the report does not name both brokers:\n%s", out.String())
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

// -aliases: the clients announce a Topic Alias Maximum and send aliases,
// the broker sends aliases back; every message arrives once, and the
// broker reads and writes fewer bytes per message than without.
func TestAliases(t *testing.T) {
	b, addr := brokertest.Serve(t, broker.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var perMessage [2]float64
	for i, args := range [][]string{nil, {"-aliases"}} {
		before := b.Stats()
		r, err := run(ctx, append([]string{"-url", "tcp://" + addr, "-fanout", "2", "-q", "1", "-n", "200",
			"-topic", "sensors/building-7/floor-3/room-12/temperature"}, args...), io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if r.Published != 200 || r.Delivered != 400 || r.Lost != 0 {
			t.Errorf("%v: published %d, delivered %d, lost %d: want 200, 400, 0", args, r.Published, r.Delivered, r.Lost)
		}
		after := b.Stats()
		perMessage[i] = float64(after.BytesIn+after.BytesOut-before.BytesIn-before.BytesOut) / float64(r.Published+r.Delivered)
	}
	// A 45-byte topic, sent as a 3-byte alias property after the first
	// time: over 40 bytes saved per message (PUBACKs and handshakes
	// included in both counts).
	t.Logf("bytes per message: %.1f without aliases, %.1f with", perMessage[0], perMessage[1])
	if saved := perMessage[0] - perMessage[1]; saved < 40 {
		t.Errorf("bytes per message: %.1f without aliases, %.1f with: want over 40 saved", perMessage[0], perMessage[1])
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

// A subscriber slower than its publishers (-sub-rate): it takes 4,000
// messages a second, so 12,000 take three seconds; the example broker,
// whose outbox for it holds 200 here, holds the publishers up meanwhile,
// and loses nothing.
func TestSlowSubscriber(t *testing.T) {
	url := "tcp://" + brokertest.Start(t, broker.Config{MaxQueued: 200})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := run(ctx, []string{"-url", url, "-fanin", "2", "-q", "1", "-n", "6000", "-sub-rate", "4000"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The broker holds at most the outbox (200, and 64 more per
	// publisher) and 4,096 messages in flight to the subscriber: the
	// last 12,000 - 4,424 wait for the subscriber's pace.
	if r.Lost != 0 || r.DeliverTime < 2700*time.Millisecond || r.PublishTime < 1500*time.Millisecond {
		t.Errorf("lost %d, delivered in %v, published in %v: want 0, about 3 s and more than 1.5 s", r.Lost, r.DeliverTime, r.PublishTime)
	}
}

func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := run(context.Background(), []string{"-h"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, f := range []string{"-url", "-sub-url", "-fanin", "-fanout", "-q", "-size", "-d", "-n", "-V", "-sub-rate", "-cafile", "-insecure", "-cert", "-key"} {
		if !strings.Contains(stderr.String(), "  "+f+" ") && !strings.Contains(stderr.String(), "  "+f+"\n") {
			t.Errorf("-h does not document %s", f)
		}
	}
	for _, scheme := range []string{"tls://", "mqtts://", "ssl://", "wss://"} {
		if !strings.Contains(stderr.String(), scheme) {
			t.Errorf("-h does not mention %s URLs", scheme)
		}
	}
	for _, args := range [][]string{{"-q", "3"}, {"-V", "4.0"}, {"-size", "8"}, {"-fanin", "2", "-fanout", "2"}, {"extra"},
		{"-url", "http://x"}, {"-url", "tcp://x", "-cafile", "ca.pem"}, {"-url", "tls://x", "-cert", "c.pem"}, {"-sub-rate", "-1"},
		{"-url", "tcp://x", "-sub-url", "ws://y/mqtt"}, {"-sub-url", "http://y"}} {
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

// tlsBroker runs the example broker in-process on a TLS and a WebSocket
// over TLS loopback listener, with a certificate for 127.0.0.1 signed by
// a CA made for the test, and returns their URLs and the CA's PEM file.
func tlsBroker(t *testing.T) (tlsURL, wssURL, caFile string) {
	t.Helper()
	files, err := testcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	caFile = files.CA
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	tl, err := transport.Listen("tls://127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	wl, err := transport.Listen("wss://127.0.0.1:0/mqtt", cfg)
	if err != nil {
		tl.Close()
		t.Fatal(err)
	}
	serveBroker(t, tl, wl)
	return "tls://" + tl.Addr().String(), "wss://" + wl.Addr().String() + "/mqtt", caFile
}

// serveBroker runs the example broker in-process on the listeners until
// the test ends.
func serveBroker(t *testing.T, listeners ...net.Listener) {
	b := broker.New(broker.Config{})
	served := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { served <- b.Serve(l) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		for range listeners {
			<-served
		}
	})
}

// The bench runs over TLS (tls:// and wss://) for a fraction of a second
// when -cafile names the CA of the broker's certificate, or with
// -insecure, and reports messages published and delivered; without
// either, the certificate is refused. QoS 0 runs at a set rate: an
// unthrottled publisher outruns the subscriber, and the broker then drops
// QoS 0 messages by design.
func TestTLS(t *testing.T) {
	tlsURL, wssURL, caFile := tlsBroker(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"tls cafile QoS 1", []string{"-url", tlsURL, "-cafile", caFile, "-q", "1"}},
		{"mqtts cafile QoS 0", []string{"-url", "mqtts" + strings.TrimPrefix(tlsURL, "tls"), "-cafile", caFile, "-q", "0", "-rate", "20000"}},
		{"wss cafile QoS 2", []string{"-url", wssURL, "-cafile", caFile, "-q", "2", "-V", "3.1.1"}},
		{"tls insecure QoS 1", []string{"-url", tlsURL, "-insecure", "-q", "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			r, err := run(ctx, append(tc.args, "-d", "300ms", "-drain", "5s"), &out, io.Discard)
			t.Log("\n" + out.String())
			if err != nil {
				t.Fatal(err)
			}
			if r.Published == 0 || r.Delivered == 0 || r.Lost != 0 {
				t.Errorf("published %d, delivered %d, lost %d: want messages and no loss", r.Published, r.Delivered, r.Lost)
			}
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		for _, url := range []string{tlsURL, wssURL} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := run(ctx, []string{"-url", url, "-d", "300ms"}, io.Discard, io.Discard)
			cancel()
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				t.Errorf("%s without -cafile: %v, want an unknown authority error", url, err)
			}
		}
	})
	t.Run("unreadable cafile", func(t *testing.T) {
		_, err := run(context.Background(), []string{"-url", tlsURL, "-cafile", filepath.Join(t.TempDir(), "none.pem")}, io.Discard, io.Discard)
		var ue usageError
		if err == nil || errors.As(err, &ue) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("missing -cafile: %v, want a file error (not a usage error)", err)
		}
	})
}

// Over plain WebSocket, with the path left out of the URL (the bench
// fills in /mqtt), a fixed count at QoS 1 arrives whole.
func TestWebSocket(t *testing.T) {
	l, err := transport.Listen("ws://127.0.0.1:0/mqtt", nil)
	if err != nil {
		t.Fatal(err)
	}
	serveBroker(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := run(ctx, []string{"-url", "ws://" + l.Addr().String(), "-q", "1", "-n", "200", "-fanout", "2"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Published != 200 || r.Delivered != 400 || r.Lost != 0 || r.Unacked != 0 {
		t.Errorf("published %d, delivered %d, lost %d, unacked %d: want 200, 400, 0, 0", r.Published, r.Delivered, r.Lost, r.Unacked)
	}
}
