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
	id                uint32 // v5 Subscription Identifier; 0 for none
}

// topicTree holds every subscription, one level of the topic filter per
// node. Matching takes the read lock only.
type topicTree struct {
	mu   sync.RWMutex
	root node
}

type node struct {
	children map[string]*node
	subs     map[*session]subscription
	groups   map[string]*shareGroup // shared subscriptions to this filter, by ShareName
}

// shareGroup is the shared subscription "$share/{name}/{filter}": each
// message is delivered to one of its members, taken in turn (section
// 4.8.2).
type shareGroup struct {
	members []shareMember // in the order they joined
	next    atomic.Uint32 // where the next turn starts; advanced under the read lock
}

type shareMember struct {
	s   *session
	sub subscription
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

// subscribe adds or replaces (MQTT-3.8.4-3) the subscription of s to
// filter, and reports whether one existed.
func (t *topicTree) subscribe(k filterKey, s *session, sub subscription) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for level := range strings.SplitSeq(k.filter, "/") {
		child := n.children[level]
		if child == nil {
			if n.children == nil {
				n.children = make(map[string]*node)
			}
			child = &node{}
			n.children[level] = child
		}
		n = child
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
		g.members = append(g.members, shareMember{s, sub})
		return false
	}
	if n.subs == nil {
		n.subs = make(map[*session]subscription)
	}
	_, existed = n.subs[s]
	n.subs[s] = sub
	return existed
}

// unsubscribe removes the subscription of s to filter, and reports
// whether there was one. Nodes left empty are pruned.
func (t *topicTree) unsubscribe(k filterKey, s *session) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.root.remove(strings.Split(k.filter, "/"), k.share, s)
}

func (n *node) remove(levels []string, share string, s *session) bool {
	if len(levels) == 0 {
		if share != "" {
			return n.leave(share, s)
		}
		_, ok := n.subs[s]
		delete(n.subs, s)
		return ok
	}
	child := n.children[levels[0]]
	if child == nil {
		return false
	}
	ok := child.remove(levels[1:], share, s)
	if len(child.subs) == 0 && len(child.children) == 0 && len(child.groups) == 0 {
		delete(n.children, levels[0])
	}
	return ok
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
	for s, sub := range n.subs {
		fn(s, sub)
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
func (g *shareGroup) pick() (shareMember, bool) {
	n := uint32(len(g.members))
	if n == 0 {
		return shareMember{}, false
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
		return shareMember{}, false
	}
	return g.members[fallback], true
}

// match calls fn for every subscription whose filter matches topic. fn
// runs under the read lock and must not block.
func (t *topicTree) match(topic string, fn func(*session, subscription)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	levels := strings.Split(topic, "/")
	// MQTT-4.7.2-1: a filter beginning with a wildcard does not match a
	// topic beginning with $.
	t.root.match(levels, strings.HasPrefix(topic, "$"), fn)
}

func (n *node) match(levels []string, dollar bool, fn func(*session, subscription)) {
	if len(levels) == 0 {
		n.visit(fn)
		// "a/#" also matches "a": # stands for the parent level too.
		if hash := n.children["#"]; hash != nil {
			hash.visit(fn)
		}
		return
	}
	if child := n.children[levels[0]]; child != nil {
		child.match(levels[1:], false, fn)
	}
	if dollar {
		return
	}
	if plus := n.children["+"]; plus != nil {
		plus.match(levels[1:], false, fn)
	}
	if hash := n.children["#"]; hash != nil {
		hash.visit(fn)
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
