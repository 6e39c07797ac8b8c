package mqtt

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// TestModelRefusedSend is a state-machine test of the rule that a Send
// the Connection refuses changes nothing (DESIGN.md: bad input from the
// caller gets a clear error and changes no state). Two links of a client
// and a server, twins, get the same random valid traffic in both versions
// (publishes at QoS 0-2 on a few topics with automatic or caller-chosen
// Topic Aliases, subscriptions, acknowledgements left to the caller,
// pings, deliveries in random chunks, drops and reconnections with the
// session kept and an offline queue). Between them, the first link also
// gets Sends built to fail: a packet over the peer's Maximum Packet Size
// (MQTT-3.1.2-27, MQTT-3.2.2-15), even once its Reason String and User
// Properties are left out (MQTT-3.9.2-1, MQTT-3.14.2-3), a topic or filter
// the codec refuses, an alias no PUBLISH mapped or above the peer's Topic
// Alias Maximum (MQTT-3.3.2-9, MQTT-3.3.2-11), a Subscription Identifier
// from a client (MQTT-3.3.4-6), also offline, an AUTH of another method,
// a server's DISCONNECT with a Session Expiry Interval (MQTT-3.14.2-2), a
// packet the role or the state does not allow, an acknowledgement nothing
// awaits. Each refused Send must return an error, leave its packet as it
// was,
// hand the handler no event (no EventSend, no EventJournal) and leave the
// whole protocol state equal to the twin's, which never saw it: the
// identifier allocator (where it stands, what is in use), exchanges, the
// stored and queued messages, send quota, timers, the Topic Alias
// mappings and their eviction order. Every later call of both links then
// gives the same events, byte for byte, journal batches included.
func TestModelRefusedSend(t *testing.T) {
	checkWidths(t, runModelRefused[uint16], runModelRefused[uint32])
}

// twins are two links driven alike, but for the refused Sends, which only
// links[0] gets.
type twins[ID packetid.ID] struct {
	rt      *rapid.T
	v       packet.Version
	links   [2]*link[ID]
	connect func() *packet.Connect
	connack func(present bool) *packet.Connack
	online  bool
	refused int
}

var twinTopics = []string{"a", "b/c", "d", "e/f/g"}

// twinAuth is the Authentication Method of the twins' v5 connections.
const twinAuth = "twin-auth"

