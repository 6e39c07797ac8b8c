package broker

import (
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

func (c *conn) onDisconnect(p *packet.Disconnect) {
	// Only reason 0x00 discards the will; 0x04 and the error codes
	// publish it (MQTT-3.14.4-3).
	c.normal = p.Reason == packet.NormalDisconnection
	if p.Props.Has(property.SessionExpiryInterval) {
		c.expiry = p.Props.SessionExpiry // the Connection checked MQTT-3.14.2-2
	}
}

// teardown ends the connection (OnClose, the Connection told already):
// the session is kept (with the Connection's exported state) or
// discarded, the will is published, and a connection waiting to take the
// session over is woken.
func (c *conn) teardown(err error) {
	c.logClosed(err)
	c.stopTimers()
	if c.connected {
		c.b.counts.disconnect()
	}
	c.wakeOthers() // what the last read routed
	// The acknowledgements withheld are not sent, but their messages are
	// routed: a client that resumes its session sends those PUBLISH (and
	// PUBREL) packets again, a QoS 1 message is delivered again (at least
	// once) and a QoS 2 one is not (the Connection has Closed make it
	// so); the session keeps the outboxes waited for, for the next
	// connection to wait for (claim).
	var blockers []*session
	var prevState []byte
	var will *message
	var willDelay uint32
	if x := c.x; x != nil {
		blockers, prevState, will, willDelay = x.blockers, x.prevState, x.will, x.willDelay
	}
	c.unblockAll()
	var next *conn
	var after func()
	b := c.b
	b.mu.Lock()
	// MQTT-3.1.2-8: the will is published unless a DISCONNECT 0x00
	// deleted it, and not on shutdown.
	if !c.connected || c.normal || b.closing {
		will = nil
	}
	if b.takers[c.clientID] == c {
		delete(b.takers, c.clientID) // it waited for the session in vain
	}
	if s := c.sess; s != nil {
		switch {
		case !c.connected && c.present:
			// The CONNECT was refused after all: the session is as it was.
			s.keepLocked(prevState, blockers)
			b.keepLocked(s, c.expiry, nil, 0)
		case c.connected && c.mc().SessionPersists():
			s.goOffline(true, b.lowWater)
			s.keepLocked(c.mc().ExportSession(), blockers)
			will = b.keepLocked(s, c.expiry, will, willDelay)
		default:
			// The session ends with the connection, and a delayed will
			// with it.
			s.goOffline(false, 0)
			b.discardLocked(s)
		}
		c.persistEnd(s, c.connected && c.mc().SessionPersists()) // persist.go
		s.owner = nil
		next = b.takers[c.clientID]
		after = b.clusterTeardownLocked(c, s, c.connected && c.mc().SessionPersists(), next) // cluster_session.go
	}
	b.mu.Unlock()
	if after != nil {
		after()
	}
	if next != nil {
		next.wake(wakeClaimable)
	}
	if will != nil {
		b.route(will, &c.scratch().router, nil)
	}
}
