package mqtt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// TestModelSession is a state-machine test of a persistent session: a
// client and a broker-side server Connection joined by a pipe that delivers
// random-length prefixes of each direction, through network disconnects
// (what is in flight is lost, both sides see Closed), graceful v5
// DISCONNECTs that may change the Session Expiry Interval, reconnections
// that resume the session (3.1.1 clean session 0, v5 Session Expiry
// Interval above 0, sometimes changed by the CONNACK), process restarts of
// the client by ExportSession / ImportSession, and a server Connection that,
// as in a broker, is usually a new one per network connection importing the
// session the previous one exported. Occasionally the client reconnects
// with a clean start, or the broker has lost the session (Session Present
// 0): the messages in flight must then be reported with EventDropped and
// their identifiers released, not vanish.
//
// Both sides publish QoS 1 and QoS 2 (the client also offline, with
// Config.OfflineQueue), acknowledge automatically or by hand, and queue on
// an exhausted send quota. Checked after every step: no EventError, no
// EventClose outside a modelled disconnect, no EventDropped outside a
// modelled loss of the session, every EventDropped followed by the release
// of its identifier in the same call, identifiers in use as the model
// expects, quotas never negative and, while connected, the quota plus our
// unacknowledged PUBLISH packets equal to the peer's Receive Maximum. At
// the end, after a last reconnection and a drain: every QoS 1 message
// delivered at least once and every QoS 2 message exactly once unless its
// drop was reported (then at most once), no identifier in use, no exchange
// or queued message left.
//
// Each run draws the identifier width, Connection[uint16] or the 4-byte
// Connection[uint32], and where each side's identifiers start (see
// drawLastID); the invariants are the same for both widths.
func TestModelSession(t *testing.T) {
	var st sessStats
	defer func() { t.Logf("%+v", st) }()
	rapid.Check(t, func(rt *rapid.T) {
		st.runs++
		if drawWide(rt) {
			st.wide++
			st.add(runModelSession[uint32](rt))
		} else {
			st.add(runModelSession[uint16](rt))
		}
	})
}

func runModelSession[ID packetid.ID](rt *rapid.T) sessLedger {
	m := newSessModel[ID](rt)
	defer m.traces.save(rt)
	m.reconnect(rt, true)
	// Actions by weight: the pipe and publishing dominate, a network
	// event every twenty steps or so.
	type action struct {
		weight int
		name   string
		run    func(*rapid.T)
	}
	actions := []action{
		{6, "publish", func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "from")
			m.publish(i, packet.QoS(rapid.IntRange(1, 2).Draw(rt, "qos")))
		}},
		{8, "deliver", func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "direction")
			if n := len(m.pipes[i]); n > 0 {
				m.deliver(i, rapid.IntRange(1, n).Draw(rt, "bytes"))
			}
		}},
		{4, "ack", func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "side")
			if n := len(m.sides[i].owed); n > 0 {
				m.ack(i, rapid.IntRange(0, n-1).Draw(rt, "which"))
			}
		}},
		{1, "subscribe", func(rt *rapid.T) {
			if m.connected {
				m.send(0, &packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: "m/#", QoS: 2}}})
			}
		}},
		{1, "ping", func(rt *rapid.T) {
			if m.connected {
				m.take(0, m.client.TimerFired(TimerPing))
			}
		}},
		{2, "disconnect", func(rt *rapid.T) {
			if m.connected {
				m.disconnect(rt)
			}
		}},
		{1, "restart client", func(rt *rapid.T) {
			if !m.connected {
				m.restart(0)
			}
		}},
		{1, "restart server", func(rt *rapid.T) {
			if !m.connected {
				m.restart(1)
			}
		}},
		{3, "reconnect", func(rt *rapid.T) {
			if !m.connected {
				m.reconnect(rt, false)
			}
		}},
	}
	total := 0
	for _, a := range actions {
		total += a.weight
	}
	steps := 50 + rapid.IntRange(0, 250).Draw(rt, "steps")
	for range steps {
		w := rapid.IntRange(0, total-1).Draw(rt, "action")
		for _, a := range actions {
			if w < a.weight {
				a.run(rt)
				break
			}
			w -= a.weight
		}
		m.check()
	}
	if !m.connected {
		m.restart(1)
		m.handshake(rt, false, false)
	}
	m.drain(rt)
	m.final()
	return m.sessLedger
}

