package mqtt

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"pgregory.net/rapid"
)

// The test harness: tconn, a Connection whose calls return their events;
// link, two of them joined in memory, on which pair (delivery at once,
// events recorded), sessLink (delivery by hand) and the model tests (their
// sides at the end) are built. Helpers that read events
// and set up connections are in helpers_test.go.

// ---- one Connection -------------------------------------------------------

// tconn is a Connection whose calls return the events they produced, so
// that a test can look at what one call did. The events stay valid until
// the next call on the Connection, as the Connection reuses its scratch
// no earlier. It keeps the Connection's flight state (flight.go) in place
// between calls, so that tests can read it.
type tconn[ID packetid.ID] struct {
	*Connection[ID]
	evs []Event[ID]
}

func newTestClient[ID packetid.ID](cfg Config) *tconn[ID] { return newTestConn[ID](RoleClient, cfg) }

func newTestServer[ID packetid.ID](cfg Config) *tconn[ID] { return newTestConn[ID](RoleServer, cfg) }

func newTestConn[ID packetid.ID](r Role, cfg Config) *tconn[ID] {
	t := &tconn[ID]{evs: make([]Event[ID], 0, 16)}
	t.Connection = newConnection(r, &cfg, func(e Event[ID]) { t.evs = append(t.evs, e) })
	t.takeFlight()
	return t
}

// forget forgets the events of the previous call.
func (t *tconn[ID]) forget() {
	clear(t.evs)
	if cap(t.evs) > keepEvents {
		t.evs = nil
	}
	t.evs = t.evs[:0]
}

// Recv calls the Connection's Recv and returns its events.
func (t *tconn[ID]) Recv(chunk []byte) []Event[ID] {
	t.forget()
	t.Connection.Recv(chunk)
	t.takeFlight()
	return t.evs
}

// Send calls the Connection's Send and returns its events.
func (t *tconn[ID]) Send(p packet.Packet) ([]Event[ID], error) {
	t.forget()
	err := t.Connection.Send(p)
	t.takeFlight()
	if err != nil {
		return nil, err
	}
	return t.evs, nil
}

// TimerFired calls the Connection's TimerFired and returns its events.
func (t *tconn[ID]) TimerFired(k TimerKind) []Event[ID] {
	t.forget()
	t.Connection.TimerFired(k)
	t.takeFlight()
	return t.evs
}

// Closed calls the Connection's Closed and returns its events.
func (t *tconn[ID]) Closed() []Event[ID] {
	t.forget()
	t.Connection.Closed()
	t.takeFlight()
	return t.evs
}

// ImportSession calls the Connection's ImportSession.
func (t *tconn[ID]) ImportSession(data []byte) error {
	defer t.takeFlight()
	return t.Connection.ImportSession(data)
}

// ExportSession calls the Connection's ExportSession.
func (t *tconn[ID]) ExportSession() []byte {
	defer t.takeFlight()
	return t.Connection.ExportSession()
}

// capture runs a call of the Connection that has no wrapper here (Opened)
// and returns its events.
func (t *tconn[ID]) capture(call func()) []Event[ID] {
	t.forget()
	call()
	t.takeFlight()
	return t.evs
}

// ---- two Connections joined in memory -------------------------------------

// link joins a client and a server tconn in memory, as a transport would:
// what side i (0 the client, 1 the server) sends waits in pipes[i] until
// it is delivered to the other side, whole or a prefix at a time. Each
// call's events go to observe once their bytes are in the pipe. pair,
// sessLink, the models and the golden session scenario are built on it.
type link[ID packetid.ID] struct {
	client, server *tconn[ID]
	pipes          [2][]byte
	observe        func(i int, evs []Event[ID]) // nil: nothing but the bytes is kept
}

// roles are the roles of a link's sides, by index.
var roles = [2]Role{RoleClient, RoleServer}

// sideOf returns the index of the side of a link that plays r.
func sideOf(r Role) int {
	if r == RoleClient {
		return 0
	}
	return 1
}

// peerOf returns the role of r's peer.
func peerOf(r Role) Role { return roles[1-sideOf(r)] }

// at returns the Connection of side i.
func (l *link[ID]) at(i int) *tconn[ID] {
	if i == 0 {
		return l.client
	}
	return l.server
}

