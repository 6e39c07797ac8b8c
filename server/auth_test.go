package server_test

import (
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/mqttcore/mqtt/server"
)

// authenticator is a Handler that runs a one-round enhanced
// authentication: a challenge, the answer "let me in", and the CONNACK;
// it records the topics published to it.
type authenticator struct {
	got chan string
}

func (a *authenticator) OnConnect(c *server.Conn, p *packet.Connect) packet.Connack {
	c.DeferConnack()
	c.ReadAuth()
	if err := c.Core().Send(&packet.Auth{Reason: packet.ContinueAuthentication,
		Props: property.Properties{AuthMethod: p.Props.AuthMethod, AuthData: []byte("who goes there?")}}); err != nil {
		panic(err)
	}
	return packet.Connack{}
}

func (a *authenticator) OnPacket(c *server.Conn, p packet.Packet) {
	switch p := p.(type) {
	case *packet.Auth:
		ack := packet.Connack{Props: property.Properties{AuthMethod: "TEST", AuthData: []byte("welcome")}}
		if string(p.Props.AuthData) != "let me in" {
			ack = packet.Connack{Reason: packet.NotAuthorized}
		}
		c.Connack(ack)
	case *packet.Publish:
		a.got <- strings.Clone(p.Topic)
	}
}

func (a *authenticator) OnClose(*server.Conn, error) {}

// ReadAuth: the client is read while the CONNACK waits, the AUTH packets
// reach OnPacket, and what else the client sent meanwhile is handled
// after the CONNACK (MQTT-3.1.4-6: not before).
func TestReadAuth(t *testing.T) {
	h := &authenticator{got: make(chan string, 10)}
	_, addr := start(t, server.Config{Handler: h})
	for _, answer := range []string{"let me in", "guess"} {
		nc := dialRaw(t, addr)
		rc := &raw{Conn: nc, r: newReader(nc), v: packet.V5}
		cn := &packet.Connect{ClientID: "auth", CleanStart: true}
		cn.Props.AuthMethod = "TEST"
		rc.send(t, cn)
		if p, ok := rc.next(t).(*packet.Auth); !ok || p.Reason != packet.ContinueAuthentication {
			t.Fatalf("got %v, want AUTH 0x18", p)
		}
		b, _ := (&packet.Auth{Reason: packet.ContinueAuthentication,
			Props: property.Properties{AuthMethod: "TEST", AuthData: []byte(answer)}}).AppendTo(nil, packet.V5)
		b, _ = (&packet.Publish{Topic: "after/" + answer}).AppendTo(b, packet.V5)
		if _, err := nc.Write(b); err != nil {
			t.Fatal(err)
		}
		ack, ok := rc.next(t).(*packet.Connack)
		if !ok {
			t.Fatalf("got %v, want CONNACK", ack)
		}
		if answer != "let me in" {
			if ack.Reason != packet.NotAuthorized {
				t.Fatalf("CONNACK %v, want 0x87", ack.Reason)
			}
			if p := rc.next(t); p != nil {
				t.Fatalf("got %v after a refusal, want the end", p)
			}
			select {
			case topic := <-h.got:
				t.Fatalf("PUBLISH %q of a refused client handled", topic)
			default:
			}
			continue
		}
		if ack.Reason != 0 || string(ack.Props.AuthData) != "welcome" {
			t.Fatalf("CONNACK %v %q", ack.Reason, ack.Props.AuthData)
		}
		if topic := <-h.got; topic != "after/let me in" {
			t.Fatalf("PUBLISH %q", topic)
		}
	}
}
