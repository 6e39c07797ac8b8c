package server_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// gate is a Journal whose units become durable when the test says so.
type gate struct {
	mu      sync.Mutex
	cond    sync.Cond
	batches [][]byte // every batch recorded
	open    int      // batches recorded since the last Seal
	sealed  uint64   // positions handed out
	durable uint64   // positions made durable
	err     error    // Sync's answer once set
	auto    bool     // every unit is durable at once
}

func newGate() *gate {
	g := &gate{auto: true}
	g.cond.L = &g.mu
	return g
}

func (g *gate) Record(c *server.Conn, batch []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.batches = append(g.batches, append([]byte(nil), batch...))
	g.open++
}

func (g *gate) Seal(c *server.Conn) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open > 0 {
		g.open = 0
		g.sealed++
		if g.auto {
			g.durable = g.sealed
		}
	}
	return g.sealed
}

func (g *gate) Sync(pos uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
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
