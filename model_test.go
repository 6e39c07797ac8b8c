package mqtt

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// TestModelPipe is a state-machine test: a client and a server Connection
// joined by an in-memory pipe that delivers random-length prefixes of each
// direction's bytes at random times. Both sides publish at QoS 0, 1 and 2
// (ErrQuotaExceeded means "try later"), the client subscribes,
// unsubscribes and pings, the ping timer fires, and acknowledgements left
// to the caller (Config.Manual*) are sent in random order. Checked after
// every step: no error or close on either side, quotas never negative nor
// above the peer's Receive Maximum, Receive Maximum respected, a QoS 2
// message never delivered twice, identifiers released once and only when in
// use. When the pipe is drained at the end: every QoS 1 and QoS 2 message
// delivered (QoS 2 exactly once, QoS 1 at least once), no identifier in
// use, no exchange pending, quotas back to their start.
//
// Each run draws the identifier width, Connection[uint16] or the 4-byte
// Connection[uint32], and where each side's identifiers start (see
// drawLastID); the invariants are the same for both widths.
func TestModelPipe(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		if drawWide(rt) {
			runModelPipe[uint32](rt)
		} else {
			runModelPipe[uint16](rt)
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
// follows last.
func newModelConn[ID packetid.ID](r Role, cfg Config, last ID) *tconn[ID] {
	c := newTestConn[ID](r, cfg)
	c.ids.SetLast(last)
	return c
}

func runModelPipe[ID packetid.ID](rt *rapid.T) {
	v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(rt, "version")
	m := &model[ID]{t: rt, v: v}
	var recvMax [2]uint16
	for i, r := range []Role{RoleClient, RoleServer} {
		cfg := drawModelConfig(rt, r)
		recvMax[i] = uint16(rapid.IntRange(1, 4).Draw(rt, fmt.Sprint(r, " receive maximum")))
		if r == RoleClient {
			cfg.Version = v
		}
		m.sides[i] = &side[ID]{role: r, c: newModelConn(r, cfg, drawLastID[ID](rt, fmt.Sprint(r, " first id"))), cfg: cfg}
		m.sides[i].ids = map[ID]bool{}
	}
	connect := &packet.Connect{ClientID: "model", CleanStart: true, KeepAlive: 60}
	connack := &packet.Connack{}
	if v == packet.V5 {
		connect.Props.ReceiveMaximum = recvMax[0]
		connack.Props.ReceiveMaximum = recvMax[1]
		m.sides[0].recvMax, m.sides[1].recvMax = int(recvMax[0]), int(recvMax[1])
	} else {
		m.sides[0].recvMax, m.sides[1].recvMax = 65535, 65535
	}
	m.send(0, connect)
	m.drain(rt)
	if m.sides[1].c.State() != StateConnecting {
		rt.Fatalf("server did not get CONNECT: %v", m.sides[1].c.State())
	}
	m.send(1, connack)
	m.drain(rt)
	for i := range m.sides {
		if m.sides[i].c.State() != StateConnected {
			rt.Fatalf("%v not connected", m.sides[i].role)
		}
		m.sides[i].quota0 = m.sides[i].c.SendQuota()
	}

	rt.Repeat(map[string]func(*rapid.T){
		"publish": func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "from")
			m.publish(i, packet.QoS(rapid.IntRange(0, 2).Draw(rt, "qos")))
		},
		"deliver": func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "direction")
			if n := len(m.sides[i].pipe); n > 0 {
				m.deliver(i, rapid.IntRange(1, n).Draw(rt, "bytes"))
			}
		},
		"ack": func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "side")
			if n := len(m.sides[i].owed); n > 0 {
				m.ack(i, rapid.IntRange(0, n-1).Draw(rt, "which"))
			}
		},
		"subscribe": func(rt *rapid.T) {
			if rapid.Bool().Draw(rt, "unsubscribe") {
				m.send(0, &packet.UnsubscribeOf[ID]{Filters: []string{"m/#"}})
			} else {
				m.send(0, &packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: "m/#", QoS: 2}}})
			}
		},
		"ping": func(rt *rapid.T) {
			if rapid.Bool().Draw(rt, "timer") {
				m.fire(0, TimerPing)
			} else {
				m.send(0, &packet.Pingreq{})
			}
		},
		"stale timer": func(rt *rapid.T) {
			// A timer the Connection cancelled, or never armed, firing
			// late does nothing.
			i := rapid.IntRange(0, 1).Draw(rt, "side")
			k := TimerPingResponse
			if i == 1 {
				k = TimerPing // the server has no ping timer
			}
			if m.sides[i].armed[k] {
				return
			}
			if evs := m.sides[i].c.TimerFired(k); len(evs) != 0 {
				rt.Fatalf("%v: stale %v fired: %v", m.sides[i].role, k, evs)
			}
		},
		"": func(rt *rapid.T) { m.check() },
	})

	m.drain(rt)
	m.final()
}

