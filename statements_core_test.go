package mqtt

import (
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// MQTT 5.0 statements the Connection keeps, one subtest each, named after
// the statement. The helpers below also serve TestCoreStatementsV311
// (statements_core311_test.go), which checks the same rules under their
// 3.1.1 numbers.

// ---- helpers --------------------------------------------------------------

// cleanStartProcessed checks that a server discards the session a
// CONNECT with a clean start replaces, and resumes it otherwise. The
// session holds a QoS 1 PUBLISH the client did not acknowledge and a QoS
// 2 PUBLISH from the client awaiting PUBREL.
func cleanStartProcessed(t *testing.T, v packet.Version) {
	t.Helper()
	for _, clean := range []bool{false, true} {
		connect := &packet.Connect{ClientID: "s"}
		if v == packet.V5 {
			connect.CleanStart, connect.Props.SessionExpiry = true, 60
		}
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v, connect))
		if _, err := s.Send(&packet.Connack{}); err != nil {
			t.Fatal(err)
		}
		out := &packet.Publish{Topic: "out", QoS: 1}
		if _, err := s.Send(out); err != nil {
			t.Fatal(err)
		}
		in := &packet.Publish{Topic: "in", QoS: 2, PacketID: 40}
		if got := sentTypes(s.Recv(wire(t, v, in))); !slices.Equal(got, []packet.Type{packet.TypePubrec}) {
			t.Fatalf("QoS 2 PUBLISH answered with %v", got)
		}
		s.Closed()

		again := &packet.Connect{ClientID: "s", CleanStart: clean}
		if v == packet.V5 {
			again.Props.SessionExpiry = 60
		}
		evs := s.Recv(wire(t, v, again))
		dropped := count(evs, EventDropped) == 1 && slices.Equal(released(evs), []uint16{out.PacketID})
		if dropped != clean {
			t.Fatalf("clean start %v: events %v", clean, evs)
		}
		if clean {
			refused(t, s, &packet.Connack{SessionPresent: true}, ErrSessionPresent)
		}
		evs, err := s.Send(&packet.Connack{SessionPresent: !clean})
		if err != nil {
			t.Fatal(err)
		}
		resent := sentOf[*packet.Publish](t, v, evs)
		if clean && len(resent) != 0 || !clean && (len(resent) != 1 || resent[0].PacketID != out.PacketID || !resent[0].Dup) {
			t.Fatalf("clean start %v: re-sent %v", clean, resent)
		}
		// The client's QoS 2 PUBLISH again: a duplicate of a message
		// already received in the old session, a new one in a new session.
		in.Dup = true
		evs = s.Recv(wire(t, v, in))
		if delivered := len(received(evs)) == 1; delivered != clean {
			t.Fatalf("clean start %v: the old QoS 2 identifier: %v", clean, evs)
		}
	}
}

// dupSetByRetransmission checks that the DUP flag of a PUBLISH the server
// forwards says only whether the server itself is re-sending it: 0 when
// forwarded, even if it arrived with DUP 1, and 1 when re-sent after a
// reconnection, even if it arrived with DUP 0.
func dupSetByRetransmission(t *testing.T, v packet.Version) {
	t.Helper()
	connect := &packet.Connect{ClientID: "d"}
	if v == packet.V5 {
		connect.CleanStart, connect.Props.SessionExpiry = true, 60
	}
	p := newPair(t, Config{Version: v, ManualPuback: true}, Config{})
	p.connect(connect, &packet.Connack{})
	var ids []uint16
	for i, dup := range []bool{true, false} {
		evs := p.server.Recv(wire(t, v, &packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(50 + i), Dup: dup}))
		in := received(evs)[0].(*packet.Publish)
		if in.Dup != dup {
			t.Fatalf("received DUP %v, sent %v", in.Dup, dup)
		}
		fwd := in.Clone()
		fwd.PacketID = 0
		evs, err := p.server.Send(fwd)
		if err != nil {
			t.Fatal(err)
		}
		if out := sentOf[*packet.Publish](t, v, evs); len(out) != 1 || out[0].Dup {
			t.Fatalf("forwarded a PUBLISH that arrived with DUP %v: %v", dup, out)
		}
		ids = append(ids, fwd.PacketID)
		p.run(RoleServer, evs)
	}
	p.run(RoleClient, p.client.Closed())
	p.run(RoleServer, p.server.Closed())
	connect.CleanStart = false
	p.send(RoleClient, connect)
	p.packets(RoleServer)
	evs, err := p.server.Send(&packet.Connack{SessionPresent: true})
	if err != nil {
		t.Fatal(err)
	}
	again := sentOf[*packet.Publish](t, v, evs)
	if len(again) != 2 {
		t.Fatalf("re-sent %v", again)
	}
	for i, q := range again {
		if !q.Dup || q.PacketID != ids[i] {
			t.Fatalf("re-sent #%d: DUP %v id %d, want DUP and id %d", i, q.Dup, q.PacketID, ids[i])
		}
	}
}

