package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Client Identifiers: what a client may send, and what a server accepts,
// assigns or refuses.

// validClientID is what every server must accept (MQTT-3.1.3-5).
var validClientID = regexp.MustCompile(`^[0-9a-zA-Z]{1,23}$`)

// TestClientIDAssigned: a server assigns a Client Identifier to a client
// that connects with an empty one, as soon as it receives the CONNECT; a
// v5 CONNACK names it; ClientID returns the identifier in force.
func TestClientIDAssigned(t *testing.T) {
	v5 := packet.V5
	empty := &packet.Connect{CleanStart: true}

	t.Run("MQTT-3.2.2-16/MQTT-3.1.3-7/v5 the CONNACK names the identifier the server assigned", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, empty)
		id := p.server.ClientID()
		if !validClientID.MatchString(id) {
			t.Fatalf("MQTT-3.1.3-5: assigned %q, not 1 to 23 letters and digits", id)
		}
		ack := &packet.Connack{}
		evs, err := p.server.Send(ack)
		if err != nil {
			t.Fatalf("Send(CONNACK): %v", err)
		}
		acks := sentOf[*packet.Connack](t, v5, evs)
		if len(acks) != 1 || acks[0].Props.AssignedClientID != id {
			t.Fatalf("sent %v, want a CONNACK with Assigned Client Identifier %q", acks, id)
		}
		if ack.Props.AssignedClientID != "" {
			t.Fatalf("the caller's CONNACK was changed: %q", ack.Props.AssignedClientID)
		}
		p.run(RoleServer, evs)
		if p.client.State() != StateConnected || p.client.ClientID() != id || p.server.ClientID() != id {
			t.Fatalf("client %v uses %q, server %q; want %q", p.client.State(), p.client.ClientID(), p.server.ClientID(), id)
		}
	})
	t.Run("MQTT-3.2.2-16/MQTT-3.1.3-6/each server assigns a new identifier", func(t *testing.T) {
		seen := map[string]bool{}
		for range 1000 {
			s := newTestServer[uint16](Config{})
			s.Recv(wire(t, v5, empty))
			id := s.ClientID()
			if seen[id] || !validClientID.MatchString(id) {
				t.Fatalf("assigned %q: repeated or invalid", id)
			}
			seen[id] = true
		}
	})
	t.Run("MQTT-3.1.3-6/Config.AssignClientID chooses, known while the CONNECT is handled", func(t *testing.T) {
		calls := 0
		cfg := Config{AssignClientID: func() string { calls++; return fmt.Sprintf("broker%d", calls) }}
		var during string
		var s *Connection[uint16]
		s = NewServer(cfg, func(e Event[uint16]) {
			if e.Kind == EventPacket && e.Packet.Type() == packet.TypeConnect {
				during = s.ClientID()
			}
		})
		s.Recv(wire(t, v5, empty))
		if during != "broker1" || calls != 1 {
			t.Fatalf("ClientID while the CONNECT is handled: %q after %d calls", during, calls)
		}
		var sent *packet.Connack
		s.handler = func(e Event[uint16]) {
			if e.Kind == EventSend {
				sent = e.Packet.(*packet.Connack).Clone()
			}
		}
		if err := s.Send(&packet.Connack{}); err != nil || sent == nil || sent.Props.AssignedClientID != "broker1" {
			t.Fatalf("MQTT-3.2.2-16: sent %+v, %v", sent, err)
		}
	})
	t.Run("MQTT-3.2.2-16/the caller's own Assigned Client Identifier is the one in force", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, empty)
		p.send(RoleServer, &packet.Connack{Props: property.Properties{AssignedClientID: "mine"}})
		got := p.packets(RoleClient)
		if len(got) != 1 || got[0].(*packet.Connack).Props.AssignedClientID != "mine" ||
			p.server.ClientID() != "mine" || p.client.ClientID() != "mine" {
			t.Fatalf("client received %v; ClientID server %q, client %q", got, p.server.ClientID(), p.client.ClientID())
		}
	})
	t.Run("MQTT-3.2.2-16/AssignClientID without an identifier: the CONNACK is refused", func(t *testing.T) {
		s := newTestServer[uint16](Config{AssignClientID: func() string { return "" }})
		s.Recv(wire(t, v5, empty))
		refused(t, s, &packet.Connack{}, ErrAssignClientID)
		if _, err := s.Send(&packet.Connack{Props: property.Properties{AssignedClientID: "x1"}}); err != nil {
			t.Fatalf("CONNACK with the caller's identifier: %v", err)
		}
	})
	t.Run("MQTT-3.1.3-8/a refusing CONNACK assigns nothing", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v5, empty))
		evs, err := s.Send(&packet.Connack{Reason: packet.ClientIdentifierNotValid})
		acks := sentOf[*packet.Connack](t, v5, evs)
		if err != nil || len(acks) != 1 || acks[0].Props.AssignedClientID != "" {
			t.Fatalf("sent %v, %v", acks, err)
		}
	})
	for _, v := range versions {
		t.Run(v.String()+"/a client's own identifier is kept", func(t *testing.T) {
			calls := 0
			s := newTestServer[uint16](Config{AssignClientID: func() string { calls++; return "no" }})
			s.Recv(wire(t, v, &packet.Connect{ClientID: "own", CleanStart: true}))
			evs, err := s.Send(&packet.Connack{})
			acks := sentOf[*packet.Connack](t, v, evs)
			if err != nil || len(acks) != 1 || acks[0].Props.AssignedClientID != "" || s.ClientID() != "own" || calls != 0 {
				t.Fatalf("sent %v, %v; ClientID %q, %d calls", acks, err, s.ClientID(), calls)
			}
		})
	}
	t.Run("MQTT-3.1.3-6 in 3.1.1/an empty identifier with clean session is accepted and assigned by the server alone", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, packet.V311, empty))
		id := s.ClientID()
		if !validClientID.MatchString(id) {
			t.Fatalf("assigned %q", id)
		}
		evs, err := s.Send(&packet.Connack{})
		if err != nil || string(sentBytes(evs)) != "\x20\x02\x00\x00" || s.State() != StateConnected || s.ClientID() != id {
			t.Fatalf("sent % x, %v; %v, ClientID %q", sentBytes(evs), err, s.State(), s.ClientID())
		}
	})
	t.Run("MQTT-3.1.3-8 in 3.1.1/an empty identifier without clean session is refused, nothing assigned", func(t *testing.T) {
		calls := 0
		s := newTestServer[uint16](Config{AssignClientID: func() string { calls++; return "no" }})
		evs := s.Recv(wire(t, packet.V311, &packet.Connect{}))
		if !errors.Is(evErr(evs), errEmptyClientID) || calls != 0 || s.ClientID() != "" {
			t.Fatalf("events %v; %d calls, ClientID %q", evs, calls, s.ClientID())
		}
	})
	t.Run("ClientID does not alias the bytes received", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		in := wire(t, v5, &packet.Connect{ClientID: "abc", CleanStart: true})
		s.Recv(in)
		clear(in)
		c := newTestClient[uint16](Config{})
		if _, err := c.Send(empty); err != nil {
			t.Fatal(err)
		}
		in = wire(t, v5, &packet.Connack{Props: property.Properties{AssignedClientID: "xyz"}})
		c.Recv(in)
		clear(in)
		if s.ClientID() != "abc" || c.ClientID() != "xyz" {
			t.Fatalf("server %q, client %q after the input was overwritten", s.ClientID(), c.ClientID())
		}
	})
}

