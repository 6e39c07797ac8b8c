package mqtttest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/topic"
)

// The model of a CheckBroker scenario: what the broker owes each client.
// For every message it keeps the copies a client may receive (slots: one
// per matching subscription, one per retained delivery at a subscription)
// and the deliveries the client must receive (requirements: at least one
// copy of a QoS 1 or QoS 2 message per client with a matching
// subscription, each retained message owed at a subscription). At the end
// every delivery must fit a slot of its own, and every requirement must
// be met.

// rule names what the specifications promise, in both versions.
type promise struct {
	v5, v311 string // statements; "" where the version has none
	what     string
}

func (r promise) statement(v packet.Version) string {
	if v == packet.V5 {
		return r.v5
	}
	return r.v311
}

var (
	ruleDeliver     = promise{"MQTT-4.5.0-1", "MQTT-4.5.0-1", "a message is delivered to every session with a matching subscription (QoS 1: at least once, QoS 2: exactly once)"}
	ruleMatch       = promise{"MQTT-3.3.2-3", "MQTT-3.3.2-3", "a client gets only messages that match one of its subscriptions"}
	ruleUnsubscribe = promise{"MQTT-3.10.4-2", "MQTT-3.10.4-2", "after UNSUBSCRIBE no new message for the filter"}
	ruleNoLocal     = promise{"MQTT-3.8.3-3", "", "No Local: no message back to the connection that published it"}
	ruleCleanStart  = promise{"MQTT-3.1.2-4", "MQTT-3.1.2-6", "Clean Start discards the session: its subscriptions and queued messages"}
	ruleGranted     = promise{"MQTT-3.8.4-8", "MQTT-3.8.4-6", "a message is delivered at the minimum of its QoS and the QoS granted"}
	ruleRetainFlag  = promise{"MQTT-3.3.1-12", "MQTT-3.3.1-9", "a message forwarded on an established subscription carries RETAIN 0 (v5: unless Retain As Published)"}
	ruleRAP         = promise{"MQTT-3.3.1-13", "", "Retain As Published: the RETAIN flag as it was published"}
	ruleRetainSent  = promise{"MQTT-3.3.1-9", "MQTT-3.3.1-6", "a new subscription gets the retained message of each matching topic"}
	ruleRetainFlag1 = promise{"MQTT-3.3.1-9", "MQTT-3.3.1-8", "a retained message sent for a new subscription carries RETAIN 1"}
	ruleRetainKept  = promise{"MQTT-3.3.1-5", "MQTT-3.3.1-5", "a retained message replaces the one before it"}
	ruleRetainGone  = promise{"MQTT-3.3.1-6", "MQTT-3.3.1-10", "a retained message with an empty payload removes the retained message"}
	ruleRetainNone  = promise{"MQTT-3.3.1-11", "", "Retain Handling 2: no retained messages at the subscription"}
	ruleOrder       = promise{"MQTT-4.6.0-6", "MQTT-4.6.0-6", "messages of one topic and QoS from one client arrive in the order published"}
	ruleAtMostOnce  = promise{"MQTT-4.3.1-1", "MQTT-4.3.1-1", "QoS 0: at most once"}
	ruleExactlyOnce = promise{"MQTT-4.3.3-1", "MQTT-4.3.3-1", "QoS 2: exactly once (a new message takes a new packet identifier, a copy is not a new message)"}
	ruleWill        = promise{"MQTT-3.1.2-8", "MQTT-3.1.2-8", "the will is published when the connection ends without DISCONNECT"}
	ruleWillGone    = promise{"MQTT-3.1.2-10", "MQTT-3.14.4-3", "DISCONNECT discards the will"}
	ruleWillRetain  = promise{"MQTT-3.1.2-17", "MQTT-3.1.2-17", "a will with Will Retain 1 is published as a retained message"}
	ruleSPClean     = promise{"MQTT-3.2.2-2", "MQTT-3.2.2-1", "Clean Start 1: Session Present 0"}
	ruleSPResume    = promise{"MQTT-3.2.2-3", "MQTT-3.2.2-2", "Clean Start 0 with a session held: Session Present 1"}
	ruleSPNone      = promise{"MQTT-3.2.2-3", "MQTT-3.2.2-3", "Clean Start 0 and no session held: Session Present 0"}
	ruleResume      = promise{"MQTT-3.1.2-5", "MQTT-3.1.2-5", "a resumed session keeps its subscriptions and delivers the QoS 1 and 2 messages queued while the client was away"}
	ruleShared      = promise{"MQTT 5.0 section 4.8.2", "", "a message is delivered to one session of a shared subscription's group"}
	ruleAccepted    = promise{"MQTT-3.2.2-2", "MQTT-3.1.4-4", "the broker accepts a valid CONNECT"}
)

