package broker

import "github.com/mqttcore/mqtt/packet"

// What a SessionCluster gives again to a session whose node crashed: the
// messages of its subscriptions from its floor on (floor.go).

// Replayed is a QoS 1 or QoS 2 message that the cluster gives again to a
// session it resumes after the node that held it crashed
// (ClusterClaim.Replay), with its position.
type Replayed struct {
	Pos     uint64
	Publish *packet.Publish
}

// replayLocked queues the messages of replay, oldest first, to the
// session s alone, as its subscriptions take them, except those it has
// already (have: their positions). b.mu is held.
func (b *Broker) replayLocked(s *session, replay []Replayed, have map[uint64]bool) {
	r := &router{}
	for _, x := range replay {
		if have[x.Pos] {
			continue
		}
		p := x.Publish
		m := newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, nil)
		m.remote, m.pos, m.exact = true, x.Pos, true
		b.routeHere(m, r, nil, reach{ordinary: true, only: s})
	}
}

// ReplayPlan reads, in a session's snapshot (as SessionCluster.SaveSession
// gets it), what a node that resumes it without a handover is to give it
// again: the messages from floor on (0: none known) of the topic filters
// of its ordinary subscriptions at QoS 1 or 2. cut reports that a
// handover left queued messages out (MaxSessionBytes), which the floor
// also covers.
func ReplayPlan(data []byte) (floor uint64, filters []string, cut bool) {
	snap, err := decodeSnapshot(data)
	if err != nil || snap == nil || snap.floorUnknown || snap.live && snap.expiry == 0 {
		return 0, nil, false // none, or one that ended with its connection
	}
	return snap.floor, snap.durableFilters(), snap.cut
}

// DurableFilters returns the topic filters of the ordinary subscriptions
// at QoS 1 or 2 of a session's snapshot: those whose messages a cluster
// delivers durably.
func DurableFilters(data []byte) []string {
	snap, err := decodeSnapshot(data)
	if err != nil || snap == nil {
		return nil
	}
	return snap.durableFilters()
}

func (snap *snapshot) durableFilters() []string {
	var filters []string
	for _, f := range snap.subs {
		if f.k.share == "" && f.sub.qos > packet.QoS0 {
			filters = append(filters, f.k.filter)
		}
	}
	return filters
}
