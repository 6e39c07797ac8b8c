package broker

import "github.com/mqttcore/mqtt/packet"

// A session that moves between nodes of a SessionCluster (Broker.adopt)
// comes with what it had there, by the positions of its messages
// (floor.go): copies of those that this node's consumer delivers are
// dropped, so that a QoS 2 message crosses a move once.

// exactPositions returns the positions of the messages the snapshot has,
// queued or in flight, where they are the messages' own.
func (snap *snapshot) exactPositions() map[uint64]bool {
	have := make(map[uint64]bool)
	for _, d := range snap.outbox {
		if d.msg.exact {
			have[d.msg.pos] = true
		}
	}
	for _, sent := range snap.sent {
		for _, pos := range sent {
			if pos&exactBit != 0 {
				have[pos&^exactBit] = true
			}
		}
	}
	return have
}

// movedFrom is what a session had on the node it came from: the
// messages of the cluster at positions below its floor (its client
// acknowledged them: every message below the floor that node was to get,
// it got) and those it handed over (have, queued or in flight; or given
// again from the stream). A copy of one of them that this node's consumer
// delivers, queued on the session prepared while it moved or later (this
// node's consumer may lag behind that node's), is dropped, so that a QoS
// 2 message does not come twice; until this node's Floor has passed them
// all (top). Deliveries recorded in a Store are kept (at least once).
type movedFrom struct {
	below uint64
	have  map[uint64]bool
	top   uint64
}

// movedFrom returns what the snapshot's session had (have: its
// exactPositions).
func (snap *snapshot) movedFrom(have map[uint64]bool) *movedFrom {
	mv := &movedFrom{have: have}
	if !snap.floorUnknown {
		mv.below = snap.floor
	}
	mv.top = mv.below
	for pos := range have {
		mv.top = max(mv.top, pos+1)
	}
	return mv
}

// add notes the positions of the messages given again from the stream.
func (mv *movedFrom) add(replay []Replayed) {
	for _, x := range replay {
		mv.have[x.Pos] = true
		mv.top = max(mv.top, x.Pos+1)
	}
}

// hadLocked reports whether d is a copy of a message the session had on
// the node it came from. s.mu is held.
func (s *session) hadLocked(d delivery) bool {
	mv := s.moved
	if mv == nil || !d.msg.exact || d.qos == packet.QoS0 || d.unit != nil {
		return false
	}
	return d.msg.pos < mv.below || mv.have[d.msg.pos]
}

// dropHadLocked returns, in ds's own array, the deliveries that are not
// copies of what the session had (hadLocked). s.mu is held.
func (s *session) dropHadLocked(ds []delivery) []delivery {
	kept := ds[:0]
	for _, d := range ds {
		if !s.hadLocked(d) {
			kept = append(kept, d)
		}
	}
	clear(ds[len(kept):])
	return kept
}
