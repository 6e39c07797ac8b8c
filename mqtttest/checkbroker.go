package mqtttest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"pgregory.net/rapid"
)

// BrokerOptions say what a broker under CheckBroker supports and how
// much to check. The zero BrokerOptions check a broker of both versions
// with every feature, as many scenarios as rapid's -rapid.checks.
type BrokerOptions struct {
	// Versions are the protocol versions of the clients; nil means
	// packet.V311 and packet.V5.
	Versions []packet.Version
	// MaxQoS is the highest QoS the broker takes from publishers; 0 means
	// 2 (a broker of QoS 0 alone cannot be checked).
	MaxQoS packet.QoS
	// NoRetain: the broker keeps no retained messages.
	NoRetain bool
	// NoWills: the broker publishes no will messages.
	NoWills bool
	// NoShared: the broker has no shared subscriptions (they are only
	// drawn for v5 clients anyway).
	NoShared bool
	// NoSessions: the broker keeps no session after the connection.
	NoSessions bool
	// KeepsOptions: a SUBSCRIBE that replaces a subscription (same
	// filter) leaves its No Local and Retain As Published as they were,
	// against MQTT-3.8.4-3 (mosquitto 2.0): the check repeats them.
	KeepsOptions bool
	// HighPacketIDs: SUBSCRIBE and UNSUBSCRIBE take packet identifiers
	// from 65,000 up, for a broker that wrongly refuses one equal to an
	// identifier of its own PUBLISHes to the client (mochi 2.7).
	HighPacketIDs bool
	// NoNoLocal: v5 subscriptions never set No Local, for a broker that
	// applies one subscription's No Local to all the client's matching
	// subscriptions (mochi 2.7).
	NoNoLocal bool
	// NoTopicAliases: v5 clients announce no Topic Alias Maximum, so the
	// broker sends them no Topic Alias (publishers still use the broker's).
	NoTopicAliases bool
	// NoReceiveMaximum: v5 clients announce no Receive Maximum of their
	// own (the broker may then send 65,535 messages unacknowledged), for
	// a broker known to stall at a small one.
	NoReceiveMaximum bool

	// Checks, when positive, caps the scenarios run (and -rapid.checks
	// caps Checks); shrinking a failure runs as many more as it needs.
	Checks int
	// Steps caps the steps of a scenario; 0 means 12.
	Steps int
	// Timeout bounds each wait for something the broker owes: a CONNACK,
	// an acknowledgement, a message; 0 means 5 s.
	Timeout time.Duration
	// Settle is how long the check waits at the end of a scenario for
	// copies the broker should not send (duplicates) before it judges;
	// 0 means 50 ms. Longer finds more, never less.
	Settle time.Duration
	// Prefix starts every topic the check uses; each scenario adds a
	// unique level of its own. "" means "mqtttest".
	Prefix string
	// Dial opens a connection to the broker; nil means TCP.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

func (o *BrokerOptions) versions() []packet.Version {
	if len(o.Versions) == 0 {
		return []packet.Version{packet.V311, packet.V5}
	}
	return o.Versions
}

func (o *BrokerOptions) maxQoS() packet.QoS {
	if o.MaxQoS == 0 {
		return packet.QoS2
	}
	return o.MaxQoS
}

func (o *BrokerOptions) steps() int             { return limit(o.Steps, 12) }
func (o *BrokerOptions) timeout() time.Duration { return durationOr(o.Timeout, 5*time.Second) }

func (o *BrokerOptions) settle() time.Duration { return durationOr(o.Settle, 50*time.Millisecond) }

func (o *BrokerOptions) prefix() string { return cmp.Or(o.Prefix, "mqtttest") }

func (o *BrokerOptions) dial(ctx context.Context, addr string) (net.Conn, error) {
	if o.Dial != nil {
		return o.Dial(ctx, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// CheckBroker drives the broker at addr with random scenarios drawn with
// rapid, and fails t when the broker breaks a promise of the
// specifications. A scenario is one to three clients of the versions
// o allows, plus a monitor subscribed to every topic of the scenario,
// taking up to o.Steps steps one after the other: subscribe (wildcards,
// QoS 0 to 2, v5 options No Local, Retain As Published, Retain Handling,
// shared subscriptions), unsubscribe, publish (QoS 0 to 2, retained,
// empty, several back to back), disconnect, drop the connection without
// DISCONNECT, and connect again (resuming the session, or with Clean
// Start). Clients may keep their session, leave a will, announce a small
// Receive Maximum and accept Topic Aliases; publishers use Topic Aliases
// when the broker accepts them.
//
// The check holds the broker to: delivery per QoS (QoS 1 at least once,
// QoS 2 exactly once, QoS 0 at most once) at the QoS granted, ordering
// per topic and QoS from one publisher, retained messages (stored,
// replaced, removed, sent to new subscriptions with RETAIN 1, Retain
// Handling), wills (published after a dropped connection, retained or
// not, discarded after DISCONNECT), sessions (Session Present, queued
// messages delivered on resumption, discarded by Clean Start), shared
// subscriptions (one copy per group), No Local, and every rule the core
// Connection enforces on what arrives (Receive Maximum, Topic Aliases,
// packet validity). A failure names the statement broken and, rapid
// having shrunk it, prints the smallest scenario found.
//
// t is a *testing.T or *testing.B, or anything else with their methods
// (rapid.TB).
//
// Each scenario uses topics under a prefix of its own and Client
// Identifiers of its own, and at its end removes the retained messages
// and sessions it made, so a broker that serves others can be checked.
func CheckBroker(t rapid.TB, addr string, o BrokerOptions) {
	t.Helper()
	id := runID()
	checkScenarios(t, o.Checks, func(rt *rapid.T, n int64) (*failure, fmt.Stringer) {
		s := drawScenario(rt, &o)
		r := newRun(addr, &o, s, fmt.Sprintf("%s/%s-%d", o.prefix(), id, n), fmt.Sprintf("mt%s-%d-", id, n))
		defer r.cleanup()
		return r.play(), s
	})
}

// checkScenarios runs rapid checks of play, which draws and plays the
// scenario of check n: at most checks of them when checks is positive,
// unless one failed and rapid shrinks it. rapid shrinks while the same
// statement breaks; the details go to the log, printed for the smallest
// scenario, and for the first failure in case it does not recur.
func checkScenarios(t rapid.TB, checks int, play func(rt *rapid.T, n int64) (*failure, fmt.Stringer)) {
	t.Helper()
	var ran atomic.Int64
	var failing atomic.Bool
	rapid.Check(t, func(rt *rapid.T) {
		if checks > 0 && ran.Load() >= int64(checks) && !failing.Load() {
			return
		}
		f, s := play(rt, ran.Add(1))
		if f == nil {
			return
		}
		if !failing.Swap(true) {
			t.Logf("first failure: %s\nscenario:\n%s", f.details, s)
		}
		rt.Logf("%s\nscenario:\n%s", f.details, s)
		rt.Fatalf("%s broken (%s); the smallest scenario found is in the log", f.statement, f.what)
	})
}

// runID is a short random identifier of one CheckBroker call.
func runID() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// run plays one scenario against the broker.
type run struct {
	addr     string
	o        *BrokerOptions
	s        *scenario
	m        *model
	ids      []string // Client Identifiers
	conns    []*checkConn
	wake     chan struct{}
	epochs   []int
	payloads int
	retained bool // a retained message was published: clean up
	requests int  // SUBSCRIBE and UNSUBSCRIBE sent
}

func newRun(addr string, o *BrokerOptions, s *scenario, prefix, idPrefix string) *run {
	r := &run{addr: addr, o: o, s: s, m: newModel(prefix, s), wake: make(chan struct{}, 1)}
	for i, c := range s.Clients {
		r.ids = append(r.ids, fmt.Sprintf("%sc%d", idPrefix, i))
		r.conns = append(r.conns, newCheckConn(fmt.Sprintf("c%d", i), clientConfig(c), r.wake))
		r.epochs = append(r.epochs, 0)
	}
	return r
}

// play runs the scenario and returns what the broker did wrong, or "".
func (r *run) play() *failure {
	for i := range r.s.Clients {
		if msg := r.connect(i, false); msg != nil {
			return msg
		}
	}
	monitor := step{Kind: stepSubscribe, Filter: indexOf(filterNames, "#"), QoS: packet.QoS2}
	if msg := r.subscribe(0, monitor); msg != nil {
		return msg
	}
	for i, st := range r.s.Steps {
		r.m.step = i + 1
		if msg := r.do(st); msg != nil {
			return msg.at("at step %d (%v)", i+1, st)
		}
		if msg := r.faults(); msg != nil {
			return msg.at("after step %d (%v)", i+1, st)
		}
		if msg := r.awaitRequired(); msg != nil {
			return msg.at("after step %d (%v)", i+1, st)
		}
	}
	time.Sleep(r.o.settle())
	if msg := r.faults(); msg != nil {
		return msg
	}
	return r.verdict()
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	panic("mqtttest: no " + s)
}

// failure is what a scenario found wrong: the statement broken and what
// it promises (rapid shrinks a scenario while they stay the same), and
// the details.
type failure struct {
	statement, what string
	details         string
}

// at puts where the failure happened before its details.
func (f *failure) at(format string, args ...any) *failure {
	f.details = fmt.Sprintf(format, args...) + ": " + f.details
	return f
}

// fail is a broken promise, in the version of the client that saw it.
func fail(r promise, v packet.Version, format string, args ...any) *failure {
	st := r.statement(v)
	if st == "" {
		st = r.statement(packet.V5) + " (v5)"
	}
	return &failure{st, r.what, st + " (" + r.what + ") broken: " + fmt.Sprintf(format, args...)}
}

// other is a failure no statement names: the broker refused what the
// check asked, or behaved as the options say it should not.
func other(format string, args ...any) *failure {
	d := fmt.Sprintf(format, args...)
	return &failure{"the check's expectations", "see the log", d}
}

func (r *run) version(i int) packet.Version { return r.s.Clients[i].Version }

// await waits up to the timeout for cond, waking whenever a client
// receives something.
func (r *run) await(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-r.wake:
		case <-deadline.C:
			return cond()
		}
	}
	return true
}

// do carries out one step.
func (r *run) do(st step) *failure {
	c := r.m.clients[st.Client]
	switch st.Kind {
	case stepSubscribe:
		if c.online {
			return r.subscribe(st.Client, st)
		}
	case stepUnsubscribe:
		if c.online {
			return r.unsubscribe(st.Client, st)
		}
	case stepPublish:
		if c.online {
			return r.publish(st.Client, st)
		}
	case stepDisconnect:
		if c.online {
			r.conns[st.Client].disconnect()
			r.m.left(st.Client, false)
		}
	case stepDrop:
		if c.online {
			r.conns[st.Client].drop()
			if w := r.m.left(st.Client, true); w != nil {
				r.retained = r.retained || w.retain
				r.barrier([]string{w.key})
			}
		}
	case stepConnect:
		if !c.online {
			return r.connect(st.Client, st.Clean)
		}
	}
	return nil
}

// connect connects client i: with Clean Start when clean is set or its
// session is not to persist.
func (r *run) connect(i int, clean bool) *failure {
	spec := r.s.Clients[i]
	k := r.conns[i]
	v := spec.Version
	r.epochs[i]++
	p := &packet.Connect{ClientID: r.ids[i], CleanStart: clean || !spec.Persistent, KeepAlive: 60}
	if v == packet.V5 {
		if spec.Persistent {
			p.Props.SessionExpiry = 300
		}
		p.Props.ReceiveMaximum = spec.ReceiveMax
		p.Props.TopicAliasMaximum = spec.AliasMax
	}
	willKey := ""
	if w := spec.Will; w != nil {
		willKey = fmt.Sprintf("will of c%d #%d", i, r.epochs[i])
		p.Will = packet.Will{Topic: r.m.topic(w.Topic), QoS: w.QoS, Retain: w.Retain, Payload: []byte(willKey)}
	}
	if err := k.connect(r.o.dial, r.addr, p); err != nil {
		return other("c%d cannot connect: %v", i, err)
	}
	var ack *packet.Connack
	r.await(r.o.timeout(), func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		ack = k.connack
		return ack != nil || !k.open
	})
	if ack == nil {
		return fail(ruleAccepted, v, "c%d got no CONNACK within %v (%s)", i, r.o.timeout(), k.brokerFault())
	}
	if ack.Reason != 0 {
		return fail(ruleAccepted, v, "c%d refused with CONNACK %v", i, ack.Reason)
	}
	want, rl := r.m.connected(i, p.CleanStart, willKey)
	if ack.SessionPresent != want {
		return fail(rl, v, "c%d connected with clean start %v: Session Present %v, want %v\nits history:\n  %s",
			i, p.CleanStart, ack.SessionPresent, want, strings.Join(r.m.clients[i].history, "\n  "))
	}
	if p.CleanStart {
		r.m.forgive(i, func(key string) int { return r.have(i, key) })
	}
	r.m.clients[i].history = append(r.m.clients[i].history, fmt.Sprintf("step %d: connected (clean start %v)", r.m.step, p.CleanStart))
	return nil
}

func clientConfig(c clientSpec) mqtt.Config {
	return mqtt.Config{Version: c.Version, TopicAliases: mqtt.AliasAuto, ConnectTimeout: 10 * time.Second}
}

func (r *run) subscribe(i int, st step) *failure {
	k := r.conns[i]
	v := r.version(i)
	sub := packet.Subscription{Filter: st.filter(r.m.prefix), QoS: st.QoS}
	if old, ok := r.m.clients[i].subs[sub.Filter]; ok && r.o.KeepsOptions && !st.Shared {
		st.NoLocal, st.RetainAsPublished = old.noLocal, old.rap
	}
	if v == packet.V5 {
		sub.NoLocal, sub.RetainAsPublished, sub.RetainHandling = st.NoLocal, st.RetainAsPublished, st.RetainHandling
	}
	p := &packet.Subscribe{Subscriptions: []packet.Subscription{sub}, PacketID: r.requestID()}
	if err := k.send(p); err != nil {
		return other("c%d cannot subscribe: %v (see BrokerOptions)", i, err)
	}
	ack, msg := r.ack(i, p.PacketID, "SUBACK", "MQTT-3.8.4-1")
	if msg != nil {
		return msg
	}
	reasons := ack.(*packet.Suback).Reasons
	if len(reasons) != 1 {
		return fail(promise{"MQTT-3.8.4-6", "MQTT-3.8.4-5", "one reason code per filter"}, v, "SUBACK with %d reason codes", len(reasons))
	}
	switch g := reasons[0]; {
	case g.IsError():
		// A broker may refuse a subscription (quota, identifier in use,
		// shared subscriptions not supported, ...): then there is none.
		r.m.clients[i].history = append(r.m.clients[i].history, fmt.Sprintf("step %d: subscription to %s refused with %v", r.m.step, r.m.short(sub.Filter), g))
	case packet.QoS(g) > st.QoS:
		return fail(promise{"MQTT-3.8.4-7", "MQTT-3.8.4-5", "the QoS granted is at most the QoS asked for"}, v, "granted %v for qos%d", g, st.QoS)
	default:
		r.m.subscribed(i, st, packet.QoS(g))
	}
	return nil
}

func (r *run) unsubscribe(i int, st step) *failure {
	p := &packet.Unsubscribe{Filters: []string{st.filter(r.m.prefix)}, PacketID: r.requestID()}
	if err := r.conns[i].send(p); err != nil {
		return other("c%d cannot unsubscribe: %v", i, err)
	}
	if _, msg := r.ack(i, p.PacketID, "UNSUBACK", "MQTT-3.10.4-4"); msg != nil {
		return msg
	}
	r.m.unsubscribed(i, st)
	return nil
}

// requestID is the packet identifier of a SUBSCRIBE or UNSUBSCRIBE: 0
// (the Connection's choice), or with HighPacketIDs one from 65,000 up
// (one at a time is in flight).
func (r *run) requestID() uint16 {
	if !r.o.HighPacketIDs {
		return 0
	}
	r.requests++
	return 65000 + uint16(r.requests%500)
}

// ack waits for the SUBACK or UNSUBACK of packet identifier id.
func (r *run) ack(i int, id uint16, what, statement string) (packet.Packet, *failure) {
	k := r.conns[i]
	var p packet.Packet
	r.await(r.o.timeout(), func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		p = k.acks[id]
		return p != nil || !k.open
	})
	if p == nil {
		return nil, fail(promise{statement, statement, "the broker answers with " + what}, r.version(i), "c%d got none within %v %s", i, r.o.timeout(), k.brokerFault())
	}
	return p, nil
}

