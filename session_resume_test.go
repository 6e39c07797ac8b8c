package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Resuming a session (section 4.4): after a reconnection with the session
// present, both sides re-send their unfinished exchanges, in order, under
// the same identifiers, with DUP; Session Present and Clean Start decide
// whether there is a session to resume, and a session that is not resumed
// reports its messages dropped; a broker's new server Connection imports
// the session the previous one exported.

// sessionPair connects a v5 client whose session outlives the connection to
// a server that acknowledges nothing by itself, and has the client publish
// three QoS 1 messages and one QoS 2 message, all left unacknowledged.
func sessionPair(t *testing.T, v packet.Version) (*pair, []uint16) {
	p := newPair(t, Config{Version: v}, Config{ManualPuback: true, ManualPubrec: true})
	connect := &packet.Connect{ClientID: "s", CleanStart: true}
	if v == packet.V5 {
		connect.Props.SessionExpiry = 60
	} else {
		connect.CleanStart = false
	}
	p.connect(connect, &packet.Connack{})
	var ids []uint16
	for i, qos := range []packet.QoS{1, 1, 2, 1} {
		pub := &packet.Publish{Topic: "s/t", QoS: qos, Payload: []byte{byte(i)}}
		p.send(RoleClient, pub)
		ids = append(ids, pub.PacketID)
	}
	p.packets(RoleServer)
	p.run(RoleClient, p.client.Closed())
	p.server = newTestServer[uint16](Config{ManualPuback: true, ManualPubrec: true})
	p.got, p.closed = map[Role][]Event[uint16]{}, map[Role]bool{}
	return p, ids
}

func reconnect(p *pair, present bool) {
	c := &packet.Connect{ClientID: "s"}
	if p.client.Version() == packet.V5 {
		c.Props.SessionExpiry = 60
	}
	p.send(RoleClient, c)
	p.packets(RoleServer)
	p.send(RoleServer, &packet.Connack{SessionPresent: present})
}

func TestSessionResendsInOrderWithDup(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run("MQTT-4.4.0-1/MQTT-4.6.0-1/"+v.String(), func(t *testing.T) {
			p, ids := sessionPair(t, v)
			reconnect(p, true)
			got := p.packets(RoleServer)
			if len(got) != len(ids) {
				t.Fatalf("server got %d packets after resume, want %d", len(got), len(ids))
			}
			for i, g := range got {
				pub := g.(*packet.Publish)
				if pub.PacketID != ids[i] || !pub.Dup || pub.Payload[0] != byte(i) || pub.Topic != "s/t" {
					t.Fatalf("re-sent #%d: id %d dup %v payload %v topic %q; want id %d, DUP (MQTT-3.3.1-1)",
						i, pub.PacketID, pub.Dup, pub.Payload, pub.Topic, ids[i])
				}
			}
			if p.client.SendQuota() != 65535-len(ids) {
				t.Fatalf("re-sent messages do not count against Receive Maximum: quota %d", p.client.SendQuota())
			}
		})
	}
}

