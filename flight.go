package mqtt

import "github.com/mqttcore/mqtt/packetid"

// flight is the state of the exchanges in progress and of the messages
// waiting to be sent. A Connection holds it from its first call on, and
// lets go of it when it goes idle (Recv(nil), Closed) with nothing in it,
// so that an idle connection costs little memory.
type flight[ID packetid.ID] struct {
	ids        packetid.Allocator[ID]
	outbound   packetid.Map[ID, exchange] // our PUBLISH, SUBSCRIBE, UNSUBSCRIBE awaiting the peer
	inbound    packetid.Map[ID, exchange] // the peer's PUBLISH, SUBSCRIBE, UNSUBSCRIBE awaiting our answer
	inflightIn int                        // inbound exchanges counting toward our Receive Maximum
	stored     packetid.Map[ID, message]  // encodings of our PUBLISH packets in outbound, when the session persists
	queue      []message                  // PUBLISH packets not yet sent: no quota, or offline
}

// empty reports whether nothing is in flight or waiting.
func (f *flight[ID]) empty() bool {
	return f.outbound.Len()+f.inbound.Len()+f.stored.Len()+len(f.queue) == 0 && f.ids.InUse() == 0
}

// takeFlight makes sure the Connection holds its flight state.
func (c *Connection[ID]) takeFlight() {
	if c.flight == nil {
		c.flight = getFlight[ID]() // idle_pools.go
		c.ids.SetLast(c.lastID)
	}
}

// dropFlight lets go of the flight state when nothing is in it.
func (c *Connection[ID]) dropFlight() {
	if c.flight != nil && c.flight.empty() {
		c.lastID = c.ids.Last()
		putFlight(c.flight)
		c.flight = nil
	}
}