func runModelRefused[ID packetid.ID](rt *rapid.T) {
	v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(rt, "version")
	m := &twins[ID]{rt: rt, v: v}
	var cfgs [2]Config
	for i, r := range roles {
		cfgs[i] = Config{
			Journal:                 true,
			QueueWhenQuotaExhausted: rapid.Bool().Draw(rt, fmt.Sprint(r, " queue")),
			ManualPuback:            rapid.Bool().Draw(rt, fmt.Sprint(r, " manual puback")),
			ManualPubrec:            rapid.Bool().Draw(rt, fmt.Sprint(r, " manual pubrec")),
			ManualPubrel:            rapid.Bool().Draw(rt, fmt.Sprint(r, " manual pubrel")),
			ManualPubcomp:           rapid.Bool().Draw(rt, fmt.Sprint(r, " manual pubcomp")),
			TopicAliases:            rapid.SampledFrom([]AliasMode{AliasOff, AliasAuto, AliasReplace}).Draw(rt, fmt.Sprint(r, " aliases")),
		}
	}
	cfgs[0].Version, cfgs[0].OfflineQueue = v, true
	last := [2]ID{drawLastID[ID](rt, "client first id"), drawLastID[ID](rt, "server first id")}
	for k := range m.links {
		l := &link[ID]{}
		for i, r := range roles {
			l.put(i, newModelConn(r, cfgs[i], last[i], nil))
		}
		m.links[k] = l
	}
	var cprops, aprops property.Properties
	if v == packet.V5 {
		cprops = property.Properties{SessionExpiry: 3600,
			MaximumPacketSize: uint32(rapid.IntRange(64, 256).Draw(rt, "client maximum packet size")),
			ReceiveMaximum:    uint16(rapid.IntRange(1, 4).Draw(rt, "client receive maximum")),
			TopicAliasMaximum: uint16(rapid.IntRange(0, 3).Draw(rt, "client topic alias maximum"))}
		cprops.Zero.Add(property.SessionExpiryInterval)
		cprops.AuthMethod = twinAuth
		if rapid.Bool().Draw(rt, "no problem information") {
			cprops.Zero.Add(property.RequestProblemInformation) // 0: the server strips it
		}
		aprops = property.Properties{
			MaximumPacketSize: uint32(rapid.IntRange(64, 256).Draw(rt, "server maximum packet size")),
			ReceiveMaximum:    uint16(rapid.IntRange(1, 4).Draw(rt, "server receive maximum")),
			TopicAliasMaximum: uint16(rapid.IntRange(0, 3).Draw(rt, "server topic alias maximum")),
			AuthMethod:        twinAuth}
	}
	clean := true
	m.connect = func() *packet.Connect {
		c := &packet.Connect{ClientID: "twin", CleanStart: clean, KeepAlive: 30, Props: cprops}
		clean = false
		return c
	}
	m.connack = func(present bool) *packet.Connack {
		return &packet.Connack{SessionPresent: present, Props: aprops}
	}
	m.handshake()

	rt.Repeat(map[string]func(*rapid.T){
		"publish": func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "from")
			if !m.online && i == 1 {
				return
			}
			topic := rapid.SampledFrom(twinTopics).Draw(rt, "topic")
			qos := packet.QoS(rapid.IntRange(0, 2).Draw(rt, "qos"))
			payload := []byte(strings.Repeat("x", rapid.IntRange(0, 16).Draw(rt, "payload")))
			alias := uint16(0)
			if m.online && v == packet.V5 && rapid.Bool().Draw(rt, "own alias") {
				alias = uint16(rapid.IntRange(1, int(m.at(0, i).aliasOut.Max()+1)).Draw(rt, "alias"))
				if alias > m.at(0, i).aliasOut.Max() {
					alias = 0
				}
			}
			m.send(i, func() packet.Packet {
				p := &packet.PublishOf[ID]{Topic: topic, QoS: qos, Payload: payload}
				p.Props.TopicAlias = alias
				return p
			})
		},
		"subscribe": func(rt *rapid.T) {
			if !m.online {
				return
			}
			filter := rapid.SampledFrom(append([]string{"#", "+/c"}, twinTopics...)).Draw(rt, "filter")
			unsub := rapid.Bool().Draw(rt, "unsubscribe")
			m.send(0, func() packet.Packet {
				if unsub {
					return &packet.UnsubscribeOf[ID]{Filters: []string{filter}}
				}
				return &packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: filter, QoS: packet.QoS1}}}
			})
		},
		"deliver": func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "direction")
			if n := len(m.links[0].pipes[i]); n > 0 {
				m.deliver(i, rapid.IntRange(1, n).Draw(rt, "bytes"))
			}
		},
		"answer": func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "side")
			if mk := m.answer(i); mk != nil {
				m.send(i, mk)
			}
		},
		"ping": func(rt *rapid.T) {
			if m.online {
				m.call(0, func(c *tconn[ID]) []Event[ID] { return c.TimerFired(TimerPing) })
			}
		},
		"drop": func(rt *rapid.T) {
			if !m.online {
				return
			}
			for i := range roles {
				m.call(i, func(c *tconn[ID]) []Event[ID] { return c.Closed() })
			}
			for _, l := range m.links {
				l.pipes = [2][]byte{}
			}
			m.online = false
		},
		"reconnect": func(rt *rapid.T) {
			if !m.online {
				m.handshake()
			}
		},
		"refused": func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "from")
			mk, want := m.drawRefused(rt, i)
			m.refuse(i, mk, want)
		},
		"": func(rt *rapid.T) { m.same("after the step") },
	})
	for m.online && len(m.links[0].pipes[0])+len(m.links[0].pipes[1]) > 0 {
		for i := range 2 {
			if n := len(m.links[0].pipes[i]); n > 0 {
				m.deliver(i, n)
			}
		}
	}
	m.same("at the end")
	for i := range roles {
		a, b := m.at(0, i).ExportSession(), m.at(1, i).ExportSession()
		if string(a) != string(b) {
			rt.Fatalf("%v: the sessions exported differ after %d refused sends", roles[i], m.refused)
		}
	}
}

func (m *twins[ID]) at(k, i int) *tconn[ID] { return m.links[k].at(i) }

// handshake connects both links: CONNECT, then a CONNACK that finds the
// session the server holds.
func (m *twins[ID]) handshake() {
	connect := m.connect()
	m.send(0, func() packet.Packet { c := *connect; return &c })
	m.deliver(0, len(m.links[0].pipes[0]))
	present := m.at(0, 1).HoldsSession()
	m.send(1, func() packet.Packet { return m.connack(present) })
	m.deliver(1, len(m.links[0].pipes[1]))
	for i := range roles {
		if m.at(0, i).State() != StateConnected {
			m.rt.Fatalf("%v not connected after the handshake", roles[i])
		}
	}
	m.online = true
}

