// Package cmdtest runs the broker commands of the examples (the example
// broker, the embedded mochi broker) in their tests: it starts a command's
// run function, reads the addresses it announces, and probes one with a
// message.
package cmdtest

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
)

// RunFunc is a command's run function: it serves until ctx ends and writes
// a line "mqtt broker listening on ADDR" to stdout for each listener.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Start runs run with args until the returned stop is called, and returns
// the addresses of the first n startup lines; stop ends the run and
// returns its error.
func Start(t testing.TB, run RunFunc, n int, args ...string) (addrs []string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // a test that fails before stop ends the run too
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	stop = func() error {
		cancel()
		return <-done
	}
	br := bufio.NewReader(pr)
	for range n {
		line, err := br.ReadString('\n')
		if err != nil {
			stop()
			t.Fatalf("reading the startup lines: %v", err)
		}
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "mqtt broker listening on ")
		if !ok {
			stop()
			t.Fatalf("startup line %q", line)
		}
		addrs = append(addrs, addr)
	}
	go io.Copy(io.Discard, pr)
	return addrs, stop
}

// RoundTrip connects a client to the broker at addr, subscribes it to
// probe/#, publishes a QoS 1 message on probe/1 and checks that it comes
// back; it returns the client, still connected, which ends with its
// connection (Config.NoReconnect).
func RoundTrip(t testing.TB, ctx context.Context, addr string) *client.Client {
	t.Helper()
	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + addr}, ClientID: "probe",
		CleanStart: true, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan client.Message, 1)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "probe/#", QoS: packet.QoS1}, func(m client.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "probe/1", QoS: packet.QoS1, Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic != "probe/1" || string(m.Payload) != "hi" {
			t.Fatalf("received %q %q", m.Topic, m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no message")
	}
	return c
}

// Connect connects a client to the broker at addr (MQTT 5.0, no
// reconnection) and returns it.
func Connect(t testing.TB, ctx context.Context, addr string) *client.Client {
	t.Helper()
	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + addr}, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
