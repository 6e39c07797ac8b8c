package broker

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mqttcore/mqtt/packet"
)

// subscription is one session's subscription to one topic filter.
type subscription struct {
	qos               packet.QoS // the granted maximum QoS
	noLocal           bool
	retainAsPublished bool
	// ids is the v5 Subscription Identifier as a list of one, made once
	// when subscribing and shared, read-only, by every delivery it
	// matches; nil for none.
	ids []uint32
}

// subscriptionIDs returns the list of one Subscription Identifier of a
// subscription; nil for 0, which is none.
func subscriptionIDs(id uint32) []uint32 {
	if id == 0 {
		return nil
	}
	return []uint32{id}
}

// topicTree holds every subscription, one level of the topic filter per
// node. Matching takes the read lock only, and walks the levels of the
// topic name in place: it allocates nothing.
type topicTree struct {
	mu   sync.RWMutex
	root node
}

type node struct {
	children map[string]*node // by topic filter level, but for the wildcards
	plus     *node            // the "+" level below this one
	hash     *node            // the "#" level below this one

	// The ordinary subscriptions to the filter that ends here, in no
	// particular order, and where each session's is in the list.
	subs  []member
	index map[*session]int

	groups map[string]*shareGroup // shared subscriptions to this filter, by ShareName
}

// member is a session with one of its subscriptions: one ordinary
// subscription, one member of a share group, or one subscription that
// matched a topic.
type member struct {
	s   *session
	sub subscription
}

// shareGroup is the shared subscription "$share/{name}/{filter}": each
// message is delivered to one of its members, taken in turn (section
// 4.8.2).
type shareGroup struct {
	members []member      // in the order they joined
	next    atomic.Uint32 // where the next turn starts; advanced under the read lock
}

// filterKey is a subscription's place in the tree: the topic filter and,
// for a v5 shared subscription, the ShareName ("" for none).
type filterKey struct {
	share, filter string
}

// parseFilter splits a subscription's topic filter: a v5 filter
// "$share/{ShareName}/{filter}" is shared (MQTT-4.8.2-1, MQTT-4.8.2-2; the
// Connection has checked its syntax). In 3.1.1 "$share" is an ordinary
// topic level.
func parseFilter(f string, v packet.Version) filterKey {
	if v == packet.V5 && packet.IsShared(f) {
		name, filter, _ := strings.Cut(f[len("$share/"):], "/")
		return filterKey{share: name, filter: filter}
	}
	return filterKey{filter: f}
}

// child returns the child of n for the filter level, creating it when
// create is set; otherwise it is nil if there is none.
func (n *node) child(level string, create bool) *node {
	var p **node
	switch level {
	case "+":
		p = &n.plus
	case "#":
		p = &n.hash
	default:
		c := n.children[level]
		if c == nil && create {
			if n.children == nil {
				n.children = make(map[string]*node)
			}
			c = &node{}
			n.children[level] = c
		}
		return c
	}
	if *p == nil && create {
		*p = &node{}
	}
	return *p
}

// unlink removes the child of n for the filter level.
func (n *node) unlink(level string) {
	switch level {
	case "+":
		n.plus = nil
	case "#":
		n.hash = nil
	default:
		delete(n.children, level)
	}
}

// empty reports whether n holds nothing and leads to nothing.
func (n *node) empty() bool {
	return len(n.subs) == 0 && len(n.groups) == 0 &&
		len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// subscribe adds or replaces (MQTT-3.8.4-3) the subscription of s to
// filter, and reports whether one existed.
func (t *topicTree) subscribe(k filterKey, s *session, sub subscription) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for rest, more := k.filter, true; more; {
		var level string
		level, rest, more = strings.Cut(rest, "/")
		n = n.child(level, true)
	}
	if k.share != "" {
		g := n.groups[k.share]
		if g == nil {
			if n.groups == nil {
				n.groups = make(map[string]*shareGroup)
			}
			g = &shareGroup{}
			n.groups[k.share] = g
		}
		for i := range g.members {
			if g.members[i].s == s {
				g.members[i].sub = sub
				return true
			}
		}
		g.members = append(g.members, member{s, sub})
		return false
	}
	if i, ok := n.index[s]; ok {
		n.subs[i].sub = sub
		return true
	}
	if n.index == nil {
		n.index = make(map[*session]int)
	}
	n.index[s] = len(n.subs)
	n.subs = append(n.subs, member{s, sub})
	return false
}

