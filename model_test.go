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
func TestModelPipe(t *testing.T) { checkWidths(t, runModelPipe[uint16], runModelPipe[uint32]) }

func runModelPipe[ID packetid.ID](rt *rapid.T) {
	v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(rt, "version")
	m := &model[ID]{t: rt, v: v}
	traces := new(modelTraces)
	defer traces.save(rt)
	m.observe = m.handle
	var recvMax [2]uint16
	for i, r := range []Role{RoleClient, RoleServer} {
		cfg := drawModelConfig(rt, r)
		recvMax[i] = uint16(rapid.IntRange(1, 4).Draw(rt, fmt.Sprint(r, " receive maximum")))
		if r == RoleClient {
			cfg.Version = v
		}
		m.sides[i] = &side[ID]{modelSide: modelSide[ID]{role: r, cfg: cfg}, ids: map[ID]bool{}}
		m.put(i, newModelConn(r, cfg, drawLastID[ID](rt, fmt.Sprint(r, " first id")), traces))
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
	if m.server.State() != StateConnecting {
		rt.Fatalf("server did not get CONNECT: %v", m.server.State())
	}
	m.send(1, connack)
	m.drain(rt)
	for i := range m.sides {
		if m.at(i).State() != StateConnected {
			rt.Fatalf("%v not connected", m.sides[i].role)
		}
		m.sides[i].quota0 = m.at(i).SendQuota()
	}

	rt.Repeat(map[string]func(*rapid.T){
		"publish": func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "from")
			m.publish(i, packet.QoS(rapid.IntRange(0, 2).Draw(rt, "qos")))
		},
		"deliver": func(rt *rapid.T) {
			i := rapid.IntRange(0, 1).Draw(rt, "direction")
			if n := len(m.pipes[i]); n > 0 {
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
			if evs := m.at(i).TimerFired(k); len(evs) != 0 {
				rt.Fatalf("%v: stale %v fired: %v", m.sides[i].role, k, evs)
			}
		},
		"": func(rt *rapid.T) { m.check() },
	})

	m.drain(rt)
	m.final()
}

type side[ID packetid.ID] struct {
	modelSide[ID]
	ids    map[ID]bool // identifiers in use by our exchanges
	quota0 int
}

type model[ID packetid.ID] struct {
	link[ID]
	t     *rapid.T
	v     packet.Version
	sides [2]*side[ID]
	seq   uint64
	// messages sent by side i at QoS q, and deliveries, by payload
	sentQoS   map[string]packet.QoS
	delivered map[string]int
}

// handle checks the events of a call of side i, whose bytes are in its
// pipe.
func (m *model[ID]) handle(i int, evs []Event[ID]) {
	s := m.sides[i]
	for _, e := range evs {
		switch e.Kind {
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
	if p, ok := p.(*packet.PublishOf[ID]); ok {
		key := string(p.Payload)
		want, ok := m.sentQoS[key]
		if !ok || want != p.QoS {
			m.t.Fatalf("%v received unknown message %q (QoS %d)", s.role, key, p.QoS)
		}
		m.delivered[key]++
		if p.QoS == packet.QoS2 && m.delivered[key] > 1 {
			m.t.Fatalf("MQTT-4.3.3-10: QoS 2 message %q delivered %d times", key, m.delivered[key])
		}
	}
	s.owe(m.v, p)
}

// send has side i send p; it must succeed.
func (m *model[ID]) send(i int, p packet.Packet) {
	evs, err := m.at(i).Send(p)
	if err != nil {
		m.t.Fatalf("%v Send(%v): %v", m.sides[i].role, p.Type(), err)
	}
	m.noteID(i, p)
	m.take(i, evs)
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
	evs, err := m.at(i).Send(p)
	if err == ErrQuotaExceeded && qos > 0 && !s.cfg.QueueWhenQuotaExhausted {
		if m.at(i).SendQuota() != 0 {
			m.t.Fatalf("%v: ErrQuotaExceeded with quota %d", s.role, m.at(i).SendQuota())
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
	m.take(i, evs)
}

// ack sends the k-th acknowledgement side i owes.
func (m *model[ID]) ack(i, k int) { m.send(i, m.sides[i].pay(k)) }

func (m *model[ID]) fire(i int, k TimerKind) {
	m.take(i, m.at(i).TimerFired(k))
}

func (m *model[ID]) drain(rt *rapid.T) { drainPipes(rt, m) }

func (m *model[ID]) backlog(i int) (pipe, owed int) {
	return len(m.pipes[i]), len(m.sides[i].owed)
}

// check verifies the invariants that hold at every step.
func (m *model[ID]) check() {
	for i, s := range m.sides {
		c, peer := m.at(i), m.sides[1-i]
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
	for i, s := range m.sides {
		c := m.at(i)
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