// stateKeptWhileConnected checks that a session that ends with the
// network connection (clean start, no expiry) keeps its state for as long
// as the connection is open: unacknowledged PUBLISH packets in both
// directions and the QoS 2 duplicate detection survive any amount of other
// traffic, and finish normally.
func stateKeptWhileConnected(t *testing.T, v packet.Version) {
	t.Helper()
	p := pairFor(t, v, Config{}, Config{ManualPuback: true, ManualPubrec: true, ManualPubrel: true})
	q1, q2 := &packet.Publish{Topic: "a", QoS: 1}, &packet.Publish{Topic: "a", QoS: 2}
	p.send(RoleClient, q1)
	p.send(RoleClient, q2)
	s2 := &packet.Publish{Topic: "b", QoS: 2}
	p.send(RoleServer, s2) // the client answers PUBREC and awaits PUBREL
	for i := 0; i < 50; i++ {
		p.send(RoleClient, &packet.Publish{Topic: "c"})
		p.send(RoleServer, &packet.Publish{Topic: "c"})
		p.run(RoleClient, p.client.TimerFired(TimerPing))
		sub := &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "x/#"}}}
		p.send(RoleClient, sub)
		p.send(RoleServer, &packet.Suback{PacketID: sub.PacketID, Reasons: []packet.ReasonCode{0}})
	}
	if p.closed[RoleClient] || p.closed[RoleServer] || p.client.InFlight() != 2 || p.server.InFlight() != 1 {
		t.Fatalf("closed %v, in flight %d and %d", p.closed, p.client.InFlight(), p.server.InFlight())
	}
	refused(t, p.client, &packet.Publish{Topic: "a", QoS: 1, PacketID: q1.PacketID}, ErrIDInUse)
	evs := p.client.Recv(wire(t, v, &packet.Publish{Topic: "b", QoS: 2, PacketID: s2.PacketID, Dup: true}))
	if len(received(evs)) != 0 || !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePubrec}) {
		t.Fatalf("duplicate QoS 2 PUBLISH: %v", evs)
	}
	p.packets(RoleClient)
	p.packets(RoleServer)
	p.send(RoleServer, &packet.Puback{PacketID: q1.PacketID})
	p.send(RoleServer, &packet.Pubrec{PacketID: q2.PacketID})
	p.send(RoleServer, &packet.Pubrel{PacketID: s2.PacketID})
	if p.client.InFlight() != 0 || p.server.InFlight() != 0 || p.client.ids.InUse() != 0 || p.server.ids.InUse() != 0 {
		t.Fatalf("after the acknowledgements: in flight %d and %d", p.client.InFlight(), p.server.InFlight())
	}
	got := p.packets(RoleServer)
	if len(got) != 2 || got[0].Type() != packet.TypePubrel || got[1].Type() != packet.TypePubcomp {
		t.Fatalf("server received %v, want the PUBREL and PUBCOMP", got)
	}
}

// ---- MQTT 5.0 -------------------------------------------------------------

func TestCoreStatements(t *testing.T) {
	v5 := packet.V5

	t.Run("MQTT-3.1.4-4/the server processes Clean Start", func(t *testing.T) {
		cleanStartProcessed(t, v5)
	})

	t.Run("MQTT-3.3.1-3/DUP is set by retransmission only, not copied from the incoming PUBLISH", func(t *testing.T) {
		dupSetByRetransmission(t, v5)
	})

	t.Run("MQTT-4.1.0-1/the session state is kept while the connection is open", func(t *testing.T) {
		stateKeptWhileConnected(t, v5)
	})

}