// unsubscribe removes the subscription of s to filter, and reports
// whether there was one. Nodes left empty are pruned.
func (t *topicTree) unsubscribe(k filterKey, s *session) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.root.remove(k.filter, k.share, s)
}

// remove removes the subscription of s to the filter levels below n.
func (n *node) remove(filter, share string, s *session) bool {
	level, rest, more := strings.Cut(filter, "/")
	child := n.child(level, false)
	if child == nil {
		return false
	}
	var ok bool
	switch {
	case more:
		ok = child.remove(rest, share, s)
	case share != "":
		ok = child.leave(share, s)
	default:
		ok = child.drop(s)
	}
	if child.empty() {
		n.unlink(level)
	}
	return ok
}

// drop removes the ordinary subscription of s from n: the last one takes
// its place in the list.
func (n *node) drop(s *session) bool {
	i, ok := n.index[s]
	if !ok {
		return false
	}
	last := len(n.subs) - 1
	n.subs[i] = n.subs[last]
	n.index[n.subs[i].s] = i
	n.subs[last] = member{}
	n.subs = n.subs[:last]
	delete(n.index, s)
	if last == 0 {
		n.subs, n.index = nil, nil
	}
	return true
}

// leave removes s from the share group; a group left empty goes. The
// members are copied, not changed in place, so that the slice a reader
// holds stays whole.
func (n *node) leave(share string, s *session) bool {
	g := n.groups[share]
	if g == nil {
		return false
	}
	for i, m := range g.members {
		if m.s == s {
			g.members = append(g.members[:i:i], g.members[i+1:]...)
			if len(g.members) == 0 {
				delete(n.groups, share)
			}
			return true
		}
	}
	return false
}

// visit calls fn for every subscription at the node: each ordinary one,
// and for each share group the member whose turn it is.
func (n *node) visit(fn func(*session, subscription)) {
	for i := range n.subs {
		fn(n.subs[i].s, n.subs[i].sub)
	}
	for _, g := range n.groups {
		if m, ok := g.pick(); ok {
			fn(m.s, m.sub)
		}
	}
}

// pick returns the member whose turn it is (round-robin), passing over
// members that would drop the message: the first one, from the turn on,
// that is connected, else the first one whose session keeps messages of
// the subscription's QoS while offline. The message then belongs to that
// session: if it ends before delivering it, no other member gets it
// (MQTT-4.8.2-4, MQTT-4.8.2-5).
func (g *shareGroup) pick() (member, bool) {
	n := uint32(len(g.members))
	if n == 0 {
		return member{}, false
	}
	start := g.next.Add(1) - 1
	fallback := -1
	for i := range n {
		j := int((start + i) % n)
		m := g.members[j]
		m.s.mu.Lock()
		live, keeps := m.s.live && !m.s.dead, m.s.persistent && !m.s.dead && m.sub.qos > packet.QoS0
		m.s.mu.Unlock()
		if live {
			return m, true
		}
		if keeps && fallback < 0 {
			fallback = j
		}
	}
	if fallback < 0 {
		return member{}, false
	}
	return g.members[fallback], true
}

// match calls fn for every subscription whose filter matches topic. fn
// runs under the read lock and must not block.
func (t *topicTree) match(topic string, fn func(*session, subscription)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	// MQTT-4.7.2-1: a filter beginning with a wildcard does not match a
	// topic beginning with $.
	t.root.match(topic, false, strings.HasPrefix(topic, "$"), fn)
}

// match calls fn for the subscriptions at or below n whose filters match
// the levels of the topic name that remain: those of rest, or none when
// done is set.
func (n *node) match(rest string, done, dollar bool, fn func(*session, subscription)) {
	if done {
		n.visit(fn)
		// "a/#" also matches "a": # stands for the parent level too.
		if n.hash != nil {
			n.hash.visit(fn)
		}
		return
	}
	level, rest, more := strings.Cut(rest, "/")
	if child := n.children[level]; child != nil {
		child.match(rest, !more, false, fn)
	}
	if dollar {
		return
	}
	if n.plus != nil {
		n.plus.match(rest, !more, false, fn)
	}
	if n.hash != nil {
		n.hash.visit(fn)
	}
}

// matches reports whether topic matches filter, by the same rules as the
// tree: for retained messages, which are looked up per filter.
func matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false // MQTT-4.7.2-1
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		t, trest, tmore := strings.Cut(topic, "/")
		switch {
		case f == "#":
			return true
		case f != "+" && f != t:
			return false
		case !fmore && !tmore:
			return true
		case !tmore:
			return frest == "#" // "a/#" matches "a"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}
