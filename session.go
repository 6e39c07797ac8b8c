package mqtt

import (
	"cmp"
	"slices"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// The session: what outlives a network connection when the session does
// (section 4.1): our QoS 1 and QoS 2 PUBLISH packets not yet acknowledged,
// our PUBRELs not yet completed, the peer's QoS 2 PUBLISH packets we
// acknowledged with PUBREC and await PUBREL for, and the PUBLISH packets
// waiting to be sent at all (for send quota, or while offline).

// message is a PUBLISH kept by the session: its encoding in the session's
// protocol version, with the full topic and no Topic Alias (aliases belong
// to one network connection, MQTT-3.3.2-7).
type message struct {
	seq  uint64    // order of sending, for re-sending in order (MQTT-4.6.0-1)
	wire []byte    // nil once the PUBLISH is past PUBREC: only PUBREL is re-sent
	at   time.Time // when it was stored; zero without Config.Clock
	sent bool      // it went out on an earlier connection: re-send with DUP, never expire
}

// session is the part of a Connection that a persistent session keeps
// across network connections, and that ExportSession writes.
type session struct {
	version  packet.Version // the version stored messages are encoded in
	expiry   uint32         // v5 Session Expiry Interval in force
	persists bool           // the session outlives the current network connection
	present  bool           // this side holds state of an earlier network connection
	seq      uint64
}

// persistent reports whether a CONNECT (and CONNACK) make the session
// outlive the network connection: clean session 0 in 3.1.1, a Session
// Expiry Interval above 0 in v5 (MQTT-3.1.2-25 for the absent case means 0).
func persistent(v packet.Version, cleanStart bool, expiry uint32) bool {
	if v == packet.V5 {
		return expiry > 0
	}
	return !cleanStart
}

// store keeps the encoding of a QoS 1 or QoS 2 PUBLISH for re-sending, when
// the session persists, under the packet's identifier. Send checked that
// its topic is known (ErrAliasUnmapped): a PUBLISH the codec refuses once
// its alias is replaced by the topic is past the protocol's size limit,
// and is not kept (resend releases it).
func (c *Connection[ID]) store(p *packet.PublishOf[ID]) {
	if !c.sess.persists {
		return
	}
	if m, err := c.newMessage(p, c.sess.version); err == nil {
		c.stored.Set(p.PacketID, m)
	}
}

// newMessage encodes p for the session in version v: full topic, no
// alias. It fails for a PUBLISH the codec refuses so, such as one whose
// alias names no topic: a queued or stored message always has an encoding.
func (c *Connection[ID]) newMessage(p *packet.PublishOf[ID], v packet.Version) (message, error) {
	topic, alias, dup := p.Topic, p.Props.TopicAlias, p.Dup
	if topic == "" {
		p.Topic = c.aliasOut.Topic(alias)
	}
	p.Props.TopicAlias, p.Dup = 0, false
	var buf []byte
	if n := len(c.spare); n > 0 {
		buf, c.spare = c.spare[n-1][:0], c.spare[:n-1]
	}
	buf, err := p.AppendTo(buf, v)
	p.Topic, p.Props.TopicAlias, p.Dup = topic, alias, dup
	if err != nil {
		if cap(buf) > 0 {
			c.retire(buf)
		}
		return message{}, encodeError(err)
	}
	c.sess.seq++
	m := message{seq: c.sess.seq, wire: buf}
	if c.cfg.Clock != nil {
		m.at = c.now()
	}
	return m, nil
}

// adoptVersion makes the Connection's protocol version the session's.
// Messages stored in another version (an imported session) cannot be
// resumed: they go, with events.
func (c *Connection[ID]) adoptVersion() {
	if c.sess.version != c.version && c.outbound.Len()+len(c.queue) > 0 {
		c.dropStored()
		c.dropQueue(ErrSessionLost)
	}
	c.sess.version = c.version
}

// forget drops the stored encoding of id (its PUBLISH is acknowledged, or
// past PUBREC), keeping the buffer for reuse.
func (c *Connection[ID]) forget(id ID, keepOrder bool) {
	m, ok := c.stored.Get(id)
	if !ok {
		return
	}
	if m.wire != nil {
		c.retire(m.wire)
		m.wire = nil
	}
	if keepOrder {
		c.stored.Set(id, m)
	} else {
		c.stored.Delete(id)
	}
}

// decodeMessage decodes a stored message into a scratch PUBLISH.
func (c *Connection[ID]) decodeMessage(m message) (*packet.PublishOf[ID], error) {
	p := c.sent.get(packet.TypePublish).(*packet.PublishOf[ID])
	h, _, err := packet.Frame(m.wire, 0)
	if err != nil {
		return nil, err
	}
	if err := p.Decode(c.sess.version, h.Flags, m.wire[h.Len:h.Size()]); err != nil {
		return nil, err
	}
	return p, nil
}

// remaining counts down a message's Message Expiry Interval by the time
// it has been stored (MQTT-3.3.2-6), and reports whether it has expired.
func (c *Connection[ID]) remaining(p *packet.PublishOf[ID], at time.Time) (expired bool) {
	if at.IsZero() || c.cfg.Clock == nil || !p.Props.Has(property.MessageExpiryInterval) {
		return false
	}
	waited := c.now().Sub(at) / time.Second
	if waited < 0 {
		waited = 0
	}
	if time.Duration(p.Props.MessageExpiry) <= waited {
		p.Props.MessageExpiry = 1
		return true
	}
	p.Props.MessageExpiry -= uint32(waited)
	return false
}

// dropStored discards the session's unfinished exchanges (a new session,
// or one that did not survive), with an event for each message dropped and
// each identifier released.
func (c *Connection[ID]) dropStored() {
	for _, id := range c.outbound.Keys(nil) {
		x := c.outbound.Value(id)
		if x == awaitPuback || x == awaitPubrec {
			// Not acknowledged: the message is lost. Past PUBREC it was
			// delivered, and only the exchange ends.
			e := Event[ID]{Kind: EventDropped, PacketID: id, Err: ErrSessionLost}
			if m := c.stored.Value(id); m.wire != nil {
				e.Packet, _ = c.decodeMessage(m)
			}
			c.emit(e)
		}
		if x == awaitSuback || x == awaitUnsuback {
			c.outbound.Delete(id)
			c.ids.Release(id)
			c.emit(Event[ID]{Kind: EventIDReleased, PacketID: id})
			continue
		}
		c.release(id, c.stored.Value(id))
	}
	// Messages of the old session waiting for quota go with it; messages
	// never sent are new and stay queued.
	kept := c.queue[:0]
	for _, m := range c.queue {
		if !m.sent {
			kept = append(kept, m)
			continue
		}
		if p, err := c.decodeMessage(m); err == nil {
			c.emit(Event[ID]{Kind: EventDropped, Packet: p, PacketID: p.PacketID, Err: ErrSessionLost})
			c.release(p.PacketID, m)
		}
	}
	clear(c.queue[len(kept):])
	c.queue = kept
	if c.cfg.Journal {
		for _, id := range c.inbound.Keys(nil) {
			x := c.inStep(id)
			c.inbound.Delete(id)
			c.logTheirs(id, x)
		}
	}
	c.inbound.Clear()
	c.inflightIn = 0
	c.sess.present = false
}

// dropQueue discards the PUBLISH packets waiting to be sent, with events.
func (c *Connection[ID]) dropQueue(why error) {
	for _, m := range c.queue {
		if p, err := c.decodeMessage(m); err == nil {
			c.emit(Event[ID]{Kind: EventDropped, Packet: p, PacketID: p.PacketID, Err: why})
			c.release(p.PacketID, m)
		}
	}
	c.queue = c.queue[:0:0]
}

// resend re-sends, in their original order, the PUBLISH packets (with DUP
// set) and PUBRELs of the session after a reconnection that kept it
// (MQTT-4.4.0-1, MQTT-4.6.0-1). Re-sent PUBLISH packets count against the
// peer's Receive Maximum; those beyond it wait, ahead of the queue.
func (c *Connection[ID]) resend() {
	ids := make([]ID, 0, c.outbound.Len())
	for id, x := range c.outbound.All() {
		if x == awaitSuback || x == awaitUnsuback {
			continue
		}
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ID) int {
		sa, sb := c.stored.Value(a).seq, c.stored.Value(b).seq
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return cmp.Compare(a, b) // not by where the table keeps them
	})
	var waiting []message
	for _, id := range ids {
		switch c.outbound.Value(id) {
		case owePubrel, awaitPubcomp:
			c.autoAck(packet.TypePubrel, id, 0)
			c.outbound.Set(id, awaitPubcomp)
			c.logOurs(id)
			c.sendQuota--
		case awaitPuback, awaitPubrec:
			m := c.stored.Value(id)
			if c.sendQuota <= 0 && m.wire != nil { // without an encoding, sendMessage releases it
				m.sent = true
				waiting = append(waiting, m)
				c.outbound.Delete(id)
				c.stored.Delete(id)
				c.logQueued(id, m)
				continue
			}
			c.sendMessage(id, m, true)
		}
	}
	if len(waiting) > 0 {
		c.queue = append(waiting, c.queue...)
	}
}

