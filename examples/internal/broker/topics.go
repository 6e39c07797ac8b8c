package broker

import (
	"strings"
	"sync"

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
}

// subscribe adds or replaces (MQTT-3.8.4-3) the subscription of s to
// filter, and reports whether one existed.
func (t *topicTree) subscribe(filter string, s *session, sub subscription) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
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
	if n.subs == nil {
		n.subs = make(map[*session]subscription)
	}
	_, existed = n.subs[s]
	n.subs[s] = sub
	return existed
}

// unsubscribe removes the subscription of s to filter, and reports
// whether there was one. Nodes left empty are pruned.
func (t *topicTree) unsubscribe(filter string, s *session) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.root.remove(strings.Split(filter, "/"), s)
}

func (n *node) remove(levels []string, s *session) bool {
	if len(levels) == 0 {
		_, ok := n.subs[s]
		delete(n.subs, s)
		return ok
	}
	child := n.children[levels[0]]
	if child == nil {
		return false
	}
	ok := child.remove(levels[1:], s)
	if len(child.subs) == 0 && len(child.children) == 0 {
		delete(n.children, levels[0])
	}
	return ok
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
		for s, sub := range n.subs {
			fn(s, sub)
		}
		// "a/#" also matches "a": # stands for the parent level too.
		if hash := n.children["#"]; hash != nil {
			for s, sub := range hash.subs {
				fn(s, sub)
			}
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
		for s, sub := range hash.subs {
			fn(s, sub)
		}
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
