package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// TestHandlerWaitsForTheServer: a handler may publish at QoS 1 and 2,
// subscribe and make a Request, and wait for the answers, even when the
// answers come behind more messages than the inbox holds.
func TestHandlerWaitsForTheServer(t *testing.T) {
	ctx := testContext(t)
	// The handler starts its calls once the flood is on its way, so that
	// the answers come behind it, with the inbox full.
	const flood = maxQueued + maxQueued/2
	start := make(chan struct{})
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if p, ok := p.(*packet.Publish); ok && p.Topic == "svc/echo" {
			ackPublish(ts, p, 0)
			_ = ts.s.Send(&packet.Publish{Topic: p.Props.ResponseTopic, Payload: p.Payload,
				Props: property.Properties{CorrelationData: p.Props.CorrelationData}})
			return
		}
		accept(ts, p)
	})
	cfg := pipeConfig(ts)
	c := connectForTest(t, cfg)
	done := make(chan error, 1)
	var got int
	err := c.Subscribe(ctx, packet.Subscription{Filter: "in/#"}, func(m Message) {
		got++
		if m.Topic != "in/first" {
			return
		}
		<-start
		// The server's answers are behind the flood below.
		err := c.Publish(ctx, Message{Topic: "out", QoS: packet.QoS1})
		if err == nil {
			err = c.Publish(ctx, Message{Topic: "out", QoS: packet.QoS2})
		}
		if err == nil {
			err = c.Subscribe(ctx, packet.Subscription{Filter: "more/#"}, func(Message) {})
		}
		if err == nil {
			var resp Message
			resp, err = c.Request(ctx, Message{Topic: "svc/echo", QoS: packet.QoS1, Payload: []byte("ping")})
			if err == nil && string(resp.Payload) != "ping" {
				err = fmt.Errorf("response %q", resp.Payload)
			}
		}
		done <- err
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.send(&packet.Publish{Topic: "in/first"})
	for i := range flood {
		ts.send(&packet.Publish{Topic: fmt.Sprintf("in/%d", i)})
	}
	close(start)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("handler: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("a handler waiting for the server waits for ever")
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Received[0] < flood+2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := c.Stats().Received[0]; n != flood+2 { // with the first and the response
		t.Fatalf("received %d of %d", n, flood+2)
	}
}

// TestInboxBounded: while a handler is slow and no call waits for the
// server, the read loop stops reading once the inbox is full, and every
// message arrives, in order, once the handler goes on.
func TestInboxBounded(t *testing.T) {
	ctx := testContext(t)
	const total = 10 * maxQueued
	ts := newTestServer(t, accept)
	cfg := pipeConfig(ts)
	release := make(chan struct{}, 1)
	var seq []string
	cfg.OnMessage = func(m Message) {
		if len(seq) == 0 {
			<-release
		}
		seq = append(seq, m.Topic)
	}
	c := connectForTest(t, cfg)
	defer close(release)
	go func() { // the server's record of what it got, not needed here
		for range ts.got {
		}
	}()
	go func() {
		for i := range total {
			ts.send(&packet.Publish{Topic: fmt.Sprintf("t/%d", i), QoS: packet.QoS(i % 2)})
		}
	}()
	// The most a read of 32 KiB adds beyond the bound: packets of at
	// least 5 bytes.
	const slack = 32 << 10 / 5
	var most int
	for range 200 {
		c.mu.Lock()
		most = max(most, len(c.in.queue))
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	if most < maxQueued || most > maxQueued+slack {
		t.Fatalf("inbox held at most %d messages with the handler stopped, want about %d", most, maxQueued)
	}
	release <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := c.Stats()
		if st.Received[0]+st.Received[1] == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %v of %d", st.Received, total)
		}
		time.Sleep(time.Millisecond)
	}
	for i, topic := range seq {
		if want := fmt.Sprintf("t/%d", i); topic != want {
			t.Fatalf("message %d is %q, want %q", i, topic, want)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