// sessStats counts what the runs exercised, for the test log.
type sessStats struct {
	runs, wide, messages, delivered, dropped, reconnects, clean, forgot, restarts int
}

// sessLedger is what happened to the messages of one run, by payload,
// and how often the network events came: nothing in it depends on the
// identifier width.
type sessLedger struct {
	seq                                 uint64
	reconnects, clean, forgot, restarts int
	sentQoS                             map[string]packet.QoS
	delivered                           map[string]int
	dropped                             map[string]bool // reported with EventDropped
	excused                             map[string]bool // thrown away by the broker application itself
}

func (st *sessStats) add(m sessLedger) {
	st.messages += len(m.sentQoS)
	st.delivered += len(m.delivered)
	st.dropped += len(m.dropped)
	st.reconnects += m.reconnects
	st.clean += m.clean
	st.forgot += m.forgot
	st.restarts += m.restarts
}

type sessSide[ID packetid.ID] struct {
	modelSide[ID]
	ids     map[ID]string // identifiers in use: the payload of their PUBLISH, "" for SUBSCRIBE
	dropped map[ID]bool   // dropped in the current call, release awaited
	firstID ID            // a new Connection's identifiers follow it, until it imports a session
	traces  *modelTraces  // the run's
}

// newConn returns a new Connection for side s, without session.
func (s *sessSide[ID]) newConn() *tconn[ID] {
	return newModelConn(s.role, s.cfg, s.firstID, s.traces)
}

type sessModel[ID packetid.ID] struct {
	link[ID]
	t      *rapid.T
	v      packet.Version
	sides  [2]*sessSide[ID]
	traces *modelTraces // of every Connection of the run

	connected   bool
	persistent  bool    // the current (or last) connection's session outlives it
	hasSession  [2]bool // each side holds session state from an earlier connection
	expiry      uint32  // v5: the Session Expiry Interval both sides should hold
	varyRecvMax bool    // Receive Maximum drawn anew per connection

	allowClose, allowDrop bool
	lateImport            []byte // the server's session, imported once CONNECT arrives
	releaseIsDrop         bool   // see TestRegressionClosedNonPersistentNoEventDropped

	sessLedger
}

func newSessModel[ID packetid.ID](rt *rapid.T) *sessModel[ID] {
	v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(rt, "version")
	m := &sessModel[ID]{t: rt, v: v, sessLedger: sessLedger{sentQoS: map[string]packet.QoS{}, delivered: map[string]int{},
		dropped: map[string]bool{}, excused: map[string]bool{}}}
	m.observe = m.handle
	m.traces = new(modelTraces)
	m.varyRecvMax = rapid.Bool().Draw(rt, "vary receive maximum")
	for i, r := range []Role{RoleClient, RoleServer} {
		cfg := drawModelConfig(rt, r)
		s := &sessSide[ID]{modelSide: modelSide[ID]{role: r, cfg: cfg}, ids: map[ID]string{}, dropped: map[ID]bool{},
			traces: m.traces}
		if r == RoleClient {
			s.cfg.Version = v
			s.cfg.OfflineQueue = rapid.Bool().Draw(rt, "offline queue")
		}
		s.firstID = drawLastID[ID](rt, fmt.Sprint(r, " first id"))
		m.put(i, s.newConn())
		s.recvMax = rapid.IntRange(1, 4).Draw(rt, fmt.Sprint(r, " receive maximum"))
		m.sides[i] = s
	}
	return m
}

func (m *sessModel[ID]) name(i int) string { return m.sides[i].role.String() }

