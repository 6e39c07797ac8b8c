package broker

import (
	"log/slog"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// onSubscribe subscribes the session to each filter of p, up to
// Config.MaxSubscriptions, answers with the SUBACK, and then sends the
// retained messages of the filters granted.
func (c *conn) onSubscribe(p *packet.Subscribe) {
	ack := &packet.Suback{PacketID: p.PacketID, Reasons: make([]packet.ReasonCode, len(p.Subscriptions))}
	var subID uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		subID = p.Props.SubscriptionIDs[0]
	}
	existed := make([]bool, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		if !c.perms().MaySubscribe(s.Filter) {
			c.logf("not authorized to subscribe to %q", s.Filter)
			ack.Reasons[i] = c.notAuthorized()
			continue
		}
		if !c.mayAdd(s.Filter) {
			ack.Reasons[i] = c.quotaExceeded()
			continue
		}
		// The Connection refused No Local on a shared subscription
		// (MQTT-3.8.3-4) with DISCONNECT 0x82.
		k := parseFilter(s.Filter, c.version)
		sub := subscription{qos: s.QoS, noLocal: s.NoLocal, retainAsPublished: s.RetainAsPublished, ids: subscriptionIDs(subID)}
		existed[i] = c.b.tree.subscribe(k, c.sess, sub)
		c.sess.addFilter(s.Filter, k, sub)
		c.persistSub(s.Filter, &sub)              // persist.go
		ack.Reasons[i] = packet.ReasonCode(s.QoS) // granted as asked: MQTT-3.8.4-7
	}
	c.clusterSaveLive() // cluster_session.go
	if err := c.mc().Send(ack); err != nil {
		c.logAt(slog.LevelWarn, "SUBACK not sent", "err", err)
		return
	}
	// Retained messages, after the SUBACK, as Retain Handling asks
	// (MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.3.1-11); they carry the retain
	// flag. A shared subscription gets none (section 4.8.2), nor does a
	// filter refused.
	for i, s := range p.Subscriptions {
		if ack.Reasons[i].IsError() || s.RetainHandling == 2 || s.RetainHandling == 1 && existed[i] ||
			parseFilter(s.Filter, c.version).share != "" {
			continue
		}
		ids := subscriptionIDs(subID)
		for _, m := range c.b.retained.matching(s.Filter) {
			c.deliver(m, min(m.qos, s.QoS), true, ids, time.Now())
		}
	}
}

// mayAdd reports whether the session may subscribe to filter: it has it
// already (subscribing again replaces the subscription, MQTT-3.8.4-3), or
// has fewer than Config.MaxSubscriptions.
func (c *conn) mayAdd(filter string) bool {
	limit := c.b.cfg.MaxSubscriptions
	if limit < 0 {
		return true
	}
	return c.sess.mayAdd(filter, limit)
}

// quotaExceeded is the SUBACK code of a filter refused for the
// subscription limit: 0x97 Quota exceeded, or 0x80 Failure in 3.1.1
// (MQTT-3.9.3-2 of 3.1.1).
func (c *conn) quotaExceeded() packet.ReasonCode {
	if c.version == packet.V5 {
		return packet.QuotaExceeded
	}
	return packet.SubscribeFailure
}

func (c *conn) onUnsubscribe(p *packet.Unsubscribe) {
	ack := &packet.Unsuback{PacketID: p.PacketID}
	for _, f := range p.Filters {
		existed := c.b.tree.unsubscribe(parseFilter(f, c.version), c.sess)
		c.sess.removeFilter(f)
		c.persistSub(f, nil)
		if c.version == packet.V5 {
			r := packet.Success
			if !existed {
				r = packet.NoSubscriptionExisted
			}
			ack.Reasons = append(ack.Reasons, r)
		}
	}
	c.clusterSaveLive()
	if err := c.mc().Send(ack); err != nil {
		c.logAt(slog.LevelWarn, "UNSUBACK not sent", "err", err)
	}
}
