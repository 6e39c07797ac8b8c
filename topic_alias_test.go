package mqtt

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Topic aliases (section 3.3.2.3.4): on receipt, an alias maps a topic for
// the rest of the network connection, within the Topic Alias Maximum this
// side announced; on sending, the caller's aliases and AliasAuto stay
// within the peer's. A hostile client's aliases cost at most one topic
// each.

func TestRulesTopicAliasRecv(t *testing.T) {
	v := packet.V5
	srv := func(t *testing.T) *tconn[uint16] {
		return serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{TopicAliasMaximum: 2}))
	}
	t.Run("MQTT-3.3.2-12/server-accepts-and-resolves", func(t *testing.T) {
		s := srv(t)
		evs := s.Recv(wire(t, v, &packet.Publish{Topic: "x/y", Props: property.Properties{TopicAlias: 2}},
			&packet.Publish{QoS: 1, PacketID: 1, Props: property.Properties{TopicAlias: 2}, Payload: []byte("p")},
			&packet.Publish{Topic: "x/z", Props: property.Properties{TopicAlias: 2}},
			&packet.Publish{Props: property.Properties{TopicAlias: 2}}))
		var topics []string
		for _, p := range received(evs) {
			topics = append(topics, p.(*packet.Publish).Topic)
		}
		if !slices.Equal(topics, []string{"x/y", "x/y", "x/z", "x/z"}) || evErr(evs) != nil {
			t.Fatalf("%q %v", topics, evs)
		}
	})
	t.Run("MQTT-3.3.2-12/server-alias-above-maximum-0x94", func(t *testing.T) {
		evs := srv(t).Recv(wire(t, v, &packet.Publish{Topic: "x", Props: property.Properties{TopicAlias: 3}}))
		wantClose(t, v, evs, packet.TopicAliasInvalid)
		if statement(evErr(evs)) != "MQTT-3.3.2-12" {
			t.Fatalf("%v", evErr(evs))
		}
	})
	t.Run("MQTT-3.3.2-10/client-alias-above-maximum-0x94", func(t *testing.T) {
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		evs := c.Recv(wire(t, v, &packet.Publish{Topic: "x", Props: property.Properties{TopicAlias: 1}}))
		wantClose(t, v, evs, packet.TopicAliasInvalid)
		if statement(evErr(evs)) != "MQTT-3.3.2-10" {
			t.Fatalf("%v", evErr(evs))
		}
	})
	// Section 3.3.4: an alias with no mapping and a zero-length Topic Name
	// is a Protocol Error, not an invalid alias (it was answered with 0x94).
	t.Run("sec3.3.4/unmapped-alias-without-topic-0x82", func(t *testing.T) {
		evs := srv(t).Recv(wire(t, v, &packet.Publish{Props: property.Properties{TopicAlias: 1}}))
		wantClose(t, v, evs, packet.ProtocolError)
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{TopicAliasMaximum: 4}), connackFor(v, property.Properties{}))
		wantClose(t, v, c.Recv(wire(t, v, &packet.Publish{Props: property.Properties{TopicAlias: 4}})), packet.ProtocolError)
	})
	t.Run("MQTT-3.3.2-7/mappings-not-carried-to-next-connection", func(t *testing.T) {
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{TopicAliasMaximum: 4}), connackFor(v, property.Properties{}))
		if evs := c.Recv(wire(t, v, &packet.Publish{Topic: "m", Props: property.Properties{TopicAlias: 1}})); evErr(evs) != nil {
			t.Fatalf("%v", evs)
		}
		c.Closed()
		if _, err := c.Send(connectFor(v, 0, property.Properties{TopicAliasMaximum: 4})); err != nil {
			t.Fatal(err)
		}
		c.Recv(wire(t, v, &packet.Connack{}))
		// The alias is unmapped on the new connection: a Protocol Error.
		wantClose(t, v, c.Recv(wire(t, v, &packet.Publish{Props: property.Properties{TopicAlias: 1}})), packet.ProtocolError)
	})
	// Topic Alias 0 on the wire: PUBLISH "a" with property 0x23 = 0. It is
	// answered like an alias above the maximum (it was answered with 0x82).
	t.Run("MQTT-3.3.2-8/alias-0-0x94", func(t *testing.T) {
		alias0 := []byte{0x30, 0x07, 0x00, 0x01, 'a', 0x03, 0x23, 0x00, 0x00}
		evs := srv(t).Recv(alias0)
		wantClose(t, v, evs, packet.TopicAliasInvalid)
		if statement(evErr(evs)) != "MQTT-3.3.2-8" {
			t.Fatalf("%v", evErr(evs))
		}
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{TopicAliasMaximum: 4}), connackFor(v, property.Properties{}))
		wantClose(t, v, c.Recv(alias0), packet.TopicAliasInvalid)
	})
	t.Run("MQTT-3.3.2-9/send-alias-above-peer-maximum", func(t *testing.T) {
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{TopicAliasMaximum: 1}))
		refused(t, c, &packet.Publish{Topic: "a", Props: property.Properties{TopicAlias: 2}}, ErrAlias)
		if _, err := c.Send(&packet.Publish{Topic: "a", Props: property.Properties{TopicAlias: 1}}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAutoTopicAlias(t *testing.T) {
	p := newPair(t, Config{TopicAliases: AliasAuto}, Config{})
	p.connect(&packet.Connect{ClientID: "a", Props: property.Properties{TopicAliasMaximum: 1}},
		&packet.Connack{Props: property.Properties{TopicAliasMaximum: 1}})
	var sizes []int
	for _, topic := range []string{"long/topic/name", "long/topic/name", "other", "long/topic/name"} {
		evs, err := p.client.Send(&packet.Publish{Topic: topic})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(evs[0].Bytes))
		p.run(RoleClient, evs)
		got := p.packets(RoleServer)
		if len(got) != 1 || got[0].(*packet.Publish).Topic != topic {
			t.Fatalf("server resolved %v, want %q", got, topic)
		}
	}
	// The second send of a mapped topic carries the alias alone; the
	// single alias is then taken over by "other" (LRU), and the first
	// topic must be sent in full again.
	if !(sizes[1] < sizes[0] && sizes[3] == sizes[0]) {
		t.Fatalf("PUBLISH sizes %v", sizes)
	}
}

