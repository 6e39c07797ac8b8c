package server_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
	"github.com/mqttcore/mqtt/trace"
)

// lockedBuffer is a trace writer read after the connection ends.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestTrace: with Config.Trace each connection's core is recorded to a
// writer of its own, on the event loop and on goroutines alike, and each
// trace replays to the very events and returns the server saw.
func TestTrace(t *testing.T) {
	for _, loop := range []bool{true, false} {
		var mu sync.Mutex
		var traces []*lockedBuffer
		r := newRecorder()
		_, addr := start(t, server.Config{Handler: r, NoEventLoop: !loop, Trace: func(c *server.Conn) io.Writer {
			if c.RemoteAddr() == nil {
				t.Error("Trace called before the address is known")
			}
			mu.Lock()
			defer mu.Unlock()
			traces = append(traces, &lockedBuffer{})
			return traces[len(traces)-1]
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			c := connect(t, addr, "traced", v)
			got := make(chan client.Message, 3)
			if err := c.Subscribe(ctx, packet.Subscription{Filter: "t/#", QoS: 2}, func(m client.Message) { got <- m }); err != nil {
				t.Fatal(err)
			}
			for qos := range packet.QoS(3) {
				if err := c.Publish(ctx, client.Message{Topic: "t/x", QoS: qos, Payload: []byte("p")}); err != nil {
					t.Fatal(err)
				}
				<-got
			}
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			<-r.closed
		}
		mu.Lock()
		if len(traces) != 2 {
			t.Fatalf("event loop %v: %d traces for 2 connections", loop, len(traces))
		}
		for i, b := range traces {
			b.mu.Lock()
			tr, err := trace.Parse(b.b.Bytes())
			b.mu.Unlock()
			if err == nil {
				err = trace.Check(tr)
			}
			if err != nil {
				t.Fatalf("event loop %v, connection %d: %v", loop, i, err)
			}
			if len(tr.Records) < 20 {
				t.Fatalf("event loop %v, connection %d: %d records", loop, i, len(tr.Records))
			}
		}
		mu.Unlock()
	}
}