// put makes c the Connection of side i (a process restart, or a broker's
// new Connection for a new network connection).
func (l *link[ID]) put(i int, c *tconn[ID]) {
	if i == 0 {
		l.client = c
	} else {
		l.server = c
	}
}

// take puts the bytes sent in evs, the events of a call of side i, in
// its pipe, and gives evs to observe.
func (l *link[ID]) take(i int, evs []Event[ID]) {
	l.pipes[i] = append(l.pipes[i], sentBytes(evs)...)
	if l.observe != nil {
		l.observe(i, evs)
	}
}

// deliver hands the first n bytes of side i's pipe to the other side, and
// takes the events of that Recv.
func (l *link[ID]) deliver(i, n int) {
	chunk := l.pipes[i][:n]
	l.pipes[i] = l.pipes[i][n:]
	l.take(1-i, l.at(1-i).Recv(chunk))
}

// flush delivers both pipes until neither side sends anything more.
func (l *link[ID]) flush() {
	for len(l.pipes[0])+len(l.pipes[1]) > 0 {
		for i := range l.pipes {
			if n := len(l.pipes[i]); n > 0 {
				l.deliver(i, n)
			}
		}
	}
}

// recorder keeps the events of each side of a link other than EventSend,
// their packets cloned so that they outlive the next call, and whether
// the side closed.
type recorder struct {
	got    map[Role][]Event[uint16]
	closed map[Role]bool
}

func newRecorder() recorder {
	return recorder{got: map[Role][]Event[uint16]{}, closed: map[Role]bool{}}
}

func (rec *recorder) record(r Role, evs []Event[uint16]) {
	for _, e := range evs {
		switch e.Kind {
		case EventSend:
			continue
		case EventClose:
			rec.closed[r] = true
		case EventPacket:
			e.Packet = clonePacket[uint16](packet.V5, e.Packet)
		}
		rec.got[r] = append(rec.got[r], e)
	}
}

// clonePacket copies p so that it outlives the call that gave it: PUBLISH
// and CONNECT by their Clone, the others through their encoding in v (in
// the other version where v has none for them).
func clonePacket[ID packetid.ID](v packet.Version, p packet.Packet) packet.Packet {
	switch p := p.(type) {
	case *packet.PublishOf[ID]:
		return p.Clone()
	case *packet.Connect:
		return p.Clone()
	}
	b, err := p.AppendTo(nil, v)
	if err != nil {
		if v == packet.V5 {
			v = packet.V311
		} else {
			v = packet.V5
		}
		b, _ = p.AppendTo(nil, v)
	}
	q, _, _ := packet.Decode[ID](v, b, 0)
	return q
}

// ---- pair: a link that delivers at once -----------------------------------

// pair joins a client and a server Connection: every EventSend of one is
// fed to the other at once, and everything else is recorded.
type pair struct {
	t testing.TB
	link[uint16]
	recorder
}

func newPair(t testing.TB, ccfg, scfg Config) *pair {
	p := &pair{t: t, recorder: newRecorder()}
	p.client, p.server = newTestClient[uint16](ccfg), newTestServer[uint16](scfg)
	p.observe = func(i int, evs []Event[uint16]) { p.record(roles[i], evs) }
	return p
}

// connectedPair returns a pair past the handshake of c and a.
func connectedPair(t testing.TB, ccfg, scfg Config, c *packet.Connect, a *packet.Connack) *pair {
	t.Helper()
	p := newPair(t, ccfg, scfg)
	p.connect(c, a)
	return p
}

// pairFor returns a client and a server of version v, connected with a
// clean start; the configurations may turn automatic answers off.
func pairFor(t *testing.T, v packet.Version, ccfg, scfg Config) *pair {
	t.Helper()
	ccfg.Version = v
	return connectedPair(t, ccfg, scfg, &packet.Connect{ClientID: "c", CleanStart: true}, &packet.Connack{})
}

func (p *pair) conn(r Role) *tconn[uint16] { return p.at(sideOf(r)) }

// run carries out the events of side r, delivering sent bytes to the other
// side, until nothing more is sent.
func (p *pair) run(r Role, evs []Event[uint16]) {
	p.take(sideOf(r), evs)
	p.flush()
}