// message is one application message of the scenario.
type message struct {
	key    string // its payload; "empty P/t" for an empty one
	seq    int    // publication order
	from   int    // publishing client
	will   bool   // the will of client from
	topic  int
	qos    packet.QoS
	retain bool
	step   int
}

func (m *message) String() string {
	what := fmt.Sprintf("%q (step %d: ", m.key, m.step)
	if m.will {
		what += fmt.Sprintf("will of c%d", m.from)
	} else {
		what += fmt.Sprintf("from c%d", m.from)
	}
	what += fmt.Sprintf(" on P/%s qos%d", topicNames[m.topic], m.qos)
	if m.retain {
		what += " retained"
	}
	return what + ")"
}

// slot is one copy of a message a client may receive.
type slot struct {
	client  int // -1 for a shared subscription's copy
	members map[int]packet.QoS
	qos     [3]bool // the QoS allowed
	retain  [2]bool // the RETAIN flags allowed
	why     string  // for failure messages
}

// top is the highest QoS s allows.
func (s slot) top() packet.QoS {
	for q := packet.QoS2; q > 0; q-- {
		if s.qos[q] {
			return q
		}
	}
	return 0
}

func qosSet(q packet.QoS) (s [3]bool) {
	s[q] = true
	return s
}

// requirement is a copy a client, or a shared group, must receive.
type requirement struct {
	client  int // -1: a shared group, members
	members []int
	key     string
	rule    promise
	step    int
}

type subscription struct {
	granted         packet.QoS
	noLocal, rap    bool
	retainHandling  byte
	sharedFilterIdx int
}

type clientState struct {
	spec    clientSpec
	online  bool
	session bool // the broker holds a session for it
	subs    map[string]subscription
	shared  map[int]subscription
	willKey string
	history []string // what happened to its subscriptions and session, for failure messages
}

type retained struct {
	key      string
	qos      packet.QoS
	optional bool // QoS 0: the broker may discard it at any time
}

type model struct {
	prefix   string
	clients  []*clientState
	retained map[int]retained
	msgs     map[string]*message
	slots    map[string][]slot
	reqs     []requirement
	seq      int
	step     int
}

func newModel(prefix string, s *scenario) *model {
	m := &model{prefix: prefix, retained: map[int]retained{}, msgs: map[string]*message{}, slots: map[string][]slot{}}
	for _, c := range s.Clients {
		m.clients = append(m.clients, &clientState{spec: c, subs: map[string]subscription{}, shared: map[int]subscription{}})
	}
	return m
}

func (m *model) topic(i int) string { return m.prefix + "/" + topicNames[i] }

// publish records message msg as the broker takes it.
func (m *model) publish(msg *message) {
	m.seq++
	msg.seq, msg.step = m.seq, m.step
	if _, ok := m.msgs[msg.key]; !ok { // empty payloads share a key: the first names them
		m.msgs[msg.key] = msg
	}
	name := m.topic(msg.topic)
	for i, c := range m.clients {
		if !c.session {
			continue
		}
		self := i == msg.from
		// One copy per matching subscription, or fewer: a single copy may
		// carry the highest QoS and the RETAIN flag of any of them
		// (MQTT-3.3.4-2), so each copy may be any of them.
		var u slot
		u.client = i
		var whys []string
		n := 0
		for f, sub := range c.subs {
			if !topic.Match(f, name) || sub.noLocal && self && !msg.will {
				continue
			}
			u.qos[min(msg.qos, sub.granted)] = true
			u.retain[b2i(sub.rap && msg.retain)] = true
			whys = append(whys, m.short(f))
			n++
		}
		if n == 0 {
			continue
		}
		sort.Strings(whys)
		u.why = "subscription " + strings.Join(whys, ", ")
		for range n {
			m.slots[msg.key] = append(m.slots[msg.key], u)
		}
		if u.top() > 0 && !(self && msg.will) {
			r := ruleDeliver
			if !c.online {
				r = ruleResume
			}
			m.reqs = append(m.reqs, requirement{client: i, key: msg.key, rule: r, step: m.step})
		}
	}
	for fi, f := range sharedFilters {
		if !topic.Match(m.prefix+"/"+f, name) {
			continue
		}
		s := slot{client: -1, members: map[int]packet.QoS{}, why: "shared subscription $share/g/P/" + f}
		all := true
		for i, c := range m.clients {
			if sub, ok := c.shared[fi]; ok && c.session {
				s.members[i] = min(msg.qos, sub.granted)
				if !c.online || s.members[i] == 0 {
					all = false
				}
				s.qos[s.members[i]] = true
				s.retain[b2i(sub.rap && msg.retain)] = true
			}
		}
		if len(s.members) == 0 {
			continue
		}
		m.slots[msg.key] = append(m.slots[msg.key], s)
		if all {
			var members []int
			for i := range s.members {
				members = append(members, i)
			}
			m.reqs = append(m.reqs, requirement{client: -1, members: members, key: msg.key, rule: ruleShared, step: m.step})
		}
	}
	if msg.retain {
		if strings.HasPrefix(msg.key, "empty ") {
			delete(m.retained, msg.topic)
		} else {
			m.retained[msg.topic] = retained{key: msg.key, qos: msg.qos, optional: msg.qos == 0}
		}
	}
}

