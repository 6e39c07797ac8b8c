package client

import (
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/trace"
)

// TestTrace: with Config.Trace the Client records its core Connection
// across a reconnection, and the trace replays to the very events and
// returns the Client saw, its clock readings included.
func TestTrace(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, accept)
	var rec syncBuffer
	cfg := pipeConfig(ts)
	cfg.Trace = &rec
	cfg.SessionExpiry = time.Hour
	cfg.MinRetryDelay = time.Millisecond
	up := make(chan bool, 4)
	cfg.OnConnectionUp = func(present bool) { up <- present }
	c := connectForTest(t, cfg)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "s/#", QoS: 1}, func(Message) {}); err != nil {
		t.Fatal(err)
	}
	for qos := range packet.QoS(3) {
		if err := c.Publish(ctx, Message{Topic: "a", QoS: qos, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	ts.drop()
	<-up
	if err := c.Publish(ctx, Message{Topic: "a", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tr, err := trace.Parse([]byte(rec.String()))
	if err != nil {
		t.Fatal(err)
	}
	count := map[trace.Kind]int{}
	for _, r := range tr.Records {
		count[r.Kind]++
	}
	if count[trace.KindRecv] == 0 || count[trace.KindSend] < 5 || count[trace.KindClosed] == 0 || count[trace.KindClock] == 0 {
		t.Fatalf("the trace lacks calls: %v", count)
	}
	if err := trace.Check(tr); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes, records by kind: %v", len(rec.String()), count)
}
