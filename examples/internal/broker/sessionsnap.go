package broker

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The snapshot of a session that moves between the nodes of a cluster
// (cluster_session.go), format 2; integers big-endian, times Unix
// nanoseconds (0: none), strings and byte strings preceded by their
// length (2 bytes for strings, 4 for the rest):
//
//	format 2, flags 1 (bit 0: saved while its connection was up; bit 1:
//	    its floor is not known; bit 2: deliveries left out, cut),
//	Session Expiry Interval 4, expires at 8, floor 8 (floor.go),
//	subscriptions 4, each: filter as subscribed, ShareName, filter in
//	    the tree, then a subscription record (storeformat.go),
//	the Connection's exported state,
//	deliveries 4, each: its length 4, the message's position 8 (the top
//	    bit set when it is the message's own, not a lower bound) and a
//	    message record (storeformat.go),
//	for QoS 1 then QoS 2, the positions of the messages in flight in the
//	    state (as those of the deliveries): a count 4, then 8 bytes each,
//	    oldest first,
//	the will: 0 (none) or 1, then its Will Delay Interval 4 (saved live)
//	    or when it is due 8 (offline; 0 when live), its length 4 and a
//	    message record.
//
// A snapshot saved while the connection is up has no state, no
// deliveries and no positions in flight: they change with every message.
// Format 1 had neither floor, nor positions, nor the flags of bits 1 and
// 2; its floor is not known.
const snapshotFormat = 2

const (
	snapLive         = 1
	snapFloorUnknown = 2
	snapCut          = 4
)

// snapshot is a session as another node handed it over.
type snapshot struct {
	live      bool
	expiry    uint32    // Session Expiry Interval
	expiresAt time.Time // when it ends, offline; zero for never, and while live
	subs      []snapSub
	state     []byte
	outbox    []delivery
	// floor.go: the floor (floorUnknown: none), whether deliveries were
	// left out (cut), the positions in flight of QoS 1 and QoS 2.
	floor        uint64
	floorUnknown bool
	cut          bool
	sent         [2][]uint64
	// The will waiting: its Will Delay Interval (saved live) or when it
	// is due (offline). A node that keeps the session after its node
	// crashed publishes it then (Broker.KeepSession).
	will      *message
	willDelay uint32
	willAt    time.Time
}

// snapSub is a subscription of a snapshot.
type snapSub struct {
	filter string
	k      filterKey
	sub    subscription
}