// TestAutoTopicAliasRefusedSend: a PUBLISH refused (too large for the
// server, MQTT-3.2.2-15) moves no automatic alias mapping. With two aliases,
// "a" then "b" mapped, a refused PUBLISH on "c" would have evicted "a",
// and one on "a" would have made "b" the least recently used: after either,
// "a" still goes as its alias alone, and "c" then takes the alias of "a",
// the least recently used.
func TestAutoTopicAliasRefusedSend(t *testing.T) {
	for _, refusedTopic := range []string{"c", "a"} {
		p := newPair(t, Config{TopicAliases: AliasAuto}, Config{})
		p.connect(&packet.Connect{ClientID: "a"},
			&packet.Connack{Props: property.Properties{TopicAliasMaximum: 2, MaximumPacketSize: 64}})
		send := func(topic string) *packet.Publish {
			evs, err := p.client.Send(&packet.Publish{Topic: topic})
			if err != nil {
				t.Fatal(err)
			}
			return sentPublish(t, evs)
		}
		send("a")
		send("b")
		refused(t, p.client, &packet.Publish{Topic: refusedTopic, Payload: make([]byte, 64)}, ErrPacketTooLarge)
		if got := send("a"); got.Topic != "" || got.Props.TopicAlias != 1 {
			t.Fatalf("refused %q: then \"a\" sent as %q, alias %d; want alias 1 alone", refusedTopic, got.Topic, got.Props.TopicAlias)
		}
		if got := send("c"); got.Topic != "c" || got.Props.TopicAlias != 2 {
			t.Fatalf("refused %q: then \"c\" sent with alias %d; want 2, the least recently used", refusedTopic, got.Props.TopicAlias)
		}
	}
}

