package mqtt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Enhanced authentication (section 4.12): the AUTH exchange before CONNACK
// and the re-authentication after it, carried by the Connection between
// two applications, and the rules it enforces on both.

// A SCRAM-like challenge/response: the client proves it knows the password
// by an HMAC over both nonces, the server proves it too, and neither sends
// the password. The Connection carries the steps and enforces the rules;
// the test plays both applications.
func TestEnhancedAuthenticationExchange(t *testing.T) {
	const method = "SCRAM-SHA-256"
	password := []byte("correct horse")
	proof := func(who string, clientNonce, serverNonce []byte) []byte {
		m := hmac.New(sha256.New, password)
		m.Write([]byte(who))
		m.Write(clientNonce)
		m.Write(serverNonce)
		return m.Sum(nil)
	}
	clientNonce, serverNonce := []byte("c-nonce-1"), []byte("s-nonce-9")
	authWith := func(r packet.ReasonCode, data []byte) *packet.Auth {
		return &packet.Auth{Reason: r, Props: property.Properties{AuthMethod: method, AuthData: data}}
	}

	p := newPair(t, Config{}, Config{})
	p.send(RoleClient, &packet.Connect{ClientID: "a", CleanStart: true,
		Props: property.Properties{AuthMethod: method, AuthData: clientNonce}})
	connect := p.packets(RoleServer)[0].(*packet.Connect)
	if !bytes.Equal(connect.Props.AuthData, clientNonce) {
		t.Fatal("server did not get the client's nonce")
	}
	// MQTT-3.1.2-33: nothing but AUTH or DISCONNECT before CONNACK.
	if _, err := p.client.Send(&packet.Publish{Topic: "t"}); err != ErrState {
		t.Fatalf("MQTT-3.1.2-33: PUBLISH during authentication: %v", err)
	}
	// MQTT-4.12.0-2: the server's challenge is AUTH 0x18.
	p.send(RoleServer, authWith(packet.ContinueAuthentication, serverNonce))
	challenge := p.packets(RoleClient)[0].(*packet.Auth)
	if challenge.Reason != packet.ContinueAuthentication {
		t.Fatalf("MQTT-4.12.0-2: challenge with reason %v", challenge.Reason)
	}
	if _, err := p.client.Send(authWith(packet.Success, nil)); err != ErrAuth {
		t.Fatalf("MQTT-4.12.0-3: client answered a challenge with 0x00: %v", err)
	}
	// MQTT-4.12.0-3: the client answers with AUTH 0x18.
	p.send(RoleClient, authWith(packet.ContinueAuthentication, proof("client", clientNonce, challenge.Props.AuthData)))
	response := p.packets(RoleServer)[0].(*packet.Auth)
	if !hmac.Equal(response.Props.AuthData, proof("client", clientNonce, serverNonce)) {
		t.Fatal("client proof does not verify")
	}
	// MQTT-4.12.0-5: a successful CONNACK names the same method.
	if _, err := p.server.Send(&packet.Connack{}); err != ErrAuth {
		t.Fatalf("MQTT-4.12.0-5: CONNACK without the method: %v", err)
	}
	p.send(RoleServer, &packet.Connack{Props: property.Properties{AuthMethod: method,
		AuthData: proof("server", clientNonce, serverNonce)}})
	connack := p.packets(RoleClient)[0].(*packet.Connack)
	if !hmac.Equal(connack.Props.AuthData, proof("server", clientNonce, serverNonce)) {
		t.Fatal("server proof does not verify")
	}
	if p.client.State() != StateConnected {
		t.Fatal("client not connected")
	}

	// MQTT-4.12.1-1: only the client starts a re-authentication, with 0x19.
	if _, err := p.server.Send(authWith(packet.ReAuthenticate, nil)); err != ErrAuth {
		t.Fatalf("MQTT-4.12.1-1: server starting re-authentication: %v", err)
	}
	p.send(RoleClient, authWith(packet.ReAuthenticate, []byte("c-nonce-2")))
	p.send(RoleServer, authWith(packet.ContinueAuthentication, []byte("s-nonce-10")))
	p.send(RoleClient, authWith(packet.ContinueAuthentication, []byte("proof-2")))
	p.send(RoleServer, authWith(packet.Success, nil))
	if n := len(p.packets(RoleServer)) + len(p.packets(RoleClient)); n != 4 || p.client.auth.reauth || p.server.auth.reauth {
		t.Fatalf("re-authentication: %d packets, in progress %v/%v", n, p.client.auth.reauth, p.server.auth.reauth)
	}
	// The connection still works.
	p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1})
	if got := p.packets(RoleServer); len(got) != 1 {
		t.Fatalf("after re-authentication: %v", got)
	}
}

