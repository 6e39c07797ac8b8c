package broker

import "github.com/mqttcore/mqtt/packet"

// onPublish routes the message of a PUBLISH the Connection accepted, if
// the client may publish on its topic; a message it may not publish is
// dropped, acknowledged all the same (MQTT-3.3.5-2 of 3.1.1). A QoS 1
// message is then acknowledged, at once or once the full outboxes the
// connection waits for have drained (flow.go); the Connection has sent
// the PUBREC of a QoS 2 one, and onPubrel sends its PUBCOMP. nested tells
// that the Connection is handing out its events (see event).
func (c *conn) onPublish(m *message, nested bool) {
	if c.mayPublish(m.topic) {
		c.b.route(m, &c.router, c)
	} else {
		c.logf("not authorized to publish on %q: message dropped", m.topic)
	}
	switch m.qos {
	case packet.QoS1:
		c.acknowledge(heldAck{id: m.pid, t: packet.TypePuback}, nested)
	case packet.QoS2:
		c.unreleased++
	}
}

// onPubrel completes the QoS 2 exchange id with PUBCOMP (MQTT-4.3.3-11),
// at once or once the full outboxes the connection waits for have
// drained (flow.go).
func (c *conn) onPubrel(id uint16, nested bool) {
	c.unreleased = max(c.unreleased-1, 0) // 0: a message of an earlier connection
	c.acknowledge(heldAck{id: id, t: packet.TypePubcomp}, nested)
}

// mayPublish asks Config.MayPublish whether the client may publish on
// topic.
func (c *conn) mayPublish(topic string) bool {
	return c.b.cfg.MayPublish == nil || c.b.cfg.MayPublish(c.clientID, topic)
}