func (p *pair) send(r Role, pk packet.Packet) {
	p.t.Helper()
	evs, err := p.conn(r).Send(pk)
	if err != nil {
		p.t.Fatalf("%v Send(%v): %v", r, pk.Type(), err)
	}
	p.run(r, evs)
}

// packets returns the packets side r received, and forgets them.
func (p *pair) packets(r Role) []packet.Packet {
	var out []packet.Packet
	var rest []Event[uint16]
	for _, e := range p.got[r] {
		if e.Kind == EventPacket {
			out = append(out, e.Packet)
		} else {
			rest = append(rest, e)
		}
	}
	p.got[r] = rest
	return out
}

// connect performs the handshake.
func (p *pair) connect(c *packet.Connect, a *packet.Connack) {
	p.t.Helper()
	p.send(RoleClient, c)
	if got := p.packets(RoleServer); len(got) != 1 || got[0].Type() != packet.TypeConnect {
		p.t.Fatalf("server received %v, want CONNECT", got)
	}
	p.send(RoleServer, a)
	if p.client.State() != StateConnected || p.server.State() != StateConnected {
		p.t.Fatalf("states after handshake: client %v, server %v", p.client.State(), p.server.State())
	}
	p.packets(RoleClient)
}

// ---- sessLink: a link delivered by hand -----------------------------------

// sessLink drives a client and a server by hand: a link whose pipes are
// delivered when the test says, and can be lost.
type sessLink struct {
	t *testing.T
	link[uint16]
	recorder
	sent      map[Role][]string       // what each side sent: "PUBLISH 1 dup", "PUBREL 2", ...
	delivered map[Role]map[string]int // payloads delivered to each side
}

func newSessLink(t *testing.T, ccfg, scfg Config) *sessLink {
	l := &sessLink{t: t, recorder: newRecorder(), sent: map[Role][]string{},
		delivered: map[Role]map[string]int{RoleClient: {}, RoleServer: {}}}
	l.client, l.server = newTestClient[uint16](ccfg), newTestServer[uint16](scfg)
	l.observe = l.note
	return l
}

func (l *sessLink) note(i int, evs []Event[uint16]) {
	r := roles[i]
	for _, e := range evs {
		switch e.Kind {
		case EventSend:
			l.sent[r] = append(l.sent[r], describe(e.Packet))
		case EventPacket:
			if p, ok := e.Packet.(*packet.Publish); ok {
				l.delivered[r][string(p.Payload)]++
			}
		}
	}
	l.record(r, evs)
}

func (l *sessLink) send(r Role, p packet.Packet) {
	l.t.Helper()
	evs, err := l.at(sideOf(r)).Send(p)
	if err != nil {
		l.t.Fatalf("%v Send(%v): %v", r, p.Type(), err)
	}
	l.take(sideOf(r), evs)
}

// deliverToServer delivers what the client sent, and loses the answers.
func (l *sessLink) deliverToServer() {
	l.deliver(0, len(l.pipes[0]))
	l.pipes[1] = nil
}

// cut loses what is in flight and closes both sides; the server's session
// moves to a new server Connection, as in a broker.
func (l *sessLink) cut(scfg Config) {
	l.t.Helper()
	l.pipes = [2][]byte{}
	l.take(0, l.client.Closed())
	l.take(1, l.server.Closed())
	data := l.server.ExportSession()
	l.server = newTestServer[uint16](scfg)
	if err := l.server.ImportSession(data); err != nil {
		l.t.Fatalf("server import: %v", err)
	}
}

func (l *sessLink) connect(clean, present bool, expiry uint32, serverRecvMax uint16) {
	l.t.Helper()
	c := &packet.Connect{ClientID: "sess", CleanStart: clean}
	a := &packet.Connack{SessionPresent: present}
	if l.client.Version() == packet.V5 {
		c.Props.SessionExpiry = expiry
		a.Props.ReceiveMaximum = serverRecvMax
	}
	l.send(RoleClient, c)
	l.flush()
	l.send(RoleServer, a)
	l.deliver(1, len(l.pipes[1])) // the CONNACK, and what the server re-sends
}

// reset forgets the events and sends recorded so far.
func (l *sessLink) reset() {
	l.got, l.sent = map[Role][]Event[uint16]{}, map[Role][]string{}
}

func (l *sessLink) count(r Role, k EventKind) int { return count(l.got[r], k) }