func (r *run) publish(i int, st step) *failure {
	k := r.conns[i]
	var keys []string
	for range max(st.Count, 1) {
		r.payloads++
		key := fmt.Sprintf("m%d", r.payloads)
		var payload []byte
		if st.Empty {
			key = "empty P/" + topicNames[st.Topic]
		} else {
			payload = []byte(key)
		}
		r.m.publish(&message{key: key, from: i, topic: st.Topic, qos: st.QoS, retain: st.Retain})
		r.retained = r.retained || st.Retain
		if err := k.send(&packet.Publish{Topic: r.m.topic(st.Topic), QoS: st.QoS, Retain: st.Retain, Payload: payload}); err != nil {
			return other("c%d cannot publish: %v (see BrokerOptions)", i, err)
		}
		keys = append(keys, key)
	}
	if st.QoS > 0 && !r.await(r.o.timeout(), func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.c.InFlight() == 0 && k.c.Queued() == 0 || !k.open
	}) {
		return fail(promise{"MQTT-3.3.4-1", "MQTT-3.3.4-1", "the receiver of a PUBLISH answers it as its QoS says"}, r.version(i),
			"c%d's qos%d messages not acknowledged within %v", i, st.QoS, r.o.timeout())
	}
	r.barrier(keys)
	return nil
}

