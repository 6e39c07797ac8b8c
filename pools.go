package mqtt

import (
	"math/bits"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// pools keeps packet values, one list per packet type, for reuse from call
// to call, so that several packets of a type handled in one call each have
// their own value. Only the lists used in a call are reset.
type pools[ID packetid.ID] struct {
	lists [16]pool
	used  uint16 // the lists the current call takes values from
	large uint16 // the lists that keep more than keepPooled values
}

type pool struct {
	items []packet.Packet
	n     int
}

func (ps *pools[ID]) get(t packet.Type) packet.Packet {
	p := &ps.lists[t]
	ps.used |= 1 << t
	if p.n == len(p.items) {
		p.items = append(p.items, packet.New[ID](t))
	}
	p.n++
	return p.items[p.n-1]
}

// reset makes the values of the previous call free for reuse. Of each
// list that call took values from it keeps as many as it took, at least
// keepPooled and at most maxPooled, shrinking a list only when it holds
// more than twice that: a steady flow of chunks allocates nothing, calls of
// alternating sizes neither, and what a flood made grow is let go of. Calls
// that take nothing from a list (a Send between two Recv) leave it alone.
// With trim every list keeps keepPooled values. It reports whether it let
// any value go.
func (ps *pools[ID]) reset(trim bool) (shrunk bool) {
	visit := ps.used
	if trim {
		visit |= ps.large
	}
	for u := visit; u != 0; u &= u - 1 {
		t := bits.TrailingZeros16(u)
		p := &ps.lists[t]
		want := min(max(p.n, keepPooled), maxPooled)
		if trim {
			want = keepPooled
		}
		if len(p.items) > 2*want || len(p.items) > maxPooled || trim && len(p.items) > want {
			// Copy what is kept, to let go of the array that held them all.
			p.items = append([]packet.Packet(nil), p.items[:want]...)
			shrunk = true
		}
		for _, v := range p.items[:min(p.n, len(p.items))] {
			trimLists[ID](v)
		}
		if len(p.items) > keepPooled {
			ps.large |= 1 << t
		} else {
			ps.large &^= 1 << t
		}
		p.n = 0
	}
	ps.used = 0
	return shrunk
}

// trimLists lets go of the lists of a kept packet value (User Properties,
// Subscription Identifiers, subscriptions, filters, reason codes) that grew
// beyond keepList elements. Decoding reuses a value's lists, so without
// this each kept value would hold on to the longest lists any packet
// decoded into it ever had: up to 256 values per packet type, each of
// about 7 times the size of a packet as large as the read chunk.
func trimLists[ID packetid.ID](p packet.Packet) {
	switch p := p.(type) { // the types of the steady flow first
	case *packet.PublishOf[ID]:
		trimProps(&p.Props)
	case *packet.PubackOf[ID]:
		trimProps(&p.Props)
	case *packet.PubrecOf[ID]:
		trimProps(&p.Props)
	case *packet.PubrelOf[ID]:
		trimProps(&p.Props)
	case *packet.PubcompOf[ID]:
		trimProps(&p.Props)
	case *packet.SubscribeOf[ID]:
		trimList(&p.Subscriptions)
		trimProps(&p.Props)
	case *packet.UnsubscribeOf[ID]:
		trimList(&p.Filters)
		trimProps(&p.Props)
	case *packet.SubackOf[ID]:
		trimList(&p.Reasons)
		trimProps(&p.Props)
	case *packet.UnsubackOf[ID]:
		trimList(&p.Reasons)
		trimProps(&p.Props)
	case *packet.Connect:
		trimProps(&p.Props)
		trimProps(&p.Will.Props)
	default: // CONNACK, DISCONNECT, AUTH
		if props := droppable(p); props != nil {
			trimProps(props)
		}
	}
}

func trimProps(p *property.Properties) {
	trimList(&p.User)
	trimList(&p.SubscriptionIDs)
}

// trimList lets go of *s if it grew beyond keepList elements; it writes
// nothing otherwise, as it runs for every kept packet value.
func trimList[T any](s *[]T) {
	if cap(*s) > keepList {
		*s = nil
	}
}

// keepPooled and maxPooled bound how many packet values of a type a
// Connection keeps from call to call (see pools.reset), keepEvents how many
// events; keepOut bounds the output buffer it keeps, and keepList the
// elements of each list a kept packet value keeps. A call that needs more
// allocates them, and they are freed after it (see "Resource bounds" in the
// README).
const (
	keepList   = 16
	keepPooled = 64
	maxPooled  = 256
	keepEvents = 1024
	keepOut    = 64 << 10
)
