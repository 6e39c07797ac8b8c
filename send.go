package mqtt

import (
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// sentBy says which roles send each packet type in v5; before v5 only the
// client sends DISCONNECT (sendsDisconnect).
var sentBy = [16]uint8{
	packet.TypeConnect:     1 << RoleClient,
	packet.TypeConnack:     1 << RoleServer,
	packet.TypePublish:     1<<RoleClient | 1<<RoleServer,
	packet.TypePuback:      1<<RoleClient | 1<<RoleServer,
	packet.TypePubrec:      1<<RoleClient | 1<<RoleServer,
	packet.TypePubrel:      1<<RoleClient | 1<<RoleServer,
	packet.TypePubcomp:     1<<RoleClient | 1<<RoleServer,
	packet.TypeSubscribe:   1 << RoleClient,
	packet.TypeSuback:      1 << RoleServer,
	packet.TypeUnsubscribe: 1 << RoleClient,
	packet.TypeUnsuback:    1 << RoleServer,
	packet.TypePingreq:     1 << RoleClient,
	packet.TypePingresp:    1 << RoleServer,
	packet.TypeDisconnect:  1<<RoleClient | 1<<RoleServer,
	packet.TypeAuth:        1<<RoleClient | 1<<RoleServer,
}

// Send sends a packet the caller built. It checks that this side may send
// it now, encodes it, updates the protocol state and hands the events to
// the handler, the EventSend first (after an EventJournal, with
// Config.Journal). On error nothing is sent, no state changes and the
// handler gets nothing. EventSend's Packet is p itself.
//
// A QoS 1 or QoS 2 PUBLISH, SUBSCRIBE or UNSUBSCRIBE with PacketID 0 gets
// the next free identifier, written into the packet; one with a PacketID
// set must name a free identifier. A PUBLISH is a new message: Send clears
// its DUP flag (re-sending is the Connection's own job). An acknowledgement
// that would exceed the peer's Maximum Packet Size loses its Reason String
// and User Properties, in the packet too, as the specification requires.
func (c *Connection[ID]) Send(p packet.Packet) error {
	if c.cfg.Trace != nil {
		return c.sendTraced(p)
	}
	return c.sendCall(p)
}

// sendTraced is Send with a Tracer.
func (c *Connection[ID]) sendTraced(p packet.Packet) error {
	c.traceCall(Input{Kind: InputSend, Packet: p})
	return c.traceReturn(c.sendCall(p))
}

// sendCall is Send.
func (c *Connection[ID]) sendCall(p packet.Packet) error {
	idle := c.scratch == nil
	first := c.enter()
	if err := c.send(p); err != nil {
		c.abandon(first, idle)
		return err
	}
	c.leave(first)
	return nil
}

// send checks, encodes and records the caller's packet.
func (c *Connection[ID]) send(p packet.Packet) error {
	t := p.Type()
	if sentBy[t]&(1<<c.role) == 0 || t == packet.TypeDisconnect && !c.sendsDisconnect() {
		return ErrRole
	}
	if pub, ok := p.(*packet.PublishOf[ID]); ok && c.cfg.OfflineQueue && pub.QoS > 0 &&
		c.role == RoleClient && (c.state != StateConnected || c.closing) {
		return c.enqueue(pub)
	}
	if c.closing || !c.maySend(t) {
		return ErrState
	}
	var err error
	switch p := p.(type) {
	case *packet.Connect:
		err = c.sendConnect(p)
	case *packet.Connack:
		err = c.sendConnack(p)
	case *packet.PublishOf[ID]:
		err = c.sendPublish(p)
	case *packet.SubscribeOf[ID]:
		if err = capabilityError(c.caps.checkSubscribe(p.Subscriptions, &p.Props)); err == nil {
			err = c.sendRequest(p, &p.PacketID, awaitSuback)
		}
	case *packet.UnsubscribeOf[ID]:
		err = c.sendRequest(p, &p.PacketID, awaitUnsuback)
	case *packet.PubackOf[ID]:
		err = c.sendAck(p, p.PacketID, &c.inbound, owePuback, 0, p.Reason)
	case *packet.PubrecOf[ID]:
		err = c.sendAck(p, p.PacketID, &c.inbound, owePubrec, awaitPubrel, p.Reason)
	case *packet.PubrelOf[ID]:
		err = c.sendAck(p, p.PacketID, &c.outbound, owePubrel, awaitPubcomp, 0)
		if err == nil && p.Reason.IsError() {
			c.complete(p.PacketID, true) // the exchange is over: nothing will complete it
		}
	case *packet.PubcompOf[ID]:
		err = c.sendAck(p, p.PacketID, &c.inbound, owePubcomp, 0, p.Reason)
	case *packet.SubackOf[ID]:
		err = c.sendAck(p, p.PacketID, &c.inbound, oweSuback, 0, 0)
	case *packet.UnsubackOf[ID]:
		err = c.sendAck(p, p.PacketID, &c.inbound, oweUnsuback, 0, 0)
	case *packet.Disconnect:
		err = c.sendDisconnect(p)
	case *packet.Auth:
		err = c.sendAuth(p)
	case *packet.Pingreq, *packet.Pingresp:
		err = c.write(p)
	default:
		err = ErrIDWidth // a packet of another identifier type
	}
	return err
}

// maySend reports whether a packet of type t may be sent in the current
// state.
func (c *Connection[ID]) maySend(t packet.Type) bool {
	switch c.state {
	case StateDisconnected:
		return t == packet.TypeConnect
	case StateConnecting:
		if c.role == RoleClient {
			return t == packet.TypeAuth || t == packet.TypeDisconnect
		}
		return t == packet.TypeConnack || t == packet.TypeAuth
	}
	return t != packet.TypeConnect && t != packet.TypeConnack
}

// sendRequest sends a SUBSCRIBE or UNSUBSCRIBE under a packet identifier.
func (c *Connection[ID]) sendRequest(p packet.Packet, id *ID, awaiting exchange) error {
	cl, err := c.claimID(id)
	if err != nil {
		return err
	}
	if err := c.write(p); err != nil {
		c.unclaimID(id, cl)
		return err
	}
	c.outbound.Set(*id, awaiting)
	return nil
}

// writeAck encodes an acknowledgement the caller built (sendAck): a
// PUBACK, PUBREC, PUBREL or PUBCOMP without properties through the
// codec's fast path, as the Connection's own (autoAck), since a broker
// that acknowledges every message itself sends one per message; anything
// else as every packet (write). At most 7 bytes, a bare acknowledgement
// fits any Maximum Packet Size and has nothing for writeNoProblemInfo.
func (c *Connection[ID]) writeAck(p packet.Packet) error {
	var props *property.Properties
	var id ID
	var r packet.ReasonCode
	switch a := p.(type) {
	case *packet.PubackOf[ID]:
		props, id, r = &a.Props, a.PacketID, a.Reason
	case *packet.PubrecOf[ID]:
		props, id, r = &a.Props, a.PacketID, a.Reason
	case *packet.PubrelOf[ID]:
		props, id, r = &a.Props, a.PacketID, a.Reason
	case *packet.PubcompOf[ID]:
		props, id, r = &a.Props, a.PacketID, a.Reason
	}
	if props == nil || !props.IsEmpty() {
		return c.write(p)
	}
	start := len(c.out)
	out, err := packet.AppendAck(c.out, p.Type(), c.version, id, r)
	if err != nil {
		return encodeError(err)
	}
	c.out = out
	c.sentBytes(p, start)
	return nil
}

// claim is what claimID did, for unclaimID to undo.
type claim[ID packetid.ID] struct {
	fresh bool // the identifier came from the allocator
	last  ID   // where the allocator stood before
}

// claimID takes *id, or the next free identifier when *id is 0 (fresh).
func (c *Connection[ID]) claimID(id *ID) (claim[ID], error) {
	if *id == 0 {
		last := c.ids.Last()
		next, err := c.ids.Next()
		if err != nil {
			return claim[ID]{}, err
		}
		*id = next
		return claim[ID]{fresh: true, last: last}, nil
	}
	if err := c.ids.Use(*id); err != nil {
		return claim[ID]{}, ErrIDInUse
	}
	return claim[ID]{}, nil
}

// unclaimID undoes claimID after a failed send: the identifier is free
// again, and the allocator hands out next what it would have without the
// failed send.
func (c *Connection[ID]) unclaimID(id *ID, cl claim[ID]) {
	c.ids.Release(*id)
	if cl.fresh {
		*id = 0
		c.ids.SetLast(cl.last)
	}
}

// sendAck sends an acknowledgement the caller built for an exchange
// awaiting it (manual acknowledgement), moving the exchange to next, or
// ending it when next is 0 or the reason code is a failure.
func (c *Connection[ID]) sendAck(p packet.Packet, id ID, m *packetid.Map[ID, exchange], owed, next exchange, r packet.ReasonCode) error {
	if m.Value(id).step() != owed {
		return ErrIDUnknown
	}
	if err := c.writeAck(p); err != nil {
		return err
	}
	c.advance(m, id, next, r)
	if m == &c.outbound {
		c.logOurs(id)
	} else {
		c.logTheirs(id, owed)
	}
	return nil
}