// barrier waits, briefly, for the monitor to receive the QoS 0 messages
// keys: then the broker has routed them (QoS 1 and 2 messages the monitor
// is owed are waited for as requirements).
func (r *run) barrier(keys []string) {
	r.await(min(r.o.timeout(), 200*time.Millisecond), func() bool {
		for _, key := range keys {
			if r.have(0, key) == 0 {
				return false
			}
		}
		return true
	})
}

// have counts the copies of message key client i received.
func (r *run) have(i int, key string) int {
	k := r.conns[i]
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, d := range k.got {
		if r.key(d) == key {
			n++
		}
	}
	return n
}

// key is the message a delivery is a copy of.
func (r *run) key(d delivery) string {
	if d.payload == "" {
		return "empty " + r.m.short(d.topic)
	}
	return d.payload
}

// faults reports what the clients' Connections found wrong, and
// connections the broker ended.
func (r *run) faults() *failure {
	for i, k := range r.conns {
		if f := k.brokerFault(); f != "" {
			return &failure{"a rule the core Connection enforces", "see the log", "the broker broke the protocol:\n" + f}
		}
		k.mu.Lock()
		open, by := k.open, k.byServer
		k.mu.Unlock()
		if r.m.clients[i].online && !open {
			why := "without DISCONNECT"
			if by != nil {
				why = fmt.Sprintf("with DISCONNECT %v %s", by.Reason, by.Props.ReasonString)
			}
			return other("the broker closed c%d's connection %s", i, why)
		}
	}
	return nil
}