// call makes the same call on side i of both links and checks that they
// return the same events.
func (m *twins[ID]) call(i int, f func(c *tconn[ID]) []Event[ID]) {
	var evs [2][]Event[ID]
	for k, l := range m.links {
		evs[k] = f(l.at(i))
		l.take(i, evs[k])
	}
	m.sameEvents(i, evs[0], evs[1])
}

// send sends a packet made by mk (twice: Send may fill it in) on side i
// of both links. A valid packet may still be refused (an exhausted send
// quota): such a refusal is checked like those built to fail.
func (m *twins[ID]) send(i int, mk func() packet.Packet) {
	var errs [2]error
	var evs [2][]Event[ID]
	for k, l := range m.links {
		c := l.at(i)
		evs[k], errs[k] = c.Send(mk())
		if errs[k] != nil && len(c.evs) > 0 {
			m.rt.Fatalf("%v: refused Send handed out %v", roles[i], c.evs)
		}
		l.take(i, evs[k])
	}
	if fmt.Sprint(errs[0]) != fmt.Sprint(errs[1]) {
		m.rt.Fatalf("%v: Send returned %v, its twin %v", roles[i], errs[0], errs[1])
	}
	m.sameEvents(i, evs[0], evs[1])
}

// deliver delivers the first n bytes of pipe i on both links.
func (m *twins[ID]) deliver(i, n int) {
	if string(m.links[0].pipes[i]) != string(m.links[1].pipes[i]) {
		m.rt.Fatalf("the %v's pipes differ", roles[i])
	}
	var evs [2][]Event[ID]
	for k, l := range m.links {
		l.deliver(i, n)
		evs[k] = l.at(1 - i).evs
	}
	m.sameEvents(1-i, evs[0], evs[1])
}

// refuse sends a packet made by mk on side i of the first link only: it
// must fail with want (when not nil), hand out no event, and change no
// state, nor the packet.
func (m *twins[ID]) refuse(i int, mk func() packet.Packet, want error) {
	p := mk()
	l := m.links[0]
	c := l.at(i)
	pipe := len(l.pipes[i])
	evs, err := c.Send(p)
	switch {
	case err == nil:
		m.rt.Fatalf("%v: Send(%v) built to fail was sent: %v", roles[i], p.Type(), evs)
	case want != nil && !errors.Is(err, want):
		m.rt.Fatalf("%v: Send(%v) = %v, want %v", roles[i], p.Type(), err, want)
	case len(c.evs) > 0:
		m.rt.Fatalf("%v: refused Send(%v) (%v) handed out %v", roles[i], p.Type(), err, c.evs)
	case c.scratch != nil && len(c.journal) > 0:
		m.rt.Fatalf("%v: refused Send(%v) (%v) left journal records", roles[i], p.Type(), err)
	case len(l.pipes[i]) != pipe:
		m.rt.Fatalf("%v: refused Send(%v) (%v) wrote bytes", roles[i], p.Type(), err)
	}
	if d := cmp.Diff(mk(), p, cmpopts.EquateEmpty()); d != "" {
		m.rt.Fatalf("%v: refused Send(%v) (%v) changed the packet (-before +after):\n%s", roles[i], p.Type(), err, d)
	}
	m.refused++
	m.same(fmt.Sprintf("Send(%v) refused with %q", p.Type(), err))
}

// sameEvents checks that side i of both links handed out the same events.
func (m *twins[ID]) sameEvents(i int, a, b []Event[ID]) {
	if len(a) != len(b) {
		m.rt.Fatalf("%v: events %v, its twin %v", roles[i], a, b)
	}
	for j := range a {
		x, y := a[j], b[j]
		if x.Kind != y.Kind || x.Timer != y.Timer || x.PacketID != y.PacketID || x.Duration != y.Duration ||
			string(x.Bytes) != string(y.Bytes) || fmt.Sprint(x.Err) != fmt.Sprint(y.Err) ||
			(x.Packet == nil) != (y.Packet == nil) || x.Packet != nil && x.Packet.Type() != y.Packet.Type() {
			m.rt.Fatalf("%v: event %d is %v %x, its twin's %v %x", roles[i], j, x, x.Bytes, y, y.Bytes)
		}
	}
}

