package mqtt

import (
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/topicalias"
)

// The PUBLISH exchanges of QoS 1 and QoS 2 in both directions (section
// 4.3), and SUBSCRIBE / UNSUBSCRIBE with their acknowledgements.

// sendPublish sends the caller's PUBLISH, or queues it when the send
// quota is used up and the Config asks for a queue.
func (c *Connection[ID]) sendPublish(p *packet.PublishOf[ID]) error {
	if a := p.Props.TopicAlias; a != 0 && a > c.aliasOut.Max() {
		return ErrAlias // MQTT-3.3.2-9, MQTT-3.3.2-11
	}
	if err := c.checkPublish(p); err != nil {
		return err
	}
	if c.role == RoleClient {
		if err := capabilityError(c.caps.checkPublish(p.QoS, p.Retain)); err != nil {
			return err
		}
	}
	// A PUBLISH the caller sends is a new message: DUP 0 (MQTT-4.3.1-1,
	// MQTT-4.3.2-2, MQTT-4.3.3-2). Re-sending is the Connection's job.
	dup := p.Dup
	p.Dup = false
	err := c.sendNew(p)
	if err != nil {
		p.Dup = dup // refused: the caller's packet as it was
	}
	return err
}

// sendNew sends a new PUBLISH the caller built, or queues it.
func (c *Connection[ID]) sendNew(p *packet.PublishOf[ID]) error {
	if p.QoS == packet.QoS0 {
		return c.writePublish(p)
	}
	if c.sendQuota <= 0 || len(c.queue) > 0 {
		if !c.cfg.QueueWhenQuotaExhausted {
			return ErrQuotaExceeded
		}
		return c.enqueue(p)
	}
	cl, err := c.claimID(&p.PacketID)
	if err != nil {
		return err
	}
	if err := c.writePublish(p); err != nil {
		c.unclaimID(&p.PacketID, cl)
		return err
	}
	c.startPublish(p)
	return nil
}

// startPublish records a QoS 1 or QoS 2 PUBLISH just sent.
func (c *Connection[ID]) startPublish(p *packet.PublishOf[ID]) {
	c.sendQuota--
	if p.QoS == packet.QoS1 {
		c.outbound.Set(p.PacketID, awaitPuback)
	} else {
		c.outbound.Set(p.PacketID, awaitPubrec)
	}
	c.store(p)
	c.logOurs(p.PacketID)
}

// checkPublish refuses a PUBLISH that this side may send on no network
// connection, now or once queued: one whose topic is unknown (checkTopic),
// or a client's that carries a Subscription Identifier (MQTT-3.3.4-6).
func (c *Connection[ID]) checkPublish(p *packet.PublishOf[ID]) error {
	if err := c.checkTopic(p); err != nil {
		return err
	}
	if c.role == RoleClient && len(p.Props.SubscriptionIDs) > 0 {
		return ErrSubscriptionIdentifier
	}
	return nil
}

// checkTopic refuses a PUBLISH that names its topic by an alias this
// network connection has not mapped: the peer could not resolve it, and a
// session (which keeps the full topic) could not keep it. Offline no alias
// is mapped.
func (c *Connection[ID]) checkTopic(p *packet.PublishOf[ID]) error {
	if p.Topic == "" && p.Props.TopicAlias != 0 && c.aliasOut.Topic(p.Props.TopicAlias) == "" {
		return ErrAliasUnmapped
	}
	return nil
}