type side[ID packetid.ID] struct {
	role    Role
	c       *tconn[ID]
	cfg     Config
	pipe    []byte          // bytes sent, not yet delivered to the peer
	owed    []packet.Packet // acknowledgements left to the caller
	ids     map[ID]bool     // identifiers in use by our exchanges
	armed   [4]bool         // timers armed
	recvMax int             // the Receive Maximum this side announced
	quota0  int
}

type model[ID packetid.ID] struct {
	t     *rapid.T
	v     packet.Version
	sides [2]*side[ID]
	seq   uint64
	// messages sent by side i at QoS q, and deliveries, by payload
	sentQoS   map[string]packet.QoS
	delivered map[string]int
}

// handle carries out the events of side i.
func (m *model[ID]) handle(i int, evs []Event[ID]) {
	s := m.sides[i]
	for _, e := range evs {
		switch e.Kind {
		case EventSend:
			s.pipe = append(s.pipe, e.Bytes...)
		case EventError, EventClose, EventDropped:
			m.t.Fatalf("%v: unexpected %v", s.role, e)
		case EventTimerReset:
			s.armed[e.Timer] = true
		case EventTimerCancel:
			s.armed[e.Timer] = false
		case EventIDReleased:
			if !s.ids[e.PacketID] {
				m.t.Fatalf("%v: released id %d not in use (in use %v)", s.role, e.PacketID, s.ids)
			}
			delete(s.ids, e.PacketID)
		case EventPacket:
			m.received(i, e.Packet)
		}
	}
}

// received notes a packet side i received, and the acknowledgement it
// owes when that is left to the caller.
func (m *model[ID]) received(i int, p packet.Packet) {
	s := m.sides[i]
	switch p := p.(type) {
	case *packet.PublishOf[ID]:
		key := string(p.Payload)
		want, ok := m.sentQoS[key]
		if !ok || want != p.QoS {
			m.t.Fatalf("%v received unknown message %q (QoS %d)", s.role, key, p.QoS)
		}
		m.delivered[key]++
		if p.QoS == packet.QoS2 && m.delivered[key] > 1 {
			m.t.Fatalf("MQTT-4.3.3-10: QoS 2 message %q delivered %d times", key, m.delivered[key])
		}
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
		if m.v == packet.V5 {
			u.Reasons = []packet.ReasonCode{0}
		}
		s.owed = append(s.owed, u)
	}
}

// send has side i send p; it must succeed.
func (m *model[ID]) send(i int, p packet.Packet) {
	evs, err := m.sides[i].c.Send(p)
	if err != nil {
		m.t.Fatalf("%v Send(%v): %v", m.sides[i].role, p.Type(), err)
	}
	m.noteID(i, p)
	m.handle(i, evs)
}

// noteID records the identifier a successful Send gave p.
func (m *model[ID]) noteID(i int, p packet.Packet) {
	var id ID
	switch p := p.(type) {
	case *packet.PublishOf[ID]:
		id = p.PacketID
	case *packet.SubscribeOf[ID]:
		id = p.PacketID
	case *packet.UnsubscribeOf[ID]:
		id = p.PacketID
	default:
		return
	}
	if id == 0 {
		return
	}
	s := m.sides[i]
	if s.ids[id] {
		m.t.Fatalf("MQTT-2.2.1-3: %v got id %d already in use", s.role, id)
	}
	s.ids[id] = true
}