// snapshot encodes s: live, with its connection up (its Session Expiry
// Interval expiry, its will and Will Delay Interval; subscriptions
// only), else offline (b.mu held: its deadline, the Connection's state,
// the outbox and the will waiting). Deliveries that would make it larger
// than the cluster takes are left out, and logged.
func (b *Broker) snapshot(s *session, live bool, expiry uint32, will *message, willDelay uint32) []byte {
	out := append(make([]byte, 0, 256), snapshotFormat, 0)
	var state []byte
	var expiresAt, willAt time.Time
	if live {
		out[1] = snapLive
	} else if o := s.off; o != nil {
		state, expiresAt = o.state, o.expiresAt
		will, willAt = o.will, o.willAt
	}
	out = binary.BigEndian.AppendUint32(out, expiry)
	out = binary.BigEndian.AppendUint64(out, unixNano(expiresAt))
	s.mu.Lock()
	defer s.mu.Unlock()
	var base uint64
	if b.cs != nil {
		base = b.cs.link.Floor()
	}
	floor, known := s.floorLocked(base)
	if !known {
		out[1] |= snapFloorUnknown
	}
	out = binary.BigEndian.AppendUint64(out, floor)
	out = binary.BigEndian.AppendUint32(out, uint32(len(s.filters)))
	for filter, f := range s.filters {
		out = appendString(out, filter)
		out = appendString(out, f.k.share)
		out = appendString(out, f.k.filter)
		out = append(out, encodeSubscription(f.sub)...)
	}
	out = appendBytes(out, state)
	var pending []delivery
	if !live {
		pending = s.pending
	}
	n := len(out)
	out = binary.BigEndian.AppendUint32(out, 0)
	kept := 0
	for _, d := range pending {
		mark := len(out)
		out = binary.BigEndian.AppendUint32(out, 0)
		out = binary.BigEndian.AppendUint64(out, posOf(d.msg))
		out = appendMessageRecord(out, d.msg, d.qos, d.retain, d.subIDs)
		if b.cs != nil && len(out) > b.cs.limit {
			out = out[:mark]
			out[1] |= snapCut
			b.log.Warn("cluster: session too large to hand over whole: messages queued left out, given again from its floor",
				"client", s.id, "kept", kept, "left_out", len(pending)-kept)
			break
		}
		binary.BigEndian.PutUint32(out[mark:], uint32(len(out)-mark-4))
		kept++
	}
	binary.BigEndian.PutUint32(out[n:], uint32(kept))
	for qos := range 2 {
		var sent []uint64
		if !live && s.fl != nil {
			sent = s.fl.sent[qos].items()
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(sent)))
		for _, pos := range sent {
			out = binary.BigEndian.AppendUint64(out, pos)
		}
	}
	if will == nil {
		return append(out, 0)
	}
	out = append(out, 1)
	out = binary.BigEndian.AppendUint32(out, willDelay)
	out = binary.BigEndian.AppendUint64(out, unixNano(willAt))
	mark := len(out)
	out = binary.BigEndian.AppendUint32(out, 0)
	out = appendMessageRecord(out, will, will.qos, will.retain, nil)
	binary.BigEndian.PutUint32(out[mark:], uint32(len(out)-mark-4))
	return out
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// snapReader reads a snapshot; the first error sticks.
type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) take(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.err = errRecord
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *snapReader) u16() int {
	if v := r.take(2); v != nil {
		return int(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (r *snapReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *snapReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *snapReader) str() string { return string(r.take(r.u16())) }

// decodeSnapshot decodes a snapshot; nil for none (empty data).
func decodeSnapshot(data []byte) (*snapshot, error) {
	if len(data) == 0 {
		return nil, nil
	}
	r := &snapReader{b: data}
	format := r.take(1)
	if format == nil || format[0] != 1 && format[0] != snapshotFormat {
		return nil, fmt.Errorf("%w: snapshot format %v", ErrStore, format)
	}
	v1 := format[0] == 1
	flags := r.take(1)
	snap := &snapshot{floorUnknown: v1}
	if flags != nil {
		snap.live = flags[0]&snapLive != 0
		snap.floorUnknown = snap.floorUnknown || flags[0]&snapFloorUnknown != 0
		snap.cut = flags[0]&snapCut != 0
	}
	snap.expiry = r.u32()
	snap.expiresAt = fromUnixNano(r.u64())
	if !v1 {
		snap.floor = r.u64()
	}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		f := snapSub{filter: r.str()}
		f.k.share, f.k.filter = r.str(), r.str()
		if v := r.take(7); v != nil {
			f.sub, r.err = decodeSubscription(v)
		}
		snap.subs = append(snap.subs, f)
	}
	if state := r.take(int(r.u32())); len(state) > 0 {
		snap.state = append([]byte(nil), state...)
	}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		v := r.take(int(r.u32()))
		if r.err != nil || !v1 && len(v) < 8 {
			r.err = errRecord
			break
		}
		var pos uint64
		if !v1 {
			pos, v = binary.BigEndian.Uint64(v), v[8:]
		}
		var d delivery
		if d, r.err = decodeMessageRecord(v); r.err == nil {
			d.msg.pos, d.msg.exact = pos&^exactBit, pos&exactBit != 0
		}
		snap.outbox = append(snap.outbox, d)
	}
	for qos := 0; qos < 2 && !v1; qos++ {
		n := r.u32()
		if r.err != nil || int(n) > len(r.b)/8 {
			r.err = errRecord
			break
		}
		for range n {
			snap.sent[qos] = append(snap.sent[qos], r.u64())
		}
	}
	if !v1 {
		if has := r.take(1); has != nil && has[0] == 1 {
			snap.willDelay = r.u32()
			snap.willAt = fromUnixNano(r.u64())
			if v := r.take(int(r.u32())); r.err == nil {
				var d delivery
				if d, r.err = decodeMessageRecord(v); r.err == nil {
					snap.will = d.msg
					snap.will.retain = d.retain
				}
			}
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = errRecord
	}
	if r.err != nil {
		return nil, r.err
	}
	return snap, nil
}