// handle checks the events of a call of side i, whose bytes are in its
// pipe.
func (m *sessModel[ID]) handle(i int, evs []Event[ID]) {
	s := m.sides[i]
	for _, e := range evs {
		switch e.Kind {
		case EventError:
			m.t.Fatalf("%v: unexpected %v", m.name(i), e)
		case EventClose:
			if !m.allowClose {
				m.t.Fatalf("%v: EventClose outside a disconnect", m.name(i))
			}
		case EventDropped:
			// PacketID names the message; Packet is a copy when the
			// Connection kept one.
			key := s.ids[e.PacketID]
			if p, ok := e.Packet.(*packet.PublishOf[ID]); ok && (string(p.Payload) != key || p.PacketID != e.PacketID) {
				m.t.Fatalf("%v: dropped message %x under id %d, the model has %x there", m.name(i), p.Payload, e.PacketID, key)
			} else if !ok && e.Packet != nil {
				m.t.Fatalf("%v: EventDropped of %T", m.name(i), e.Packet)
			}
			if key == "" {
				m.t.Fatalf("%v: EventDropped of id %d, which holds no message", m.name(i), e.PacketID)
			}
			if !m.allowDrop {
				m.t.Fatalf("%v: message %x (id %d) dropped (%v) while the session was kept", m.name(i), key, e.PacketID, e.Err)
			}
			m.dropped[key] = true
			s.dropped[e.PacketID] = true
		case EventTimerReset:
			s.armed[e.Timer] = true
		case EventTimerCancel:
			s.armed[e.Timer] = false
		case EventIDReleased:
			if _, ok := s.ids[e.PacketID]; !ok {
				m.t.Fatalf("%v: released id %d not in use (in use %v)", m.name(i), e.PacketID, s.ids)
			}
			if key := s.ids[e.PacketID]; m.releaseIsDrop && key != "" && !s.dropped[e.PacketID] {
				// TestRegressionClosedNonPersistentNoEventDropped: a session that
				// ends with its connection releases the identifiers of its
				// messages in flight without EventDropped.
				m.dropped[key] = true
			}
			delete(s.ids, e.PacketID)
			delete(s.dropped, e.PacketID)
		case EventPacket:
			m.received(i, e.Packet)
		}
	}
	if len(s.dropped) > 0 {
		m.t.Fatalf("%v: dropped messages %v without EventIDReleased in the same call", m.name(i), s.dropped)
	}
}

// received notes a packet side i received, and the acknowledgement it
// owes when that is left to the caller.
func (m *sessModel[ID]) received(i int, p packet.Packet) {
	if p, ok := p.(*packet.PublishOf[ID]); ok {
		key := string(p.Payload)
		want, ok := m.sentQoS[key]
		if !ok || want != p.QoS {
			m.t.Fatalf("%v received unknown message %x (QoS %d)", m.name(i), key, p.QoS)
		}
		if len(key) == 0 || int(key[0]) == i {
			m.t.Fatalf("%v received its own message %x", m.name(i), key)
		}
		m.delivered[key]++
		if p.QoS == packet.QoS2 && m.delivered[key] > 1 {
			m.t.Fatalf("MQTT-4.3.3-10: QoS 2 message %x delivered %d times (dropped %v)", key, m.delivered[key], m.dropped[key])
		}
	}
	m.sides[i].owe(m.v, p)
}

// send has side i send p; it must succeed.
func (m *sessModel[ID]) send(i int, p packet.Packet) {
	evs, err := m.at(i).Send(p)
	if err != nil {
		m.t.Fatalf("%v Send(%v): %v", m.name(i), p.Type(), err)
	}
	if s, ok := p.(*packet.SubscribeOf[ID]); ok {
		m.noteID(i, s.PacketID, "")
	}
	m.take(i, evs)
}

func (m *sessModel[ID]) noteID(i int, id ID, payload string) {
	s := m.sides[i]
	if id == 0 {
		m.t.Fatalf("MQTT-2.2.1-3: %v sent a packet without identifier", m.name(i))
	}
	if _, ok := s.ids[id]; ok {
		m.t.Fatalf("MQTT-2.2.1-3: %v got id %d already in use", m.name(i), id)
	}
	s.ids[id] = payload
}

