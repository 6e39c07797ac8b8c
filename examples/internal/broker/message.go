package broker

import (
	"sync"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// message is an application message inside the broker: copied out of the
// PUBLISH (or will) it arrived in, and shared, read-only, by every
// delivery of it.
type message struct {
	topic   string
	payload []byte
	qos     packet.QoS
	retain  bool
	props   property.Properties // the properties forwarded to v5 subscribers
	expires time.Time           // zero: no Message Expiry Interval
	from    *session            // the publishing session, for No Local
}

// newMessage copies an application message out of decoded packet fields,
// which alias a read buffer.
func newMessage(topic string, payload []byte, qos packet.QoS, retain bool,
	props *property.Properties, from *session, now time.Time) *message {
	m := &message{topic: string([]byte(topic)), qos: qos, retain: retain, from: from}
	if len(payload) > 0 {
		m.payload = append([]byte(nil), payload...)
	}
	// The properties a server forwards unchanged (MQTT-3.3.2-4,
	// MQTT-3.3.2-15, MQTT-3.3.2-16, MQTT-3.3.2-17, MQTT-3.3.2-20); the
	// Message Expiry Interval is counted down (MQTT-3.3.2-6) and the
	// Topic Alias and Subscription Identifiers belong to one hop.
	c := props.Clone()
	m.props = property.Properties{
		PayloadFormat:   c.PayloadFormat,
		ContentType:     c.ContentType,
		ResponseTopic:   c.ResponseTopic,
		CorrelationData: c.CorrelationData,
		User:            c.User,
	}
	if props.Has(property.MessageExpiryInterval) {
		m.expires = now.Add(time.Duration(props.MessageExpiry) * time.Second)
	}
	return m
}

// publish builds the PUBLISH that delivers m to a client of version v, at
// qos with the retain flag retain. It reports false when m has expired.
func (m *message) publish(v packet.Version, qos packet.QoS, retain bool, subIDs []uint32, now time.Time) (packet.Publish, bool) {
	p := packet.Publish{Topic: m.topic, QoS: qos, Retain: retain, Payload: m.payload}
	if !m.expires.IsZero() {
		left := m.expires.Sub(now)
		if left <= 0 {
			return p, false // MQTT-3.3.2-5
		}
		if v == packet.V5 {
			p.Props.MessageExpiry = uint32((left + time.Second - 1) / time.Second)
		}
	}
	if v == packet.V5 {
		expiry := p.Props.MessageExpiry
		p.Props = m.props
		p.Props.MessageExpiry = expiry
		p.Props.SubscriptionIDs = subIDs
	}
	return p, true
}

// retainedStore holds the retained message of each topic.
type retainedStore struct {
	mu   sync.RWMutex
	msgs map[string]*message
}

// store applies a retained PUBLISH: an empty payload deletes the topic's
// retained message (MQTT-3.3.1-6, MQTT-3.3.1-7), any other replaces it
// (MQTT-3.3.1-5).
func (r *retainedStore) store(m *message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(m.payload) == 0 {
		delete(r.msgs, m.topic)
		return
	}
	if r.msgs == nil {
		r.msgs = make(map[string]*message)
	}
	r.msgs[m.topic] = m
}

// matching returns the retained messages whose topics match filter.
func (r *retainedStore) matching(filter string) []*message {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*message
	for topic, m := range r.msgs {
		if matches(filter, topic) {
			out = append(out, m)
		}
	}
	return out
}
