package broker

import (
	"github.com/mqttcore/mqtt"
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

// disconnect ends the connection from the broker's side: a v5 client is
// told why (section 4.13).
func (c *conn) disconnect(reason packet.ReasonCode) {
	if c.mc != nil && c.connected && c.version == packet.V5 && c.mc.State() == mqtt.StateConnected {
		if err := c.send(&packet.Disconnect{Reason: reason}); err != nil {
			c.logf("DISCONNECT not sent: %v", err)
		}
	}
	c.close()
}

// close closes the socket; the loop ends and teardown follows.
func (c *conn) close() {
	c.closing = true
	c.nc.Close()
}

// teardown ends the connection: the Connection learns that the transport
// is gone, the session is kept (with the Connection's exported state) or
// discarded, and the will is published.
func (c *conn) teardown() {
	c.nc.Close()
	close(c.stop)
	c.timers.StopAll()
	// The acknowledgements withheld are not sent, but their messages are
	// routed: a client that resumes its session sends those PUBLISH (and
	// PUBREL) packets again, a QoS 1 message is delivered again (at least
	// once) and a QoS 2 one is not (the Connection has Closed make it
	// so); the session keeps the outboxes waited for, for the next
	// connection to wait for (claim).
	blockers := c.blockers
	c.unblockAll()
	if c.mc != nil {
		c.mc.Closed() // event logs the messages dropped; nothing else is left to do
	}
	// MQTT-3.1.2-8: the will is published unless a DISCONNECT 0x00
	// deleted it, and not on shutdown.
	will := c.will
	if !c.connected || c.normal || c.shutdown {
		will = nil
	}
	if s := c.sess; s != nil {
		b := c.b
		b.mu.Lock()
		switch {
		case !c.connected && c.present:
			// The CONNECT was refused after all: the session is as it was.
			s.state, s.blockedBy = c.prevState, blockers
			b.keepLocked(s, c.expiry, nil, 0)
		case c.connected && c.mc.SessionPersists():
			s.goOffline(true, b.lowWater)
			s.state, s.blockedBy = c.mc.ExportSession(), blockers
			will = b.keepLocked(s, c.expiry, will, c.willDelay)
		default:
			// The session ends with the connection, and a delayed will
			// with it.
			s.goOffline(false, 0)
			b.discardLocked(s)
		}
		s.owner = nil
		b.mu.Unlock()
	}
	if will != nil {
		c.b.route(will, &c.router, nil)
	}
}