// describe names a sent packet for comparisons.
func describe(p packet.Packet) string {
	switch p := p.(type) {
	case *packet.Publish:
		s := fmt.Sprintf("PUBLISH %d %s", p.PacketID, p.Payload)
		if p.Dup {
			s += " dup"
		}
		return s
	case *packet.Pubrel:
		return fmt.Sprintf("PUBREL %d", p.PacketID)
	case *packet.Puback:
		return fmt.Sprintf("PUBACK %d", p.PacketID)
	case *packet.Pubrec:
		return fmt.Sprintf("PUBREC %d", p.PacketID)
	case *packet.Pubcomp:
		return fmt.Sprintf("PUBCOMP %d", p.PacketID)
	}
	return p.Type().String()
}

// restartClient replaces the client by a new Connection importing its
// export (a process restart).
func (l *sessLink) restartClient(cfg Config) {
	l.t.Helper()
	data := l.client.ExportSession()
	l.client = newTestClient[uint16](cfg)
	if err := l.client.ImportSession(data); err != nil {
		l.t.Fatalf("client import: %v", err)
	}
}

func (l *sessLink) idsFree() {
	l.t.Helper()
	for _, c := range []*tconn[uint16]{l.client, l.server} {
		if c.ids.InUse() != 0 || c.outbound.Len() != 0 || c.inbound.Len() != 0 || len(c.queue) != 0 {
			l.t.Fatalf("%v: ids %d, outbound %v, inbound %v, queue %d after the flows", c.role,
				c.ids.InUse(), c.outbound, c.inbound, len(c.queue))
		}
	}
}

// ---- the sides of the model tests -----------------------------------------

// modelSide is what the model tests (TestModelPipe, TestModelSession) keep
// of each side of their link besides its Connection: its role and
// configuration, the acknowledgements left to it, its timers, and the
// Receive Maximum it announced.
type modelSide[ID packetid.ID] struct {
	role    Role
	cfg     Config
	owed    []packet.Packet // acknowledgements left to the caller
	armed   [4]bool         // timers armed
	recvMax int             // the Receive Maximum this side announced (on the current connection)
}

// owe notes the acknowledgement s owes for p, which it received, when
// that is left to the caller; v is the connection's version.
func (s *modelSide[ID]) owe(v packet.Version, p packet.Packet) {
	switch p := p.(type) {
	case *packet.PublishOf[ID]:
		if p.QoS == packet.QoS1 && s.cfg.ManualPuback {
			s.owed = append(s.owed, &packet.PubackOf[ID]{PacketID: p.PacketID})
		}
		if p.QoS == packet.QoS2 && s.cfg.ManualPubrec {
			s.owed = append(s.owed, &packet.PubrecOf[ID]{PacketID: p.PacketID})
		}
	case *packet.PubrecOf[ID]:
		if s.cfg.ManualPubrel {
			s.owed = append(s.owed, &packet.PubrelOf[ID]{PacketID: p.PacketID})
		}
	case *packet.PubrelOf[ID]:
		if s.cfg.ManualPubcomp {
			s.owed = append(s.owed, &packet.PubcompOf[ID]{PacketID: p.PacketID})
		}
	case *packet.SubscribeOf[ID]:
		s.owed = append(s.owed, &packet.SubackOf[ID]{PacketID: p.PacketID, Reasons: []packet.ReasonCode{2}})
	case *packet.UnsubscribeOf[ID]:
		u := &packet.UnsubackOf[ID]{PacketID: p.PacketID}
		if v == packet.V5 {
			u.Reasons = []packet.ReasonCode{0}
		}
		s.owed = append(s.owed, u)
	}
}

// pay removes the k-th acknowledgement s owes and returns it.
func (s *modelSide[ID]) pay(k int) packet.Packet {
	p := s.owed[k]
	s.owed = append(s.owed[:k], s.owed[k+1:]...)
	return p
}

// pipeModel is what the two model tests share: two sides, each with a pipe
// of bytes on their way to it and acknowledgements it owes.
type pipeModel interface {
	backlog(i int) (pipe, owed int)
	deliver(i, n int)
	ack(i, k int)
}