// same checks that both sides of the two links hold the same protocol
// state: every field of the Connection but its Config, handler and
// per-call scratch, down to the identifier allocator and the Topic Alias
// sender, identifier tables compared by content.
func (m *twins[ID]) same(when string) {
	opts := cmp.Options{
		cmp.Exporter(func(reflect.Type) bool { return true }),
		cmpopts.EquateEmpty(), // flight state comes from a pool: nil or emptied
		cmpopts.IgnoreFields(Connection[ID]{}, "cfg", "handler", "scratch"),
		cmp.Transformer("exchanges", mapContent[ID, exchange]),
		cmp.Transformer("messages", mapContent[ID, message]),
		cmp.Transformer("inUse", mapContent[ID, struct{}]),
	}
	for i := range roles {
		if d := cmp.Diff(m.at(1, i).Connection, m.at(0, i).Connection, opts); d != "" {
			m.rt.Fatalf("%v %s: the state differs from the twin's (-twin +refused):\n%s", roles[i], when, d)
		}
	}
}

// mapContent is the content of an identifier table, whatever its layout.
func mapContent[K packetid.ID, V any](m packetid.Map[K, V]) map[K]V {
	out := make(map[K]V, m.Len())
	for k, v := range m.All() {
		out[k] = v
	}
	return out
}

// drawRefused draws a packet that side i refuses now, as a maker of
// equal packets (Send must leave the one refused as it was), and the error
// it is refused with (nil where that depends on more than the test
// tracks).
func (m *twins[ID]) drawRefused(rt *rapid.T, i int) (func() packet.Packet, error) {
	c := m.at(0, i)
	topic := rapid.SampledFrom(twinTopics).Draw(rt, "topic")
	qos := packet.QoS(rapid.IntRange(0, 2).Draw(rt, "qos"))
	dup := qos > 0 && rapid.Bool().Draw(rt, "dup")
	pub := func(f func(p *packet.PublishOf[ID])) func() packet.Packet {
		return func() packet.Packet {
			p := &packet.PublishOf[ID]{Topic: topic, QoS: qos, Dup: dup}
			f(p)
			return p
		}
	}
	asIs := pub(func(*packet.PublishOf[ID]) {})
	offline := c.State() != StateConnected
	if offline && (i == 1 || qos == 0) {
		return asIs, ErrState // nothing queues for a server, nor QoS 0
	}
	kinds := []string{"bad topic", "long topic", "subscription id", "unknown ack", "role"}
	if !offline {
		kinds = append(kinds, "state", "bad filter")
		if m.v == packet.V5 {
			kinds = append(kinds, "too large", "unmapped alias", "alias above maximum", "large filter",
				"large ack", "auth", "disconnect")
		}
	}
	maxOut := int(c.maxOut)
	switch rapid.SampledFrom(kinds).Draw(rt, "refused kind") {
	case "bad topic":
		return pub(func(p *packet.PublishOf[ID]) { p.Topic += "/+" }), nil // MQTT-3.3.2-2
	case "long topic":
		return pub(func(p *packet.PublishOf[ID]) { p.Topic = strings.Repeat("t", 0x10000) }), nil // MQTT-4.7.3-3
	case "subscription id":
		if i == 1 {
			return roleRefused[ID](i)
		}
		return pub(func(p *packet.PublishOf[ID]) { p.Props.SubscriptionIDs = []uint32{1} }), ErrSubscriptionIdentifier // MQTT-3.3.4-6
	case "unknown ack":
		return func() packet.Packet { return &packet.PubackOf[ID]{PacketID: 7} }, nil // ErrIDUnknown, or ErrState offline
	case "role":
		return roleRefused[ID](i)
	case "state":
		if i == 0 {
			connect := m.connect()
			return func() packet.Packet { c := *connect; return &c }, ErrState
		}
		return func() packet.Packet { return &packet.Connack{} }, ErrState
	case "bad filter":
		if i == 1 {
			return roleRefused[ID](i)
		}
		if rapid.Bool().Draw(rt, "unsubscribe") {
			return func() packet.Packet { return &packet.UnsubscribeOf[ID]{Filters: []string{"a/#/b"}} }, nil // MQTT-4.7.1-1
		}
		return func() packet.Packet {
			return &packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: "a#"}}}
		}, nil
	case "too large":
		// MQTT-3.1.2-27, MQTT-3.2.2-15: nothing over the peer's maximum.
		mk := pub(func(p *packet.PublishOf[ID]) { p.Payload = make([]byte, maxOut) })
		if qos > 0 {
			return mk, nil // or ErrQuotaExceeded
		}
		return mk, ErrPacketTooLarge
	case "large filter":
		if i == 1 {
			return roleRefused[ID](i)
		}
		return func() packet.Packet {
			return &packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: strings.Repeat("f", maxOut)}}}
		}, ErrPacketTooLarge
	case "large ack":
		// Too large even without its Reason String and User Properties,
		// which Send drops first (MQTT-3.9.2-1, MQTT-3.9.2-2): the SUBACK
		// is refused whole, and keeps them.
		id, _ := owed(c, oweSuback)
		if id == 0 {
			return roleRefused[ID](i)
		}
		return func() packet.Packet {
			a := &packet.SubackOf[ID]{PacketID: id, Reasons: make([]packet.ReasonCode, maxOut)}
			a.Props.ReasonString = "why"
			a.Props.User = []property.User{{Key: "k", Value: "v"}}
			return a
		}, ErrPacketTooLarge
	case "auth":
		big := rapid.Bool().Draw(rt, "auth too large")
		return func() packet.Packet {
			a := &packet.Auth{Reason: packet.ReAuthenticate}
			a.Props.AuthMethod = "other"
			if big {
				a.Props.AuthMethod, a.Props.AuthData = twinAuth, make([]byte, maxOut)
			}
			return a
		}, nil // ErrAuth, ErrPacketTooLarge
	case "disconnect":
		expiry := rapid.Bool().Draw(rt, "session expiry")
		return func() packet.Packet {
			d := &packet.Disconnect{}
			if expiry {
				d.Props.SessionExpiry = 60 // a server's: MQTT-3.14.2-2
				d.Props.Zero.Add(property.SessionExpiryInterval)
			}
			if i == 0 || !expiry {
				// Too large even without its Reason String and User
				// Properties (MQTT-3.14.2-3, MQTT-3.14.2-4).
				d.Props.ServerReference = strings.Repeat("s", maxOut)
				d.Props.ReasonString = "why"
				d.Props.User = []property.User{{Key: "k", Value: "v"}}
			}
			return d
		}, nil // ErrSessionExpiry, ErrPacketTooLarge
	case "unmapped alias":
		max := c.aliasOut.Max()
		for a := uint16(1); a <= max; a++ {
			if c.aliasOut.Topic(a) == "" {
				return pub(func(p *packet.PublishOf[ID]) { p.Topic, p.Props.TopicAlias = "", a }), ErrAliasUnmapped
			}
		}
		return pub(func(p *packet.PublishOf[ID]) { p.Topic, p.Props.TopicAlias = "", max+1 }), ErrAlias // MQTT-3.3.2-9, MQTT-3.3.2-11
	case "alias above maximum":
		return pub(func(p *packet.PublishOf[ID]) { p.Props.TopicAlias = c.aliasOut.Max() + 1 }), ErrAlias
	}
	return asIs, nil
}

