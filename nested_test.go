package mqtt

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"pgregory.net/rapid"
)

// TestNestedCalls: a handler that calls the Connection (Send, Recv,
// TimerFired, Closed) at random points of the events it is carrying out,
// up to three levels deep, leaves every event it was handed intact, and
// the Connection produces exactly the events and bytes of a reference
// driver that collects those calls and makes them after its loop, level by
// level. Both roles, both versions, both identifier widths; the other side
// is a Connection too, fed the subject's bytes.
func TestNestedCalls(t *testing.T) {
	var st nestedStats
	t.Run("uint16", func(t *testing.T) { rapid.Check(t, func(rt *rapid.T) { checkNested[uint16](rt, &st) }) })
	t.Run("uint32", func(t *testing.T) { rapid.Check(t, func(rt *rapid.T) { checkNested[uint32](rt, &st) }) })
	t.Logf("%+v", st)
	// The runs must have reached what they are meant to check.
	if st.connected == 0 || st.deep == 0 || st.nestedRecv == 0 || st.delivered == 0 || st.nestedSend == 0 {
		t.Fatalf("the runs did not reach nested calls on a live connection: %+v", st)
	}
}

// nestedStats counts what the runs did.
type nestedStats struct {
	runs, connected, events, nestedSend, nestedRecv, nestedOther, deep, delivered int
}

// nestedCall is one call the subject's handler made: what it called, with
// what, and the error a Send returned.
type nestedCall[ID packetid.ID] struct {
	kind  string // "send", "recv", "timer", "closed"
	mk    func() packet.Packet
	n     int // recv: bytes taken from the peer's output
	timer TimerKind
	err   string
}

// nestedWorld is one side under test with its peer: the subject, driven by
// a handler that makes nested calls (or, in the reference world, by a loop
// that makes them afterwards), and a peer Connection.
type nestedWorld[ID packetid.ID] struct {
	c        *tconn[ID] // the subject
	peer     *tconn[ID]
	toPeer   []byte // what the subject sent, not yet given to the peer
	fromPeer []byte // what the peer sent, not yet given to the subject
	log      []string
}

// noteSent puts what the peer sent in evs on its way to the subject.
func (w *nestedWorld[ID]) noteSent(evs []Event[ID]) {
	w.fromPeer = append(w.fromPeer, sentBytes(evs)...)
}

// describeEvent writes an event down completely, Bytes and Packet included.
func describeEvent[ID packetid.ID](v packet.Version, e Event[ID]) string {
	s := fmt.Sprintf("%v timer=%v id=%d dur=%v bytes=%x", e.Kind, e.Timer, e.PacketID, e.Duration, e.Bytes)
	if e.Packet != nil {
		b, err := e.Packet.AppendTo(nil, v)
		s += fmt.Sprintf(" packet=%v:%x:%v", e.Packet.Type(), b, err)
	}
	if e.Err != nil {
		s += " err=" + e.Err.Error()
	}
	return s
}