// Config.MaxOutgoingAliases caps the aliases the Connection uses below
// the peer's Topic Alias Maximum: with 2 of the client's 10, a third topic
// takes the alias used least recently (MQTT-3.3.2-11 with the cap as the
// maximum), and an alias the caller sets above the cap is refused.
func TestMaxOutgoingAliases_MQTT_3_3_2_11(t *testing.T) {
	p := newPair(t, Config{}, Config{TopicAliases: AliasAuto, MaxOutgoingAliases: 2})
	p.connect(&packet.Connect{ClientID: "a", Props: property.Properties{TopicAliasMaximum: 10}}, &packet.Connack{})
	var aliases []uint16
	var topics []string
	for _, topic := range []string{"t/1", "t/2", "t/1", "t/3", "t/2"} {
		evs, err := p.server.Send(&packet.Publish{Topic: topic})
		if err != nil {
			t.Fatal(err)
		}
		wire, _, err := packet.Decode[uint16](packet.V5, evs[0].Bytes, 0)
		if err != nil {
			t.Fatal(err)
		}
		aliases = append(aliases, wire.(*packet.Publish).Props.TopicAlias)
		topics = append(topics, strings.Clone(wire.(*packet.Publish).Topic)) // the bytes are reused
		p.run(RoleServer, evs)
		if got := p.packets(RoleClient); len(got) != 1 || got[0].(*packet.Publish).Topic != topic {
			t.Fatalf("client resolved %v, want %q", got, topic)
		}
	}
	// t/3 evicts t/2 (alias 2: t/1 was used after it), and t/2 then
	// evicts t/1 (alias 1).
	if want := []uint16{1, 2, 1, 2, 1}; !slices.Equal(aliases, want) {
		t.Errorf("aliases %v, want %v", aliases, want)
	}
	if want := []string{"t/1", "t/2", "", "t/3", "t/2"}; !slices.Equal(topics, want) {
		t.Errorf("topics on the wire %q, want %q", topics, want)
	}
	if _, err := p.server.Send(&packet.Publish{Topic: "t/4", Props: property.Properties{TopicAlias: 3}}); !errors.Is(err, ErrAlias) {
		t.Errorf("alias 3 above the cap of 2: %v, want ErrAlias", err)
	}
}

// TestHostileTopicAliases: every alias up to the announced maximum is
// accepted and resolved; one above it ends the connection with 0x94 Topic
// Alias invalid. Rotating thousands of topics through the aliases keeps at
// most one topic per alias.
func TestHostileTopicAliases(t *testing.T) {
	v := packet.V5
	withAlias := func(topic string, alias uint16) *packet.Publish {
		return &packet.Publish{Topic: topic, Props: property.Properties{TopicAlias: alias}}
	}
	t.Run("MQTT-3.3.2-12/every-alias-up-to-the-maximum", func(t *testing.T) {
		s := hostileServer(t, v)
		var in []packet.Packet
		for a := uint16(1); a <= hostileAliasMax; a++ {
			in = append(in, withAlias(fmt.Sprint("t/", a), a))
		}
		for a := uint16(hostileAliasMax); a >= 1; a-- {
			in = append(in, withAlias("", a))
		}
		evs := s.Recv(wire(t, v, in...))
		ps := received(evs)
		if evErr(evs) != nil || len(ps) != 2*hostileAliasMax {
			t.Fatalf("%v", evs)
		}
		for i, p := range ps[hostileAliasMax:] {
			if want := fmt.Sprint("t/", hostileAliasMax-i); p.(*packet.Publish).Topic != want {
				t.Fatalf("alias %d resolved to %q, want %q", hostileAliasMax-i, p.(*packet.Publish).Topic, want)
			}
		}
	})
	for _, a := range []uint16{hostileAliasMax + 1, 1000, 65535} {
		t.Run(fmt.Sprintf("MQTT-3.3.2-9/alias-%d-above-the-maximum-0x94", a), func(t *testing.T) {
			s := hostileServer(t, v)
			var in []packet.Packet
			for i := uint16(1); i <= hostileAliasMax; i++ {
				in = append(in, withAlias("x", i))
			}
			in = append(in, withAlias("x", a), &packet.Pingreq{})
			evs := s.Recv(wire(t, v, in...))
			wantClose(t, v, evs, packet.TopicAliasInvalid)
			if n := len(received(evs)); n != hostileAliasMax {
				t.Fatalf("%d packets delivered, want the %d before the bad alias", n, hostileAliasMax)
			}
		})
	}
	longTopic := func(i int) string {
		s := fmt.Sprintf("%08d/", i)
		return s + strings.Repeat("x", hostileMax-32-len(s))
	}
	t.Run("rotation-keeps-one-topic-per-alias", func(t *testing.T) {
		s := hostileServer(t, v)
		before := liveHeap()
		for i := range 10000 {
			if evs := s.Recv(wire(t, v, withAlias(longTopic(i), uint16(i%hostileAliasMax+1)))); evErr(evs) != nil {
				t.Fatal(evs)
			}
		}
		grown := liveHeap() - before
		t.Logf("10,000 topics of %d bytes through %d aliases: %d bytes kept", len(longTopic(0)), hostileAliasMax, grown)
		if grown > 2*hostileAliasMax*hostileMax {
			t.Fatalf("%d bytes kept for %d aliases", grown, hostileAliasMax)
		}
		runtime.KeepAlive(s)
	})
	t.Run("memory", func(t *testing.T) {
		idle := idleServer(t, v)
		held := perConnection(hostileConns, func(int) any {
			s := hostileServer(t, v)
			for a := range hostileAliasMax {
				if evs := s.Recv(wire(t, v, withAlias(longTopic(a), uint16(a+1)))); evErr(evs) != nil {
					t.Fatal(evs)
				}
			}
			return s
		})
		checkHeld(t, fmt.Sprintf("%d aliases mapped to topics of %d bytes", hostileAliasMax, len(longTopic(0))),
			hostileConns, held, idle, idle+hostileAliasMax*hostileMax+keepOut)
	})
}

