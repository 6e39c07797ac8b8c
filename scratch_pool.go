package mqtt

import (
	"sync"
	"unsafe"

	"github.com/mqttcore/mqtt/packetid"
)

// The scratch of a Connection that goes idle (Recv(nil), Closed) goes to
// a pool shared by all Connections of its identifier type, and the next
// Connection that needs one, this or another, takes it from there: a
// server whose clients connect, exchange a few packets and go quiet, or
// wake now and then, then allocates a scratch (its event list, packet
// values and buffers, a few kilobytes) only as often as that many are in
// use at once, instead of once per handshake and per wake-up. A scratch
// goes to the pool only when the call that let go of it handed out no
// event: nothing the caller may still hold points into it. The pool is a
// sync.Pool: what is left in it is freed by the collector.
var scratchPools [2]sync.Pool // by identifier size: uint16, uint32

func scratchPool[ID packetid.ID]() *sync.Pool {
	var id ID
	if unsafe.Sizeof(id) == 2 {
		return &scratchPools[0]
	}
	return &scratchPools[1]
}

// getScratch returns a scratch from the pool, or a new one.
func getScratch[ID packetid.ID]() *scratch[ID] {
	if s, ok := scratchPool[ID]().Get().(*scratch[ID]); ok {
		return s
	}
	return new(scratch[ID])
}

// putScratch gives s, which no Connection and no event refers to any
// more, to the pool.
func putScratch[ID packetid.ID](s *scratch[ID]) {
	s.idle, s.didSend, s.didRecv = false, false, false
	scratchPool[ID]().Put(s)
}
