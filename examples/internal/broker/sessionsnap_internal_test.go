package broker

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// floorLink is the SessionCluster of the snapshot tests: what they need
// of it is Floor.
type floorLink struct {
	SessionCluster // nil: the other methods are not called
	floor          uint64
}

func (l floorLink) Floor() uint64 { return l.floor }

// A session handed over keeps what its floor is made of: the positions
// of its queued messages and of those in flight, oldest first; a
// snapshot cut short says so, and its floor still covers what was left
// out (ReplayPlan); one whose floor is not known says that too.
func TestSnapshotFloor(t *testing.T) {
	b := &Broker{log: slog.New(slog.DiscardHandler),
		cs: &clusterSessions{link: floorLink{floor: 500}, limit: 1 << 20}}
	s := newSession("c")
	s.persistent = true
	s.addFilter("a/#", filterKey{filter: "a/#"}, subscription{qos: packet.QoS1})
	s.addFilter("b", filterKey{filter: "b"}, subscription{qos: packet.QoS0})
	s.addFilter("$share/g/c", filterKey{share: "g", filter: "c"}, subscription{qos: packet.QoS2})
	s.fl = &floorState{}
	for _, pos := range []uint64{40, 30} {
		s.fl.sent[0].push(pos)
	}
	s.fl.sent[1].push(45)
	for _, pos := range []uint64{60, 50} {
		m := newMessage("a/x", []byte("payload"), packet.QoS1, false, &property.Properties{}, nil)
		m.pos = pos
		s.pending = append(s.pending, delivery{msg: m, qos: packet.QoS1})
	}
	s.off = &offline{state: []byte("state")}

	snap, err := decodeSnapshot(b.snapshot(s, false, 60, nil, 0))
	if err != nil {
		t.Fatal(err)
	}
	if snap.floor != 30 || snap.floorUnknown || snap.cut {
		t.Errorf("floor %d (unknown %v, cut %v), want 30, known, whole", snap.floor, snap.floorUnknown, snap.cut)
	}
	if !slices.Equal(snap.sent[0], []uint64{40, 30}) || !slices.Equal(snap.sent[1], []uint64{45}) {
		t.Errorf("in flight %v, want [[40 30] [45]]", snap.sent)
	}
	if len(snap.outbox) != 2 || snap.outbox[0].msg.pos != 60 || snap.outbox[1].msg.pos != 50 {
		t.Errorf("outbox %v, want the positions 60, 50", snap.outbox)
	}
	f := snap.floorState()
	if got, _ := (&session{fl: f}).floorLocked(1000); got != 30 {
		t.Errorf("floor of the session taken over %d, want 30", got)
	}

	// Cut short: the second delivery does not fit.
	whole := b.snapshot(s, false, 60, nil, 0)
	b.cs.limit = len(whole) - 40
	floor, filters, cut := ReplayPlan(b.snapshot(s, false, 60, nil, 0))
	if !cut || floor != 30 || !slices.Equal(filters, []string{"a/#"}) {
		t.Errorf("ReplayPlan of a cut snapshot: %d %v %v, want 30 [a/#] true", floor, filters, cut)
	}

	// Not known: a Connection state without its positions.
	s.fl.unknown = true
	if snap, err := decodeSnapshot(b.snapshot(s, false, 60, nil, 0)); err != nil || !snap.floorUnknown {
		t.Errorf("floor not known: snapshot says %v (%v)", snap != nil && snap.floorUnknown, err)
	}

	// Live: the floor, no state nor positions in flight.
	s.fl.unknown = false
	snap, err = decodeSnapshot(b.snapshot(s, true, 60, nil, 0))
	if err != nil || !snap.live || snap.floor != 30 || len(snap.sent[0])+len(snap.sent[1]) != 0 {
		t.Errorf("live snapshot: %+v (%v)", snap, err)
	}
}

// A snapshot of format 1 (before floors) is read, its floor not known.
func TestSnapshotFormat1(t *testing.T) {
	b := &Broker{log: slog.New(slog.DiscardHandler), cs: &clusterSessions{link: floorLink{floor: 5}, limit: 1 << 20}}
	s := newSession("c")
	s.addFilter("a", filterKey{filter: "a"}, subscription{qos: packet.QoS1})
	v2 := b.snapshot(s, false, 0, nil, 0)
	// Format 1: no floor after the expiry, no positions in flight.
	v1 := append([]byte{1, v2[1] &^ (snapFloorUnknown | snapCut)}, v2[2:14]...)
	v1 = append(v1, v2[22:len(v2)-9]...)
	snap, err := decodeSnapshot(v1)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.floorUnknown || len(snap.subs) != 1 {
		t.Errorf("format 1: floor unknown %v, %d subscriptions; want true, 1", snap.floorUnknown, len(snap.subs))
	}
}

// A snapshot carries the will waiting: with its Will Delay Interval when
// saved live, with when it is due when saved offline.
func TestSnapshotWill(t *testing.T) {
	b := &Broker{log: slog.New(slog.DiscardHandler), cs: &clusterSessions{link: floorLink{floor: 5}, limit: 1 << 20}}
	s := newSession("c")
	will := newMessage("gone/c", []byte("bye"), packet.QoS1, true, &property.Properties{}, nil)
	snap, err := decodeSnapshot(b.snapshot(s, true, 60, will, 7))
	if err != nil {
		t.Fatal(err)
	}
	if snap.will == nil || snap.will.topic != "gone/c" || string(snap.will.payload) != "bye" ||
		snap.will.qos != packet.QoS1 || !snap.will.retain || snap.willDelay != 7 || !snap.willAt.IsZero() {
		t.Errorf("live will: %+v, delay %d, at %v", snap.will, snap.willDelay, snap.willAt)
	}
	due := time.Unix(1_900_000_000, 0)
	s.off = &offline{will: will, willAt: due}
	if snap, err = decodeSnapshot(b.snapshot(s, false, 0, nil, 0)); err != nil {
		t.Fatal(err)
	}
	if snap.will == nil || !snap.willAt.Equal(due) {
		t.Errorf("offline will: %+v at %v, want due %v", snap.will, snap.willAt, due)
	}
	s.off = &offline{}
	if snap, err = decodeSnapshot(b.snapshot(s, false, 0, nil, 0)); err != nil || snap.will != nil {
		t.Errorf("no will: %+v (%v)", snap, err)
	}
}
