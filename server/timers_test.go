package server

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

type nopHandler struct{}

func (nopHandler) OnConnect(*Conn, *packet.Connect) packet.Connack { return packet.Connack{} }
func (nopHandler) OnPacket(*Conn, packet.Packet)                   {}
func (nopHandler) OnClose(*Conn, error)                            {}

// The timer queue stays a heap whose entries know where they are, and
// each Conn where its timers are, through resets (later ones left
// alone, earlier ones moved up) and stops in any order.
func TestTimerQueueHeap(t *testing.T) {
	s := New(Config{Handler: nopHandler{}})
	conns := make([]*Conn, 100)
	for i := range conns {
		conns[i] = &Conn{srv: s}
	}
	running := map[*Conn]map[mqtt.TimerKind]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 20000 {
		c := conns[r.IntN(len(conns))]
		k := mqtt.TimerKeepAlive + mqtt.TimerKind(r.IntN(2))
		if running[c] == nil {
			running[c] = map[mqtt.TimerKind]bool{}
		}
		if r.IntN(3) == 0 {
			c.stopTimer(k)
			delete(running[c], k)
		} else {
			c.resetTimer(k, time.Duration(1+r.IntN(1000))*time.Hour)
			running[c][k] = true
		}
		q := &s.timers
		entries := 0
		for _, c := range conns {
			for k, i := range c.timers {
				if (i != 0) != running[c][mqtt.TimerKind(k+1)] {
					t.Fatalf("op %d: timer %d of a conn at %d, running: %v", n, k+1, i, running[c][mqtt.TimerKind(k+1)])
				}
				if i == 0 {
					continue
				}
				entries++
				if e := q.heap[i-1]; e.c != c || e.k != mqtt.TimerKind(k+1) {
					t.Fatalf("op %d: entry %d is %v, not kind %d of its conn", n, i-1, e, k+1)
				}
			}
		}
		if entries != len(q.heap) {
			t.Fatalf("op %d: %d timers running, %d in the heap", n, entries, len(q.heap))
		}
		for i := 1; i < len(q.heap); i++ {
			if q.heap[(i-1)/2].when > q.heap[i].when {
				t.Fatalf("op %d: entry %d due before its parent", n, i)
			}
		}
	}
	for _, c := range conns {
		for k := range c.timers {
			c.stopTimer(mqtt.TimerKind(k + 1))
		}
	}
	if len(s.timers.heap) != 0 || s.timers.armed != 0 {
		t.Errorf("%d entries left, runtime timer armed for %v", len(s.timers.heap), s.timers.armed)
	}
}
