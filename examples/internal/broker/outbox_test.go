package broker

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// A full outbox loses QoS 0 messages first; a full backlog of QoS 1 and 2
// messages marks a connected client for disconnection (0x97).
func TestOutboxDropsQoS0First(t *testing.T) {
	b := New(Config{MaxQueued: 3})
	s := newSession("x")
	s.goLive(false)
	offer := func(topic string, qos packet.QoS) {
		s.offer(delivery{msg: &message{topic: topic}, qos: qos}, b)
	}
	topics := func() (out []string) {
		for _, d := range s.pending {
			out = append(out, d.msg.topic)
		}
		return out
	}
	offer("a0", 0)
	offer("b1", 1)
	offer("c0", 0)
	offer("d0", 0) // full: a new QoS 0 message is dropped
	offer("e1", 1) // full: the oldest QoS 0 message makes room
	if got := topics(); len(got) != 3 || got[0] != "b1" || got[1] != "c0" || got[2] != "e1" || s.overflow {
		t.Fatalf("outbox %v overflow %v, want [b1 c0 e1] false", got, s.overflow)
	}
	offer("f2", 2)
	offer("g1", 1) // only QoS 1 and 2 left: the client cannot keep up
	if got := topics(); len(got) != 3 || got[2] != "f2" || !s.overflow {
		t.Fatalf("outbox %v overflow %v, want [b1 e1 f2] true", got, s.overflow)
	}
	if _, ok, overflow := s.next(func(packet.QoS) bool { return true }); ok || !overflow {
		t.Fatal("next does not report the overflow")
	}
}
