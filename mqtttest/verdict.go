package mqtttest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mqttcore/mqtt/packet"
)

// The verdict at the end of a CheckBroker scenario: every copy received
// must fit a slot of its own (a matching between copies and slots, per
// message), and copies from one publisher on one topic at one QoS must
// have arrived in the order they were published.

// received is one copy as the verdict sees it.
type received struct {
	client int
	d      delivery
}

func (r *run) verdict() *failure {
	byKey := map[string][]received{}
	var keys []string
	for i, k := range r.conns {
		k.mu.Lock()
		for _, d := range k.got {
			key := r.key(d)
			if _, ok := byKey[key]; !ok {
				keys = append(keys, key)
			}
			byKey[key] = append(byKey[key], received{i, d})
		}
		k.mu.Unlock()
	}
	sort.Strings(keys)
	for _, key := range keys {
		if msg := r.matchCopies(key, byKey[key]); msg != nil {
			return msg
		}
	}
	for i := range r.conns {
		if msg := r.checkOrder(i); msg != nil {
			return msg
		}
	}
	return nil
}

// fits says why a slot cannot hold a copy, or "" when it can.
func fits(s slot, c received) string {
	qos := s.qos
	if s.client < 0 {
		q, ok := s.members[c.client]
		if !ok {
			return "client"
		}
		qos = qosSet(q)
	} else if s.client != c.client {
		return "client"
	}
	if c.d.qos > 2 || !qos[c.d.qos] {
		return "qos"
	}
	if !s.retain[b2i(c.d.retain)] {
		return "retain"
	}
	return ""
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// matchCopies finds a slot for every copy of message key (Kuhn's
// augmenting paths; a handful of copies and slots) and explains the first
// copy left without one.
func (r *run) matchCopies(key string, copies []received) *failure {
	msg, ok := r.m.msgs[key]
	if !ok {
		c := copies[0]
		return fail(ruleMatch, r.version(c.client), "c%d received %s, which no client of the scenario published", c.client, c.d.String(r))
	}
	slots := r.m.slots[key]
	owner := make([]int, len(slots)) // copy index + 1 in each slot
	var try func(ci int, seen []bool) bool
	try = func(ci int, seen []bool) bool {
		for si, s := range slots {
			if seen[si] || fits(s, copies[ci]) != "" {
				continue
			}
			seen[si] = true
			if owner[si] == 0 || try(owner[si]-1, seen) {
				owner[si] = ci + 1
				return true
			}
		}
		return false
	}
	for ci, c := range copies {
		if try(ci, make([]bool, len(slots))) {
			continue
		}
		if c.d.qos == packet.QoS1 && r.hasFit(slots, c) {
			continue // QoS 1: at least once; a second copy is allowed
		}
		return r.explain(msg, slots, c)
	}
	return nil
}

func (r *run) hasFit(slots []slot, c received) bool {
	for _, s := range slots {
		if fits(s, c) == "" {
			return true
		}
	}
	return false
}

// explain says which rule copy c of msg, for which no slot was left,
// breaks.
func (r *run) explain(msg *message, slots []slot, c received) *failure {
	v := r.version(c.client)
	cs := r.m.clients[c.client]
	hist := "\nc" + fmt.Sprint(c.client) + "'s history:\n  " + strings.Join(cs.history, "\n  ")
	got := fmt.Sprintf("c%d received %s, a copy of %v", c.client, c.d.String(r), msg)
	var mine []slot
	for _, s := range slots {
		if fits(s, c) != "client" {
			mine = append(mine, s)
		}
	}
	if len(mine) == 0 {
		switch {
		case msg.will:
			return fail(ruleWillGone, v, "%s: the will was not due", got).with(hist)
		case c.d.retain && msg.retain:
			if cur, ok := r.m.retained[msg.topic]; ok && cur.key != msg.key {
				return fail(ruleRetainKept, v, "%s: the retained message of the topic is %q", got, cur.key).with(hist)
			}
			return fail(ruleRetainGone, v, "%s: no retained message was owed", got).with(hist)
		case msg.from == c.client:
			return fail(ruleNoLocal, v, "%s", got).with(hist)
		}
		return fail(ruleMatch, v, "%s: no subscription of the client matched when it was published (or retained at a subscription)", got).with(hist)
	}
	var why []string
	for _, s := range mine {
		switch fits(s, c) {
		case "qos":
			why = append(why, fmt.Sprintf("%s owes qos%d", s.why, s.top()))
		case "retain":
			why = append(why, fmt.Sprintf("%s owes RETAIN %v", s.why, s.retain[1] && !s.retain[0]))
		}
	}
	if len(why) == len(mine) { // no slot fits at all
		for _, s := range mine {
			switch fits(s, c) {
			case "qos":
				return fail(ruleGranted, v, "%s; %s", got, strings.Join(why, "; ")).with(hist)
			case "retain":
				rl := ruleRetainFlag
				switch {
				case strings.HasPrefix(s.why, "retained"):
					rl = ruleRetainFlag1
				case !s.retain[0]:
					rl = ruleRAP
				}
				return fail(rl, v, "%s; %s", got, strings.Join(why, "; ")).with(hist)
			}
		}
	}
	rl := ruleExactlyOnce
	switch {
	case c.d.qos == packet.QoS0:
		rl = ruleAtMostOnce
	case mine[0].client < 0:
		rl = ruleShared
	}
	return fail(rl, v, "%s: more copies than the %d the client's subscriptions allow", got, len(mine)).with(hist)
}

// checkOrder checks that client i received the messages of each
// publisher, topic and QoS in the order they were published
// (non-retained copies on ordinary subscriptions only).
func (r *run) checkOrder(i int) *failure {
	k := r.conns[i]
	k.mu.Lock()
	got := append([]delivery(nil), k.got...)
	k.mu.Unlock()
	type stream struct {
		from  int
		will  bool
		topic int
		qos   packet.QoS
	}
	last := map[stream]*message{}
	seen := map[string]bool{}
	for _, d := range got {
		key := r.key(d)
		msg, ok := r.m.msgs[key]
		if !ok || d.retain || seen[key] || strings.HasPrefix(key, "empty ") || !r.ordinary(i, key) {
			continue
		}
		seen[key] = true
		s := stream{msg.from, msg.will, msg.topic, d.qos}
		if prev := last[s]; prev != nil && prev.seq > msg.seq {
			return fail(ruleOrder, r.version(i), "c%d received %v after %v\nc%d received %s", i, prev, msg, i, r.received(i))
		}
		last[s] = msg
	}
	return nil
}

// ordinary says whether client i was owed message key on an ordinary
// (not shared) subscription.
func (r *run) ordinary(i int, key string) bool {
	for _, s := range r.m.slots[key] {
		if s.client == i && !strings.HasPrefix(s.why, "retained") {
			return true
		}
	}
	return false
}
