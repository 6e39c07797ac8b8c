package mqtt

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// The tests are grouped by protocol area, one file each (receive_maximum,
// keepalive, topic_alias, framing, packet_size, packet_ids, qos_flows,
// connect, clientid, states, session_resume, session_lifetime, ...),
// whatever their technique: table tests of the rules, tests between two
// Connections joined in memory, the hostile client, regression tests, and
// the statement tables (Test<Area>Statements, and Test<Area>StatementsV311
// under the 3.1.1 numbers). The rapid models have files of their own.
//
// Each case that checks a normative statement names it (MQTT-x.y.z-n, the
// ids of ../shared/spec/*.tsv; the version is in the case name where both
// have the statement), and CONFORMANCE.md is built from those names
// (internal/cmd/conformance). Rules without a numbered statement are named
// after the section (sec2.1.2/...).
//
// This file has the helpers shared by the areas: encoding what a peer
// sends, reading the events a call returns, setting up a connected client
// or server, and snapshots of a Connection's state. The Connection
// wrappers and the in-memory links are in harness_test.go.

// ---- what a peer sends ----------------------------------------------------

// wire encodes packets for version v, as a peer would send them.
func wire(tb testing.TB, v packet.Version, ps ...packet.Packet) []byte {
	tb.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = p.AppendTo(b, v); err != nil {
			tb.Fatalf("encode %v (%v): %v", p.Type(), v, err)
		}
	}
	return b
}