// sendMessage sends one message of the session (re-sent or queued), or
// drops it, with an event, when it has expired before it was ever sent or
// no longer fits the peer's Maximum Packet Size.
func (c *Connection[ID]) sendMessage(id ID, m message, again bool) {
	p, err := c.decodeMessage(m)
	if err == nil {
		p.Dup = again // MQTT-3.3.1-1
		if c.remaining(p, m.at) && !again {
			err = ErrExpired // MQTT-3.3.2-5; a PUBLISH once sent never expires (MQTT-4.3.3-7)
		}
	}
	if err == nil {
		err = c.writePublish(p)
	}
	if err != nil {
		if p != nil {
			c.emit(Event[ID]{Kind: EventDropped, Packet: p, PacketID: id, Err: err})
		}
		c.release(id, m)
		return
	}
	c.sendQuota--
	if p.QoS == packet.QoS1 {
		c.outbound.Set(id, awaitPuback)
	} else {
		c.outbound.Set(id, awaitPubrec)
	}
	if c.sess.persists {
		m.at, m.sent = time.Time{}, true
		c.stored.Set(id, m)
		c.logOurs(id)
	} else {
		c.retire(m.wire)
		c.logOursEnded(id) // out of the queue, and not kept
	}
}

// release ends a message that will not be sent: its encoding is kept for
// reuse and its identifier freed.
func (c *Connection[ID]) release(id ID, m message) {
	if m.wire != nil {
		c.retire(m.wire)
	}
	c.stored.Delete(id)
	c.outbound.Delete(id)
	c.ids.Release(id)
	c.logOursEnded(id)
	c.emit(Event[ID]{Kind: EventIDReleased, PacketID: id})
}