func (m *model[ID]) publish(i int, qos packet.QoS) {
	if m.sentQoS == nil {
		m.sentQoS, m.delivered = map[string]packet.QoS{}, map[string]int{}
	}
	m.seq++
	payload := binary.BigEndian.AppendUint64([]byte{byte(i)}, m.seq)
	p := &packet.PublishOf[ID]{Topic: "m/t", QoS: qos, Payload: payload}
	if m.v == packet.V5 && m.seq%3 == 0 {
		p.Props = property.Properties{MessageExpiry: 60, ContentType: "c"}
	}
	s := m.sides[i]
	evs, err := s.c.Send(p)
	if err == ErrQuotaExceeded && qos > 0 && !s.cfg.QueueWhenQuotaExhausted {
		if s.c.SendQuota() != 0 {
			m.t.Fatalf("%v: ErrQuotaExceeded with quota %d", s.role, s.c.SendQuota())
		}
		return // try later
	}
	if err != nil {
		m.t.Fatalf("%v Send(PUBLISH QoS %d): %v", s.role, qos, err)
	}
	if qos > 0 && p.PacketID == 0 {
		m.t.Fatalf("MQTT-2.2.1-3: QoS %d PUBLISH sent without identifier", qos)
	}
	m.sentQoS[string(payload)] = qos
	m.noteID(i, p)
	m.handle(i, evs)
}

// deliver hands the first n bytes side i sent to the peer.
func (m *model[ID]) deliver(i, n int) {
	s, peer := m.sides[i], 1-i
	chunk := s.pipe[:n]
	s.pipe = s.pipe[n:]
	m.handle(peer, m.sides[peer].c.Recv(chunk))
}

// ack sends the k-th acknowledgement side i owes.
func (m *model[ID]) ack(i, k int) {
	s := m.sides[i]
	p := s.owed[k]
	s.owed = append(s.owed[:k], s.owed[k+1:]...)
	m.send(i, p)
}

func (m *model[ID]) fire(i int, k TimerKind) {
	m.handle(i, m.sides[i].c.TimerFired(k))
}

func (m *model[ID]) drain(rt *rapid.T) { drainPipes(rt, m) }

func (m *model[ID]) backlog(i int) (pipe, owed int) {
	return len(m.sides[i].pipe), len(m.sides[i].owed)
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

// check verifies the invariants that hold at every step.
func (m *model[ID]) check() {
	for i, s := range m.sides {
		c, peer := s.c, m.sides[1-i]
		if c.State() != StateConnected || c.closing {
			m.t.Fatalf("%v: state %v, closing %v", s.role, c.State(), c.closing)
		}
		if q := c.SendQuota(); q < 0 || q > peer.recvMax {
			m.t.Fatalf("%v: send quota %d outside [0, %d]", s.role, q, peer.recvMax)
		}
		if c.inflightIn < 0 || c.inflightIn > s.recvMax {
			m.t.Fatalf("%v: %d inbound exchanges, Receive Maximum %d", s.role, c.inflightIn, s.recvMax)
		}
		if c.ids.InUse() != len(s.ids) {
			m.t.Fatalf("%v: %d identifiers in use, the model has %d", s.role, c.ids.InUse(), len(s.ids))
		}
		// quota plus our unacknowledged PUBLISH is the peer's maximum
		pubs := 0
		for _, x := range c.outbound.All() {
			if x <= awaitPubcomp {
				pubs++
			}
		}
		if c.SendQuota()+pubs != s.quota0 {
			m.t.Fatalf("%v: quota %d + %d in flight != %d", s.role, c.SendQuota(), pubs, s.quota0)
		}
	}
}

// final checks the drained state.
func (m *model[ID]) final() {
	m.check()
	for _, s := range m.sides {
		c := s.c
		if c.ids.InUse() != 0 || c.outbound.Len() != 0 || c.inbound.Len() != 0 || len(c.queue) != 0 ||
			c.inflightIn != 0 || c.SendQuota() != s.quota0 || len(s.ids) != 0 {
			m.t.Fatalf("%v after drain: ids %d (model %v), outbound %v, inbound %v, queue %d, inflight %d, quota %d of %d",
				s.role, c.ids.InUse(), s.ids, c.outbound, c.inbound, len(c.queue), c.inflightIn, c.SendQuota(), s.quota0)
		}
	}
	for key, qos := range m.sentQoS {
		n := m.delivered[key]
		switch {
		case qos == packet.QoS2 && n != 1:
			m.t.Fatalf("QoS 2 message %x delivered %d times", key, n)
		case qos == packet.QoS1 && n < 1:
			m.t.Fatalf("QoS 1 message %x not delivered", key)
		case qos == packet.QoS0 && n > 1: // no loss on this pipe: exactly once too
			m.t.Fatalf("QoS 0 message %x delivered %d times", key, n)
		}
	}
}