func TestEmptyClientID(t *testing.T) {
	// MQTT-3.1.3-8 (3.1.1): zero-byte ClientId with CleanSession 0, sent
	// raw: a client Connection refuses to send it (MQTT-3.1.3-7 of 3.1.1).
	evs := newTestServer[uint16](Config{}).Recv(wire(t, packet.V311, &packet.Connect{}))
	got := sent(t, packet.V311, evs)
	if len(got) != 1 || got[0].(*packet.Connack).Reason != packet.RefusedIdentifierRejected || indexOf(evs, EventClose) < 0 {
		t.Fatalf("server events %v", evs)
	}
	// A v5 server assigns one: TestClientIDAssigned.
}

// clientIDNotUTF8 checks that a ClientID that is not a UTF-8 Encoded
// String is neither sent by a client nor accepted by a server (v5: CONNACK
// 0x81; 3.1.1: closed without CONNACK).
func clientIDNotUTF8(t *testing.T, v packet.Version) {
	t.Helper()
	for _, bad := range []string{"a\xffb", "a\x00b", "\xed\xa0\x80"} {
		refused(t, newTestClient[uint16](Config{Version: v}), &packet.Connect{ClientID: bad, CleanStart: true}, packet.ErrMalformed)
		evs := newTestServer[uint16](Config{}).Recv(replacedIn(t, wire(t, v, &packet.Connect{ClientID: "m~m", CleanStart: true}), "m~m", bad))
		if len(received(evs)) != 0 || indexOf(evs, EventClose) < 0 {
			t.Fatalf("ClientID %q: %v", bad, evs)
		}
		acks := sentOf[*packet.Connack](t, v, evs)
		if v == packet.V5 && (len(acks) != 1 || acks[0].Reason != packet.MalformedPacket) || v != packet.V5 && len(acks) != 0 {
			t.Fatalf("ClientID %q: answered %v", bad, acks)
		}
	}
}

// allowedClientIDs checks that a server accepts every ClientID of 1 to 23
// characters from 0-9, a-z, A-Z.
func allowedClientIDs(t *testing.T, v packet.Version) {
	t.Helper()
	const chars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for n := 1; n <= 23; n++ {
		for start := 0; start < len(chars); start += 5 {
			var id strings.Builder
			for i := range n {
				id.WriteByte(chars[(start+i*7)%len(chars)])
			}
			s := newTestServer[uint16](Config{})
			evs := s.Recv(wire(t, v, &packet.Connect{ClientID: id.String(), CleanStart: n%2 == 0}))
			got := received(evs)
			if evErr(evs) != nil || len(got) != 1 || got[0].(*packet.Connect).ClientID != id.String() {
				t.Fatalf("ClientID %q: %v", id.String(), evs)
			}
			if _, err := s.Send(&packet.Connack{}); err != nil || s.State() != StateConnected {
				t.Fatalf("ClientID %q: CONNACK: %v, %v", id.String(), err, s.State())
			}
		}
	}
}

