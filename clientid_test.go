package mqtt

import (
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

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