// enqueue validates p, gives it a packet identifier, and queues its
// encoding. The encoding is the session's (full topic, no alias) in the
// version of the network connection it will go out on: offline, that of
// the next CONNECT.
func (c *Connection[ID]) enqueue(p *packet.PublishOf[ID]) error {
	if err := c.checkPublish(p); err != nil {
		return err
	}
	if c.cfg.MaxQueued > 0 && len(c.queue) >= c.cfg.MaxQueued {
		return ErrQuotaExceeded
	}
	cl, err := c.claimID(&p.PacketID)
	if err != nil {
		return err
	}
	if c.state == StateConnected && p.Size(c.version) > int(c.maxOut) {
		err = ErrPacketTooLarge
	}
	var m message
	if err == nil {
		m, err = c.newMessage(p, c.version)
	}
	if err != nil {
		c.unclaimID(&p.PacketID, cl)
		return err
	}
	c.adoptVersion()
	c.queue = append(c.queue, m)
	c.logQueued(p.PacketID, m)
	return nil
}

// drain sends queued PUBLISH packets, in order, while the quota allows.
func (c *Connection[ID]) drain() {
	for len(c.queue) > 0 && c.sendQuota > 0 && c.connected() {
		m := c.queue[0]
		c.queue[0] = message{}
		c.queue = c.queue[1:]
		id, ok := messageID[ID](m)
		if !ok {
			// Every way into the queue checks the encoding: this is not
			// reached, and a message that names no identifier cannot be
			// sent or released.
			if m.wire != nil {
				c.retire(m.wire)
			}
			continue
		}
		c.sendMessage(id, m, m.sent)
	}
	if len(c.queue) == 0 {
		c.queue = c.queue[:0:0] // let the backing array go
	}
}

// messageID returns the packet identifier of a stored QoS 1 or QoS 2
// PUBLISH, and false for an encoding too short to hold one.
func messageID[ID packetid.ID](m message) (ID, bool) {
	h, _, err := packet.Frame(m.wire, 0)
	if err != nil {
		return 0, false
	}
	body := m.wire[h.Len:]
	if len(body) < 2 {
		return 0, false
	}
	off := 2 + (int(body[0])<<8 | int(body[1]))
	if packetid.Size[ID]() == 4 {
		if len(body) < off+4 {
			return 0, false
		}
		return ID(uint32(body[off])<<24 | uint32(body[off+1])<<16 | uint32(body[off+2])<<8 | uint32(body[off+3])), true
	}
	if len(body) < off+2 {
		return 0, false
	}
	return ID(uint16(body[off])<<8 | uint16(body[off+1])), true
}

// writePublish writes a PUBLISH, with a Topic Alias chosen by the
// Connection when the Config asks for it (v5 only). The alias mappings
// change only once the PUBLISH is written: one refused (too large for the
// peer, say) neither defines, evicts nor refreshes a mapping.
func (c *Connection[ID]) writePublish(p *packet.PublishOf[ID]) error {
	if c.version != packet.V5 || c.cfg.TopicAliases == AliasOff || p.Props.TopicAlias != 0 || c.aliasOut.Max() == 0 {
		if err := c.write(p); err != nil {
			return err
		}
		if p.Props.TopicAlias != 0 && p.Topic != "" {
			c.aliasOut.Set(p.Props.TopicAlias, p.Topic) // the caller's own mapping
		}
		return nil
	}
	alias, withTopic := c.aliasOut.Peek(p.Topic)
	if withTopic && c.cfg.TopicAliases != AliasAuto {
		alias = 0 // AliasReplace uses only the mappings there are
	}
	if alias == 0 {
		return c.write(p)
	}
	// Send a copy carrying the alias; the caller's packet keeps its topic.
	q := c.sent.get(packet.TypePublish).(*packet.PublishOf[ID])
	*q = *p
	q.Props.TopicAlias = alias
	if !withTopic {
		q.Topic = ""
	}
	if err := c.write(q); err != nil {
		return err
	}
	c.aliasOut.Commit(alias, p.Topic, withTopic)
	return nil
}

// Topic Aliases the peer may not use (section 3.3.2.3.4). Alias 0 is
// refused by the codec, with the same reason code.
var (
	errAliasFromClient = &PeerError{Code: packet.TopicAliasInvalid, Statement: "MQTT-3.3.2-12",
		Msg: "topic alias above the Topic Alias Maximum of the server's CONNACK"}
	errAliasFromServer = &PeerError{Code: packet.TopicAliasInvalid, Statement: "MQTT-3.3.2-10",
		Msg: "topic alias above the Topic Alias Maximum of the client's CONNECT"}
	errAliasUnmapped = protocolViolation("", "topic alias not mapped on this connection, and no topic name")
)