// awaitRequired waits for every copy the connected clients are owed.
func (r *run) awaitRequired() *failure {
	var missing *requirement
	r.await(r.o.timeout(), func() bool {
		missing = r.unmet()
		return missing == nil
	})
	if missing == nil {
		return nil
	}
	msg := r.m.msgs[missing.key]
	if missing.client < 0 {
		return fail(missing.rule, packet.V5, "no member of the group (clients %v) received %v", missing.members, msg)
	}
	c := r.m.clients[missing.client]
	return fail(missing.rule, c.spec.Version, "c%d did not receive %v within %v (requirement from step %d); c%d received %s\nits history:\n  %s",
		missing.client, msg, r.o.timeout(), missing.step, missing.client, r.received(missing.client), strings.Join(c.history, "\n  "))
}

// unmet returns a requirement of a connected client not yet met.
func (r *run) unmet() *requirement {
	counts := map[[2]any]int{}
	for j := range r.m.reqs {
		q := &r.m.reqs[j]
		if q.client < 0 {
			have, online := 0, true
			for _, i := range q.members {
				have += r.have(i, q.key)
				online = online && r.m.clients[i].online
			}
			counts[[2]any{-1, q.key}]++
			if online && have < counts[[2]any{-1, q.key}] {
				return q
			}
			continue
		}
		if !r.m.clients[q.client].online {
			continue
		}
		counts[[2]any{q.client, q.key}]++
		if r.have(q.client, q.key) < counts[[2]any{q.client, q.key}] {
			return q
		}
	}
	return nil
}