// publish has side i publish a new message, if it can now.
func (m *sessModel[ID]) publish(i int, qos packet.QoS) {
	s := m.sides[i]
	if !m.connected && (i == 1 || !s.cfg.OfflineQueue) {
		return // a broker keeps offline messages itself; not modelled
	}
	m.seq++
	payload := binary.BigEndian.AppendUint64([]byte{byte(i)}, m.seq)
	p := &packet.PublishOf[ID]{Topic: "m/t", QoS: qos, Payload: payload}
	if m.v == packet.V5 && m.seq%3 == 0 {
		p.Props = property.Properties{ContentType: "c", User: []property.User{{Key: "k", Value: "v"}}}
	}
	evs, err := m.at(i).Send(p)
	if err == ErrQuotaExceeded && !s.cfg.QueueWhenQuotaExhausted && m.connected {
		if m.at(i).SendQuota() > 0 && len(m.at(i).queue) == 0 {
			m.t.Fatalf("%v: ErrQuotaExceeded with quota %d and nothing queued", m.name(i), m.at(i).SendQuota())
		}
		return // try later
	}
	if err != nil {
		m.t.Fatalf("%v Send(PUBLISH QoS %d) connected=%v: %v", m.name(i), qos, m.connected, err)
	}
	m.sentQoS[string(payload)] = qos
	m.noteID(i, p.PacketID, string(payload))
	m.take(i, evs)
}

// ack sends the k-th acknowledgement side i owes.
func (m *sessModel[ID]) ack(i, k int) { m.send(i, m.sides[i].pay(k)) }

// disconnect ends the network connection: abruptly (what is in flight is
// lost) or, in v5, after a client DISCONNECT that may change the Session
// Expiry Interval and may or may not reach the server.
func (m *sessModel[ID]) disconnect(rt *rapid.T) {
	m.allowClose = true
	if m.v == packet.V5 && rapid.Bool().Draw(rt, "graceful") {
		d := &packet.Disconnect{}
		if rapid.Bool().Draw(rt, "change expiry") {
			d.Props.SessionExpiry = rapid.SampledFrom([]uint32{1, 45, 7200}).Draw(rt, "disconnect expiry")
		}
		m.send(0, d)
		if m.client.State() != StateDisconnected {
			m.t.Fatalf("client state %v after DISCONNECT", m.client.State())
		}
		if rapid.Bool().Draw(rt, "disconnect arrives") {
			m.deliver(0, len(m.pipes[0]))
			if m.server.State() != StateDisconnected {
				m.t.Fatalf("server state %v after DISCONNECT", m.server.State())
			}
			if d.Props.Has(property.SessionExpiryInterval) {
				m.expiry = d.Props.SessionExpiry
			}
		} else if d.Props.Has(property.SessionExpiryInterval) {
			m.expiry = 0 // the two sides disagree now; both above 0
		}
	}
	m.allowDrop, m.releaseIsDrop = !m.persistent, !m.persistent
	for i, s := range m.sides {
		m.pipes[i], s.owed = nil, nil
		m.take(i, m.at(i).Closed())
	}
	m.allowClose, m.allowDrop, m.releaseIsDrop = false, false, false
	m.connected = false
	for i := range m.sides {
		c := m.at(i)
		if c.State() != StateDisconnected {
			m.t.Fatalf("%v: state %v after Closed", m.name(i), c.State())
		}
		m.hasSession[i] = m.persistent
		if !m.persistent && c.outbound.Len() != 0 {
			m.t.Fatalf("%v: exchanges %v kept after a session that ended with the connection", m.name(i), c.outbound)
		}
	}
	if m.persistent && m.v == packet.V5 && m.expiry != 0 {
		for i := range m.sides {
			if m.at(i).sess.expiry != m.expiry {
				m.t.Fatalf("%v: session expiry %d after disconnect, want %d", m.name(i), m.at(i).sess.expiry, m.expiry)
			}
		}
	}
}

// restart replaces side i's Connection by a new one that imports what the
// old one exported (a process restart; for the server, the new Connection
// a broker makes for each network connection).
func (m *sessModel[ID]) restart(i int) {
	data := m.at(i).ExportSession()
	m.put(i, m.sides[i].newConn())
	m.restarts++
	if err := m.at(i).ImportSession(data); err != nil {
		m.t.Fatalf("%v: import: %v", m.name(i), err)
	}
	if again := m.at(i).ExportSession(); !bytes.Equal(again, data) {
		m.t.Fatalf("%v: export after import differs:\n%x\n%x", m.name(i), data, again)
	}
}

