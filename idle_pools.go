package mqtt

import (
	"sync"
	"unsafe"

	"github.com/mqttcore/mqtt/packetid"
)

// What a Connection lets go of when it goes idle (Recv(nil), Closed) —
// its scratch, and its flight state when nothing is in flight — goes to a
// pool shared by all Connections of its identifier type, and the next
// Connection that needs one, this or another, takes it from there. A
// server whose clients connect, exchange a few packets and go quiet, or
// wake now and then, allocates them (a few kilobytes: the event list,
// packet values and buffers, the identifier tables) only as often as that
// many are in use at once, instead of once per handshake and per
// wake-up. A scratch goes to the pool only when the call that let go of
// it handed out no event: nothing the caller may still hold points into
// it. The pools are sync.Pools: what is left in them is freed by the
// collector.
var (
	scratchPools [2]sync.Pool // by identifier size: uint16, uint32
	flightPools  [2]sync.Pool
)

// poolOf returns the pool of pools for ID's size.
func poolOf[ID packetid.ID](pools *[2]sync.Pool) *sync.Pool {
	var id ID
	if unsafe.Sizeof(id) == 2 {
		return &pools[0]
	}
	return &pools[1]
}

// getScratch returns a scratch from the pool, or a new one.
func getScratch[ID packetid.ID]() *scratch[ID] {
	if s, ok := poolOf[ID](&scratchPools).Get().(*scratch[ID]); ok {
		return s
	}
	return new(scratch[ID])
}

// pooledMax bounds what a pooled scratch or flight state holds: slots of
// its tables and lists, bytes of its buffers. Those of a connection that
// once held a flood are left to the collector instead of being kept for
// the next connection.
const (
	pooledSlots = 256
	pooledBytes = 4 << 10
)

// putScratch gives s, which no Connection and no event refers to any
// more, to the pool, unless it is large.
func putScratch[ID packetid.ID](s *scratch[ID]) {
	if cap(s.events) > pooledSlots || cap(s.out) > pooledBytes || cap(s.bufs[0]) > pooledBytes || cap(s.bufs[1]) > pooledBytes ||
		len(s.spare)+len(s.retired) > 0 {
		return
	}
	s.idle, s.didSend, s.didRecv = false, false, false
	poolOf[ID](&scratchPools).Put(s)
}

// getFlight returns an empty flight state from the pool, or a new one.
func getFlight[ID packetid.ID]() *flight[ID] {
	if f, ok := poolOf[ID](&flightPools).Get().(*flight[ID]); ok {
		return f
	}
	return new(flight[ID])
}

// putFlight gives f, empty and no Connection's any more, to the pool,
// unless it is large.
func putFlight[ID packetid.ID](f *flight[ID]) {
	if f.ids.Cap()+f.outbound.Cap()+f.inbound.Cap()+f.stored.Cap()+cap(f.queue) > pooledSlots {
		return
	}
	clear(f.queue[:cap(f.queue)]) // the messages it held
	f.queue, f.inflightIn = f.queue[:0], 0
	poolOf[ID](&flightPools).Put(f)
}
