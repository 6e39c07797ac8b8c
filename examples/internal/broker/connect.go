package broker

import (
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// onConnect answers the CONNECT the Connection accepted.
func (c *conn) onConnect(p *packet.Connect) {
	if refuse := c.prepare(p); refuse != 0 {
		if err := c.send(&packet.Connack{Reason: refuse}); err != nil {
			c.logf("CONNACK not sent: %v", err)
			c.close()
		}
		return
	}
	ack := &packet.Connack{SessionPresent: c.present && c.version != packet.V31} // MQTT-3.2.2-3
	if c.version == packet.V5 {
		if c.assigned {
			ack.Props.AssignedClientID = c.clientID // MQTT-3.2.2-16
		}
		ack.Props.MaximumPacketSize = uint32(c.b.cfg.MaxPacketSize)
		ack.Props.TopicAliasMaximum = 16
		if c.b.cfg.ReceiveMaximum < 0xFFFF {
			// The Connection refuses one more open QoS 2 exchange with
			// DISCONNECT 0x93 Receive Maximum exceeded (section 3.3.4).
			ack.Props.ReceiveMaximum = uint16(c.b.cfg.ReceiveMaximum)
		}
		// Shared Subscription Available is left out: it means 1.
	}
	if limit := c.b.cfg.MaxKeepAlive; limit > 0 && (p.KeepAlive == 0 || int(p.KeepAlive) > limit) {
		if c.version == packet.V5 {
			// The client must use it (MQTT-3.2.2-21), and the
			// Connection watches it.
			ack.Props.ServerKeepAlive = uint16(limit)
		} else {
			// A 3.1.1 client cannot be told: the broker watches the
			// maximum itself, as the Connection would a Keep Alive.
			c.idle = time.Duration(limit) * time.Second * 3 / 2
		}
	}
	if p.HasWill() {
		w := &p.Will
		c.will = newMessage(w.Topic, w.Payload, w.QoS, w.Retain, &w.Props, c.sess)
		c.willDelay = w.Props.WillDelay
	}
	if err := c.mc.Send(ack); err != nil {
		c.logf("CONNACK not sent: %v", err)
		c.close()
		return
	}
	c.connected = true
	if c.idle > 0 {
		c.heard = time.Now()
		c.arm(&c.idleTimer, c.idle)
	}
	c.sess.goLive(c.mc.SessionPersists())
	c.carryOut() // the CONNACK, re-sent messages, packets held since CONNECT
	c.flushPending()
}

// prepare claims the session of the CONNECT the Connection accepted, and
// restores the Connection's state of it; it returns the CONNACK code to
// refuse the CONNECT with, or 0.
func (c *conn) prepare(p *packet.Connect) packet.ReasonCode {
	c.version, c.cleanStart, c.expiry = p.Version, p.CleanStart, p.Props.SessionExpiry
	c.clientReceiveMax = 0xFFFF
	if p.Version == packet.V5 && p.Props.ReceiveMaximum > 0 {
		c.clientReceiveMax = int(p.Props.ReceiveMaximum)
	}
	if c.version != packet.V5 {
		c.expiry = neverExpires // a 3.1.1 session that persists does not expire
	}
	switch {
	case p.Version != packet.V5 && p.ClientID == "" && !p.CleanStart:
		return packet.RefusedIdentifierRejected // MQTT-3.1.3-8 of 3.1.1
	case p.Version == packet.V5 && p.Props.AuthMethod != "":
		return packet.BadAuthenticationMethod // no enhanced authentication here
	}
	c.clientID = p.ClientID
	if c.clientID == "" {
		c.clientID, c.assigned = newClientID(), true
	}
	if auth := c.b.cfg.Authenticate; auth != nil {
		if r := auth(p); r != 0 {
			return refusal(c.version, r)
		}
	}
	if p.HasWill() && !c.mayPublish(p.Will.Topic) {
		return refusal(c.version, packet.NotAuthorized)
	}
	s, present, state, err := c.b.claim(c, c.clientID, p.CleanStart)
	if err != nil {
		if c.version != packet.V5 {
			return packet.RefusedServerUnavailable
		}
		return packet.ServerUnavailable
	}
	c.sess, c.present, c.prevState = s, present, state
	// The outboxes the session's last connection waited for (claim), if
	// still full, are waited for again.
	c.release()
	if present && state != nil {
		// The Connection has the CONNECT and has not answered it: the
		// unfinished exchanges of the session go back in before CONNACK.
		if err := c.mc.ImportSession(state); err != nil {
			c.logf("session state not restored: %v", err)
		}
	}
	return 0
}

// refusal returns the CONNACK code that refuses a client of version v for
// the v5 reason r.
func refusal(v packet.Version, r packet.ReasonCode) packet.ReasonCode {
	if v == packet.V5 {
		return r
	}
	switch r {
	case packet.ClientIdentifierNotValid:
		return packet.RefusedIdentifierRejected
	case packet.ServerUnavailable, packet.ServerBusy:
		return packet.RefusedServerUnavailable
	case packet.BadUserNameOrPassword:
		return packet.RefusedBadUserNameOrPassword
	}
	return packet.RefusedNotAuthorized
}
