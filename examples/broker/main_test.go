package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/examples/internal/cmdtest"
	"github.com/mqttcore/mqtt/packet"
)

// The command listens where -addr says, announces it, serves clients, and
// shuts down cleanly when its context ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, stop := cmdtest.Start(t, run, 1, "-addr", "127.0.0.1:0")
	if !strings.HasPrefix(addrs[0], "127.0.0.1:") {
		t.Fatalf("announced %q", addrs[0])
	}
	c := cmdtest.RoundTrip(t, ctx, addrs[0])
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	<-c.Done()
}

// Every listener given is served and announced; a TLS listener without a
// certificate is refused before anything listens.
func TestListeners(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	urls, stop := cmdtest.Start(t, run, 2, "-addr", "127.0.0.1:0", "-ws-addr", "127.0.0.1:0", "-quiet")
	if !strings.HasPrefix(urls[1], "ws://127.0.0.1:") || !strings.HasSuffix(urls[1], "/mqtt") {
		t.Fatalf("WebSocket listener announced as %q", urls[1])
	}
	c, err := client.Connect(ctx, client.Config{Servers: []string{urls[1]}, Dialer: brokertest.Transport(nil),
		ClientID: "ws-probe", CleanStart: true, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "ws", QoS: packet.QoS1, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	<-c.Done()

	err = run(ctx, []string{"-tls-addr", "127.0.0.1:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("-tls-addr without a certificate: %v", err)
	}
}

// -cpuprofile writes a profile when the broker stops.
func TestCPUProfile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cpu.prof")
	ctx, stop := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-quiet", "-cpuprofile", file}, pw, io.Discard)
		pw.Close()
	}()
	if _, err := bufio.NewReader(pr).ReadString('\n'); err != nil {
		t.Fatalf("reading the startup line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		t.Fatalf("profile: %v, %v", fi, err)
	}
}

// The limits on a client reach the broker: -max-keepalive and
// -receive-maximum in the CONNACK of a v5 client asking for no Keep Alive,
// -max-subscriptions in the SUBACK, -max-queued in the acknowledgements
// withheld from a publisher to a subscriber that does not acknowledge;
// out-of-range values are refused before anything listens.
func TestLimitFlags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, bad := range [][]string{{"-max-subscriptions", "0"}, {"-max-keepalive", "65536"},
		{"-max-keepalive", "-2"}, {"-receive-maximum", "0"}, {"-receive-maximum", "65536"}, {"-max-queued", "0"}} {
		if err := run(ctx, append([]string{"-addr", "127.0.0.1:0"}, bad...), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v, want an error naming the flag", bad, err)
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-addr", "127.0.0.1:0", "-quiet",
			"-max-subscriptions", "2", "-max-keepalive", "7", "-receive-maximum", "5", "-max-queued", "3"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the startup line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	addr := strings.TrimPrefix(strings.TrimSpace(line), "mqtt broker listening on ")

	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + addr}, ClientID: "limits",
		CleanStart: true, KeepAlive: -1, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Connack(); a.Props.ServerKeepAlive != 7 || a.Props.ReceiveMaximum != 5 {
		t.Errorf("CONNACK with Server Keep Alive %d and Receive Maximum %d, want 7 and 5", a.Props.ServerKeepAlive, a.Props.ReceiveMaximum)
	}
	ack, err := c.SubscribeWith(ctx, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a"}, {Filter: "b"}, {Filter: "c"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []packet.ReasonCode{packet.GrantedQoS0, packet.GrantedQoS0, packet.QuotaExceeded}; !slices.Equal(ack.Reasons, want) {
		t.Errorf("SUBACK %v, want %v", ack.Reasons, want)
	}

	// A subscriber that takes one message and never acknowledges it: 1
	// in flight, 64 queued by its connection, then 3 in its outbox.
	sub, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + addr}, ClientID: "stalled",
		CleanStart: true, KeepAlive: -1, NoReconnect: true, ManualAck: true,
		EditConnect: func(p *packet.Connect) { p.Props.ReceiveMaximum = 1 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe(ctx, packet.Subscription{Filter: "q", QoS: packet.QoS1}, nil); err != nil {
		t.Fatal(err)
	}
	// The publisher has at most 5 unacknowledged (-receive-maximum), and
	// the third message in the outbox is not acknowledged: at most 67
	// acknowledged and 5 more sent.
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	sent := 0
	for ; sent < 500; sent++ {
		if _, err := c.PublishAsync(pctx, client.Message{Topic: "q", QoS: packet.QoS1}); err != nil {
			break
		}
	}
	if sent > 1+64+2+5 {
		t.Errorf("%d messages sent to a subscriber that acknowledges nothing, want at most 72", sent)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	<-c.Done()
}