// TestSessionRulesResend: after a reconnection with the session present,
// both sides re-send their unacknowledged PUBLISH packets with DUP and their
// PUBRELs, under the original identifiers, in the order first sent; also
// after a restart of the client by export and import.
func TestSessionRulesResend(t *testing.T) {
	for _, v := range versions {
		for _, restart := range []bool{false, true} {
			name := fmt.Sprintf("MQTT-4.4.0-1/MQTT-4.6.0-1/%v/restart=%v", v, restart)
			t.Run(name, func(t *testing.T) {
				ccfg := Config{Version: v}
				scfg := Config{ManualPuback: true, ManualPubrec: true}
				l := newSessLink(t, ccfg, scfg)
				l.connect(v == packet.V5, false, 60, 0)
				l.flush()
				// Client: A QoS 1, B QoS 2 (will be past PUBREC), C QoS 2.
				for i, q := range []packet.QoS{1, 2, 2} {
					l.send(RoleClient, &packet.Publish{Topic: "t", QoS: q, Payload: []byte{'A' + byte(i)}})
				}
				// Server: D QoS 2 (past PUBREC), E QoS 1.
				l.deliverToServer()
				l.send(RoleServer, &packet.Publish{Topic: "t", QoS: 2, Payload: []byte("D"), PacketID: 20})
				l.send(RoleServer, &packet.Publish{Topic: "t", QoS: 1, Payload: []byte("E"), PacketID: 21})
				l.send(RoleServer, &packet.Pubrec{PacketID: 2}) // B
				l.deliver(1, len(l.pipes[1]))                   // D, E, PUBREC B: PUBREC D, PUBACK E, PUBREL B
				l.deliver(0, len(l.pipes[0]))                   // PUBREC D: PUBREL D, lost
				l.cut(scfg)
				if restart {
					l.restartClient(ccfg)
				}
				l.reset()
				l.connect(false, true, 60, 0)
				wantServer := []string{"CONNACK", "PUBREL 20"} // E was acknowledged
				if got := l.sent[RoleServer]; !slices.Equal(got, wantServer) {
					t.Errorf("server re-sent %q, want %q", got, wantServer)
				}
				want := []string{"CONNECT", "PUBLISH 1 A dup", "PUBREL 2", "PUBLISH 3 C dup", "PUBCOMP 20"} // the last answers the server's PUBREL
				if got := l.sent[RoleClient]; !slices.Equal(got, want) {
					t.Errorf("client re-sent %q, want %q", got, want)
				}
				l.flush()
				// A is owed its PUBACK again; C's PUBREC the server sends
				// itself now (it had delivered C before the cut).
				l.send(RoleServer, &packet.Puback{PacketID: 1})
				l.flush()
				for _, k := range []string{"A", "B", "C"} {
					if n := l.delivered[RoleServer][k]; n < 1 || k != "A" && n != 1 {
						t.Errorf("server got %s %d times", k, n)
					}
				}
				if l.delivered[RoleClient]["D"] != 1 || l.delivered[RoleClient]["E"] != 1 {
					t.Errorf("client got D %d, E %d times", l.delivered[RoleClient]["D"], l.delivered[RoleClient]["E"])
				}
				l.idsFree()
			})
		}
	}
}

func TestSessionNotPresentDropsWithEvents(t *testing.T) {
	p, ids := sessionPair(t, packet.V5)
	reconnect(p, false)
	dropped, released := 0, map[uint16]bool{}
	for _, e := range p.got[RoleClient] {
		switch e.Kind {
		case EventDropped:
			dropped++
		case EventIDReleased:
			released[e.PacketID] = true
		}
	}
	// MQTT-3.2.2-5: the client discards its session state, and says so per
	// message: three PUBLISH and one QoS 2 PUBLISH.
	if dropped != len(ids) || len(released) != len(ids) || p.client.ids.InUse() != 0 {
		t.Fatalf("dropped %d, released %v, ids in use %d", dropped, released, p.client.ids.InUse())
	}
	if got := p.packets(RoleServer); len(got) != 0 {
		t.Fatalf("server got %d packets from a session that was not resumed", len(got))
	}
}

func TestSessionPresentWithoutSession(t *testing.T) {
	// MQTT-3.2.2-4: a client without session state closes on Session Present 1.
	p := newPair(t, Config{}, Config{})
	p.send(RoleClient, &packet.Connect{ClientID: "n", Props: property.Properties{SessionExpiry: 5}})
	p.packets(RoleServer)
	p.send(RoleServer, &packet.Connack{SessionPresent: true})
	if !p.closed[RoleClient] || p.client.State() == StateConnected && !p.client.closing {
		t.Fatal("client accepted a session it never had")
	}
	// MQTT-3.2.2-2: a server may not claim a session after a clean start.
	p = newPair(t, Config{}, Config{})
	p.send(RoleClient, &packet.Connect{ClientID: "n", CleanStart: true})
	if _, err := p.server.Send(&packet.Connack{SessionPresent: true}); err != ErrSessionPresent {
		t.Fatalf("server Send(CONNACK session present after clean start) = %v", err)
	}
}

// sessWithInflight connects with a persistent session, leaves a QoS 1 and
// a QoS 2 message of the client unacknowledged, and cuts the connection.
func sessWithInflight(t *testing.T, v packet.Version) *sessLink {
	scfg := Config{ManualPuback: true, ManualPubrec: true}
	l := newSessLink(t, Config{Version: v}, scfg)
	l.connect(v == packet.V5, false, 60, 0)
	l.flush()
	for i, q := range []packet.QoS{1, 2} {
		l.send(RoleClient, &packet.Publish{Topic: "t", QoS: q, Payload: []byte{'A' + byte(i)}})
	}
	l.deliverToServer()
	l.cut(scfg)
	l.reset()
	return l
}