func checkNested[ID packetid.ID](rt *rapid.T, st *nestedStats) {
	st.runs++
	v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(rt, "version")
	role := rapid.SampledFrom([]Role{RoleClient, RoleServer}).Draw(rt, "role")
	cfg := Config{
		ManualPuback:            rapid.Bool().Draw(rt, "manual puback"),
		ManualPubrec:            rapid.Bool().Draw(rt, "manual pubrec"),
		ManualPubcomp:           rapid.Bool().Draw(rt, "manual pubcomp"),
		QueueWhenQuotaExhausted: rapid.Bool().Draw(rt, "queue"),
		TopicAliases:            AliasMode(rapid.IntRange(0, 2).Draw(rt, "aliases")),
	}
	peerCfg := Config{}
	if role == RoleClient {
		cfg.Version = v
	} else {
		peerCfg.Version = v
	}
	recvMax := uint16(rapid.IntRange(1, 4).Draw(rt, "receive maximum"))
	newWorld := func() *nestedWorld[ID] {
		w := &nestedWorld[ID]{}
		if role == RoleClient {
			w.c, w.peer = newTestClient[ID](cfg), newTestServer[ID](peerCfg)
		} else {
			w.c, w.peer = newTestServer[ID](cfg), newTestClient[ID](peerCfg)
		}
		return w
	}
	subject, ref := newWorld(), newWorld()

	// The subject's handler: it records each event it is handed, makes
	// the calls a real program would (answer CONNECT, send the manual
	// acknowledgements) and random ones, then checks that the event it
	// holds is unchanged.
	var (
		calls   [][]nestedCall[ID] // calls made while handling the k-th event of a step
		handled []Event[ID]        // the events handed over in this step, as handed
		copies  []string           // and as they were then
		depth   []int              // the nesting level of each event
		level   int                // the level of the call being made
	)
	subjectHandler := func(e Event[ID]) {
		k := len(handled)
		d := level
		if k < len(depth) {
			d = depth[k]
		}
		handled = append(handled, e)
		before := describeEvent(v, e)
		copies = append(copies, before)
		subject.log = append(subject.log, before)
		st.events++
		if e.Kind == EventPacket && e.Packet.Type() == packet.TypePublish {
			st.delivered++
		}
		if d >= 2 {
			st.deep++
		}
		plan := nestedPlan(rt, role, v, cfg, e, d)
		calls = append(calls, nil)
		for _, call := range plan {
			level = d + 1
			mark := len(subject.c.evs)
			switch call.kind {
			case "send":
				if err := subject.c.Connection.Send(call.mk()); err != nil {
					call.err = err.Error()
				}
			case "recv":
				call.n = min(call.n, len(subject.fromPeer))
				chunk := append([]byte(nil), subject.fromPeer[:call.n]...)
				subject.fromPeer = subject.fromPeer[call.n:]
				subject.c.Connection.Recv(chunk)
			case "timer":
				subject.c.Connection.TimerFired(call.timer)
			case "closed":
				subject.c.Connection.Closed()
			}
			if len(subject.c.evs) != mark {
				rt.Fatalf("a nested %s call handed events over at once", call.kind)
			}
			switch call.kind {
			case "send":
				st.nestedSend++
			case "recv":
				st.nestedRecv++
			default:
				st.nestedOther++
			}
			calls[k] = append(calls[k], call)
			if after := describeEvent(v, e); after != before {
				rt.Fatalf("event changed by a nested %s call:\nbefore %s\nafter  %s", call.kind, before, after)
			}
		}
	}
	// The subject's own recording (tconn) stays on, to collect sent bytes;
	// the handler above runs for each event as well.
	inner := subject.c.Connection.handler
	subject.c.Connection.handler = func(e Event[ID]) {
		inner(e)
		depth = append(depth, level)
		subjectHandler(e)
	}

	// step runs one top-level call in both worlds and compares them.
	step := func(name string, run func(w *nestedWorld[ID]) ([]Event[ID], error)) {
		calls, handled, copies, depth, level = nil, nil, nil, nil, 0
		sEvs, sErr := run(subject)
		for i, e := range handled {
			if got := describeEvent(v, e); got != copies[i] {
				rt.Fatalf("%s: event %d changed before the next call:\nhanded %s\nnow    %s", name, i, copies[i], got)
			}
		}
		subject.toPeer = append(subject.toPeer, sentBytes(sEvs)...)
		// The reference: the same call, then the calls the subject made,
		// collected and made after the loop, level by level.
		evs, err := run(ref)
		if fmt.Sprint(err) != fmt.Sprint(sErr) {
			rt.Fatalf("%s: error %v, reference %v", name, sErr, err)
		}
		k := 0
		for len(evs) > 0 {
			var pending []nestedCall[ID]
			for _, e := range evs {
				ref.log = append(ref.log, describeEvent(v, e))
				if e.Kind == EventSend {
					ref.toPeer = append(ref.toPeer, e.Bytes...)
				}
				if k < len(calls) {
					pending = append(pending, calls[k]...)
				}
				k++
			}
			evs = nil
			for _, call := range pending {
				var got []Event[ID]
				var err error
				switch call.kind {
				case "send":
					got, err = ref.c.Send(call.mk())
				case "recv":
					chunk := ref.fromPeer[:call.n]
					ref.fromPeer = ref.fromPeer[call.n:]
					got = ref.c.Recv(chunk)
				case "timer":
					got = ref.c.TimerFired(call.timer)
				case "closed":
					got = ref.c.Closed()
				}
				if fmt.Sprint(err) != fmt.Sprint(errOrNil(call.err)) {
					rt.Fatalf("%s: nested %s returned %q, reference %v", name, call.kind, call.err, err)
				}
				// Copy: the next reference call reuses the scratch.
				for _, e := range got {
					e.Bytes = slices.Clone(e.Bytes)
					if e.Packet != nil {
						e.Packet = clonePacket[ID](v, e.Packet)
					}
					evs = append(evs, e)
				}
			}
		}
		if k != len(handled) {
			rt.Fatalf("%s: the subject handled %d events, the reference %d", name, len(handled), k)
		}
		if !slices.Equal(subject.log, ref.log) {
			for i := range min(len(subject.log), len(ref.log)) {
				if subject.log[i] != ref.log[i] {
					rt.Fatalf("%s: event %d differs:\nnested    %s\nreference %s", name, i, subject.log[i], ref.log[i])
				}
			}
			rt.Fatalf("%s: %d events, reference %d", name, len(subject.log), len(ref.log))
		}
		if !bytes.Equal(subject.toPeer, ref.toPeer) {
			rt.Fatalf("%s: wire differs:\nnested    %x\nreference %x", name, subject.toPeer, ref.toPeer)
		}
	}

	// The handshake, started by the client, whichever side is the subject.
	connect := &packet.Connect{ClientID: "nested", CleanStart: true, KeepAlive: 30}
	if v == packet.V5 {
		connect.Props.ReceiveMaximum = recvMax
		connect.Props.TopicAliasMaximum = 4
	}
	if role == RoleClient {
		step("connect", func(w *nestedWorld[ID]) ([]Event[ID], error) { return w.c.Send(connect.Clone()) })
	} else {
		for _, w := range []*nestedWorld[ID]{subject, ref} {
			evs, err := w.peer.Send(connect.Clone())
			if err != nil {
				rt.Fatal(err)
			}
			w.noteSent(evs)
		}
	}
	// toPeer carries the subject's bytes to the peer, which answers (a
	// CONNECT with a CONNACK).
	toPeer := func() {
		for _, w := range []*nestedWorld[ID]{subject, ref} {
			in := w.toPeer
			w.toPeer = nil
			w.noteSent(w.peer.Recv(in))
			if w.peer.Role() == RoleServer && w.peer.State() == StateConnecting {
				ack := &packet.Connack{}
				if v == packet.V5 {
					ack.Props.ReceiveMaximum = recvMax
					ack.Props.TopicAliasMaximum = 4
				}
				evs, err := w.peer.Send(ack)
				if err != nil {
					rt.Fatal(err)
				}
				w.noteSent(evs)
			}
		}
	}
	recvAll := func(name string) {
		step(name, func(w *nestedWorld[ID]) ([]Event[ID], error) {
			chunk := w.fromPeer
			w.fromPeer = nil
			return w.c.Recv(chunk), nil
		})
	}
	// Finish the handshake unless the draws say otherwise.
	if rapid.IntRange(0, 9).Draw(rt, "skip handshake") != 0 {
		toPeer()
		recvAll("handshake")
		toPeer()
	}
	for range rapid.IntRange(1, 40).Draw(rt, "steps") {
		switch op := rapid.IntRange(0, 11).Draw(rt, "op"); op {
		case 0: // the subject sends
			mk := nestedPacket[ID](rt, role, v)
			step("send", func(w *nestedWorld[ID]) ([]Event[ID], error) { return w.c.Send(mk()) })
		case 1, 2, 3: // part of the peer's bytes reach the subject
			n := rapid.IntRange(0, len(subject.fromPeer)).Draw(rt, "recv bytes")
			step("recv", func(w *nestedWorld[ID]) ([]Event[ID], error) {
				chunk := append([]byte(nil), w.fromPeer[:n]...)
				w.fromPeer = w.fromPeer[n:]
				return w.c.Recv(chunk), nil
			})
		case 4, 5, 6: // the subject's bytes reach the peer, which answers
			toPeer()
		case 7, 8, 9, 10: // the peer sends
			mk := nestedPacket[ID](rt, peerOf(role), v)
			for _, w := range []*nestedWorld[ID]{subject, ref} {
				evs, _ := w.peer.Send(mk())
				w.noteSent(evs)
			}
		case 11: // a timer fires
			k := rapid.SampledFrom([]TimerKind{TimerPing, TimerPingResponse, TimerKeepAlive}).Draw(rt, "timer")
			step("timer", func(w *nestedWorld[ID]) ([]Event[ID], error) { return w.c.TimerFired(k), nil })
		}
	}
	if subject.c.State() == StateConnected {
		st.connected++
	}
	recvAll("recv all")
	step("closed", func(w *nestedWorld[ID]) ([]Event[ID], error) { return w.c.Closed(), nil })
}