// fixedHeader returns the fixed header of a packet whose first byte is
// first and whose Remaining Length is n.
func fixedHeader(first byte, n int) []byte {
	b := []byte{first}
	for {
		d := byte(n % 128)
		if n /= 128; n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// replacedIn returns a copy of b with the only occurrence of old replaced
// by repl, of the same length, so that the length fields stay right.
func replacedIn(t testing.TB, b []byte, old, repl string) []byte {
	t.Helper()
	if len(old) != len(repl) || bytes.Count(b, []byte(old)) != 1 {
		t.Fatalf("cannot put %q in place of %q in % X", repl, old, b)
	}
	return bytes.Replace(b, []byte(old), []byte(repl), 1)
}

// ---- the events of a call -------------------------------------------------

// sent decodes the bytes of every EventSend in evs (so the test sees the
// wire, not only the struct) and checks them against the event's Packet.
func sent(tb testing.TB, v packet.Version, evs []Event[uint16]) []packet.Packet {
	tb.Helper()
	var out []packet.Packet
	for _, e := range evs {
		if e.Kind != EventSend {
			continue
		}
		p, n, err := packet.Decode[uint16](v, e.Bytes, 0)
		if err != nil || n != len(e.Bytes) || p.Type() != e.Packet.Type() {
			tb.Fatalf("EventSend %v: % x decodes to %v, %d bytes of %d, %v", e.Packet.Type(), e.Bytes, p, n, len(e.Bytes), err)
		}
		out = append(out, p)
	}
	return out
}

// sentOf returns the packets of type T that evs send, decoded from the
// bytes.
func sentOf[T packet.Packet](t *testing.T, v packet.Version, evs []Event[uint16]) []T {
	t.Helper()
	var out []T
	for _, p := range sent(t, v, evs) {
		if q, ok := p.(T); ok {
			out = append(out, q)
		}
	}
	return out
}

// sentTypes returns the types of the packets sent in evs.
func sentTypes(evs []Event[uint16]) []packet.Type {
	var ts []packet.Type
	for _, e := range evs {
		if e.Kind == EventSend {
			ts = append(ts, e.Packet.Type())
		}
	}
	return ts
}

// sentBytes returns the bytes of the EventSend events in evs, in order.
func sentBytes[ID packetid.ID](evs []Event[ID]) []byte {
	var b []byte
	for _, e := range evs {
		if e.Kind == EventSend {
			b = append(b, e.Bytes...)
		}
	}
	return b
}

// received returns the packets of the EventPacket events in evs.
func received(evs []Event[uint16]) []packet.Packet {
	var ps []packet.Packet
	for _, e := range evs {
		if e.Kind == EventPacket {
			ps = append(ps, e.Packet)
		}
	}
	return ps
}

// indexOf returns the index of the first event of kind k, or -1.
func indexOf(evs []Event[uint16], k EventKind) int {
	return slices.IndexFunc(evs, func(e Event[uint16]) bool { return e.Kind == k })
}

// count returns the number of events of kind k.
func count(evs []Event[uint16], k EventKind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// evErr returns the error of the EventError in evs, or nil.
func evErr(evs []Event[uint16]) error {
	if i := indexOf(evs, EventError); i >= 0 {
		return evs[i].Err
	}
	return nil
}

// timer returns the Duration of the last EventTimerReset of kind k in evs,
// and whether there is one.
func timer(evs []Event[uint16], k TimerKind) (time.Duration, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == EventTimerReset && evs[i].Timer == k {
			return evs[i].Duration, true
		}
	}
	return 0, false
}

// cancels reports whether evs cancel the timer of kind k.
func cancels(evs []Event[uint16], k TimerKind) bool {
	return slices.ContainsFunc(evs, func(e Event[uint16]) bool { return e.Kind == EventTimerCancel && e.Timer == k })
}

// released returns the packet identifiers of the EventIDReleased events.
func released(evs []Event[uint16]) []uint16 {
	var ids []uint16
	for _, e := range evs {
		if e.Kind == EventIDReleased {
			ids = append(ids, e.PacketID)
		}
	}
	return ids
}

// statement returns the normative statement an error names, or "".
func statement(err error) string {
	var pe *packet.Error
	if errors.As(err, &pe) {
		return pe.Statement
	}
	return ""
}

// statement311 returns the 3.1.1 normative statement an error names, or "".
func statement311(err error) string {
	var pe *packet.Error
	if errors.As(err, &pe) {
		return pe.Statement311
	}
	return ""
}

// wantClose checks that evs end the connection because of the peer: with
// a DISCONNECT carrying code (code 0: nothing sent), then EventError and
// EventClose in that order.
func wantClose(tb testing.TB, v packet.Version, evs []Event[uint16], code packet.ReasonCode) {
	tb.Helper()
	ps := sent(tb, v, evs)
	if code == 0 {
		if len(ps) != 0 {
			tb.Fatalf("sent %v, want nothing: %v", sentTypes(evs), evs)
		}
	} else {
		if len(ps) != 1 || ps[0].Type() != packet.TypeDisconnect || ps[0].(*packet.Disconnect).Reason != code {
			tb.Fatalf("want DISCONNECT %v, events %v", code, evs)
		}
		if indexOf(evs, EventSend) > indexOf(evs, EventClose) {
			tb.Fatalf("DISCONNECT after EventClose: %v", evs)
		}
	}
	ie, ic := indexOf(evs, EventError), indexOf(evs, EventClose)
	if ie < 0 || ic < ie || count(evs, EventClose) != 1 {
		tb.Fatalf("want EventError then one EventClose: %v", evs)
	}
}

// disconnectCode returns the reason code of the DISCONNECT sent in evs, or 0.
func disconnectCode(evs []Event[uint16]) packet.ReasonCode {
	for _, e := range evs {
		if e.Kind == EventSend {
			if d, ok := e.Packet.(*packet.Disconnect); ok {
				return d.Reason
			}
		}
	}
	return 0
}

// ---- a connected client or server -----------------------------------------

// versions are the protocol versions most tables run in.
var versions = []packet.Version{packet.V311, packet.V5}

// connectFor returns a CONNECT for version v; props are dropped for 3.1.1.
func connectFor(v packet.Version, keepAlive uint16, props property.Properties) *packet.Connect {
	c := &packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: keepAlive}
	if v == packet.V5 {
		c.Props = props
	}
	return c
}

// connackFor returns a CONNACK for version v; props are dropped for 3.1.1.
func connackFor(v packet.Version, props property.Properties) *packet.Connack {
	a := &packet.Connack{}
	if v == packet.V5 {
		a.Props = props
	}
	return a
}

// serverConn returns a server that received connect and sent connack.
func serverConn(tb testing.TB, v packet.Version, cfg Config, connect *packet.Connect, connack *packet.Connack) *tconn[uint16] {
	tb.Helper()
	s := newTestServer[uint16](cfg)
	evs := s.Recv(wire(tb, v, connect))
	if ps := received(evs); len(ps) != 1 || ps[0].Type() != packet.TypeConnect || evErr(evs) != nil {
		tb.Fatalf("server Recv(CONNECT): %v", evs)
	}
	if _, err := s.Send(connack); err != nil {
		tb.Fatalf("server Send(CONNACK): %v", err)
	}
	if s.State() != StateConnected || s.Version() != v {
		tb.Fatalf("server %v, version %v", s.State(), s.Version())
	}
	return s
}

// clientConn returns a client that sent connect and received connack.
func clientConn(tb testing.TB, v packet.Version, cfg Config, connect *packet.Connect, connack *packet.Connack) (*tconn[uint16], []Event[uint16]) {
	tb.Helper()
	cfg.Version = v
	c := newTestClient[uint16](cfg)
	if _, err := c.Send(connect); err != nil {
		tb.Fatalf("client Send(CONNECT): %v", err)
	}
	evs := c.Recv(wire(tb, v, connack))
	if c.State() != StateConnected {
		tb.Fatalf("client %v after CONNACK: %v", c.State(), evs)
	}
	return c, evs
}

// The limits of the hostile client of the TestHostile* tests (in the files
// of their protocol areas; bounds_test.go says how they measure memory).
const (
	hostileMax       = 4 << 10 // Config.MaxPacketSize and the Maximum Packet Size announced
	hostileRecvMax   = 8       // the server's Receive Maximum
	hostileAliasMax  = 8       // the server's Topic Alias Maximum
	hostileKeepAlive = 2       // the client's Keep Alive, in seconds
	hostileConns     = 100     // connections held at once to measure memory
)

// hostileServer returns a server that accepted a client of version v under
// the limits above.
func hostileServer(tb testing.TB, v packet.Version) *tconn[uint16] {
	tb.Helper()
	return serverConn(tb, v, Config{MaxPacketSize: hostileMax},
		connectFor(v, hostileKeepAlive, property.Properties{}),
		connackFor(v, property.Properties{MaximumPacketSize: hostileMax,
			ReceiveMaximum: hostileRecvMax, TopicAliasMaximum: hostileAliasMax}))
}

// ---- snapshots ------------------------------------------------------------

// snapshot is the part of a Connection's state a refused Send must not change.
type snapshot struct {
	state           State
	closing         bool
	quota, inUse    int
	outbound        map[uint16]exchange
	inbound         map[uint16]exchange
	inflightIn      int
	pingOutstanding bool
}

// snap takes the snapshot of c.
func snap(c *tconn[uint16]) snapshot {
	return snapshot{c.state, c.closing, int(c.sendQuota), c.ids.InUse(), maps(c.outbound), maps(c.inbound), c.inflightIn, c.pingOutstanding}
}

// maps copies the exchanges of m.
func maps(m packetid.Map[uint16, exchange]) map[uint16]exchange {
	out := make(map[uint16]exchange, m.Len())
	for k, v := range m.All() {
		out[k] = v
	}
	return out
}

func (s snapshot) equal(o snapshot) bool {
	return s.state == o.state && s.closing == o.closing && s.quota == o.quota && s.inUse == o.inUse &&
		mapsEqual(s.outbound, o.outbound) && mapsEqual(s.inbound, o.inbound) && s.inflightIn == o.inflightIn &&
		s.pingOutstanding == o.pingOutstanding
}

// mapsEqual reports whether a and b hold the same keys and values.
func mapsEqual[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// refused checks that Send(p) fails with want and changes nothing.
func refused(t *testing.T, c *tconn[uint16], p packet.Packet, want error) {
	t.Helper()
	before := snap(c)
	evs, err := c.Send(p)
	if !errors.Is(err, want) || len(evs) != 0 {
		t.Fatalf("Send(%v) = %v, %v; want %v and no events", p.Type(), evs, err, want)
	}
	if after := snap(c); !after.equal(before) {
		t.Fatalf("Send(%v) refused but changed the state: %+v -> %+v", p.Type(), before, after)
	}
}

// closedWithoutAnswer checks that evs close a 3.1.1 connection without
// sending anything, as 3.1.1 answers a violation.
func closedWithoutAnswer(t *testing.T, evs []Event[uint16]) {
	t.Helper()
	for _, e := range evs {
		if e.Kind == EventSend {
			t.Fatalf("sent %v; 3.1.1 answers a violation by closing", e.Packet.Type())
		}
	}
	if indexOf(evs, EventClose) < 0 {
		t.Fatalf("no EventClose: %v", evs)
	}
}

// sentPublish returns the first PUBLISH that evs send (v5), decoded from
// its bytes.
func sentPublish(t *testing.T, evs []Event[uint16]) *packet.Publish {
	t.Helper()
	if ps := sentOf[*packet.Publish](t, packet.V5, evs); len(ps) > 0 {
		return ps[0]
	}
	t.Fatal("no PUBLISH sent")
	return nil
}