// drainPipes delivers everything and sends every owed acknowledgement until
// nothing moves.
func drainPipes(rt *rapid.T, m pipeModel) {
	for range 10000 {
		moved := false
		for i := range 2 {
			pipe, owed := m.backlog(i)
			if pipe > 0 {
				m.deliver(i, pipe)
				moved = true
			}
			if owed > 0 {
				m.ack(i, 0)
				moved = true
			}
		}
		if !moved {
			return
		}
	}
	rt.Fatalf("the pipe never drains")
}

// checkWidths is a rapid check whose runs draw the identifier width
// (drawWide) and run narrow or wide.
func checkWidths(t *testing.T, narrow, wide func(*rapid.T)) {
	t.Helper()
	rapid.Check(t, func(rt *rapid.T) {
		if drawWide(rt) {
			wide(rt)
		} else {
			narrow(rt)
		}
	})
}

// drawWide draws the identifier width of a model run: true for
// Connection[uint32], the 4-byte extension.
func drawWide(rt *rapid.T) bool { return rapid.Bool().Draw(rt, "uint32 identifiers") }

// drawLastID draws where a new Connection's identifiers start: at 1, or
// just before the end of the identifier space, so that a run crosses the
// wrap to 1, or (for uint32) just below 0x10000, so that it uses
// identifiers that do not fit in two bytes.
func drawLastID[ID packetid.ID](rt *rapid.T, label string) ID {
	switch rapid.IntRange(0, 2).Draw(rt, label) {
	case 1:
		return ^ID(0) - 2
	case 2:
		return ID(0xFFFF - 2)
	}
	return 0
}

// drawModelConfig draws the acknowledgements a model's side r leaves to
// the caller, and whether it queues on an exhausted send quota.
func drawModelConfig(rt *rapid.T, r Role) Config {
	return Config{
		ManualPuback:            rapid.Bool().Draw(rt, fmt.Sprint(r, " manual puback")),
		ManualPubrec:            rapid.Bool().Draw(rt, fmt.Sprint(r, " manual pubrec")),
		ManualPubrel:            rapid.Bool().Draw(rt, fmt.Sprint(r, " manual pubrel")),
		ManualPubcomp:           rapid.Bool().Draw(rt, fmt.Sprint(r, " manual pubcomp")),
		QueueWhenQuotaExhausted: rapid.Bool().Draw(rt, fmt.Sprint(r, " queue")),
	}
}

// newModelConn returns a new Connection of role r whose first identifier
// follows last, recorded in traces (which may be nil). Where identifiers
// start is set by importing an empty session, an input a trace records.
func newModelConn[ID packetid.ID](r Role, cfg Config, last ID, traces *modelTraces) *tconn[ID] {
	c := newTestConn[ID](r, traces.config(cfg))
	if last != 0 {
		start := newConnection(r, &cfg, func(Event[ID]) {})
		start.takeFlight()
		start.ids.SetLast(last)
		if err := c.ImportSession(start.ExportSession()); err != nil {
			panic(err)
		}
		c.takeFlight()
	}
	return c
}

// TraceRecorder makes the Tracer that records the Connections of model
// runs: trace_link_test.go (package mqtt_test, which may import package
// trace) sets it.
var TraceRecorder func(w io.Writer) Tracer

// modelTraces records the Connections of one model run and, when the run
// fails, writes their traces to files (package trace replays them) and
// logs where.
type modelTraces struct{ bufs []*bytes.Buffer }

// config gives cfg a Tracer of its own in m.
func (m *modelTraces) config(cfg Config) Config {
	if m != nil && TraceRecorder != nil {
		b := new(bytes.Buffer)
		m.bufs = append(m.bufs, b)
		cfg.Trace = TraceRecorder(b)
	}
	return cfg
}

// save, deferred by a model run, writes the traces if the run failed, to
// the same directory for every run, so that the last failing run (the
// one rapid shrank to) is left.
func (m *modelTraces) save(rt *rapid.T) {
	r := recover()
	if r != nil || rt.Failed() {
		dir := filepath.Join(os.TempDir(), "mqtt-model-traces")
		err := os.RemoveAll(dir)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		for i, b := range m.bufs {
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("conn-%d.trace", i)), b.Bytes(), 0o644)
			}
		}
		if err == nil {
			rt.Logf("traces of the run's %d Connections in %s (trace.Read, trace.Replay)", len(m.bufs), dir)
		}
	}
	if r != nil {
		panic(r)
	}
}