// received lists what client i received, readably.
func (r *run) received(i int) string {
	k := r.conns[i]
	k.mu.Lock()
	defer k.mu.Unlock()
	var parts []string
	for _, d := range k.got {
		parts = append(parts, d.String(r))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func (d delivery) String(r *run) string {
	s := fmt.Sprintf("%q on %s qos%d", r.key(d), r.m.short(d.topic), d.qos)
	if d.retain {
		s += " retain"
	}
	if d.dup {
		s += " dup"
	}
	return s
}

// cleanup ends the scenario's connections and removes the retained
// messages and sessions it left on the broker.
func (r *run) cleanup() {
	for _, k := range r.conns {
		k.disconnect()
		k.stopTimers()
	}
	if !r.retained && !r.anyPersistent() {
		return
	}
	for i, c := range r.s.Clients {
		clear := i == 0 && r.retained
		if !c.Persistent && !clear {
			continue
		}
		// Clean Start without Session Expiry: the session ends with the
		// connection.
		k := newCheckConn("cleanup", mqtt.Config{Version: c.Version}, r.wake)
		if k.connect(r.o.dial, r.addr, &packet.Connect{ClientID: r.ids[i], CleanStart: true, KeepAlive: 60}) != nil {
			continue
		}
		r.awaitConnack(k)
		if clear {
			for t := range topicNames {
				_ = k.send(&packet.Publish{Topic: r.m.topic(t), QoS: packet.QoS1, Retain: true})
			}
			r.await(r.o.timeout(), func() bool {
				k.mu.Lock()
				defer k.mu.Unlock()
				return k.c.InFlight() == 0 && k.c.Queued() == 0 || !k.open
			})
		}
		k.disconnect()
		k.stopTimers()
	}
}

func (r *run) anyPersistent() bool {
	for _, c := range r.s.Clients {
		if c.Persistent {
			return true
		}
	}
	return false
}

func (r *run) awaitConnack(k *checkConn) {
	deadline := time.Now().Add(r.o.timeout())
	for time.Now().Before(deadline) {
		k.mu.Lock()
		done := k.connack != nil || !k.open
		k.mu.Unlock()
		if done {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// with appends more details.
func (f *failure) with(more string) *failure {
	f.details += more
	return f
}

// durationOr returns d, or def when d is not positive.
func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