func errOrNil(s string) error {
	if s == "" {
		return nil
	}
	return fmt.Errorf("%s", s)
}

// nestedPlan decides what the subject's handler calls while it handles e,
// at nesting level d: what a program must (the CONNACK for a CONNECT, the
// acknowledgements left to it) and, below level 3, random calls.
func nestedPlan[ID packetid.ID](rt *rapid.T, role Role, v packet.Version, cfg Config, e Event[ID], d int) []nestedCall[ID] {
	var plan []nestedCall[ID]
	if e.Kind == EventPacket {
		switch p := e.Packet.(type) {
		case *packet.Connect:
			ack := &packet.Connack{}
			if v == packet.V5 {
				ack.Props.ReceiveMaximum = 3
				ack.Props.TopicAliasMaximum = 4
			}
			plan = append(plan, nestedCall[ID]{kind: "send", mk: func() packet.Packet { return clonePacket[ID](v, ack) }})
		case *packet.PublishOf[ID]:
			id := p.PacketID
			switch {
			case p.QoS == 1 && cfg.ManualPuback:
				plan = append(plan, nestedCall[ID]{kind: "send", mk: func() packet.Packet { return &packet.PubackOf[ID]{PacketID: id} }})
			case p.QoS == 2 && cfg.ManualPubrec:
				plan = append(plan, nestedCall[ID]{kind: "send", mk: func() packet.Packet { return &packet.PubrecOf[ID]{PacketID: id} }})
			}
		case *packet.PubrelOf[ID]:
			if cfg.ManualPubcomp {
				id := p.PacketID
				plan = append(plan, nestedCall[ID]{kind: "send", mk: func() packet.Packet { return &packet.PubcompOf[ID]{PacketID: id} }})
			}
		}
	}
	if d >= 3 {
		return plan
	}
	for range rapid.IntRange(0, 2).Draw(rt, "nested calls") {
		switch rapid.IntRange(0, 9).Draw(rt, "nested kind") {
		case 0, 1, 2, 3, 4:
			plan = append(plan, nestedCall[ID]{kind: "send", mk: nestedPacket[ID](rt, role, v)})
		case 5, 6, 7:
			plan = append(plan, nestedCall[ID]{kind: "recv", n: rapid.IntRange(0, 64).Draw(rt, "nested recv bytes")})
		case 8:
			k := rapid.SampledFrom([]TimerKind{TimerPing, TimerPingResponse, TimerKeepAlive}).Draw(rt, "nested timer")
			plan = append(plan, nestedCall[ID]{kind: "timer", timer: k})
		case 9:
			if rapid.IntRange(0, 9).Draw(rt, "nested closed") == 0 {
				plan = append(plan, nestedCall[ID]{kind: "closed"})
			}
		}
	}
	return plan
}

