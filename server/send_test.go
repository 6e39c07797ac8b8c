package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// Sends from many goroutines while the connection's own Handler runs and
// sends too: every packet arrives, in the order each goroutine sent, and
// none waits in the mailbox once the senders are done.
func TestSendConcurrent(t *testing.T) {
	const senders, each = 4, 500
	r := newRecorder()
	_, addr := start(t, server.Config{Handler: r})
	rc := handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: "busy", CleanStart: true})
	rc.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "echo"}}})
	if p, ok := rc.next(t).(*packet.Suback); !ok {
		t.Fatalf("got %v, want SUBACK", p)
	}
	conn := r.conn("busy")

	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := &packet.Publish{Topic: fmt.Sprint("g", g), Payload: fmt.Append(nil, i)}
				for conn.Send(p) == server.ErrBacklog {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	// Meanwhile the client publishes to itself: the Handler of its own
	// connection sends, through the mailbox.
	go func() {
		for i := range each {
			b, _ := (&packet.Publish{Topic: "echo", Payload: fmt.Append(nil, i)}).AppendTo(nil, packet.V5)
			if _, err := rc.Write(b); err != nil {
				return
			}
		}
	}()
	next := map[string]int{}
	for range senders*each + each {
		p, ok := rc.next(t).(*packet.Publish)
		if !ok {
			t.Fatalf("got %v, want PUBLISH", p)
		}
		if want := fmt.Sprint(next[p.Topic]); string(p.Payload) != want {
			t.Fatalf("%s: got %s, want %s", p.Topic, p.Payload, want)
		}
		next[p.Topic]++
	}
	wg.Wait()
	drained(t, conn)
}

// drained checks that c's backlog comes down to nothing, once its client
// has read everything (the writer counts its bytes out after the write
// returns, which may be after the client read them).
func drained(t *testing.T, c *server.Conn) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); c.Backlog() != 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	if b := c.Backlog(); b != 0 {
		t.Errorf("backlog %d after everything was read", b)
	}
}

// A client's DISCONNECT ends its connection with a nil error in OnClose;
// one that goes away without it, with the transport's error.
func TestOnCloseErr(t *testing.T) {
	r := newRecorder()
	_, addr := start(t, server.Config{Handler: r})
	rc := handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: "polite", CleanStart: true})
	rc.send(t, &packet.Disconnect{})
	if c := <-r.closed; c.err != nil {
		t.Errorf("OnClose after DISCONNECT got %v, want nil", c.err)
	}
	rc = handshake(t, dialRaw(t, addr), packet.V311, &packet.Connect{ClientID: "rude", CleanStart: true})
	rc.Close()
	if c := <-r.closed; c.err == nil {
		t.Error("OnClose after the transport ended got nil, want its error")
	}
}