// aliasError maps the Receiver's refusal to the error the Connection
// reports: 0x94 Topic Alias invalid for an alias above our maximum, 0x82
// Protocol Error for an alias with no mapping and no topic (section 3.3.4).
func (c *Connection[ID]) aliasError(err error) error {
	switch {
	case err == topicalias.ErrAliasUnknown:
		return errAliasUnmapped
	case c.role == RoleServer:
		return errAliasFromClient
	}
	return errAliasFromServer
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
			c.fail(c.aliasError(err))
			return
		}
		p.Topic = topic
	}
	if c.role == RoleServer {
		if err := c.caps.checkPublish(p.QoS, p.Retain); err != nil {
			c.fail(err)
			return
		}
		if len(p.Props.SubscriptionIDs) > 0 {
			c.fail(errClientSubscriptionID)
			return
		}
	}
	if p.QoS == packet.QoS0 {
		c.deliver(p)
		return
	}
	var x exchange
	if c.inbound.Len() > 0 {
		x = c.inStep(p.PacketID)
	}
	switch {
	case p.QoS == packet.QoS2 && (x == awaitPubrel || x == owePubrec):
		// A QoS 2 PUBLISH re-sent before our PUBREC arrived: acknowledge
		// again, deliver once (MQTT-4.3.3-10).
		if x == awaitPubrel {
			c.autoAck(packet.TypePubrec, p.PacketID, 0)
		}
		return
	case p.QoS == packet.QoS1 && x == owePuback:
		// A QoS 1 PUBLISH re-sent before we acknowledged it: deliver again.
	case x != 0:
		c.fail(errIDInUse) // the identifier belongs to another exchange
		return
	case x == 0:
		if p.QoS == packet.QoS1 && !c.cfg.ManualPuback {
			// Acknowledged at once: no exchange to remember.
			c.deliver(p)
			c.autoAck(packet.TypePuback, p.PacketID, 0)
			return
		}
		if c.inflightIn >= int(c.recvMax) {
			c.fail(errReceiveMaximum)
			return
		}
		c.inflightIn++
	}
	c.deliver(p)
	mark := c.inbound.Value(p.PacketID) & counted
	if x == 0 {
		mark = counted // counted in inflightIn above
	}
	if p.QoS == packet.QoS1 {
		c.inbound.Set(p.PacketID, owePuback|mark)
		if !c.cfg.ManualPuback {
			c.autoAck(packet.TypePuback, p.PacketID, 0)
			c.advance(&c.inbound, p.PacketID, 0, 0)
		}
		return
	}
	c.inbound.Set(p.PacketID, owePubrec|mark)
	if !c.cfg.ManualPubrec {
		c.autoAck(packet.TypePubrec, p.PacketID, 0)
		c.advance(&c.inbound, p.PacketID, awaitPubrel, 0)
	}
	c.logTheirs(p.PacketID, x)
}

// autoAck sends an acknowledgement the Connection makes itself, through
// the codec's property-free fast path. Its packet value (for EventSend)
// comes from a pool and never has properties. At most 7 bytes, it fits any
// Maximum Packet Size, and its reason code is always valid: it cannot fail.
func (c *Connection[ID]) autoAck(t packet.Type, id ID, r packet.ReasonCode) {
	var p packet.Packet
	get := func() packet.Packet { return c.sent.get(t) }
	switch t {
	case packet.TypePuback:
		a := get().(*packet.PubackOf[ID])
		a.PacketID, a.Reason, p = id, r, a
	case packet.TypePubrec:
		a := get().(*packet.PubrecOf[ID])
		a.PacketID, a.Reason, p = id, r, a
	case packet.TypePubrel:
		a := get().(*packet.PubrelOf[ID])
		a.PacketID, a.Reason, p = id, r, a
	default:
		a := get().(*packet.PubcompOf[ID])
		a.PacketID, a.Reason, p = id, r, a
	}
	start := len(c.out)
	c.out, _ = packet.AppendAck(c.out, t, c.version, id, r)
	c.sentBytes(p, start)
}