// TestTopicAliasStatements: the statements on the aliases a side sends,
// checked between a client and a server.
func TestTopicAliasStatements(t *testing.T) {
	basic := func(t *testing.T) *pair { return pairFor(t, packet.V5, Config{}, Config{}) }

	t.Run("MQTT-3.2.2-17/client alias above the server's maximum", func(t *testing.T) {
		p := connectedPair(t, Config{}, Config{}, &packet.Connect{ClientID: "s", CleanStart: true},
			&packet.Connack{Props: property.Properties{TopicAliasMaximum: 2}})
		if _, err := p.client.Send(&packet.Publish{Topic: "t", Props: property.Properties{TopicAlias: 3}}); err != ErrAlias {
			t.Fatalf("alias 3 of 2: %v", err)
		}
	})
	t.Run("MQTT-3.2.2-18/no client alias when the server announced none", func(t *testing.T) {
		p := basic(t)
		if _, err := p.client.Send(&packet.Publish{Topic: "t", Props: property.Properties{TopicAlias: 1}}); err != ErrAlias {
			t.Fatalf("alias without a maximum: %v", err)
		}
		auto := connectedPair(t, Config{TopicAliases: AliasAuto}, Config{}, &packet.Connect{ClientID: "s", CleanStart: true}, &packet.Connack{})
		evs, _ := auto.client.Send(&packet.Publish{Topic: "t"})
		if got := sentPublish(t, evs); got.Props.TopicAlias != 0 {
			t.Fatalf("automatic alias %d without a maximum", got.Props.TopicAlias)
		}
	})
	t.Run("MQTT-3.1.2-29/MQTT-3.3.2-11/server alias above the client's maximum", func(t *testing.T) {
		p := connectedPair(t, Config{}, Config{}, &packet.Connect{ClientID: "s", CleanStart: true,
			Props: property.Properties{TopicAliasMaximum: 1}}, &packet.Connack{})
		if _, err := p.server.Send(&packet.Publish{Topic: "t", Props: property.Properties{TopicAlias: 2}}); err != ErrAlias {
			t.Fatalf("alias 2 of 1: %v", err)
		}
	})
	t.Run("MQTT-3.1.2-30/no server alias when the client announced none", func(t *testing.T) {
		p := connectedPair(t, Config{}, Config{TopicAliases: AliasAuto}, &packet.Connect{ClientID: "s", CleanStart: true}, &packet.Connack{})
		if _, err := p.server.Send(&packet.Publish{Topic: "t", Props: property.Properties{TopicAlias: 1}}); err != ErrAlias {
			t.Fatalf("alias without a maximum: %v", err)
		}
		evs, _ := p.server.Send(&packet.Publish{Topic: "t"})
		if got := sentPublish(t, evs); got.Props.TopicAlias != 0 {
			t.Fatalf("automatic alias %d without a maximum", got.Props.TopicAlias)
		}
	})
}
