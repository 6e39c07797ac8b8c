package broker

import (
	"sync"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/topic"
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

// topicTree holds every subscription, by session, in a topic.Tree, with
// the lock the Tree leaves to its user. Matching takes the read lock
// only, and allocates nothing; the broker's policy for share groups is
// pick's.
type topicTree struct {
	mu   sync.RWMutex
	subs topic.Tree[*session, subscription]
	n    int // subscriptions in subs

	// link, when the broker is a node of a cluster, is told of the first
	// subscription to each filter and of the last (cluster.go); interest
	// counts the subscriptions to each filter then.
	link     Cluster
	interest map[filterKey]int
}

// group is a share group of the tree.
type group = topic.Group[*session, subscription]

// member is a session with one of its subscriptions: one that matched a
// topic.
type member struct {
	s      *session
	sub    subscription
	shared bool // a share group's: a copy of its own (route.go)
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
	if v == packet.V5 {
		if share, filter, err := topic.SplitShared(f); err == nil {
			return filterKey{share: share, filter: filter}
		}
	}
	return filterKey{filter: f}
}

// subscribe adds or replaces (MQTT-3.8.4-3) the subscription of s to
// filter, and reports whether one existed.
func (t *topicTree) subscribe(k filterKey, s *session, sub subscription) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k.share != "" {
		existed = t.subs.AddShared(k.share, k.filter, s, sub)
	} else {
		existed = t.subs.Add(k.filter, s, sub)
	}
	if !existed {
		t.n++
		t.noteInterest(k, +1)
	}
	return existed
}

// noteInterest counts a subscription to k made (+1) or gone (-1), and
// tells the cluster of the first and of the last. The $SYS topics stay on
// their node (localOnly). t.mu is held.
func (t *topicTree) noteInterest(k filterKey, delta int) {
	if t.link == nil || k.share == "" && localOnly(k.filter) {
		return
	}
	if t.interest == nil {
		t.interest = make(map[filterKey]int)
	}
	n := t.interest[k] + delta
	switch {
	case n > 0:
		t.interest[k] = n
	default:
		delete(t.interest, k)
	}
	switch {
	case n == 1 && delta > 0:
		t.link.Subscribe(k.share, k.filter)
	case n == 0:
		t.link.Unsubscribe(k.share, k.filter)
	}
}

// unsubscribe removes the subscription of s to filter, and reports
// whether there was one.
func (t *topicTree) unsubscribe(k filterKey, s *session) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k.share != "" {
		existed = t.subs.RemoveShared(k.share, k.filter, s)
	} else {
		existed = t.subs.Remove(k.filter, s)
	}
	if existed {
		t.n--
		t.noteInterest(k, -1)
	}
	return existed
}

// count returns the number of subscriptions.
func (t *topicTree) count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.n
}

// match calls ordinary, if not nil, for every ordinary subscription whose
// filter matches the topic name, and shared, if not nil, for the member
// pick chooses of each matching share group. They run under the read
// lock and must not block.
func (t *topicTree) match(name string, ordinary, shared func(*session, subscription)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if ordinary != nil {
		t.subs.Match(name, ordinary)
	}
	if shared != nil {
		t.subs.MatchShared(name, func(g *group) { t.offerGroup(g, shared) })
	}
}

// matchGroup calls fn for the member pick chooses of the share group k,
// if it has members. fn runs under the read lock and must not block.
func (t *topicTree) matchGroup(k filterKey, fn func(*session, subscription)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if g := t.subs.Group(k.share, k.filter); g != nil {
		t.offerGroup(g, fn)
	}
}

// offerGroup calls fn for the member pick chooses of g, if any.
func (t *topicTree) offerGroup(g *group, fn func(*session, subscription)) {
	if s, sub, ok := pick(g); ok {
		fn(s, sub)
	}
}

// pick returns the member of g whose turn it is (round-robin), passing
// over members that would drop the message: the first one, from the turn
// on, that is connected, else the first one whose session keeps messages
// of the subscription's QoS while offline. The message then belongs to
// that session: if it ends before delivering it, no other member gets it
// (MQTT-4.8.2-4, MQTT-4.8.2-5).
func pick(g *group) (*session, subscription, bool) {
	n := g.Len()
	start := g.Turn()
	fallback := -1
	for i := range n {
		j := (start + i) % n
		s, sub := g.Member(j)
		live, keeps := s.reach(sub.qos)
		if live {
			return s, sub, true
		}
		if keeps && fallback < 0 {
			fallback = j
		}
	}
	if fallback < 0 {
		return nil, subscription{}, false
	}
	s, sub := g.Member(fallback)
	return s, sub, true
}