// reconnect opens a new network connection. The first starts the session;
// later ones resume it, except for an occasional clean start or a broker
// that lost the session.
func (m *sessModel[ID]) reconnect(rt *rapid.T, first bool) {
	clean := first && m.v == packet.V5
	forget := false
	if !first {
		clean = rapid.IntRange(0, 7).Draw(rt, "clean start") == 0
		forget = !clean && rapid.IntRange(0, 7).Draw(rt, "broker lost the session") == 0
	}
	switch {
	case forget:
		// The broker application throws the session away and starts the
		// client's connection on a new Connection: its own messages go with
		// it, by its choice.
		for _, payload := range m.sides[1].ids {
			if payload != "" {
				m.excused[payload] = true
			}
		}
		m.sides[1].ids = map[ID]string{}
		m.server = m.sides[1].newConn()
		m.hasSession[1] = false
	case first:
	case clean:
		if rapid.Bool().Draw(rt, "new server connection") {
			m.restart(1)
		}
	default:
		switch rapid.IntRange(0, 3).Draw(rt, "server connection") {
		case 0: // the same one
		case 1: // a new one importing the session before the CONNECT
			m.restart(1)
		default: // a new one importing the session between CONNECT and CONNACK
			m.lateImport = m.server.ExportSession()
			m.server = m.sides[1].newConn()
			m.restarts++
		}
	}
	if m.varyRecvMax && !first && m.v == packet.V5 {
		// Raised or lowered: a lowered maximum must not strand the
		// exchanges of the earlier connection (see the regression tests).
		m.sides[0].recvMax = rapid.IntRange(1, 5).Draw(rt, "client receive maximum")
		m.sides[1].recvMax = rapid.IntRange(1, 5).Draw(rt, "server receive maximum")
	}
	m.reconnects++
	if clean {
		m.clean++
	}
	if forget {
		m.forgot++
	}
	m.handshake(rt, clean, first)
}

// handshake sends CONNECT and the CONNACK answering it, each delivered
// whole.
func (m *sessModel[ID]) handshake(rt *rapid.T, clean, first bool) {
	cl, sv := m.sides[0], m.sides[1]
	present := !clean && m.hasSession[1]
	connect := &packet.Connect{ClientID: "ms", CleanStart: clean, KeepAlive: 60}
	connack := &packet.Connack{SessionPresent: present}
	m.persistent = !clean
	if m.v == packet.V5 {
		m.persistent = true
		m.expiry = 600
		if rt != nil {
			m.expiry = rapid.SampledFrom([]uint32{60, 600, 0xFFFFFFFF}).Draw(rt, "connect expiry")
		}
		connect.Props.SessionExpiry = m.expiry
		connect.Props.ReceiveMaximum = uint16(cl.recvMax)
		connack.Props.ReceiveMaximum = uint16(sv.recvMax)
		if rt != nil && rapid.Bool().Draw(rt, "connack expiry") {
			m.expiry = rapid.SampledFrom([]uint32{30, 3600}).Draw(rt, "server expiry")
			connack.Props.SessionExpiry = m.expiry
		}
	} else {
		cl.recvMax, sv.recvMax = 65535, 65535
	}
	// Dropping is allowed when the session is not resumed: a clean start,
	// or a broker without it.
	m.allowDrop = clean || !present
	evs, err := m.client.Send(connect)
	if err != nil {
		m.t.Fatalf("client Send(CONNECT): %v", err)
	}
	m.take(0, evs)
	m.deliver(0, len(m.pipes[0]))
	if m.server.State() != StateConnecting {
		m.t.Fatalf("server state %v after CONNECT", m.server.State())
	}
	if m.lateImport != nil {
		if err := m.server.ImportSession(m.lateImport); err != nil {
			m.t.Fatalf("server: import after CONNECT: %v", err)
		}
		m.lateImport = nil
	}
	evs, err = m.server.Send(connack)
	if err != nil {
		m.t.Fatalf("server Send(CONNACK present=%v): %v", present, err)
	}
	m.take(1, evs)
	m.deliver(1, len(m.pipes[1]))
	m.allowDrop = false
	m.connected = true
	for i := range m.sides {
		c := m.at(i)
		if c.State() != StateConnected {
			m.t.Fatalf("%v: state %v after the handshake (present %v, clean %v)", m.name(i), c.State(), present, clean)
		}
		if m.v == packet.V5 && c.sess.expiry != m.expiry {
			m.t.Fatalf("%v: session expiry %d, want %d", m.name(i), c.sess.expiry, m.expiry)
		}
		if c.sess.persists != m.persistent {
			m.t.Fatalf("%v: session persists %v, want %v", m.name(i), c.sess.persists, m.persistent)
		}
	}
	m.check()
}

