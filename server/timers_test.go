package server

import (
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

type nopHandler struct{}

func (nopHandler) OnConnect(*Conn, *packet.Connect) packet.Connack { return packet.Connack{} }
func (nopHandler) OnPacket(*Conn, packet.Packet)                   {}
func (nopHandler) OnClose(*Conn, error)                            {}

// A Conn's timers are entries of its Server's queue (internal/timerqueue
// tests the queue itself), which the Conn finds without a search.
func TestTimerQueue(t *testing.T) {
	s := New(Config{Handler: nopHandler{}})
	a, b := &Conn{srv: s}, &Conn{srv: s}
	a.resetTimer(mqtt.TimerKeepAlive, time.Hour)
	b.resetTimer(mqtt.TimerKeepAlive, time.Minute) // moves ahead of a's
	b.resetTimer(mqtt.TimerConnect, time.Second)
	if a.timers[mqtt.TimerKeepAlive-1] == 0 || b.timers[mqtt.TimerKeepAlive-1] == 0 || b.timers[mqtt.TimerConnect-1] == 0 {
		t.Fatalf("running timers not placed: %v %v", a.timers, b.timers)
	}
	if l := s.timers.Len(); l != 3 {
		t.Fatalf("%d timers in the queue, want 3", l)
	}
	b.stopTimer(mqtt.TimerConnect)
	if b.timers[mqtt.TimerConnect-1] != 0 || s.timers.Len() != 2 {
		t.Fatalf("a stopped timer is still placed (%v), %d in the queue", b.timers, s.timers.Len())
	}
	a.stopTimer(mqtt.TimerKeepAlive)
	b.stopTimer(mqtt.TimerKeepAlive)
	if l := s.timers.Len(); l != 0 || a.timers != [timerKinds]int32{} || b.timers != [timerKinds]int32{} {
		t.Errorf("%d timers left, %v %v", l, a.timers, b.timers)
	}
}
