package broker

import "github.com/mqttcore/mqtt/packet"

// router is the scratch space of route: each connection goroutine keeps
// one and reuses it, so that routing a message allocates nothing.
type router struct {
	hits    []member         // the subscriptions that match the topic
	targets []target         // the sessions they belong to, once each
	index   map[*session]int // where each session is in targets, when many match
}

// target is one session a message goes to, with what its matching
// subscriptions grant.
type target struct {
	s      *session
	qos    packet.QoS
	retain bool
	subIDs []uint32 // read-only: it may be a subscription's own list
	shared bool     // a share group's copy, never merged with another
}

// linearTargets is how many matching subscriptions route looks through
// for a session's earlier ones before it uses a map.
const linearTargets = 16

// keepRouted bounds the lists a router keeps from one message to the
// next: a message that matched more subscriptions lets them go.
const keepRouted = 1024

// route delivers a message published by a client (or a will) to every
// matching subscription, applies its retain flag, and then publishes it to
// the cluster, if any (Config.Cluster; cluster.go). r is the caller's
// scratch space; nil makes one for this message. pub is the publisher's
// connection (nil for a will): wait reports that a matching outbox is
// full, and the acknowledgement is to wait for it (pub.blockers lists
// it); in a cluster, the acknowledgement of a QoS 1 or QoS 2 message
// waits for the cluster too.
func (b *Broker) route(m *message, r *router, pub *conn) (wait bool) {
	if b.cs != nil && !m.remote {
		m.pos = b.cs.link.Position() // below the position it gets (floor.go)
	}
	// In a cluster, share groups get their messages through it, so that
	// each message goes to one member cluster-wide (DeliverShared).
	wait = b.routeHere(m, r, pub, reach{ordinary: true, shared: b.link == nil})
	b.forward(m, pub)
	return wait
}

// reach says which subscriptions of this node a message goes to, and
// for a message of the cluster's durable delivery (remote.go) the unit
// that records it and the waiter for the outboxes it finds full.
type reach struct {
	ordinary bool      // every matching ordinary subscription
	shared   bool      // one member of every matching share group
	group    filterKey // when its share is set: one member of this group only
	only     *session  // not nil: this session's ordinary subscriptions only (replay.go)
	unit     *unit     // not nil: the caller's, which it seals
	remote   *inbound  // not nil: notes the full outboxes a QoS 1 or 2 delivery went to
}

// routeHere offers a message to the outboxes of the sessions of this node
// that its reach matches, and applies its retain flag unless it comes
// from another node or the cluster keeps the retained messages of its
// topic (cluster_retained.go: they come back through SetRetained).
func (b *Broker) routeHere(m *message, r *router, pub *conn, to reach) (wait bool) {
	u := to.unit
	if u == nil {
		u = b.routeUnit(pub) // persist.go: nil without a Store
		if u != nil && pub == nil {
			defer b.st.seal(u)
		}
	}
	if m.retain && !m.remote && !b.retainedByCluster(m.topic) {
		b.retain(m, u)
	}
	if r == nil {
		r = &router{}
	}
	hits := r.hits[:0]
	collect := func(s *session, sub subscription) {
		if to.only == nil || s == to.only {
			hits = append(hits, member{s: s, sub: sub})
		}
	}
	// A share group's message is a copy of its own, even to a session
	// that other subscriptions match too (MQTT 5.0 section 4.8.2: a
	// client with a shared and a non-shared subscription may get both).
	collectShared := func(s *session, sub subscription) {
		hits = append(hits, member{s: s, sub: sub, shared: true})
	}
	switch {
	case to.group.share != "":
		b.tree.matchGroup(to.group, collectShared)
	case to.shared:
		b.tree.match(m.topic, ordinaryOrNil(to.ordinary, collect), collectShared)
	default:
		b.tree.match(m.topic, ordinaryOrNil(to.ordinary, collect), nil)
	}
	many := len(hits) > linearTargets
	if many && r.index == nil {
		r.index = make(map[*session]int)
	}
	targets := r.targets[:0]
	for _, h := range hits {
		if h.sub.noLocal && h.s == m.from {
			continue // MQTT-3.8.3-3
		}
		qos := min(m.qos, h.sub.qos) // MQTT-3.8.4-8
		retain := h.sub.retainAsPublished && m.retain
		if h.shared {
			targets = append(targets, target{s: h.s, qos: qos, retain: retain, subIDs: h.sub.ids, shared: true})
			continue
		}
		i := -1
		if many {
			if j, ok := r.index[h.s]; ok {
				i = j
			}
		} else {
			for j := range targets {
				if targets[j].s == h.s && !targets[j].shared {
					i = j
					break
				}
			}
		}
		if i < 0 {
			if many {
				r.index[h.s] = len(targets)
			}
			targets = append(targets, target{s: h.s, qos: qos, retain: retain, subIDs: h.sub.ids})
			continue
		}
		// One message per client, at the highest QoS any matching
		// subscription grants (MQTT-3.3.4-2), with the Subscription
		// Identifiers of all of them (MQTT-3.3.4-4).
		t := &targets[i]
		t.qos = max(t.qos, qos)
		t.retain = t.retain || retain
		if len(h.sub.ids) > 0 {
			// A new list: the one held may be a subscription's.
			t.subIDs = append(t.subIDs[:len(t.subIDs):len(t.subIDs)], h.sub.ids...)
		}
	}
	for _, t := range targets {
		if t.s.offer(delivery{msg: m, qos: t.qos, retain: t.retain, subIDs: t.subIDs, unit: u}, b, pub) {
			wait = true
			pub.block(t.s)
		}
		if to.remote != nil && t.qos > packet.QoS0 {
			to.remote.note(t.s)
		}
	}
	// Nothing is kept that would keep a session or a message alive.
	clear(hits)
	clear(targets)
	if many {
		clear(r.index)
	}
	r.hits, r.targets = hits[:0], targets[:0]
	if cap(hits) > keepRouted {
		r.hits, r.targets, r.index = nil, nil, nil
	}
	return wait
}

// ordinaryOrNil returns fn if the ordinary subscriptions are to be
// matched, else nil (topicTree.match skips them).
func ordinaryOrNil(ordinary bool, fn func(*session, subscription)) func(*session, subscription) {
	if ordinary {
		return fn
	}
	return nil
}