func (m *model) short(filter string) string {
	if s, ok := strings.CutPrefix(filter, m.prefix); ok {
		return "P" + s
	}
	return filter
}

// subscribed records a subscription the broker granted.
func (m *model) subscribed(i int, st step, granted packet.QoS) {
	c := m.clients[i]
	sub := subscription{granted: granted, noLocal: st.NoLocal, rap: st.RetainAsPublished, retainHandling: st.RetainHandling}
	f := st.filter(m.prefix)
	c.history = append(c.history, fmt.Sprintf("step %d: subscribed to %s, granted qos%d", m.step, m.short(f), granted))
	if st.Shared {
		c.shared[st.Filter] = sub
		for t, r := range m.retained { // retained messages may or may not go to a shared subscription
			if topic.Match(m.prefix+"/"+sharedFilters[st.Filter], m.topic(t)) {
				m.slots[r.key] = append(m.slots[r.key], slot{client: i, qos: qosSet(min(r.qos, granted)), retain: [2]bool{false, true}, why: "retained at shared subscription"})
			}
		}
		return
	}
	_, existed := c.subs[f]
	c.subs[f] = sub
	if c.spec.Version == packet.V5 && (st.RetainHandling == 2 || st.RetainHandling == 1 && existed) {
		return
	}
	for t, r := range m.retained {
		if !topic.Match(f, m.topic(t)) {
			continue
		}
		s := slot{client: i, qos: qosSet(min(r.qos, granted)), retain: [2]bool{false, true}, why: "retained message at subscription " + m.short(f)}
		m.slots[r.key] = append(m.slots[r.key], s)
		if !r.optional && s.top() > 0 {
			m.reqs = append(m.reqs, requirement{client: i, key: r.key, rule: ruleRetainSent, step: m.step})
		}
	}
}

func (m *model) unsubscribed(i int, st step) {
	c := m.clients[i]
	if st.Shared {
		delete(c.shared, st.Filter)
	} else {
		delete(c.subs, st.filter(m.prefix))
	}
	c.history = append(c.history, fmt.Sprintf("step %d: unsubscribed from %s", m.step, m.short(st.filter(m.prefix))))
}

// left records the end of client i's connection; with drop, its will is
// published.
func (m *model) left(i int, drop bool) *message {
	c := m.clients[i]
	c.online = false
	if !c.spec.Persistent {
		m.endSession(i, "connection ended, session not kept")
	} else {
		c.history = append(c.history, fmt.Sprintf("step %d: disconnected, session kept", m.step))
	}
	if !drop || c.spec.Will == nil {
		return nil
	}
	w := &message{key: c.willKey, from: i, will: true, topic: c.spec.Will.Topic, qos: c.spec.Will.QoS, retain: c.spec.Will.Retain}
	m.publish(w)
	return w
}

func (m *model) endSession(i int, why string) {
	c := m.clients[i]
	c.session = false
	c.subs = map[string]subscription{}
	c.shared = map[int]subscription{}
	c.history = append(c.history, fmt.Sprintf("step %d: %s", m.step, why))
}

// connected records a new connection of client i and returns the
// Session Present the broker owes and the rule that says so.
func (m *model) connected(i int, cleanStart bool, willKey string) (bool, promise) {
	c := m.clients[i]
	c.online = true
	c.willKey = willKey
	switch {
	case cleanStart:
		if c.session {
			m.endSession(i, "connected with clean start: session discarded")
		}
		c.session = true
		return false, ruleSPClean
	case c.session:
		return true, ruleSPResume
	default:
		c.session = true
		return false, ruleSPNone
	}
}

// forgive drops the requirements client i can no longer meet because its
// session ended: have(key) is what it received.
func (m *model) forgive(i int, have func(key string) int) {
	counts := map[string]int{}
	kept := m.reqs[:0]
	for _, r := range m.reqs {
		if r.client == i {
			counts[r.key]++
			if counts[r.key] > have(r.key) {
				continue
			}
		}
		kept = append(kept, r)
	}
	m.reqs = kept
}
