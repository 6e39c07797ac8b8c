package broker

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// Cluster links a broker to the other nodes of a cluster (Config.Cluster;
// examples/cluster implements it over NATS). The broker tells it which
// topic filters this node needs (Subscribe, Unsubscribe), hands it the
// messages published here (Publish), and takes the messages of the other
// nodes from it (Broker.Deliver, Broker.DeliverShared, and for QoS 1 and
// QoS 2 ones Broker.DeliverTaken, which tells when the broker holds the
// message and when the outboxes it went to are full: remote.go).
//
// What stays on one node: the $SYS topics (each node's own counts) are
// neither published to the cluster nor subscribed to in it. Retained
// messages are stored by the node they were published on only, unless
// the Cluster is a RetainingCluster (cluster_retained.go).
type Cluster interface {
	// Attach is called once, at the end of New, with the broker that
	// Deliver and DeliverShared are to be called on. Messages may be
	// delivered from then on.
	Attach(b *Broker)
	// Subscribe is called when this node gets its first subscription to
	// a topic filter (share: the ShareName of a shared subscription, ""
	// for an ordinary one), and Unsubscribe when its last one goes. They
	// are called with the topic tree locked, in the order of the
	// changes: they must not block, nor call the Broker.
	Subscribe(share, filter string)
	Unsubscribe(share, filter string)
	// Publish hands the cluster a message published on this node (by a
	// client, or a will), for the subscribers of the other nodes and for
	// the share groups of all nodes, and returns. It calls done once,
	// from any goroutine (even before it returns), when the cluster holds
	// the message (a QoS 1 or QoS 2 one durably: err nil) or cannot take
	// it (err): the acknowledgement of a client's QoS 1 or QoS 2 message
	// waits for it, and an error closes the client's connection, which
	// then sends the message again (at least once). done must not block.
	// p is valid only during the call.
	Publish(p *packet.Publish, done func(err error))
}

// localOnly reports whether a topic name or filter stays on its node:
// the $SYS topics.
func localOnly(s string) bool {
	return s == "$SYS" || strings.HasPrefix(s, sysPrefix)
}

// forward publishes a message of this node to the cluster, if there is
// one and the message is not a $SYS one. The acknowledgement of a QoS 1
// or QoS 2 message of pub (nil for a will) waits for the cluster to hold
// it (flow.go).
func (b *Broker) forward(m *message, pub *conn) {
	if b.link == nil || m.remote || localOnly(m.topic) {
		return
	}
	var p packet.Publish
	if !m.fill(&p, packet.V5, m.qos, m.retain, nil, time.Now()) {
		// Expired already (a Message Expiry Interval of 0): sent to no
		// one, but a retained one replaces the topic's all the same
		// (MQTT-3.3.1-5), as on a single node.
		if m.retain && b.retainedByCluster(m.topic) {
			b.link.(RetainingCluster).DropRetained(m.topic, b.clusterDone(m, pub))
		}
		return
	}
	b.link.Publish(&p, b.clusterDone(m, pub))
}

// clusterDone returns the done of a message handed to the cluster: for a
// client's QoS 1 or QoS 2 message, the wait of its acknowledgement.
func (b *Broker) clusterDone(m *message, pub *conn) func(error) {
	if pub != nil && m.qos > packet.QoS0 {
		return pub.awaitCluster()
	}
	return b.logClusterError
}

// logClusterError is the done of a message whose acknowledgement does not
// wait for the cluster (Cluster.Publish).
func (b *Broker) logClusterError(err error) {
	if err != nil {
		b.log.Warn("message not published to the cluster", "err", err)
	}
}

// clusterWait is a message of a client's that the cluster has yet to hold
// (Cluster.Publish): the acknowledgements after it wait for it, in order
// (flow.go).
type clusterWait struct {
	err  error // written before done
	done atomic.Bool
}

// awaitCluster queues a wait for the cluster among c's acknowledgements,
// and returns the done that ends it and wakes c to send those after it.
func (c *conn) awaitCluster() func(error) {
	w := &clusterWait{}
	c.acknowledge(heldAck{wait: w})
	return func(err error) {
		w.err = err
		w.done.Store(true)
		c.wake(wakeUnblocked)
	}
}

// Deliver routes a message published on another node of the cluster to
// the ordinary subscriptions of this node that match it; share groups get
// messages through DeliverShared. It is neither retained here nor
// published to the cluster again. p's memory is copied: the caller may
// reuse it.
func (b *Broker) Deliver(p *packet.Publish) {
	m := newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, nil)
	m.remote = true
	b.routeHere(m, nil, nil, reach{ordinary: true})
}

// DeliverShared gives a message, published on any node of the cluster
// this one included, to one member of this node's share group share of
// filter (the shared subscription "$share/{share}/{filter}"), which the
// cluster picked among the nodes that have members. Nothing happens if
// the group has gone meanwhile.
func (b *Broker) DeliverShared(share, filter string, p *packet.Publish) {
	m := newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, nil)
	m.remote = true
	b.routeHere(m, nil, nil, reach{group: filterKey{share: share, filter: filter}})
}