func TestAuthenticationRules(t *testing.T) {
	authWith := func(method string, r packet.ReasonCode) *packet.Auth {
		return &packet.Auth{Reason: r, Props: property.Properties{AuthMethod: method}}
	}
	t.Run("MQTT-4.12.0-7/no AUTH without a method", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.connect(&packet.Connect{ClientID: "a", CleanStart: true}, &packet.Connack{})
		if _, err := p.client.Send(authWith("x", packet.ReAuthenticate)); err != ErrAuth {
			t.Fatalf("client: %v", err)
		}
		// A server receiving one disconnects with a protocol error.
		evs := p.server.Recv(wire(t, packet.V5, authWith("x", packet.ReAuthenticate)))
		if code := disconnectCode(evs); code != packet.ProtocolError {
			t.Fatalf("server answered with %v", code)
		}
	})
	t.Run("MQTT-4.12.0-5/method changed during the exchange", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "a", CleanStart: true, Props: property.Properties{AuthMethod: "A"}})
		if _, err := p.server.Send(authWith("B", packet.ContinueAuthentication)); err != ErrAuth {
			t.Fatalf("server AUTH with another method: %v", err)
		}
		// The client switching method gets CONNACK 0x8C Bad authentication method.
		evs := p.server.Recv(wire(t, packet.V5, authWith("B", packet.ContinueAuthentication)))
		var code packet.ReasonCode
		for _, e := range evs {
			if e.Kind == EventSend {
				code = e.Packet.(*packet.Connack).Reason
			}
		}
		if code != packet.BadAuthenticationMethod || indexOf(evs, EventClose) < 0 {
			t.Fatalf("server answered %v, events %v", code, evs)
		}
	})
	t.Run("MQTT-4.12.0-6/CONNACK names a method the client did not use", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "a", CleanStart: true})
		if _, err := p.server.Send(&packet.Connack{Props: property.Properties{AuthMethod: "A"}}); err != ErrAuth {
			t.Fatalf("%v", err)
		}
	})
}

// TestAuthStatements: how a failed authentication ends, checked between a
// client and a server.
func TestAuthStatements(t *testing.T) {
	v5 := packet.V5

	t.Run("MQTT-4.12.0-1/an unsupported Authentication Method: CONNACK 0x8C or 0x87, then close", func(t *testing.T) {
		for _, code := range []packet.ReasonCode{packet.BadAuthenticationMethod, packet.NotAuthorized} {
			p := newPair(t, Config{}, Config{})
			p.send(RoleClient, &packet.Connect{ClientID: "a", CleanStart: true, Props: property.Properties{AuthMethod: "UNKNOWN-1"}})
			evs, err := p.server.Send(&packet.Connack{Reason: code})
			acks := sentOf[*packet.Connack](t, v5, evs)
			if err != nil || len(acks) != 1 || acks[0].Reason != code || indexOf(evs, EventClose) < indexOf(evs, EventSend) {
				t.Fatalf("CONNACK %v: %v, %v", code, evs, err)
			}
			p.run(RoleServer, evs)
			if !p.closed[RoleClient] || p.server.State() != StateDisconnected {
				t.Fatalf("CONNACK %v: client closed %v, server %v", code, p.closed[RoleClient], p.server.State())
			}
		}
	})

	t.Run("MQTT-4.12.0-4/the server rejects the authentication mid-exchange and closes", func(t *testing.T) {
		auth := func(r packet.ReasonCode, method string) *packet.Auth {
			return &packet.Auth{Reason: r, Props: property.Properties{AuthMethod: method}}
		}
		p := newPair(t, Config{}, Config{})
		p.send(RoleClient, &packet.Connect{ClientID: "a", CleanStart: true, Props: property.Properties{AuthMethod: "m"}})
		p.send(RoleServer, auth(packet.ContinueAuthentication, "m"))
		p.send(RoleClient, auth(packet.ContinueAuthentication, "m"))
		evs, err := p.server.Send(&packet.Connack{Reason: packet.NotAuthorized})
		if acks := sentOf[*packet.Connack](t, v5, evs); err != nil || len(acks) != 1 || count(evs, EventClose) != 1 {
			t.Fatalf("%v, %v", evs, err)
		}
		// The Connection itself rejects an AUTH that breaks the exchange.
		s := newTestServer[uint16](Config{})
		s.Recv(wire(t, v5, &packet.Connect{ClientID: "a", CleanStart: true, Props: property.Properties{AuthMethod: "m"}}))
		if _, err := s.Send(auth(packet.ContinueAuthentication, "m")); err != nil {
			t.Fatal(err)
		}
		evs = s.Recv(wire(t, v5, auth(packet.ContinueAuthentication, "other")))
		acks := sentOf[*packet.Connack](t, v5, evs)
		if len(acks) != 1 || acks[0].Reason != packet.BadAuthenticationMethod || count(evs, EventClose) != 1 || len(received(evs)) != 0 {
			t.Fatalf("AUTH with another method: %v", evs)
		}
	})

	t.Run("MQTT-4.12.1-2/a failed re-authentication closes the connection", func(t *testing.T) {
		auth := func(r packet.ReasonCode, method string) *packet.Auth {
			return &packet.Auth{Reason: r, Props: property.Properties{AuthMethod: method}}
		}
		authed := func(t *testing.T) *pair {
			p := newPair(t, Config{}, Config{})
			p.connect(&packet.Connect{ClientID: "a", CleanStart: true, Props: property.Properties{AuthMethod: "m"}},
				&packet.Connack{Props: property.Properties{AuthMethod: "m"}})
			return p
		}
		// The server application refuses it with DISCONNECT.
		p := authed(t)
		p.send(RoleClient, auth(packet.ReAuthenticate, "m"))
		p.send(RoleServer, &packet.Disconnect{Reason: packet.NotAuthorized})
		if !p.closed[RoleServer] || !p.closed[RoleClient] {
			t.Fatalf("closed: %v", p.closed)
		}
		// The Connection refuses an AUTH that breaks the re-authentication,
		// on either side, with DISCONNECT 0x82 (DISCONNECT has no 0x8C).
		q := authed(t)
		wantClose(t, v5, q.server.Recv(wire(t, v5, auth(packet.ReAuthenticate, "other"))), packet.ProtocolError)
		r := authed(t)
		r.send(RoleClient, auth(packet.ReAuthenticate, "m"))
		wantClose(t, v5, r.client.Recv(wire(t, v5, auth(packet.ContinueAuthentication, "other"))), packet.ProtocolError)
	})
}
