package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/examples/internal/client"
	"github.com/mqttcore/mqtt/packet"
)

// The command listens on loopback, announces its address, carries a
// message at QoS 1, and stops when its context ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-addr", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the startup line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "mqtt broker listening on ")
	if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("startup line %q", line)
	}

	c, err := client.Dial(ctx, addr, &packet.Connect{ClientID: "probe", CleanStart: true}, mqtt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, packet.Subscription{Filter: "probe/#", QoS: packet.QoS1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, &packet.Publish{Topic: "probe/1", QoS: packet.QoS1, Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Messages():
		if m.Topic != "probe/1" || string(m.Payload) != "hi" {
			t.Fatalf("received %q %q", m.Topic, m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no message")
	}
	_ = c.Disconnect(ctx, packet.NormalDisconnection)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