func TestSessionRulesSessionPresent(t *testing.T) {
	for _, v := range versions {
		t.Run("MQTT-3.2.2-4/no-session/"+v.String(), func(t *testing.T) {
			l := newSessLink(t, Config{Version: v}, Config{})
			l.connect(false, true, 60, 0) // the server claims a session the client never had
			var err error
			for _, e := range l.got[RoleClient] {
				if e.Kind == EventError {
					err = e.Err
				}
			}
			var pe *packet.Error
			if !errors.As(err, &pe) || pe.Statement != "MQTT-3.2.2-4" || l.count(RoleClient, EventClose) != 1 {
				t.Fatalf("client error %v, %d EventClose", err, l.count(RoleClient, EventClose))
			}
			if v == packet.V5 && !slices.Contains(l.sent[RoleClient], "DISCONNECT") {
				t.Errorf("v5 client closed without DISCONNECT: %q", l.sent[RoleClient])
			}
		})
		// What the documentation of ErrNoSession says a new process meets,
		// and its two ways out.
		t.Run("MQTT-3.2.2-4/new-process/"+v.String(), func(t *testing.T) {
			connect := func(clean bool) *packet.Connect {
				p := &packet.Connect{ClientID: "sess", CleanStart: clean}
				if v == packet.V5 {
					p.Props.SessionExpiry = 60
				}
				return p
			}
			connack := func(present bool) []byte { return wire(t, v, &packet.Connack{SessionPresent: present}) }
			// The predecessor leaves a QoS 1 PUBLISH unacknowledged, and
			// saves the session.
			old := newTestClient[uint16](Config{Version: v})
			old.Send(connect(false))
			old.Recv(connack(false))
			if _, err := old.Send(&packet.Publish{Topic: "t", QoS: 1, Payload: []byte("A")}); err != nil {
				t.Fatal(err)
			}
			old.Closed()
			saved := old.ExportSession()

			// Clean Start 0 without the saved session: ErrNoSession.
			c := newTestClient[uint16](Config{Version: v})
			c.Send(connect(false))
			evs := c.Recv(connack(true))
			code := packet.ReasonCode(0)
			if v == packet.V5 {
				code = packet.ProtocolError
			}
			wantClose(t, v, evs, code)
			if !errors.Is(evErr(evs), ErrNoSession) {
				t.Fatalf("%v", evErr(evs))
			}
			// Way out 1: Clean Start 1; the server answers Session Present 0.
			c.Closed()
			c.Send(connect(true))
			if evs := c.Recv(connack(false)); evErr(evs) != nil || c.State() != StateConnected {
				t.Fatalf("clean start: %v", evs)
			}
			// Way out 2: import the saved session first; Session Present 1
			// resumes it, and the PUBLISH is sent again.
			c = newTestClient[uint16](Config{Version: v})
			if err := c.ImportSession(saved); err != nil {
				t.Fatal(err)
			}
			c.Send(connect(false))
			evs = c.Recv(connack(true))
			ps := sent(t, v, evs)
			if evErr(evs) != nil || c.State() != StateConnected || len(ps) != 1 || !ps[0].(*packet.Publish).Dup {
				t.Fatalf("imported session: %v", evs)
			}
		})
		// A clean start gives the client the (empty) state of the session
		// it starts: a connection lost before the CONNACK may be followed
		// by a Clean Start 0 that resumes what the server created, in the
		// same process or, through the journal, in a new one. (In 3.1.1 a
		// clean session ends with its connection.)
		if v == packet.V5 {
			t.Run("MQTT-3.2.2-4/clean-start-lost-before-connack/"+v.String(), func(t *testing.T) {
				connect := func(clean bool) *packet.Connect {
					return &packet.Connect{ClientID: "sess", CleanStart: clean, Props: property.Properties{SessionExpiry: 60}}
				}
				var log [][]byte
				c := newTestClient[uint16](Config{Version: v, Journal: true})
				evs, _ := c.Send(connect(true))
				for _, e := range evs {
					if e.Kind == EventJournal {
						log = append(log, bytes.Clone(e.Bytes))
					}
				}
				c.Closed() // no CONNACK
				for name, next := range map[string]*tconn[uint16]{"same-process": c, "new-process": newTestClient[uint16](Config{Version: v, Journal: true})} {
					if name == "new-process" {
						for _, b := range log {
							if err := next.Replay(b); err != nil {
								t.Fatal(err)
							}
						}
					}
					next.Send(connect(false))
					evs := next.Recv(wire(t, v, &packet.Connack{SessionPresent: true}))
					if evErr(evs) != nil || next.State() != StateConnected {
						t.Fatalf("%s: Session Present 1 after a clean start lost before its CONNACK: %v", name, evs)
					}
					next.Closed()
				}
			})
		}
		t.Run("MQTT-3.2.2-4/after-clean-start/"+v.String(), func(t *testing.T) {
			l := sessWithInflight(t, v)
			l.send(RoleClient, &packet.Connect{ClientID: "sess", CleanStart: true})
			wire, _ := (&packet.Connack{SessionPresent: true}).AppendTo(nil, v)
			l.take(0, l.client.Recv(wire))
			if l.count(RoleClient, EventError) != 1 || l.count(RoleClient, EventClose) != 1 {
				t.Fatalf("client accepted Session Present 1 after a clean start: %v", l.got[RoleClient])
			}
		})
		t.Run("MQTT-3.2.2-5/"+v.String(), func(t *testing.T) {
			l := sessWithInflight(t, v)
			l.server = newTestServer[uint16](Config{}) // the broker lost the session
			l.connect(false, false, 60, 0)
			if d, r := l.count(RoleClient, EventDropped), l.count(RoleClient, EventIDReleased); d != 2 || r != 2 {
				t.Errorf("client dropped %d, released %d; want 2 and 2", d, r)
			}
			if got := l.sent[RoleClient]; !slices.Equal(got, []string{"CONNECT"}) {
				t.Errorf("client sent %q from a discarded session", got)
			}
			l.flush()
			l.idsFree()
		})
	}
}

