package broker

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The snapshot of a session that moves between the nodes of a cluster
// (cluster_session.go), format 1; integers big-endian, times Unix
// nanoseconds (0: none), strings and byte strings preceded by their
// length (2 bytes for strings, 4 for the rest):
//
//	format 1, flags 1 (bit 0: saved while its connection was up),
//	Session Expiry Interval 4, expires at 8,
//	subscriptions 4, each: filter as subscribed, ShareName, filter in
//	    the tree, then a subscription record (storeformat.go),
//	the Connection's exported state,
//	deliveries 4, each: a message record (storeformat.go).
//
// A snapshot saved while the connection is up has no state and no
// deliveries: they change with every message.
const snapshotFormat = 1

const snapLive = 1

// snapshot is a session as another node handed it over.
type snapshot struct {
	live      bool
	expiry    uint32    // Session Expiry Interval
	expiresAt time.Time // when it ends, offline; zero for never, and while live
	subs      []snapSub
	state     []byte
	outbox    []delivery
}

// snapSub is a subscription of a snapshot.
type snapSub struct {
	filter string
	k      filterKey
	sub    subscription
}

// snapshot encodes s: live, with its connection up (its Session Expiry
// Interval expiry; subscriptions only), else offline (b.mu held: its
// deadline, the Connection's state and the outbox). Deliveries that would
// make it larger than the cluster takes are left out, and logged.
func (b *Broker) snapshot(s *session, live bool, expiry uint32) []byte {
	out := append(make([]byte, 0, 256), snapshotFormat, 0)
	var state []byte
	var expiresAt time.Time
	if live {
		out[1] = snapLive
	} else if o := s.off; o != nil {
		state, expiresAt = o.state, o.expiresAt
	}
	out = binary.BigEndian.AppendUint32(out, expiry)
	out = binary.BigEndian.AppendUint64(out, unixNano(expiresAt))
	s.mu.Lock()
	defer s.mu.Unlock()
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
		out = appendMessageRecord(out, d.msg, d.qos, d.retain, d.subIDs)
		if b.cs != nil && len(out) > b.cs.limit {
			out = out[:mark]
			b.log.Warn("cluster: session too large to hand over whole: messages queued left out",
				"client", s.id, "kept", kept, "left_out", len(pending)-kept)
			break
		}
		binary.BigEndian.PutUint32(out[mark:], uint32(len(out)-mark-4))
		kept++
	}
	binary.BigEndian.PutUint32(out[n:], uint32(kept))
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
	if f := r.take(1); f == nil || f[0] != snapshotFormat {
		return nil, fmt.Errorf("%w: snapshot format %v", ErrStore, f)
	}
	flags := r.take(1)
	snap := &snapshot{}
	if flags != nil {
		snap.live = flags[0]&snapLive != 0
	}
	snap.expiry = r.u32()
	snap.expiresAt = fromUnixNano(r.u64())
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
		if r.err != nil {
			break
		}
		var d delivery
		d, r.err = decodeMessageRecord(v)
		snap.outbox = append(snap.outbox, d)
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = errRecord
	}
	if r.err != nil {
		return nil, r.err
	}
	return snap, nil
}
