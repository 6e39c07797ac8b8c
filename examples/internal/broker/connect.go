package broker

import (
	"log/slog"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// onConnect answers the CONNECT the Connection accepted: with the CONNACK
// it returns, or later, when the client's credentials take time to check
// (auth.go) or the session is another connection's (takeover.go): then
// the CONNACK is deferred until they are checked, or until that one has
// handed it over.
func (c *conn) onConnect(p *packet.Connect) packet.Connack {
	if refuse := c.check(p); refuse != 0 {
		return packet.Connack{Reason: refuse}
	}
	refuse, wait := c.authenticate(p)
	switch {
	case refuse != 0:
		return packet.Connack{Reason: refuse}
	case wait:
		c.extra().waiting = p.Clone()
		return packet.Connack{}
	}
	ack, busy := c.admit(p)
	if busy {
		c.extra().waiting = p.Clone()
		c.sc.DeferConnack()
	}
	return ack
}

// admit goes on with the CONNECT of an authenticated client: its will is
// authorised, and its session claimed. It returns the CONNACK, or busy
// when the session is another connection's (the CONNACK waits for
// claimAgain).
func (c *conn) admit(p *packet.Connect) (ack packet.Connack, busy bool) {
	c.authorize()
	if p.HasWill() && !c.mayPublish(p.Will.Topic) {
		c.logf("not authorized to publish its will on %q", p.Will.Topic)
		return packet.Connack{Reason: refusal(c.version, packet.NotAuthorized)}, false
	}
	refuse, busy := c.take(p, false)
	switch {
	case refuse != 0:
		return packet.Connack{Reason: refuse}, false
	case busy:
		return packet.Connack{}, true
	}
	return c.accept(p), false
}

// claimAgain claims the session again once the connection that had it
// has ended (OnWake), and sends the deferred CONNACK.
func (c *conn) claimAgain() { c.claimWaiting(true) }

// claimWaiting claims the session of the CONNECT whose CONNACK waits
// (again: once more, after waiting for the session's connection), and
// sends the CONNACK unless it has to wait (again).
func (c *conn) claimWaiting(again bool) {
	p := c.x.waiting
	refuse, busy := c.take(p, again)
	switch {
	case busy:
		return // waits again
	case refuse == superseded:
		return // a later connection claimed it: this one is being closed
	}
	c.x.waiting = nil
	if refuse != 0 {
		c.logRefused(refuse)
		c.sc.Connack(packet.Connack{Reason: refuse})
		return
	}
	c.sc.Connack(c.accept(p))
}

// accept returns the CONNACK that accepts the client, and makes the
// session live: the messages it holds go out once the CONNACK has (the
// connection wakes itself for them).
func (c *conn) accept(p *packet.Connect) packet.Connack {
	ack := packet.Connack{SessionPresent: c.present && c.version != packet.V31} // MQTT-3.2.2-3
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
		if a := c.authState(); a != nil && a.method != "" {
			// Enhanced authentication: the method again, and the
			// server-final-message (MQTT-4.12.0-5).
			ack.Props.AuthMethod, ack.Props.AuthData = a.method, a.final
			a.final = nil
		}
	}
	if limit := c.b.cfg.MaxKeepAlive; limit > 0 && (p.KeepAlive == 0 || int(p.KeepAlive) > limit) {
		if c.version == packet.V5 {
			// The client must use it (MQTT-3.2.2-21), and the
			// Connection watches it.
			ack.Props.ServerKeepAlive = uint16(limit)
		} else {
			// A 3.1.1 client cannot be told: the broker watches the
			// maximum itself, as the Connection would a Keep Alive.
			c.extra().idle = time.Duration(limit) * time.Second * 3 / 2
		}
	}
	if p.HasWill() {
		w := &p.Will
		x := c.extra()
		x.will = newMessage(w.Topic, w.Payload, w.QoS, w.Retain, &w.Props, c.sess)
		x.willDelay = w.Props.WillDelay
	}
	c.connected = true
	c.b.counts.connect()
	c.logConnected(p, &ack)
	if x := c.x; x != nil && x.idle > 0 {
		x.heard = time.Now()
		c.after(&x.idleTimer, wakeIdle, x.idle)
	}
	c.sess.goLive(c.mc().SessionPersists(), c.sc)
	if c.b.cs != nil && c.mc().SessionPersists() {
		c.sess.trackFloor(c.present && c.x != nil && c.x.prevState != nil) // floor.go
	}
	c.persistOnline()   // persist.go
	c.clusterSaveLive() // cluster_session.go
	c.sc.Wake()         // the outbox, after the CONNACK
	return ack
}

// check looks at a CONNECT the Connection accepted before the session is
// touched; it returns the CONNACK code to refuse it with, or 0.
func (c *conn) check(p *packet.Connect) packet.ReasonCode {
	c.version, c.cleanStart, c.expiry = p.Version, p.CleanStart, p.Props.SessionExpiry
	c.clientReceiveMax = 0xFFFF
	if p.Version == packet.V5 && p.Props.ReceiveMaximum > 0 {
		c.clientReceiveMax = int32(p.Props.ReceiveMaximum)
	}
	if c.version != packet.V5 {
		c.expiry = neverExpires // a 3.1.1 session that persists does not expire
	}
	switch {
	case p.Version != packet.V5 && p.ClientID == "" && !p.CleanStart:
		return packet.RefusedIdentifierRejected // MQTT-3.1.3-8 of 3.1.1
	}
	if p.ClientID == "" {
		c.clientID, c.assigned = newClientID(), true
	} else {
		c.clientID = c.mc().ClientID() // the Connection's copy: p aliases the read buffer
	}
	if auth := c.b.cfg.Authenticate; auth != nil {
		if r := auth(p); r != 0 {
			return refusal(c.version, r)
		}
	}
	return 0
}

// superseded is take's answer to a connection waiting for a session that
// a later connection of the client claimed: not a CONNACK code (those
// are never 0xFF).
const superseded packet.ReasonCode = 0xFF

// take claims the session of the CONNECT (again: once more, after
// waiting), and restores the Connection's state of it; it returns the
// CONNACK code to refuse the CONNECT with, or 0, or busy when the session
// is another connection's.
func (c *conn) take(p *packet.Connect, again bool) (refuse packet.ReasonCode, busy bool) {
	if refuse, wait := c.claimCluster(p); refuse != 0 || wait {
		return refuse, wait // cluster_session.go: claimed in the cluster first
	}
	s, present, state, busy, err := c.b.claim(c, c.clientID, p.CleanStart, again)
	switch {
	case err == errSuperseded:
		return superseded, false
	case err != nil:
		if c.version != packet.V5 {
			return packet.RefusedServerUnavailable, false
		}
		return packet.ServerUnavailable, false
	case busy:
		return 0, true
	}
	c.sess, c.present = s, present
	if state != nil {
		c.extra().prevState = state
	}
	// The outboxes the session's last connection waited for (claim), if
	// still full, are waited for again.
	c.release()
	if present && state != nil {
		// The Connection has the CONNECT and has not answered it: the
		// unfinished exchanges of the session go back in before CONNACK.
		if err := c.mc().ImportSession(state); err != nil {
			// The Connection is closing already (the client sent
			// DISCONNECT right after its CONNECT, say): the CONNECT is
			// refused, and the session is kept as it was for the next
			// connection (teardown), not handed on without its state.
			c.logAt(slog.LevelWarn, "session state not restored, connection refused", "err", err)
			return refusal(c.version, packet.ServerUnavailable), false
		}
	}
	return 0, false
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