// owed returns side c's lowest identifier whose exchange owes one of the
// given steps from it, and that step; 0 for none.
func owed[ID packetid.ID](c *tconn[ID], steps ...exchange) (ID, exchange) {
	var best ID
	var step exchange
	for _, m := range []*packetid.Map[ID, exchange]{&c.inbound, &c.outbound} {
		for id, x := range m.All() {
			if slices.Contains(steps, x.step()) && (best == 0 || id < best) {
				best, step = id, x.step()
			}
		}
	}
	return best, step
}

// answer returns a maker of the acknowledgement side i owes for its
// lowest such identifier (Config.Manual*, or a SUBSCRIBE); nil for none.
func (m *twins[ID]) answer(i int) func() packet.Packet {
	id, x := owed(m.at(0, i), owePuback, owePubrec, owePubrel, owePubcomp, oweSuback, oweUnsuback)
	v := m.v
	switch x {
	case owePuback:
		return func() packet.Packet { return &packet.PubackOf[ID]{PacketID: id} }
	case owePubrec:
		return func() packet.Packet { return &packet.PubrecOf[ID]{PacketID: id} }
	case owePubrel:
		return func() packet.Packet { return &packet.PubrelOf[ID]{PacketID: id} }
	case owePubcomp:
		return func() packet.Packet { return &packet.PubcompOf[ID]{PacketID: id} }
	case oweSuback:
		return func() packet.Packet { return &packet.SubackOf[ID]{PacketID: id, Reasons: []packet.ReasonCode{1}} }
	case oweUnsuback:
		return func() packet.Packet {
			a := &packet.UnsubackOf[ID]{PacketID: id}
			if v == packet.V5 {
				a.Reasons = []packet.ReasonCode{packet.Success}
			}
			return a
		}
	}
	return nil
}

// roleRefused returns a packet side i may never send.
func roleRefused[ID packetid.ID](i int) (func() packet.Packet, error) {
	if i == 0 {
		return func() packet.Packet { return &packet.Connack{} }, ErrRole
	}
	return func() packet.Packet {
		return &packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: "a"}}}
	}, ErrRole
}