// advance moves an exchange to its next step, or ends it when next is 0 or
// the reason code is a failure.
func (c *Connection[ID]) advance(m *packetid.Map[ID, exchange], id ID, next exchange, r packet.ReasonCode) {
	x := m.Value(id)
	if next != 0 && !r.IsError() {
		m.Set(id, next|x&counted)
		return
	}
	m.Delete(id)
	if m == &c.inbound && x&counted != 0 {
		c.inflightIn--
	}
}

// complete ends one of our exchanges: the identifier is free again, and a
// PUBLISH gives its unit of send quota back.
func (c *Connection[ID]) complete(id ID, publish bool) {
	c.outbound.Delete(id)
	c.forget(id, false)
	c.ids.Release(id)
	c.emit(Event[ID]{Kind: EventIDReleased, PacketID: id})
	if publish {
		c.logOurs(id)
		c.sendQuota++
		c.drain()
	}
}

func (c *Connection[ID]) recvPuback(p *packet.PubackOf[ID]) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	if c.outbound.Value(p.PacketID) == awaitPuback {
		c.complete(p.PacketID, true)
	}
	c.deliver(p)
}

func (c *Connection[ID]) recvPubrec(p *packet.PubrecOf[ID]) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	switch c.outbound.Value(p.PacketID) {
	case awaitPubrec:
		if p.Reason.IsError() {
			c.complete(p.PacketID, true)
			c.deliver(p)
			return
		}
		c.outbound.Set(p.PacketID, owePubrel)
		c.forget(p.PacketID, true) // MQTT-4.3.3-6: only PUBREL is re-sent from now
		c.deliver(p)
		if !c.cfg.ManualPubrel {
			c.autoAck(packet.TypePubrel, p.PacketID, 0)
			c.outbound.Set(p.PacketID, awaitPubcomp)
		}
		c.logOurs(p.PacketID)
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
	switch x := c.inbound.Value(p.PacketID); x.step() {
	case awaitPubrel:
		c.inbound.Set(p.PacketID, owePubcomp|x&counted)
		c.deliver(p)
		if !c.cfg.ManualPubcomp {
			c.autoAck(packet.TypePubcomp, p.PacketID, 0)
			c.advance(&c.inbound, p.PacketID, 0, 0)
		}
		c.logTheirs(p.PacketID, x)
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
	if c.outbound.Value(p.PacketID) == awaitPubcomp {
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
	if s, ok := p.(*packet.SubscribeOf[ID]); ok {
		if err := c.caps.checkSubscribe(s.Subscriptions, &s.Props); err != nil {
			c.fail(err)
			return
		}
	}
	id, owed := requestID[ID](p)
	if c.inbound.Value(id) != 0 {
		c.fail(errIDInUse)
		return
	}
	c.inbound.Set(id, owed)
	c.deliver(p)
}

// requestID returns the identifier of a SUBSCRIBE or UNSUBSCRIBE and the
// answer it is owed.
func requestID[ID packetid.ID](p packet.Packet) (ID, exchange) {
	if s, ok := p.(*packet.SubscribeOf[ID]); ok {
		return s.PacketID, oweSuback
	}
	return p.(*packet.UnsubscribeOf[ID]).PacketID, oweUnsuback
}

// recvListAck handles SUBACK and UNSUBACK at the client.
func (c *Connection[ID]) recvListAck(p packet.Packet, id ID, awaiting exchange) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	if c.outbound.Value(id) == awaiting {
		c.complete(id, false)
	}
	c.deliver(p)
}
