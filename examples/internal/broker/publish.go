package broker

import (
	"log/slog"

	"github.com/mqttcore/mqtt/packet"
)

// onPublish routes the message of a PUBLISH the Connection accepted, if
// the client may publish on its topic; a message it may not publish is
// dropped, acknowledged all the same (MQTT-3.3.5-2 of 3.1.1). A QoS 1
// message is then acknowledged, at once or once the full outboxes the
// connection waits for have drained (flow.go); the Connection has sent
// the PUBREC of a QoS 2 one, and onPubrel sends its PUBCOMP. A message is
// routed (and a retained one stored) before its PUBACK or PUBREC goes
// out, so that a client that publishes and then subscribes never sees it
// twice.
func (c *conn) onPublish(p *packet.Publish) {
	c.b.counts.stripe(c).received.Add(1)
	if c.mayPublish(p.Topic) {
		m := newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, c.sess)
		c.b.route(m, &c.scratch().router, c)
	} else {
		c.logAt(slog.LevelInfo, "not authorized to publish: message dropped", "topic", p.Topic)
	}
	switch p.QoS {
	case packet.QoS1:
		c.acknowledge(heldAck{id: p.PacketID, t: packet.TypePuback})
	case packet.QoS2:
		c.unreleased++
	}
}

// onPubrel completes the QoS 2 exchange id with PUBCOMP (MQTT-4.3.3-11),
// at once or once the full outboxes the connection waits for have
// drained (flow.go).
func (c *conn) onPubrel(id uint16) {
	c.unreleased = max(c.unreleased-1, 0) // 0: a message of an earlier connection
	c.acknowledge(heldAck{id: id, t: packet.TypePubcomp})
}

// mayPublish asks Config.MayPublish whether the client may publish on
// topic. No client may publish to $SYS, the broker's own (sys.go).
func (c *conn) mayPublish(topic string) bool {
	if isSys(topic) {
		return false
	}
	return c.b.cfg.MayPublish == nil || c.b.cfg.MayPublish(c.clientID, topic)
}