// nestedPacket draws a packet that side r might send, returned as a maker
// so that each world gets its own value (Send writes identifiers into it).
func nestedPacket[ID packetid.ID](rt *rapid.T, r Role, v packet.Version) func() packet.Packet {
	topic := rapid.SampledFrom([]string{"a/b", "a/c", "x"}).Draw(rt, "topic")
	qos := packet.QoS(rapid.IntRange(0, 2).Draw(rt, "qos"))
	payload := []byte(rapid.StringN(0, 8, -1).Draw(rt, "payload"))
	kind := rapid.IntRange(0, 9).Draw(rt, "packet kind")
	switch {
	case kind < 6:
		return func() packet.Packet {
			return &packet.PublishOf[ID]{Topic: topic, QoS: qos, Payload: slices.Clone(payload)}
		}
	case kind < 8 && r == RoleClient:
		return func() packet.Packet {
			return &packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: topic + "/#", QoS: qos}}}
		}
	case kind == 8 && r == RoleClient:
		return func() packet.Packet { return &packet.UnsubscribeOf[ID]{Filters: []string{topic + "/#"}} }
	case r == RoleClient:
		return func() packet.Packet { return &packet.Pingreq{} }
	}
	return func() packet.Packet { return &packet.PublishOf[ID]{Topic: topic, Payload: slices.Clone(payload)} }
}
