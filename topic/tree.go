package topic

import (
	"slices"
	"strings"
	"sync/atomic"
)

// Tree holds subscriptions: each is a topic filter, a key that identifies
// the subscriber (a session, a handler, ...) and a value (what the
// subscription grants). A key has at most one ordinary subscription to a
// filter, and at most one membership of each share group. The zero Tree is
// empty and ready to use.
//
// A Tree stores one node per level of the filters it holds, so that Match
// walks only the levels of the topic name and the branches that can
// match; nodes are pruned when their last subscription goes.
//
// A Tree is not safe for concurrent use, with one exception: Match,
// MatchShared and the methods of the Groups they yield change nothing but
// a Group's turn, which is atomic, so they may run concurrently with each
// other (under a read lock) but not with Add or Remove.
//
// A Tree keeps no index by key: to drop every subscription of a key (a
// session that ends), remove each of its filters. A broker knows them
// anyway, to answer UNSUBSCRIBE and to count subscriptions.
type Tree[K comparable, V any] struct {
	root   node[K, V]
	subs   int // ordinary subscriptions
	shared int // members of share groups
}

type node[K comparable, V any] struct {
	children map[string]*node[K, V] // by filter level, but for the wildcards
	plus     *node[K, V]            // the "+" level below this one
	hash     *node[K, V]            // the "#" level below this one

	// The ordinary subscriptions to the filter that ends here, in no
	// particular order, and where each key is in the list once there are
	// more than linearSubs.
	subs  []entry[K, V]
	index map[K]int

	groups []*Group[K, V] // share groups of this filter, in the order they were made
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// linearSubs is how many ordinary subscriptions to one filter are looked
// through for a key before an index is kept.
const linearSubs = 8

// Group is a share group: the members of the shared subscription
// "$share/{Name}/{filter}". A message that matches the filter goes to one
// member (section 4.8.2): Turn says whose turn it is, and the caller
// passes over members it cannot deliver to.
//
// A Group is valid while the Tree does not change; Remove may drop it.
type Group[K comparable, V any] struct {
	name    string
	members []entry[K, V] // in the order they joined
	turn    atomic.Uint32
}

// Name returns the group's ShareName.
func (g *Group[K, V]) Name() string { return g.name }

// Len returns the number of members, at least one.
func (g *Group[K, V]) Len() int { return len(g.members) }

// Member returns the key and value of member i, 0 <= i < Len. Members
// are in the order they joined; a member that leaves makes room for the
// later ones.
func (g *Group[K, V]) Member(i int) (K, V) {
	m := &g.members[i]
	return m.key, m.val
}

// Turn returns the member whose turn it is, in [0, Len), and moves the
// turn on by one: successive calls go round the members in order
// (round-robin). The caller may try the members after it, modulo Len, as
// it pleases. Turn is safe for concurrent use.
func (g *Group[K, V]) Turn() int {
	return int((g.turn.Add(1) - 1) % uint32(len(g.members)))
}

// Add subscribes key to the ordinary (not shared) topic filter with value
// v. If key has a subscription to filter already, v replaces its value
// (MQTT-3.8.4-3) and Add reports true. The filter is taken literally,
// "$share/" included; see AddShared.
//
// The filter should be valid (ValidFilter): a malformed one is stored and
// matches what its levels match, or nothing.
func (t *Tree[K, V]) Add(filter string, key K, v V) (replaced bool) {
	n := t.root.grow(filter)
	if i := n.find(key); i >= 0 {
		n.subs[i].val = v
		return true
	}
	if n.index != nil {
		n.index[key] = len(n.subs)
	} else if len(n.subs) == linearSubs {
		n.index = make(map[K]int, 2*linearSubs)
		for i, e := range n.subs {
			n.index[e.key] = i
		}
		n.index[key] = len(n.subs)
	}
	n.subs = append(n.subs, entry[K, V]{key, v})
	t.subs++
	return false
}

// AddShared makes key a member of the share group share of filter, the
// shared subscription "$share/{share}/{filter}" (SplitShared splits one),
// with value v. If key is a member already, v replaces its value and
// AddShared reports true; otherwise key joins the group after the others,
// and a group of the name is made if there is none.
func (t *Tree[K, V]) AddShared(share, filter string, key K, v V) (replaced bool) {
	n := t.root.grow(filter)
	g := n.group(share)
	if g == nil {
		g = &Group[K, V]{name: share}
		n.groups = append(n.groups, g)
	}
	for i := range g.members {
		if g.members[i].key == key {
			g.members[i].val = v
			return true
		}
	}
	g.members = append(g.members, entry[K, V]{key, v})
	t.shared++
	return false
}

// Remove removes the ordinary subscription of key to filter, and reports
// whether there was one.
func (t *Tree[K, V]) Remove(filter string, key K) bool {
	if !t.root.remove(filter, "", key, false) {
		return false
	}
	t.subs--
	return true
}

// RemoveShared removes key from the share group share of filter, and
// reports whether it was a member. A group left empty goes.
func (t *Tree[K, V]) RemoveShared(share, filter string, key K) bool {
	if !t.root.remove(filter, share, key, true) {
		return false
	}
	t.shared--
	return true
}

// Match calls fn with the key and value of every ordinary subscription
// whose filter matches the topic name (see the function Match for the
// rules), once each, in no particular order. It allocates nothing. fn
// must not change the Tree.
func (t *Tree[K, V]) Match(name string, fn func(K, V)) {
	if t.subs > 0 {
		t.root.match(name, false, name != "" && name[0] == '$', fn, nil)
	}
}

// MatchShared calls fn with every share group whose filter matches the
// topic name, once each, in no particular order. It allocates nothing. fn
// must not change the Tree; it may keep the Group until the Tree changes.
func (t *Tree[K, V]) MatchShared(name string, fn func(*Group[K, V])) {
	if t.shared > 0 {
		t.root.match(name, false, name != "" && name[0] == '$', nil, fn)
	}
}

// Group returns the share group share of filter (the shared subscription
// "$share/{share}/{filter}"), or nil if it has no members. The Group is
// valid while the Tree does not change.
func (t *Tree[K, V]) Group(share, filter string) *Group[K, V] {
	if n := t.root.walk(filter, false); n != nil {
		return n.group(share)
	}
	return nil
}

// grow returns the node of filter below n, making the nodes missing.
func (n *node[K, V]) grow(filter string) *node[K, V] { return n.walk(filter, true) }

// walk returns the node of filter below n, making the nodes missing when
// create is set; otherwise it is nil if there is none.
func (n *node[K, V]) walk(filter string, create bool) *node[K, V] {
	for rest, more := filter, true; more && n != nil; {
		var level string
		level, rest, more = strings.Cut(rest, "/")
		n = n.child(level, create)
	}
	return n
}

// child returns the child of n for the filter level, making it when
// create is set; otherwise it is nil if there is none.
func (n *node[K, V]) child(level string, create bool) *node[K, V] {
	var p **node[K, V]
	switch level {
	case "+":
		p = &n.plus
	case "#":
		p = &n.hash
	default:
		c := n.children[level]
		if c == nil && create {
			if n.children == nil {
				n.children = map[string]*node[K, V]{}
			}
			c = &node[K, V]{}
			n.children[level] = c
		}
		return c
	}
	if *p == nil && create {
		*p = &node[K, V]{}
	}
	return *p
}

// unlink removes the child of n for the filter level.
func (n *node[K, V]) unlink(level string) {
	switch level {
	case "+":
		n.plus = nil
	case "#":
		n.hash = nil
	default:
		delete(n.children, level)
		if len(n.children) == 0 {
			n.children = nil
		}
	}
}

// empty reports whether n holds nothing and leads to nothing.
func (n *node[K, V]) empty() bool {
	return len(n.subs) == 0 && len(n.groups) == 0 &&
		len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// find returns where key's ordinary subscription is in n.subs, or -1.
func (n *node[K, V]) find(key K) int {
	if n.index != nil {
		if i, ok := n.index[key]; ok {
			return i
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].key == key {
			return i
		}
	}
	return -1
}

// group returns the share group of n with the name, or nil.
func (n *node[K, V]) group(share string) *Group[K, V] {
	for _, g := range n.groups {
		if g.name == share {
			return g
		}
	}
	return nil
}

// remove removes key's subscription to the filter levels below n: its
// membership of the share group share if shared is set, else its
// ordinary one. Nodes left empty are pruned on the way back.
func (n *node[K, V]) remove(filter, share string, key K, shared bool) bool {
	level, rest, more := strings.Cut(filter, "/")
	c := n.child(level, false)
	if c == nil {
		return false
	}
	var ok bool
	switch {
	case more:
		ok = c.remove(rest, share, key, shared)
	case shared:
		ok = c.leave(share, key)
	default:
		ok = c.drop(key)
	}
	if ok && c.empty() {
		n.unlink(level)
	}
	return ok
}

// drop removes key's ordinary subscription from n: the last one takes its
// place in the list.
func (n *node[K, V]) drop(key K) bool {
	i := n.find(key)
	if i < 0 {
		return false
	}
	last := len(n.subs) - 1
	n.subs[i] = n.subs[last]
	n.subs[last] = entry[K, V]{}
	n.subs = n.subs[:last]
	switch {
	case last == 0:
		n.subs, n.index = nil, nil
	case n.index == nil:
	case last <= linearSubs/2:
		n.index = nil
	default:
		delete(n.index, key)
		if i < last {
			n.index[n.subs[i].key] = i
		}
	}
	return true
}

// leave removes key from the share group of n with the name; a group left
// empty goes. The members after key move up, keeping their order.
func (n *node[K, V]) leave(share string, key K) bool {
	for gi, g := range n.groups {
		if g.name != share {
			continue
		}
		for i := range g.members {
			if g.members[i].key == key {
				g.members = slices.Delete(g.members, i, i+1)
				if len(g.members) == 0 {
					n.groups = slices.Delete(n.groups, gi, gi+1)
					if len(n.groups) == 0 {
						n.groups = nil
					}
				}
				return true
			}
		}
		return false
	}
	return false
}

// match visits the subscriptions at or below n whose filters match the
// levels of the topic name that remain: those of rest, or none when done
// is set. dollar is set at the root for a name beginning with '$', which
// no wildcard of the first level matches (MQTT-4.7.2-1). fn, if not nil,
// gets the ordinary subscriptions, and group, if not nil, the share
// groups.
func (n *node[K, V]) match(rest string, done, dollar bool, fn func(K, V), group func(*Group[K, V])) {
	if done {
		n.visit(fn, group)
		if n.hash != nil { // "a/#" matches "a"
			n.hash.visit(fn, group)
		}
		return
	}
	level, rest, more := strings.Cut(rest, "/")
	if c := n.children[level]; c != nil {
		c.match(rest, !more, false, fn, group)
	}
	if dollar {
		return
	}
	if n.plus != nil {
		n.plus.match(rest, !more, false, fn, group)
	}
	if n.hash != nil {
		n.hash.visit(fn, group)
	}
}

// visit calls fn for each ordinary subscription at n and group for each
// share group, those of the two that are not nil.
func (n *node[K, V]) visit(fn func(K, V), group func(*Group[K, V])) {
	if fn != nil {
		for i := range n.subs {
			fn(n.subs[i].key, n.subs[i].val)
		}
	}
	if group != nil {
		for _, g := range n.groups {
			group(g)
		}
	}
}
