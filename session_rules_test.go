package mqtt

// Table tests of the session rules, named with the normative statement
// they check: re-sending on reconnection, order, Session Present, Clean
// Start, Session Expiry Interval (CONNECT, CONNACK, DISCONNECT), Message
// Expiry on re-send, and a broker's server Connection replaced between
// network connections by one that imports the exported session.

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

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

// closedKeeps publishes a QoS 1 message left unacknowledged, closes, and
// reports whether each side kept its session state.
func closedKeeps(t *testing.T, connectExpiry uint32, connack *packet.Connack, disconnect *packet.Disconnect) (client, server bool) {
	t.Helper()
	p := newPair(t, Config{ManualPubrec: true}, Config{ManualPuback: true, ManualPubrec: true})
	c := &packet.Connect{ClientID: "x", CleanStart: true}
	c.Props.SessionExpiry = connectExpiry
	p.connect(c, connack)
	p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1})
	p.send(RoleServer, &packet.Publish{Topic: "t", QoS: 2})
	if disconnect != nil {
		p.send(RoleClient, disconnect)
	}
	p.client.Closed()
	p.server.Closed()
	return p.client.outbound.Len() == 1, p.server.outbound.Len() == 1
}

func TestSessionRulesExpiry(t *testing.T) {
	zero := func(id property.ID) property.Properties {
		var props property.Properties
		props.Zero.Add(id)
		return props
	}
	for _, tc := range []struct {
		name       string
		expiry     uint32
		connack    property.Properties
		disconnect *packet.Disconnect
		keep       bool
	}{
		{"MQTT-3.1.2-25/greater-than-0-kept", 60, property.Properties{}, nil, true},
		{"MQTT-3.1.2-25/absent-means-0-not-kept", 0, property.Properties{}, nil, false},
		{"CONNACK-overrides-0-with-60", 0, property.Properties{SessionExpiry: 60}, nil, true},
		{"CONNACK-overrides-60-with-0", 60, zero(property.SessionExpiryInterval), nil, false},
		{"DISCONNECT-sets-0", 60, property.Properties{}, &packet.Disconnect{Props: zero(property.SessionExpiryInterval)}, false},
		{"DISCONNECT-raises", 60, property.Properties{}, &packet.Disconnect{Props: property.Properties{SessionExpiry: 3600}}, true},
		{"DISCONNECT-without-expiry-keeps", 60, property.Properties{}, &packet.Disconnect{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := closedKeeps(t, tc.expiry, &packet.Connack{Props: tc.connack}, tc.disconnect)
			if client != tc.keep || server != tc.keep {
				t.Fatalf("session kept: client %v, server %v; want %v", client, server, tc.keep)
			}
		})
	}
	t.Run("DISCONNECT-after-CONNECT-0-is-a-protocol-error", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.connect(&packet.Connect{ClientID: "x", CleanStart: true}, &packet.Connack{})
		d := &packet.Disconnect{Props: property.Properties{SessionExpiry: 30}}
		if _, err := p.client.Send(d); err != ErrSessionExpiry {
			t.Fatalf("client Send = %v, want ErrSessionExpiry", err)
		}
		// A peer that sends it anyway: the server answers 0x82 and closes.
		wire, err := d.AppendTo(nil, packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		var gotErr error
		var answer packet.ReasonCode = 0xff
		for _, e := range p.server.Recv(wire) {
			switch e.Kind {
			case EventError:
				gotErr = e.Err
			case EventSend:
				if dd, ok := e.Packet.(*packet.Disconnect); ok {
					answer = dd.Reason
				}
			}
		}
		if code, _ := packet.ReasonOf(gotErr); code != packet.ProtocolError || answer != packet.ProtocolError {
			t.Fatalf("server: error %v, DISCONNECT reason %#x; want 0x82 both", gotErr, answer)
		}
		if p.server.sess.expiry != 0 || p.server.sess.persists {
			t.Fatalf("server took the expiry: %d", p.server.sess.expiry)
		}
	})
}

// TestSessionRulesMessageExpiryOnResend: a QoS 2 PUBLISH already sent is
// re-sent after reconnection however long it waited (MQTT-4.3.3-7); only a
// message never sent expires (MQTT-3.3.2-5 on the client's queue).
func TestSessionRulesMessageExpiryOnResend(t *testing.T) {
	t.Run("MQTT-4.3.3-7/MQTT-3.3.2-5", testMessageExpiryOnResend)
}

func testMessageExpiryOnResend(t *testing.T) {
	now := time.Unix(5000, 0)
	cfg := Config{Clock: func() time.Time { return now }, OfflineQueue: true}
	scfg := Config{ManualPuback: true, ManualPubrec: true}
	l := newSessLink(t, cfg, scfg)
	l.connect(true, false, 600, 0)
	l.flush()
	props := property.Properties{MessageExpiry: 10}
	l.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2, Payload: []byte("sent2"), Props: props})
	l.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1, Payload: []byte("sent1"), Props: props})
	l.deliverToServer()
	l.cut(scfg)
	l.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2, Payload: []byte("queued"), Props: props})
	now = now.Add(time.Minute)
	l.reset()
	l.connect(false, true, 600, 0)
	want := []string{"CONNECT", "PUBLISH 1 sent2 dup", "PUBLISH 2 sent1 dup"}
	if got := l.sent[RoleClient]; !slices.Equal(got, want) {
		t.Errorf("MQTT-4.3.3-7: client sent %q, want %q", got, want)
	}
	var expired int
	for _, e := range l.got[RoleClient] {
		if e.Kind == EventDropped && e.Err == ErrExpired {
			expired++
		}
	}
	if expired != 1 {
		t.Errorf("MQTT-3.3.2-5: %d queued messages dropped as expired, want 1", expired)
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