// TestSessionRulesCleanStart: a clean start discards the session on both
// sides (v5 MQTT-3.1.2-4, 3.1.1 MQTT-3.1.2-6): the client reports each
// message dropped, the server drops its own and forgets the client's QoS 2
// exchanges, so the same identifier starts a new message.
func TestSessionRulesCleanStart(t *testing.T) {
	for _, v := range versions {
		id := "MQTT-3.1.2-4"
		if v == packet.V311 {
			id = "MQTT-3.1.2-6"
		}
		t.Run(id+"/"+v.String(), func(t *testing.T) {
			l := sessWithInflight(t, v)
			// The server also has a message of its own in flight.
			l.connect(false, true, 60, 0)
			l.send(RoleServer, &packet.Publish{Topic: "t", QoS: 1, Payload: []byte("S"), PacketID: 30})
			l.cut(Config{ManualPuback: true, ManualPubrec: true})
			l.reset()
			l.connect(true, false, 60, 0)
			if d, r := l.count(RoleClient, EventDropped), l.count(RoleClient, EventIDReleased); d != 2 || r != 2 {
				t.Errorf("client: %d EventDropped, %d EventIDReleased; want 2 and 2", d, r)
			}
			if d, r := l.count(RoleServer, EventDropped), l.count(RoleServer, EventIDReleased); d != 1 || r != 1 {
				t.Errorf("server: %d EventDropped, %d EventIDReleased; want 1 and 1", d, r)
			}
			if got := l.sent[RoleServer]; !slices.Equal(got, []string{"CONNACK"}) {
				t.Errorf("server sent %q after a clean start", got)
			}
			if l.server.inbound.Len() != 0 {
				t.Fatalf("server kept the client's exchanges: %v", l.server.inbound)
			}
			// QoS 2 under the identifier B had: a new message, delivered.
			before := l.delivered[RoleServer]["B"]
			l.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("B")})
			l.flush()
			if l.delivered[RoleServer]["B"] != before+1 {
				t.Errorf("new QoS 2 message under a discarded identifier not delivered")
			}
		})
	}
}