func (m *sessModel[ID]) drain(rt *rapid.T) { drainPipes(rt, m) }

func (m *sessModel[ID]) backlog(i int) (pipe, owed int) {
	return len(m.pipes[i]), len(m.sides[i].owed)
}

// check verifies the invariants that hold at every step.
func (m *sessModel[ID]) check() {
	for i, s := range m.sides {
		c, peer := m.at(i), m.sides[1-i]
		if q := c.SendQuota(); q < 0 {
			m.t.Fatalf("%v: send quota %d", m.name(i), q)
		}
		if c.inflightIn < 0 || !m.varyRecvMax && m.connected && c.inflightIn > s.recvMax {
			m.t.Fatalf("%v: %d inbound exchanges, Receive Maximum %d", m.name(i), c.inflightIn, s.recvMax)
		}
		if c.ids.InUse() != len(s.ids) {
			m.t.Fatalf("%v: %d identifiers in use, the model has %d (%v)", m.name(i), c.ids.InUse(), len(s.ids), s.ids)
		}
		if !m.connected {
			if c.State() != StateDisconnected {
				m.t.Fatalf("%v: state %v while disconnected", m.name(i), c.State())
			}
			continue
		}
		if c.State() != StateConnected {
			m.t.Fatalf("%v: state %v while connected", m.name(i), c.State())
		}
		pubs := 0
		for _, x := range c.outbound.All() {
			if x <= awaitPubcomp {
				pubs++
			}
		}
		// The internal quota goes below 0 when a resumed session holds more
		// exchanges than a lowered Receive Maximum: PUBRELs are re-sent
		// anyway (only PUBLISH waits for quota), and SendQuota shows 0.
		if int(c.sendQuota)+pubs != peer.recvMax || c.SendQuota() != int(max(c.sendQuota, 0)) {
			m.t.Fatalf("%v: quota %d + %d in flight != %d", m.name(i), c.sendQuota, pubs, peer.recvMax)
		}
	}
}

// final checks the drained state.
func (m *sessModel[ID]) final() {
	m.check()
	for i, s := range m.sides {
		c := m.at(i)
		if c.ids.InUse() != 0 || c.outbound.Len() != 0 || c.inbound.Len() != 0 || len(c.queue) != 0 ||
			c.inflightIn != 0 || c.SendQuota() != m.sides[1-i].recvMax || len(s.ids) != 0 {
			m.t.Fatalf("%v after drain: ids %d (model %v), outbound %v, inbound %v, queue %d, inflight %d, quota %d of %d",
				m.name(i), c.ids.InUse(), s.ids, c.outbound, c.inbound, len(c.queue), c.inflightIn, c.SendQuota(), m.sides[1-i].recvMax)
		}
	}
	for key, qos := range m.sentQoS {
		n := m.delivered[key]
		lost := m.dropped[key] || m.excused[key]
		switch {
		case qos == packet.QoS2 && n > 1:
			m.t.Fatalf("QoS 2 message %x delivered %d times", key, n)
		case lost:
		case qos == packet.QoS2 && n != 1:
			m.t.Fatalf("QoS 2 message %x delivered %d times and never reported dropped", key, n)
		case qos == packet.QoS1 && n < 1:
			m.t.Fatalf("QoS 1 message %x lost: never delivered, never reported dropped", key)
		}
	}
}
