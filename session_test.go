package mqtt

import (
	"errors"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

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

func TestCleanSessionReleasesOnClose(t *testing.T) {
	p := newPair(t, Config{}, Config{ManualPuback: true})
	p.connect(&packet.Connect{ClientID: "c", CleanStart: true}, &packet.Connack{})
	p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1})
	evs := p.client.Closed()
	var released int
	for _, e := range evs {
		if e.Kind == EventIDReleased {
			released++
		}
	}
	if released != 1 || p.client.ids.InUse() != 0 || p.client.outbound.Len() != 0 {
		t.Fatalf("released %d, in use %d", released, p.client.ids.InUse())
	}
}

func TestOfflineQueueAndExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	p := newPair(t, Config{OfflineQueue: true, Clock: clock}, Config{})
	for _, expiry := range []uint32{10, 100, 0} {
		pub := &packet.Publish{Topic: "o", QoS: 1, Props: property.Properties{MessageExpiry: expiry}}
		if _, err := p.client.Send(pub); err != nil {
			t.Fatalf("offline Send: %v", err)
		}
	}
	if _, err := p.client.Send(&packet.Publish{Topic: "o"}); err != ErrState {
		t.Fatalf("offline QoS 0 Send = %v, want ErrState", err)
	}
	now = now.Add(30 * time.Second)
	p.connect(&packet.Connect{ClientID: "o", CleanStart: true}, &packet.Connack{})
	var expiries []uint32
	for _, g := range p.packets(RoleServer) {
		expiries = append(expiries, g.(*packet.Publish).Props.MessageExpiry)
	}
	// MQTT-3.3.2-5: the first expired before it was sent; MQTT-3.3.2-6:
	// the second goes out with what remains of its interval.
	if len(expiries) != 2 || expiries[0] != 70 || expiries[1] != 0 {
		t.Fatalf("MQTT-3.3.2-5, MQTT-3.3.2-6: sent expiries %v, want [70 0]", expiries)
	}
	var dropped bool
	for _, e := range p.got[RoleClient] {
		dropped = dropped || e.Kind == EventDropped && e.Err == ErrExpired
	}
	if !dropped {
		t.Fatal("no EventDropped for the expired message")
	}
}

func TestDisconnectSessionExpiryRules(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.connect(&packet.Connect{ClientID: "d", CleanStart: true}, &packet.Connack{})
	d := &packet.Disconnect{Props: property.Properties{SessionExpiry: 30}}
	if _, err := p.client.Send(d); err != ErrSessionExpiry {
		t.Fatalf("client DISCONNECT raising expiry from 0: %v", err)
	}
	if _, err := p.server.Send(d); err != ErrSessionExpiry {
		t.Fatalf("MQTT-3.14.2-2: server DISCONNECT with expiry: %v", err)
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

func TestQueueCap(t *testing.T) {
	c := newTestClient[uint16](Config{OfflineQueue: true, MaxQueued: 2})
	for i := 0; i < 2; i++ {
		if _, err := c.Send(&packet.Publish{Topic: "q", QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Send(&packet.Publish{Topic: "q", QoS: 1}); err != ErrQuotaExceeded || c.Queued() != 2 {
		t.Fatalf("third queued publish: %v, queued %d", err, c.Queued())
	}
}

func TestInFlightCountsUnfinishedPublishes(t *testing.T) {
	p := newPair(t, Config{}, Config{ManualPuback: true, ManualPubrec: true})
	p.connect(&packet.Connect{ClientID: "f", CleanStart: true}, &packet.Connack{})
	p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1})
	p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2})
	p.send(RoleClient, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "t"}}})
	if n := p.client.InFlight(); n != 2 {
		t.Fatalf("InFlight = %d, want 2 (a SUBSCRIBE is not a PUBLISH)", n)
	}
	p.send(RoleServer, &packet.Puback{PacketID: 1})
	if n := p.client.InFlight(); n != 1 {
		t.Fatalf("InFlight after PUBACK = %d, want 1", n)
	}
}

func TestSessionExpirySettledByConnackAndDisconnect(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.connect(&packet.Connect{ClientID: "e", CleanStart: true, Props: property.Properties{SessionExpiry: 30}},
		&packet.Connack{Props: property.Properties{SessionExpiry: 120}})
	if p.client.SessionExpiry() != 120 || p.server.SessionExpiry() != 120 {
		t.Fatalf("after CONNACK: client %d, server %d; want the CONNACK's 120", p.client.SessionExpiry(), p.server.SessionExpiry())
	}
	p.send(RoleClient, &packet.Disconnect{Props: property.Properties{Zero: property.NewSet(property.SessionExpiryInterval)}})
	if p.client.SessionExpiry() != 0 || p.server.SessionExpiry() != 0 || p.server.SessionPersists() {
		t.Fatalf("after DISCONNECT with 0: client %d, server %d", p.client.SessionExpiry(), p.server.SessionExpiry())
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
