package mqtt

import (
	"github.com/mqttcore/mqtt/packet"
)

// The PUBLISH exchanges of QoS 1 and QoS 2 in both directions (section
// 4.3), and SUBSCRIBE / UNSUBSCRIBE with their acknowledgements.

// sendPublish sends the caller's PUBLISH.
func (c *Connection[ID]) sendPublish(p *packet.PublishOf[ID]) error {
	if a := p.Props.TopicAlias; a != 0 && a > c.aliasOut.Max() {
		return ErrAlias // MQTT-3.3.2-9, MQTT-3.3.2-11
	}
	if p.QoS == packet.QoS0 {
		if err := c.write(p); err != nil {
			return err
		}
		c.noteAlias(p)
		return nil
	}
	if c.sendQuota <= 0 {
		return ErrQuotaExceeded
	}
	fresh, err := c.claimID(&p.PacketID)
	if err != nil {
		return err
	}
	if err := c.write(p); err != nil {
		c.unclaimID(&p.PacketID, fresh)
		return err
	}
	c.noteAlias(p)
	c.sendQuota--
	if p.QoS == packet.QoS1 {
		c.outbound[p.PacketID] = awaitPuback
	} else {
		c.outbound[p.PacketID] = awaitPubrec
	}
	return nil
}

// noteAlias records a mapping the caller defined by sending a topic with an
// alias.
func (c *Connection[ID]) noteAlias(p *packet.PublishOf[ID]) {
	if p.Props.TopicAlias != 0 && p.Topic != "" {
		c.aliasOut.Set(p.Props.TopicAlias, p.Topic)
	}
}

// recvPublish handles a PUBLISH from the peer.
func (c *Connection[ID]) recvPublish(p *packet.PublishOf[ID]) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	if c.version == packet.V5 {
		topic, err := c.aliasIn.Resolve(p.Topic, p.Props.TopicAlias)
		if err != nil {
			c.fail(err)
			return
		}
		p.Topic = topic
	}
	if p.QoS == packet.QoS0 {
		c.deliver(p)
		return
	}
	switch x := c.inbound[p.PacketID]; {
	case x == awaitPubrel || x == owePubrec:
		// A QoS 2 PUBLISH re-sent before our PUBREC arrived: acknowledge
		// again, deliver once (section 4.3.3).
		if x == awaitPubrel {
			c.autoAck(packet.TypePubrec, p.PacketID, 0)
		}
		return
	case x == 0:
		if c.inflightIn >= c.recvMax {
			c.fail(errReceiveMaximum)
			return
		}
		c.inflightIn++
	}
	c.deliver(p)
	if p.QoS == packet.QoS1 {
		c.inbound[p.PacketID] = owePuback
		if !c.cfg.ManualPuback {
			c.autoAck(packet.TypePuback, p.PacketID, 0)
			c.advance(&c.inbound, p.PacketID, 0, 0)
		}
		return
	}
	c.inbound[p.PacketID] = owePubrec
	if !c.cfg.ManualPubrec {
		c.autoAck(packet.TypePubrec, p.PacketID, 0)
		c.advance(&c.inbound, p.PacketID, awaitPubrel, 0)
	}
}

// autoAck sends an acknowledgement the Connection makes itself. One
// without properties is at most 7 bytes and fits any Maximum Packet Size,
// so the write cannot fail.
func (c *Connection[ID]) autoAck(t packet.Type, id ID, r packet.ReasonCode) {
	a := c.sent[t].get(t, newPacket[ID]).(ack[ID])
	a.Reset(id, r)
	_ = c.write(a)
}

// ack is implemented by the four acknowledgements of PUBLISH.
type ack[ID any] interface {
	packet.Packet
	Reset(id ID, r packet.ReasonCode)
}

// advance moves an exchange to its next step, or ends it when next is 0 or
// the reason code is a failure.
func (c *Connection[ID]) advance(m *map[ID]exchange, id ID, next exchange, r packet.ReasonCode) {
	x := (*m)[id]
	if next != 0 && !r.IsError() {
		(*m)[id] = next
		return
	}
	delete(*m, id)
	if m == &c.inbound && x.countsTowardReceiveMaximum() {
		c.inflightIn--
	}
}

// complete ends one of our exchanges: the identifier is free again, and a
// PUBLISH gives its unit of send quota back.
func (c *Connection[ID]) complete(id ID, publish bool) {
	delete(c.outbound, id)
	c.ids.Release(id)
	if publish {
		c.sendQuota++
	}
	c.emit(Event[ID]{Kind: EventIDReleased, PacketID: id})
}

func (c *Connection[ID]) recvPuback(p *packet.PubackOf[ID]) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	if c.outbound[p.PacketID] == awaitPuback {
		c.complete(p.PacketID, true)
	}
	c.deliver(p)
}

func (c *Connection[ID]) recvPubrec(p *packet.PubrecOf[ID]) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	switch c.outbound[p.PacketID] {
	case awaitPubrec:
		if p.Reason.IsError() {
			c.complete(p.PacketID, true)
			c.deliver(p)
			return
		}
		c.outbound[p.PacketID] = owePubrel
		c.deliver(p)
		if !c.cfg.ManualPubrel {
			c.autoAck(packet.TypePubrel, p.PacketID, 0)
			c.outbound[p.PacketID] = awaitPubcomp
		}
	case awaitPubcomp:
		c.autoAck(packet.TypePubrel, p.PacketID, 0) // our PUBREL may be lost: send it again
	default:
		c.deliver(p)
		if c.version == packet.V5 && !p.Reason.IsError() {
			c.autoAck(packet.TypePubrel, p.PacketID, packet.PacketIdentifierNotFound)
		}
	}
}

func (c *Connection[ID]) recvPubrel(p *packet.PubrelOf[ID]) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	switch c.inbound[p.PacketID] {
	case awaitPubrel:
		c.inbound[p.PacketID] = owePubcomp
		c.deliver(p)
		if !c.cfg.ManualPubcomp {
			c.autoAck(packet.TypePubcomp, p.PacketID, 0)
			c.advance(&c.inbound, p.PacketID, 0, 0)
		}
	case owePubcomp:
		// A repeated PUBREL while the caller has not answered the first.
	default:
		// The exchange is over (our PUBCOMP was lost) or never existed:
		// answer so the peer can finish (v5: 0x92 Packet Identifier not
		// found).
		var r packet.ReasonCode
		if c.version == packet.V5 {
			r = packet.PacketIdentifierNotFound
		}
		c.autoAck(packet.TypePubcomp, p.PacketID, r)
	}
}

func (c *Connection[ID]) recvPubcomp(p *packet.PubcompOf[ID]) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	if c.outbound[p.PacketID] == awaitPubcomp {
		c.complete(p.PacketID, true)
	}
	c.deliver(p)
}

// recvRequest handles SUBSCRIBE and UNSUBSCRIBE at the server.
func (c *Connection[ID]) recvRequest(p packet.Packet) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	switch p := p.(type) {
	case *packet.SubscribeOf[ID]:
		c.inbound[p.PacketID] = oweSuback
	case *packet.UnsubscribeOf[ID]:
		c.inbound[p.PacketID] = oweUnsuback
	}
	c.deliver(p)
}

// recvListAck handles SUBACK and UNSUBACK at the client.
func (c *Connection[ID]) recvListAck(p packet.Packet, id ID, awaiting exchange) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	if c.outbound[id] == awaiting {
		c.complete(id, false)
	}
	c.deliver(p)
}
