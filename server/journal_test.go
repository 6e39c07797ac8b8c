package server_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// gate is a Journal whose units become durable when the test says so.
// Seal gives each connection the position of its own last unit (one
// that recorded nothing waits for nothing).
type gate struct {
	mu      sync.Mutex
	cond    sync.Cond
	batches [][]byte                // every batch recorded
	open    map[*server.Conn]int    // batches recorded since the connection's last Seal
	last    map[*server.Conn]uint64 // the position of each connection's last unit
	sealed  uint64                  // positions handed out
	durable uint64                  // positions made durable
	err     error                   // Sync's answer once set
	auto    bool                    // every unit is durable at once
	blocked int                     // Sync calls that had to wait
}

func newGate() *gate {
	g := &gate{auto: true, open: map[*server.Conn]int{}, last: map[*server.Conn]uint64{}}
	g.cond.L = &g.mu
	return g
}

func (g *gate) Record(c *server.Conn, batch []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.batches = append(g.batches, append([]byte(nil), batch...))
	g.open[c]++
}

func (g *gate) Seal(c *server.Conn) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open[c] > 0 {
		delete(g.open, c)
		g.sealed++
		g.last[c] = g.sealed
		if g.auto {
			g.durable = g.sealed
		}
	}
	return g.last[c]
}

func (g *gate) Sync(pos uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.durable < pos && g.err == nil {
		g.blocked++
	}
	for g.durable < pos && g.err == nil {
		g.cond.Wait()
	}
	if g.durable < pos {
		return g.err
	}
	return nil
}

// release makes every unit sealed durable, or fails them with err.
func (g *gate) release(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.err = err
	} else {
		g.durable = g.sealed
	}
	g.auto = err == nil
	g.cond.Broadcast()
}

func (g *gate) hold() {
	g.mu.Lock()
	g.auto = false
	g.mu.Unlock()
}

// With Config.Journal, the core's journal batches reach the Journal, and
// the PUBREC of a QoS 2 PUBLISH (whose exchange the journal records) is
// written only once the unit that recorded it is durable; a Journal that
// fails ends the connection without writing it.
func TestJournalHoldsWrites(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := "durable"
		if fail {
			name = "failed"
		}
		t.Run(name, func(t *testing.T) {
			g := newGate()
			k := &keeper{recorder: *newRecorder(), saved: map[string][]byte{}}
			_, addr := start(t, server.Config{Handler: k, Journal: g})
			connect := &packet.Connect{ClientID: "journaled", CleanStart: true}
			connect.Props.SessionExpiry = 60
			rc := handshake(t, dialRaw(t, addr), packet.V5, connect)

			g.hold()
			rc.send(t, &packet.Publish{Topic: "t", QoS: packet.QoS2, PacketID: 7, Payload: []byte("x")})
			got := make(chan packet.Packet, 1)
			go func() { got <- rc.next(t) }()
			select {
			case p := <-got:
				t.Fatalf("%v written before its unit was durable", p)
			case <-time.After(100 * time.Millisecond):
			}
			g.mu.Lock()
			recorded := len(g.batches)
			g.mu.Unlock()
			if recorded == 0 {
				t.Fatal("no journal batch recorded")
			}
			if fail {
				g.release(errors.New("disk full"))
				if p := <-got; p != nil {
					t.Fatalf("got %v after the Journal failed, want the end of the connection", p)
				}
				return
			}
			g.release(nil)
			if p, ok := (<-got).(*packet.Pubrec); !ok || p.PacketID != 7 {
				t.Fatalf("got %v, want PUBREC 7", p)
			}
			// The batches rebuild the held exchange in a new Connection.
			mc := mqtt.NewServer[uint16](mqtt.Config{}, func(mqtt.Event[uint16]) {})
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, b := range g.batches {
				if err := mc.Replay(b); err != nil {
					t.Fatal(err)
				}
			}
			if !mc.HoldsSession() {
				t.Error("the journal replayed holds no session state")
			}
		})
	}
}

// notifier is a gate that is also a server.JournalNotifier.
type notifier struct {
	*gate
	waiting []func()
}

func (n *notifier) Notify(pos uint64, fn func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.durable >= pos || n.err != nil {
		return false
	}
	n.waiting = append(n.waiting, fn)
	return true
}

// release makes every unit sealed durable and calls the functions
// waiting for them.
func (n *notifier) release() {
	n.gate.release(nil)
	n.mu.Lock()
	fns := n.waiting
	n.waiting = nil
	n.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// With a Journal that is a JournalNotifier, connections whose bytes wait
// for a commit hold no worker of the event loop: with more of them
// waiting than there are workers, another connection is still served,
// and the bytes that waited are written once their units are durable.
func TestJournalNotifierFreesWorkers(t *testing.T) {
	n := &notifier{gate: newGate()}
	k := &keeper{recorder: *newRecorder(), saved: map[string][]byte{}}
	_, addr := start(t, server.Config{Handler: k, Journal: n})
	t.Cleanup(n.release) // before Shutdown, which a unit held would hold up
	var held []*raw
	for i := range runtime.GOMAXPROCS(0) + 2 {
		connect := &packet.Connect{ClientID: fmt.Sprintf("held%d", i), CleanStart: true}
		connect.Props.SessionExpiry = 60
		held = append(held, handshake(t, dialRaw(t, addr), packet.V5, connect))
	}
	free := handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: "free", CleanStart: true})
	n.hold()
	for _, rc := range held {
		rc.send(t, &packet.Publish{Topic: "t", QoS: packet.QoS2, PacketID: 7, Payload: []byte("x")})
	}
	// Every held connection's PUBLISH recorded: each waits for its unit.
	for deadline := time.Now().Add(5 * time.Second); ; {
		n.mu.Lock()
		waiting := len(n.waiting) + n.blocked // the event loop uses Notify; a connection's goroutine, Sync
		n.mu.Unlock()
		if waiting == len(held) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections wait for their units", waiting, len(held))
		}
		time.Sleep(time.Millisecond)
	}
	free.send(t, &packet.Pingreq{})
	if p, ok := free.next(t).(*packet.Pingresp); !ok {
		t.Fatalf("got %v, want PINGRESP while the others wait", p)
	}
	n.release()
	for i, rc := range held {
		if p, ok := rc.next(t).(*packet.Pubrec); !ok || p.PacketID != 7 {
			t.Fatalf("connection %d: got %v, want PUBREC 7", i, p)
		}
	}
}
