package broker

import (
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// Retained messages in a cluster.
//
// A Cluster that is also a RetainingCluster keeps the retained messages
// of the topics it Retains cluster-wide, and gives every node its copy:
// a retained PUBLISH of such a topic is not stored by the node it was
// published on (route.go) but handed to the cluster with the rest of the
// message (Cluster.Publish, the Retain flag set), and the cluster applies
// the retained messages of all nodes, this one's included, to each node
// through SetRetained, in one order (the last one applied wins), so that
// every node ends with the same ones. SUBSCRIBE reads the node's copy.
// A retained message that expired as it arrived (a Message Expiry
// Interval of 0) is sent to no one, but replaces the topic's all the
// same: the broker hands the cluster DropRetained instead (cluster.go).
//
// The $SYS topics (each node's own) stay on their node, as do the topics
// the cluster does not Retain: they are stored as without a cluster.

// RetainingCluster is a Cluster that keeps retained messages cluster-wide
// (examples/cluster does, in a JetStream key-value bucket).
type RetainingCluster interface {
	Cluster
	// Retains reports whether the cluster keeps the retained messages of
	// a topic name (never asked for $SYS topics). It must give the same
	// answer for a topic every time.
	//
	// The cluster is then to store a retained message of the topic that
	// Publish hands it (or, with an empty payload, delete the topic's),
	// and to call done only once it has, and once this node's
	// SetRetained has been called with it (or a later one of the topic),
	// so that a client that has its PUBACK and then subscribes gets it.
	Retains(topic string) bool
	// DropRetained deletes the retained message of a topic it Retains,
	// cluster-wide, as an empty retained message handed to Publish does,
	// and publishes nothing: the broker calls it, instead of Publish, for
	// a retained message that expired as it arrived (a Message Expiry
	// Interval of 0), which replaces the topic's retained message
	// (MQTT-3.3.1-5) and is sent to no one (MQTT-3.3.2-5). done is
	// called as Publish's.
	DropRetained(topic string, done func(err error))
}

// retainedByCluster reports whether the retained messages of a topic are
// the cluster's (RetainingCluster) rather than this node's.
func (b *Broker) retainedByCluster(topic string) bool {
	rc, ok := b.link.(RetainingCluster)
	return ok && !localOnly(topic) && rc.Retains(topic)
}

// retain applies a retained message to the node's retained messages (an
// empty payload deletes the topic's: MQTT-3.3.1-6, MQTT-3.3.1-7), and
// records it in u, when there is a Store.
func (b *Broker) retain(m *message, u *unit) {
	seq := b.retained.store(m)
	if u != nil {
		u.retain(m, seq)
	}
}

// SetRetained makes p this node's retained message of p.Topic, as the
// cluster orders them (RetainingCluster): an empty payload deletes the
// topic's. expires is when its Message Expiry Interval ends, counted from
// its publication (zero: never; p.Props.MessageExpiry is ignored); one
// that has passed deletes the topic's retained message too, since it may
// not be delivered (MQTT-3.3.2-5). A Store records it. p's memory is
// copied: the caller may reuse it.
func (b *Broker) SetRetained(p *packet.Publish, expires time.Time) {
	m := newMessage(p.Topic, p.Payload, p.QoS, true, &p.Props, nil)
	m.remote = true
	m.expires = expires
	if !expires.IsZero() && !expires.After(time.Now()) {
		m.payload = nil
	}
	u := b.routeUnit(nil) // persist.go: nil without a Store
	b.retain(m, u)
	if u != nil {
		b.st.seal(u)
	}
}

// RetainedTopics returns the topics of this node's retained messages
// that the cluster keeps (RetainingCluster.Retains), in no order: a
// cluster that loads its retained messages into a node, from its Store,
// deletes (SetRetained) those it no longer has.
func (b *Broker) RetainedTopics() []string {
	b.retained.mu.RLock()
	defer b.retained.mu.RUnlock()
	var topics []string
	for name := range b.retained.msgs {
		if b.retainedByCluster(name) {
			topics = append(topics, name)
		}
	}
	return topics
}
