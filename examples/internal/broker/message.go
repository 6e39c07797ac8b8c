package broker

import (
	"sync"
	"time"
	"unsafe"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/mqttcore/mqtt/topic"
)

// message is an application message inside the broker: copied once out of
// the PUBLISH (or will) it arrived in, and shared, read-only, by every
// delivery of it.
type message struct {
	topic   string
	payload []byte // nil when empty
	qos     packet.QoS
	retain  bool
	props   *property.Properties // the properties forwarded to v5 subscribers; nil for none
	expires time.Time            // zero: no Message Expiry Interval
	from    *session             // the publishing session, for No Local
	// pos is, in a SessionCluster, the message's position in the cluster
	// (a stream sequence: exact), or a lower bound of it for one
	// published here (floor.go); 0: unknown.
	pos    uint64
	exact  bool
	remote bool // published on another node of the cluster
}

// forwardedZero is the forwarded properties that a publisher can send with
// a zero value (Payload Format Indicator 0, an empty Content Type).
var forwardedZero = property.Set(0).With(property.PayloadFormatIndicator).With(property.ContentType)

// newMessage copies an application message out of decoded packet fields,
// which alias a read buffer. The topic, the payload and the strings and
// bytes of the forwarded properties are copied into one buffer, which is
// never written again. A Message Expiry Interval counts from now.
func newMessage(topic string, payload []byte, qos packet.QoS, retain bool,
	props *property.Properties, from *session) *message {
	// The properties a server forwards unchanged (MQTT-3.3.2-4,
	// MQTT-3.3.2-15, MQTT-3.3.2-16, MQTT-3.3.2-17, MQTT-3.3.2-20); the
	// Message Expiry Interval is counted down (MQTT-3.3.2-6) and the
	// Topic Alias and Subscription Identifiers belong to one hop.
	forward := props.PayloadFormat != 0 || props.ContentType != "" || props.ResponseTopic != "" ||
		props.CorrelationData != nil || len(props.User) > 0 || props.Zero&forwardedZero != 0
	size := len(topic) + len(payload)
	if forward {
		size += len(props.ContentType) + len(props.ResponseTopic) + len(props.CorrelationData)
		for _, u := range props.User {
			size += len(u.Key) + len(u.Value)
		}
	}
	buf := copier(make([]byte, 0, size))
	m := &message{topic: buf.string(topic), qos: qos, retain: retain, from: from}
	if len(payload) > 0 {
		m.payload = buf.bytes(payload)
	}
	if forward {
		m.props = &property.Properties{
			Zero:          props.Zero & forwardedZero, // present, with a zero value: still present
			PayloadFormat: props.PayloadFormat,
			ContentType:   buf.string(props.ContentType),
			ResponseTopic: buf.string(props.ResponseTopic),
		}
		if props.CorrelationData != nil {
			m.props.CorrelationData = buf.bytes(props.CorrelationData)
		}
		if len(props.User) > 0 {
			m.props.User = make([]property.User, len(props.User))
			for i, u := range props.User {
				m.props.User[i] = property.User{Key: buf.string(u.Key), Value: buf.string(u.Value)}
			}
		}
	}
	if props.Has(property.MessageExpiryInterval) {
		m.expires = time.Now().Add(time.Duration(props.MessageExpiry) * time.Second)
	}
	return m
}

// copier appends copies of strings and byte slices to a buffer made large
// enough for all of them. What it returns aliases the buffer, which is
// written only there, once, before anything reads it: its strings are
// therefore as immutable as any.
type copier []byte

func (c *copier) bytes(b []byte) []byte {
	start := len(*c)
	*c = append(*c, b...)
	return (*c)[start:len(*c):len(*c)]
}

func (c *copier) string(s string) string {
	if s == "" {
		return ""
	}
	b := c.bytes(unsafe.Slice(unsafe.StringData(s), len(s)))
	return unsafe.String(&b[0], len(b))
}

// fill makes p the PUBLISH that delivers m to a client of version v, at
// qos with the retain flag retain. It reports false when m has expired.
// p shares m's memory, and subIDs, read-only.
//
// p is reused from one delivery to the next: fill sets every field that
// fill or the Connection's Send (PacketID, Dup) ever sets rather than
// clearing all of p, which would copy a struct of pointers through the
// garbage collector's write barrier.
func (m *message) fill(p *packet.Publish, v packet.Version, qos packet.QoS, retain bool, subIDs []uint32, now time.Time) bool {
	var expiry uint32
	if !m.expires.IsZero() {
		left := m.expires.Sub(now)
		if left <= 0 {
			return false // MQTT-3.3.2-5
		}
		expiry = uint32((left + time.Second - 1) / time.Second)
	}
	p.Topic, p.QoS, p.Retain, p.Dup, p.PacketID, p.Payload = m.topic, qos, retain, false, 0, m.payload
	f := &noProperties
	if v != packet.V5 {
		expiry, subIDs = 0, nil
	} else if m.props != nil {
		f = m.props
	}
	p.Props.Zero = f.Zero
	p.Props.PayloadFormat = f.PayloadFormat
	p.Props.MessageExpiry = expiry
	p.Props.ContentType = f.ContentType
	p.Props.ResponseTopic = f.ResponseTopic
	p.Props.CorrelationData = f.CorrelationData
	p.Props.SubscriptionIDs = subIDs
	p.Props.User = f.User
	return true
}

// noProperties is the forwarded properties of a message without any.
var noProperties property.Properties

// retainedStore holds the retained message of each topic.
type retainedStore struct {
	mu   sync.RWMutex
	msgs map[string]*message
	seq  uint64 // the changes so far, which order them in a Store
}

// store applies a retained PUBLISH: an empty payload deletes the topic's
// retained message (MQTT-3.3.1-6, MQTT-3.3.1-7), any other replaces it
// (MQTT-3.3.1-5). It returns the change's number.
func (r *retainedStore) store(m *message) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	if len(m.payload) == 0 {
		delete(r.msgs, m.topic)
		return r.seq
	}
	if r.msgs == nil {
		r.msgs = make(map[string]*message)
	}
	r.msgs[m.topic] = m
	return r.seq
}

// count returns the number of retained messages.
func (r *retainedStore) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.msgs)
}

// matching returns the retained messages whose topics match filter.
func (r *retainedStore) matching(filter string) []*message {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*message
	for name, m := range r.msgs {
		if topic.Match(filter, name) {
			out = append(out, m)
		}
	}
	return out
}
