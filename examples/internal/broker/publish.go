package broker

import (
	"log/slog"

	"github.com/mqttcore/mqtt/packet"
)

// onPublish routes the message of a PUBLISH the Connection accepted, if
// the client may publish on its topic (Config.MayPublish, Config.ACL). A
// v5 client is told of a message it may not publish with 0x87 Not
// authorized in its PUBACK or PUBREC (a QoS 0 one is dropped); a 3.1.1
// client cannot be told: its message is acknowledged as usual and dropped
// (MQTT-3.3.5-2 of 3.1.1). A QoS 1 message is then acknowledged, at once
// or once the full outboxes the connection waits for have drained
// (flow.go); the PUBREC of a QoS 2 one is the Connection's (or, when the
// broker may refuse messages, sent here: mqtt.Config.ManualPubrec), and
// onPubrel sends its PUBCOMP. A message is routed (and a retained one
// stored) before its PUBACK or PUBREC goes out, so that a client that
// publishes and then subscribes never sees it twice.
func (c *conn) onPublish(p *packet.Publish) {
	c.b.counts.stripe(c).received.Add(1)
	var reason packet.ReasonCode
	if c.mayPublish(p.Topic) {
		m := newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, c.sess)
		c.b.route(m, &c.scratch().router, c)
	} else {
		c.logAt(slog.LevelInfo, "not authorized to publish: message dropped", "topic", p.Topic)
		if c.version == packet.V5 && c.b.cfg.mayRefusePublish() {
			// (Without an ACL or MayPublish, a message to $SYS is
			// acknowledged as usual: the Connection sends the PUBREC.)
			reason = packet.NotAuthorized
		}
	}
	switch p.QoS {
	case packet.QoS1:
		c.acknowledge(heldAck{id: p.PacketID, t: packet.TypePuback, reason: reason})
	case packet.QoS2:
		if c.b.cfg.mayRefusePublish() {
			if err := c.mc.Send(&packet.Pubrec{PacketID: p.PacketID, Reason: reason}); err != nil {
				c.logf("PUBREC of packet %d not sent: %v", p.PacketID, err)
			}
		}
		if reason == 0 {
			c.unreleased++ // a PUBREC 0x87 ends the exchange: no PUBREL comes
		}
	}
}

// onPubrel completes the QoS 2 exchange id with PUBCOMP (MQTT-4.3.3-11),
// at once or once the full outboxes the connection waits for have
// drained (flow.go).
func (c *conn) onPubrel(id uint16) {
	c.unreleased = max(c.unreleased-1, 0) // 0: a message of an earlier connection
	c.acknowledge(heldAck{id: id, t: packet.TypePubcomp})
}