// Input (v5): the client's session holds two QoS 2 PUBLISH packets, A and
// B, both delivered by the server, whose PUBRECs were lost. The client
// reconnects with the session present, but the server's Receive Maximum is
// now 1: A is re-sent, B waits in the send queue (resend moves it there,
// marked as sent). The connection is lost again, and the client then
// reconnects with Clean Start 1 (MQTT-3.1.2-4: both sides discard the
// session, including "QoS 2 messages which have been sent to the Server,
// but have not been completely acknowledged").
//
// Expected: B, part of the discarded session, is dropped with EventDropped
// (like A) and its identifier released; it is not sent into the new
// session, and the server delivers it once in all.
//
// Was: the clean start drops only the stored exchanges; the queue keeps B,
// which is drained after CONNACK and sent with DUP into the new session.
// The server, having discarded its record of B, delivers it a second time:
// a QoS 2 message delivered twice (MQTT-4.3.3-10 broken end to end). The
// same happens when the server answers Session Present 0, and on the
// server side (its queue after a resend toward a client whose Receive
// Maximum fell).
func TestRegressionCleanStartResendsQueuedInflight(t *testing.T) {
	l := newSessLink(t, Config{}, Config{})
	l.connect(true, false, 60, 2)
	l.flush()
	for _, payload := range []string{"A", "B"} {
		l.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2, Payload: []byte(payload)})
	}
	l.deliverToServer()
	l.cut(Config{})
	l.connect(false, true, 60, 1)
	l.deliverToServer() // A again: PUBREC again, nothing delivered
	if l.client.SendQuota() != 0 || len(l.client.queue) != 1 {
		t.Fatalf("setup: quota %d, queue %d", l.client.SendQuota(), len(l.client.queue))
	}
	l.cut(Config{})
	l.reset()
	l.connect(true, false, 60, 2)
	l.flush()
	if l.delivered[RoleServer]["B"] != 1 || l.delivered[RoleServer]["A"] != 1 {
		t.Errorf("MQTT-4.3.3-10: QoS 2 messages delivered A %d, B %d times; want once each", l.delivered[RoleServer]["A"], l.delivered[RoleServer]["B"])
	}
	if d := l.count(RoleClient, EventDropped); d != 2 {
		t.Errorf("MQTT-3.1.2-4: clean start dropped %d messages with EventDropped, want 2 (A and B)", d)
	}
}

// A broker's server Connection learns the client from its CONNECT, imports
// that client's session, and resumes it with CONNACK Session Present 1.
func TestServerImportsSessionAfterConnect(t *testing.T) {
	p := newPair(t, Config{ManualPuback: true}, Config{})
	p.connect(&packet.Connect{ClientID: "b", CleanStart: true, Props: property.Properties{SessionExpiry: 60}}, &packet.Connack{})
	p.send(RoleServer, &packet.Publish{Topic: "to/client", QoS: 1, Payload: []byte("x")})
	p.packets(RoleClient)
	p.client.Closed()
	p.server.Closed()
	saved := p.server.ExportSession()
	if !p.server.SessionPersists() {
		t.Fatal("MQTT-3.1.2-25: session with expiry 60 does not persist")
	}

	p.server = newTestServer[uint16](Config{})
	p.send(RoleClient, &packet.Connect{ClientID: "b", Props: property.Properties{SessionExpiry: 60}})
	p.packets(RoleServer)
	if err := p.server.ImportSession(saved); err != nil {
		t.Fatalf("import after CONNECT: %v", err)
	}
	p.send(RoleServer, &packet.Connack{SessionPresent: true})
	got := p.packets(RoleClient)
	if len(got) != 2 || !got[1].(*packet.Publish).Dup || string(got[1].(*packet.Publish).Payload) != "x" {
		t.Fatalf("MQTT-4.4.0-1: client got %v after resuming", got)
	}

	// A CONNECT with a clean start asks for a new session: no import.
	s := newTestServer[uint16](Config{})
	s.Recv(wire(t, packet.V5, &packet.Connect{ClientID: "b", CleanStart: true}))
	if err := s.ImportSession(saved); err == nil {
		t.Fatal("imported a session after a clean start")
	}
}