// TestClientIDStatements: the Client Identifier statements, checked between
// a client and a server.
func TestClientIDStatements(t *testing.T) {
	v5 := packet.V5

	t.Run("MQTT-3.1.3-4/a ClientID that is not UTF-8 is neither sent nor accepted", func(t *testing.T) {
		clientIDNotUTF8(t, v5)
	})
	t.Run("MQTT-3.1.3-5/ClientIDs of 1 to 23 letters and digits are allowed", func(t *testing.T) {
		allowedClientIDs(t, v5)
	})
	t.Run("MQTT-3.1.3-6/MQTT-3.1.3-7/an empty ClientID is accepted with an Assigned Client Identifier", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, &packet.Connect{CleanStart: true})
		if got := p.packets(RoleServer); len(got) != 1 || got[0].(*packet.Connect).ClientID != "" {
			t.Fatalf("server received %v", got)
		}
		assigned := p.server.ClientID()
		p.send(RoleServer, &packet.Connack{})
		got := p.packets(RoleClient)
		if len(got) != 1 || assigned == "" || got[0].(*packet.Connack).Props.AssignedClientID != assigned ||
			p.client.State() != StateConnected || p.client.ClientID() != assigned {
			t.Fatalf("server assigned %q, client received %v, uses %q", assigned, got, p.client.ClientID())
		}
		// A refusal assigns nothing.
		q := newPair(t, Config{}, Config{})
		q.send(RoleClient, &packet.Connect{})
		q.send(RoleServer, &packet.Connack{Reason: packet.ClientIdentifierNotValid})
	})
	t.Run("MQTT-3.1.3-8/a rejected ClientID: CONNACK 0x85, then close", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "taken", CleanStart: true})
		evs, err := p.server.Send(&packet.Connack{Reason: packet.ClientIdentifierNotValid})
		acks := sentOf[*packet.Connack](t, v5, evs)
		if err != nil || len(acks) != 1 || acks[0].Reason != packet.ClientIdentifierNotValid ||
			indexOf(evs, EventClose) < indexOf(evs, EventSend) || p.server.State() != StateDisconnected {
			t.Fatalf("%v, %v", evs, err)
		}
		p.run(RoleServer, evs)
		if !p.closed[RoleClient] {
			t.Fatal("the client did not close")
		}
		if evs := p.server.Recv(wire(t, v5, &packet.Pingreq{})); len(evs) != 0 {
			t.Fatalf("after the refusal: %v", evs)
		}
	})
}

// TestClientIDStatementsV311: the Client Identifier statements of 3.1.1,
// under their 3.1.1 numbers.
func TestClientIDStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-3.1.3-4 3.1.1/a ClientId that is not UTF-8 is neither sent nor accepted", func(t *testing.T) {
		clientIDNotUTF8(t, v)
	})
	t.Run("MQTT-3.1.3-5 3.1.1/ClientIds of 1 to 23 letters and digits are allowed", func(t *testing.T) {
		allowedClientIDs(t, v)
	})
	t.Run("MQTT-3.1.3-7 3.1.1/a client with an empty ClientId asks for a clean session", func(t *testing.T) {
		c := newTestClient[uint16](Config{Version: v})
		refused(t, c, &packet.Connect{KeepAlive: 10}, ErrClientID)
		evs, err := c.Send(&packet.Connect{CleanStart: true, KeepAlive: 10})
		want := []byte{0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x0A, 0x00, 0x00}
		if err != nil || !bytes.Equal(sentBytes(evs), want) {
			t.Fatalf("CONNECT % X, %v; want % X", sentBytes(evs), err, want)
		}
	})
	t.Run("MQTT-3.1.3-8 in 3.1.1/empty ClientId without clean session", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		evs := s.Recv(wire(t, v, &packet.Connect{}))
		if len(evs) == 0 || evs[0].Kind != EventSend || evs[0].Packet.(*packet.Connack).Reason != packet.RefusedIdentifierRejected || indexOf(evs, EventClose) < 0 {
			t.Fatalf("events %v, want CONNACK 0x02 then close", evs)
		}
	})
	t.Run("MQTT-3.1.3-9 3.1.1/a rejected ClientId: CONNACK 0x02, then close", func(t *testing.T) {
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v, &packet.Connect{ClientID: "taken", CleanStart: true}))
		evs, err := s.Send(&packet.Connack{Reason: packet.RefusedIdentifierRejected})
		if err != nil || !bytes.Equal(sentBytes(evs), []byte{0x20, 0x02, 0x00, 0x02}) || indexOf(evs, EventClose) < indexOf(evs, EventSend) {
			t.Fatalf("%v, %v", evs, err)
		}
		if evs := s.Recv(wire(t, v, &packet.Pingreq{})); len(evs) != 0 {
			t.Fatalf("after the refusal: %v", evs)
		}
	})
}
