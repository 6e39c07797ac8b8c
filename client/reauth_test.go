package client

import (
	"errors"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// TestReauthenticate: AUTH 0x19 with the Authenticator's Start data, its
// answer to the server's challenge, and Finish on the AUTH 0x00 Success;
// a Finish that refuses the server ends the connection with DISCONNECT
// 0x87; without Config.Auth there is nothing to start.
func TestReauthenticate(t *testing.T) {
	// server's CONNACK verifies; its re-authentication's final data is
	// final.
	server := func(final string) *testServer {
		return newTestServer(t, func(ts *testServer, p packet.Packet) {
			props := func(data string) property.Properties {
				return property.Properties{AuthMethod: "TEST-1", AuthData: []byte(data)}
			}
			switch p := p.(type) {
			case *packet.Connect:
				_ = ts.s.Send(&packet.Connack{Props: props("ok")})
			case *packet.Auth:
				switch p.Reason {
				case packet.ReAuthenticate:
					_ = ts.s.Send(&packet.Auth{Reason: packet.ContinueAuthentication, Props: props("nonce-2")})
				case packet.ContinueAuthentication:
					_ = ts.s.Send(&packet.Auth{Reason: packet.Success, Props: props(final)})
				}
			default:
				accept(ts, p)
			}
		})
	}
	ctx := testContext(t)
	ts := server("ok")
	cfg := pipeConfig(ts)
	cfg.Auth = testAuth{final: "ok"}
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := c.Reauthenticate(ctx); err != nil {
		t.Fatalf("MQTT-4.12.1-1: %v", err)
	}
	ts.next(packet.TypeConnect)
	if a := ts.next(packet.TypeAuth).(*packet.Auth); a.Reason != packet.ReAuthenticate || string(a.Props.AuthData) != "hello" {
		t.Fatalf("MQTT-4.12.1-1: the re-authentication starts with %v %q", a.Reason, a.Props.AuthData)
	}
	if a := ts.next(packet.TypeAuth).(*packet.Auth); string(a.Props.AuthData) != "answer:nonce-2" {
		t.Fatalf("answer %q", a.Props.AuthData)
	}

	bad := server("forged")
	cfg = pipeConfig(bad)
	cfg.Auth, cfg.NoReconnect = testAuth{final: "ok"}, true
	c2, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Reauthenticate(ctx); err == nil {
		t.Fatal("MQTT-4.12.1-2: a server that Finish refuses was accepted")
	}
	if d := bad.next(packet.TypeDisconnect).(*packet.Disconnect); d.Reason != packet.NotAuthorized {
		t.Fatalf("MQTT-4.12.1-2: DISCONNECT %v", d.Reason)
	}
	<-c2.Done()

	plain, err := Connect(ctx, pipeConfig(newTestServer(t, accept)))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctx)
	if err := plain.Reauthenticate(ctx); !errors.Is(err, ErrReauth) {
		t.Fatalf("without Config.Auth: %v", err)
	}
}