// TestSessionRulesServerImport: the server's session exported after
// Closed and imported into a new server Connection resumes for the same
// client: its own messages re-sent with DUP, the client's QoS 2 message
// not delivered twice, every exchange completed.
func TestSessionRulesServerImport(t *testing.T) {
	for _, v := range versions {
		t.Run("MQTT-4.4.0-1/server-import/"+v.String(), func(t *testing.T) {
			l := newSessLink(t, Config{Version: v}, Config{})
			l.connect(v == packet.V5, false, 60, 0)
			l.flush()
			l.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2, Payload: []byte("C")})
			l.send(RoleServer, &packet.Publish{Topic: "t", QoS: 1, Payload: []byte("P1"), PacketID: 10})
			l.send(RoleServer, &packet.Publish{Topic: "t", QoS: 2, Payload: []byte("P2"), PacketID: 11})
			l.deliverToServer() // C delivered; PUBREC lost
			l.send(RoleServer, &packet.Publish{Topic: "t", QoS: 1, Payload: []byte("P3"), PacketID: 12})
			l.cut(Config{}) // Closed, ExportSession, a new server Connection imports it
			if l.server.State() != StateDisconnected || l.server.outbound.Len() != 3 || l.server.inbound.Len() != 1 {
				t.Fatalf("imported server: outbound %v, inbound %v", l.server.outbound, l.server.inbound)
			}
			l.reset()
			l.connect(false, true, 60, 0)
			want := []string{"CONNACK", "PUBLISH 10 P1 dup", "PUBLISH 11 P2 dup", "PUBLISH 12 P3 dup"}
			if got := l.sent[RoleServer]; !slices.Equal(got, want) {
				t.Errorf("server sent %q, want %q", got, want)
			}
			l.flush()
			if l.delivered[RoleServer]["C"] != 1 {
				t.Errorf("server delivered C %d times", l.delivered[RoleServer]["C"])
			}
			for _, k := range []string{"P1", "P2", "P3"} {
				if l.delivered[RoleClient][k] != 1 {
					t.Errorf("client got %s %d times", k, l.delivered[RoleClient][k])
				}
			}
			l.idsFree()
		})
	}
}

// TestSessionImportSameIDBothDirections: the server holds the client's QoS 2
// PUBLISH with identifier 1 awaiting PUBREL and has sent its own QoS 1
// PUBLISH under identifier 1 too (the two directions use identifiers
// independently, section 2.2.1); its export imports into a new server
// Connection and exports the same again. (Found by TestModelSession as a
// failure of ImportSession, "packet identifier 1 invalid or repeated";
// fixed in 79090f0.)
func TestSessionImportSameIDBothDirections(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			p := newPair(t, Config{Version: v}, Config{ManualPuback: true})
			connect := &packet.Connect{ClientID: "b", CleanStart: v == packet.V5}
			if v == packet.V5 {
				connect.Props.SessionExpiry = 60
			}
			p.connect(connect, &packet.Connack{})
			// The client's QoS 2 PUBLISH reaches the server, which answers
			// PUBREC; the client's PUBREL never arrives because the server
			// is cut off before: deliver by hand.
			evs, err := p.client.Send(&packet.Publish{Topic: "t", QoS: 2, PacketID: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.Kind == EventSend {
					p.server.Recv(e.Bytes) // PUBREC goes nowhere
				}
			}
			if _, err := p.server.Send(&packet.Publish{Topic: "t", QoS: 1, PacketID: 1}); err != nil {
				t.Fatal(err)
			}
			p.server.Closed()
			data := p.server.ExportSession()
			fresh := newTestServer[uint16](Config{})
			if err := fresh.ImportSession(data); err != nil {
				t.Fatalf("ImportSession(ExportSession()) = %v", err)
			}
			if again := fresh.ExportSession(); !bytes.Equal(again, data) {
				t.Fatalf("export after import differs")
			}
		})
	}
}

// A stored message that no longer fits the peer's Maximum Packet Size on
// the new connection is dropped with an event, never sent
// (MQTT-3.2.2-15, and MQTT-3.1.2-28 for the server's side).
func TestStoredMessageTooLargeForNewConnection(t *testing.T) {
	p := newPair(t, Config{}, Config{ManualPuback: true})
	p.connect(&packet.Connect{ClientID: "m", CleanStart: true, Props: property.Properties{SessionExpiry: 60}}, &packet.Connack{})
	p.send(RoleClient, &packet.Publish{Topic: "big", QoS: 1, Payload: make([]byte, 100)})
	p.send(RoleClient, &packet.Publish{Topic: "small", QoS: 1, Payload: []byte("x")})
	p.packets(RoleServer)
	p.client.Closed()
	p.server.Closed()
	p.got[RoleClient] = nil

	p.send(RoleClient, &packet.Connect{ClientID: "m", Props: property.Properties{SessionExpiry: 60}})
	p.packets(RoleServer)
	p.send(RoleServer, &packet.Connack{SessionPresent: true, Props: property.Properties{MaximumPacketSize: 50}})
	got := p.packets(RoleServer)
	if len(got) != 1 || got[0].(*packet.Publish).Topic != "small" {
		t.Fatalf("server got %v, want only the small message re-sent", got)
	}
	var dropped, released bool
	for _, e := range p.got[RoleClient] {
		dropped = dropped || e.Kind == EventDropped && e.PacketID == 1 && errors.Is(e.Err, ErrPacketTooLarge)
		released = released || e.Kind == EventIDReleased && e.PacketID == 1
	}
	if !dropped || !released {
		t.Fatalf("MQTT-3.2.2-15: no EventDropped (too large) and EventIDReleased for the big message: %v", p.got[RoleClient])
	}
}

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

