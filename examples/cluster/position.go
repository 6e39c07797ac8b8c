package cluster

// position is what the node knows of the messages its own consumer gave
// it: which it has taken (handed to the broker, or dropped as its own or
// too old), so that one JetStream gives again (an acknowledgement lost or
// late, the node stopped before sending it) is acknowledged and not
// delivered twice.
//
// The consumer gives the node its messages in stream order, each
// delivery numbered (the consumer sequence, one more each time, a
// redelivery included), and the node handles them in the order they
// come: while no number is missing, every message at or below the last
// one taken was taken, and firm is that one. A number missing (a delivery
// lost on the way, when a NATS server went away, or a consumer leader
// changed) means that a message below may have been given and never
// seen: firm then stays where it was, the messages taken are kept one by
// one (taken), and firm moves up again only to the consumer's ack floor,
// which JetStream reports (every message at or below it acknowledged),
// asked every ackFloorEvery until it has passed every message seen.
//
// With a Store the broker records firm with the deliveries of each
// message (Broker.DeliverTaken), and a node started again on the same
// name starts from it: what it had taken above firm (during such a gap)
// and JetStream gives again is delivered again (at least once).
type position struct {
	firm  uint64
	taken map[uint64]bool // stream sequences taken above firm
	dseq  uint64          // the consumer sequence of the last delivery (0: none yet)
	holes bool            // a delivery went missing: firm waits for the ack floor
	top   uint64          // the highest stream sequence seen
}

// given notes a delivery (stream sequence seq, consumer sequence dseq,
// again: JetStream gave it before) and reports whether the message was
// taken before.
func (p *position) given(seq, dseq uint64, again bool) (takenBefore bool) {
	if p.dseq != 0 && dseq != p.dseq+1 {
		p.holes = true
	}
	p.dseq = dseq
	p.top = max(p.top, seq)
	return again && (seq <= p.firm || p.taken[seq])
}

// took notes that the message at seq was taken, and returns firm.
func (p *position) took(seq uint64, again bool) uint64 {
	switch {
	case seq <= p.firm:
	case !p.holes && !again:
		p.firm = seq
	default:
		if p.taken == nil {
			p.taken = make(map[uint64]bool)
		}
		p.taken[seq] = true
	}
	return p.firm
}

// unsure reports whether the ack floor is to be asked: firm waits for it.
func (p *position) unsure() bool { return p.holes || len(p.taken) > 0 }

// acked moves firm up to the consumer's ack floor.
func (p *position) acked(floor uint64) {
	if floor >= p.top {
		p.holes = false
	}
	if floor <= p.firm {
		return
	}
	p.firm = floor
	for seq := range p.taken {
		if seq <= floor {
			delete(p.taken, seq)
		}
	}
}