// TestSessionResumeStatements: Clean Start and what is re-sent, checked
// between a client and a server.
func TestSessionResumeStatements(t *testing.T) {
	v5 := packet.V5

	t.Run("MQTT-3.1.4-4/the server processes Clean Start", func(t *testing.T) {
		cleanStartProcessed(t, v5)
	})
	t.Run("MQTT-3.3.1-3/DUP is set by retransmission only, not copied from the incoming PUBLISH", func(t *testing.T) {
		dupSetByRetransmission(t, v5)
	})
	t.Run("MQTT-4.3.3-6/after PUBREL only PUBREL is re-sent", func(t *testing.T) {
		p := connectedPair(t, Config{}, Config{ManualPubcomp: true}, &packet.Connect{ClientID: "s", CleanStart: true,
			Props: property.Properties{SessionExpiry: 60}}, &packet.Connack{})
		p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2})
		p.packets(RoleServer)
		p.client.Closed()
		p.server.Closed()
		p.send(RoleClient, &packet.Connect{ClientID: "s", Props: property.Properties{SessionExpiry: 60}})
		p.packets(RoleServer)
		p.send(RoleServer, &packet.Connack{SessionPresent: true})
		for _, g := range p.packets(RoleServer) {
			if _, ok := g.(*packet.Publish); ok {
				t.Fatal("the PUBLISH was re-sent after its PUBREL")
			}
		}
	})
}

// TestSessionResumeStatementsV311: the same in 3.1.1, under the 3.1.1
// numbers.
func TestSessionResumeStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-3.1.2-4 3.1.1/CleanSession 0: the session is stored after the connection and resumed", func(t *testing.T) {
		c := newTestClient[uint16](Config{Version: v})
		if _, err := c.Send(&packet.Connect{ClientID: "r"}); err != nil {
			t.Fatal(err)
		}
		c.Recv(wire(t, v, &packet.Connack{}))
		pub := &packet.Publish{Topic: "t", QoS: 1}
		if _, err := c.Send(pub); err != nil {
			t.Fatal(err)
		}
		evs := c.Closed()
		if count(evs, EventDropped) != 0 || len(released(evs)) != 0 || !c.SessionPersists() || c.InFlight() != 1 {
			t.Fatalf("closing a CleanSession 0 connection: %v", evs)
		}
		if _, err := c.Send(&packet.Connect{ClientID: "r"}); err != nil {
			t.Fatal(err)
		}
		again := sentOf[*packet.Publish](t, v, c.Recv(wire(t, v, &packet.Connack{SessionPresent: true})))
		if len(again) != 1 || again[0].PacketID != pub.PacketID || !again[0].Dup {
			t.Fatalf("re-sent %v", again)
		}
	})
	t.Run("MQTT-3.1.4-3 3.1.1/the server processes CleanSession", func(t *testing.T) {
		cleanStartProcessed(t, v)
	})
	t.Run("MQTT-3.3.1-3 3.1.1/DUP is set by retransmission only, not copied from the incoming PUBLISH", func(t *testing.T) {
		dupSetByRetransmission(t, v)
	})
	t.Run("MQTT-4.4.0-1 MQTT-4.6.0-1 MQTT-3.3.1-1 MQTT-2.3.1-3 in 3.1.1/re-sent in order, same identifiers, DUP", func(t *testing.T) {
		p, ids := sessionPair(t, v)
		reconnect(p, true)
		got := p.packets(RoleServer)
		if len(got) != len(ids) {
			t.Fatalf("re-sent %d of %d", len(got), len(ids))
		}
		for i, g := range got {
			if pub := g.(*packet.Publish); pub.PacketID != ids[i] || !pub.Dup {
				t.Fatalf("re-sent #%d: id %d DUP %v, want id %d DUP", i, pub.PacketID, pub.Dup, ids[i])
			}
		}
	})
}
