package scram_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/auth/scram"
	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// broker is the server side of SCRAM-SHA-256 on a core server Connection,
// reached by package client through a net.Pipe (it is the client's
// Dialer): it defers the CONNACK for the AUTH exchange, and serves
// re-authentication (AUTH 0x19). impostor makes it skip the check and
// accept with the data it returns.
type broker struct {
	t        *testing.T // nil in the examples
	lookup   scram.Lookup
	impostor func(clientFirst []byte) []byte
	forge    bool // the re-authentication's final data is forged
	// challenge, if set, replaces the server-first-message.
	challenge func(clientFirst []byte) []byte

	served sync.WaitGroup // one per connection, done when it has ended
	mu     sync.Mutex
	conns  []net.Conn        // the broker's ends, in dial order
	got    []*packet.Connack // the CONNACKs sent
	disc   []*packet.Disconnect
}

func (b *broker) Dial(_ context.Context, _ *url.URL) (net.Conn, error) {
	cc, sc := net.Pipe()
	b.mu.Lock()
	b.conns = append(b.conns, sc)
	b.mu.Unlock()
	b.served.Add(1)
	go b.serve(sc)
	return cc, nil
}

func (b *broker) serve(conn net.Conn) {
	defer b.served.Done()
	out := make(chan []byte, 64)
	go func() { // a pipe blocks: never write from the handler
		for p := range out {
			conn.Write(p)
		}
		conn.Close()
	}()
	var ex *scram.Server // the exchange in progress
	var s *mqtt.Connection[uint16]
	auth := func(r packet.ReasonCode, data []byte) *packet.Auth {
		return &packet.Auth{Reason: r, Props: property.Properties{AuthMethod: scram.Method, AuthData: data}}
	}
	send := func(p packet.Packet) {
		if ack, ok := p.(*packet.Connack); ok {
			b.mu.Lock()
			b.got = append(b.got, ack)
			b.mu.Unlock()
		}
		if err := s.Send(p); err != nil && b.t != nil {
			b.t.Errorf("broker: Send(%v): %v", p, err)
		}
	}
	s = mqtt.NewServer(mqtt.Config{}, func(e mqtt.Event[uint16]) {
		switch e.Kind {
		case mqtt.EventSend:
			out <- append([]byte(nil), e.Bytes...)
		case mqtt.EventClose:
			close(out)
		case mqtt.EventPacket:
			switch p := e.Packet.(type) {
			case *packet.Connect:
				if p.Props.AuthMethod != scram.Method {
					send(&packet.Connack{Reason: packet.BadAuthenticationMethod}) // MQTT-4.12.0-1
					return
				}
				if b.impostor != nil {
					send(&packet.Connack{Props: property.Properties{AuthMethod: scram.Method, AuthData: b.impostor(p.Props.AuthData)}})
					return
				}
				ex = scram.NewServer(b.lookup)
				if first, err := ex.Challenge(p.Props.AuthData); err != nil {
					send(&packet.Connack{Reason: scram.Reason(err)}) // MQTT-4.12.0-4
				} else if b.challenge != nil {
					send(auth(packet.ContinueAuthentication, b.challenge(p.Props.AuthData)))
				} else {
					send(auth(packet.ContinueAuthentication, first)) // MQTT-4.12.0-2
				}
			case *packet.Auth:
				connecting := s.State() == mqtt.StateConnecting
				if p.Reason == packet.ReAuthenticate { // MQTT-4.12.1-1
					ex = scram.NewServer(b.lookup)
					if first, err := ex.Challenge(p.Props.AuthData); err != nil {
						send(&packet.Disconnect{Reason: scram.DisconnectReason(err)})
					} else {
						send(auth(packet.ContinueAuthentication, first))
					}
					return
				}
				final, err := ex.Verify(p.Props.AuthData)
				switch {
				case err != nil && connecting:
					send(&packet.Connack{Reason: scram.Reason(err)}) // MQTT-4.12.0-4
				case err != nil:
					send(&packet.Disconnect{Reason: scram.DisconnectReason(err)}) // MQTT-4.12.1-2
				case connecting:
					send(&packet.Connack{Props: property.Properties{AuthMethod: scram.Method, AuthData: final}})
				case b.forge:
					send(auth(packet.Success, []byte("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")))
				default:
					send(auth(packet.Success, final))
				}
			case *packet.Disconnect:
				b.mu.Lock()
				b.disc = append(b.disc, p.Clone())
				b.mu.Unlock()
			}
		}
	})
	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			s.Closed()
			return
		}
		s.Recv(buf[:n])
	}
}

// users is a password file: user names and their credentials.
type users struct {
	mu    sync.Mutex
	creds map[string]scram.Credentials
}

func newUsers(t *testing.T, passwords map[string]string) *users {
	u := &users{creds: map[string]scram.Credentials{}}
	for name, p := range passwords {
		u.set(t, name, p)
	}
	return u
}

// set changes a password.
func (u *users) set(t *testing.T, name, password string) {
	c, err := scram.NewCredentials(password, 0)
	if err != nil {
		t.Fatal(err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.creds[name] = c
}

// lookup is a scram.Lookup.
func (u *users) lookup(name string) (scram.Credentials, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.creds[name]
	if !ok {
		return c, scram.ErrUnknownUser
	}
	return c, nil
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, b *broker, user, password string, edit func(*client.Config)) (*client.Client, error) {
	t.Helper()
	a, err := scram.NewClient(user, password)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	cfg := client.Config{Servers: []string{"tcp://scram.test"}, ClientID: "c1", Dialer: b, Auth: a, NoReconnect: true}
	if edit != nil {
		edit(&cfg)
	}
	c, err := client.Connect(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close(ctx) })
	}
	return c, err
}

func TestClientEndToEnd(t *testing.T) {
	u := newUsers(t, map[string]string{"user": "pencil"})
	lookup := u.lookup
	t.Run("MQTT-4.12.0-2/MQTT-4.12.0-3/success", func(t *testing.T) {
		b := &broker{t: t, lookup: lookup}
		c, err := connect(t, b, "user", "pencil", nil)
		if err != nil {
			t.Fatal(err)
		}
		// MQTT-4.12.0-5: the CONNACK names the method; the Client checked
		// its server-final-message.
		if ack := c.Connack(); ack.Props.AuthMethod != scram.Method || len(ack.Props.AuthData) == 0 {
			t.Fatalf("CONNACK %+v", ack.Props)
		}
		if err := c.Publish(testContext(t), client.Message{Topic: "t", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a reconnection runs a new exchange", func(t *testing.T) {
		b := &broker{t: t, lookup: lookup}
		up := make(chan bool, 1)
		_, err := connect(t, b, "user", "pencil", func(cfg *client.Config) {
			cfg.NoReconnect, cfg.MinRetryDelay = false, time.Millisecond
			cfg.OnConnectionUp = func(bool) { up <- true }
		})
		if err != nil {
			t.Fatal(err)
		}
		b.mu.Lock()
		b.conns[0].Close()
		b.mu.Unlock()
		<-up
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.got) != 2 || b.got[1].Reason != packet.Success || string(b.got[0].Props.AuthData) == string(b.got[1].Props.AuthData) {
			t.Fatalf("CONNACKs %v", b.got)
		}
	})
	t.Run("MQTT-4.12.0-4/wrong password: CONNACK 0x86", func(t *testing.T) {
		_, err := connect(t, &broker{t: t, lookup: lookup}, "user", "pencil!", nil)
		var re *client.RefusedError
		if !errors.As(err, &re) || re.Reason != packet.BadUserNameOrPassword {
			t.Fatalf("%v", err)
		}
	})
	t.Run("MQTT-4.12.0-4/unknown user: CONNACK 0x86 too", func(t *testing.T) {
		_, err := connect(t, &broker{t: t, lookup: lookup}, "mallory", "pencil", nil)
		var re *client.RefusedError
		if !errors.As(err, &re) || re.Reason != packet.BadUserNameOrPassword {
			t.Fatalf("%v", err)
		}
	})
	// A server that does not know the password cannot sign: the Client's
	// Finish refuses it, Connect fails, and the Client sends DISCONNECT
	// 0x87 rather than consider itself connected.
	impostors := map[string]func([]byte) []byte{
		"a server that skips the challenge": func([]byte) []byte { return nil },
		"a server with a forged signature": func([]byte) []byte {
			return []byte("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
		},
	}
	for name, impostor := range impostors {
		t.Run(name, func(t *testing.T) {
			b := &broker{t: t, lookup: lookup, impostor: impostor}
			c, err := connect(t, b, "user", "pencil", nil)
			if err == nil || c != nil || !errors.Is(err, scram.ErrState) && !errors.Is(err, scram.ErrServerSignature) {
				t.Fatalf("connected to an impostor: %v", err)
			}
			b.served.Wait()
			b.mu.Lock()
			defer b.mu.Unlock()
			if len(b.disc) != 1 || b.disc[0].Reason != packet.NotAuthorized {
				t.Fatalf("DISCONNECT %v", b.disc)
			}
		})
	}

	t.Run("MQTT-4.12.1-1/re-authentication", func(t *testing.T) {
		b := &broker{t: t, lookup: lookup}
		c, err := connect(t, b, "user", "pencil", nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := testContext(t)
		if err := c.Reauthenticate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Publish(ctx, client.Message{Topic: "t", QoS: 1}); err != nil {
			t.Fatalf("after re-authentication: %v", err)
		}
	})
	t.Run("MQTT-4.12.1-2/re-authentication with a changed password: DISCONNECT 0x87", func(t *testing.T) {
		u := newUsers(t, map[string]string{"user": "pencil"})
		c, err := connect(t, &broker{t: t, lookup: u.lookup}, "user", "pencil", nil)
		if err != nil {
			t.Fatal(err)
		}
		u.set(t, "user", "new pencil")
		err = c.Reauthenticate(testContext(t))
		var lost *client.ConnectionLostError
		if !errors.As(err, &lost) || lost.Reason != packet.NotAuthorized {
			t.Fatalf("%v", err)
		}
		<-c.Done()
	})
	t.Run("MQTT-4.12.1-2/re-authentication by an impostor: the client disconnects with 0x87", func(t *testing.T) {
		b := &broker{t: t, lookup: lookup, forge: true}
		c, err := connect(t, b, "user", "pencil", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Reauthenticate(testContext(t)); !errors.Is(err, scram.ErrServerSignature) {
			t.Fatalf("%v", err)
		}
		<-c.Done()
		b.served.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.disc) != 1 || b.disc[0].Reason != packet.NotAuthorized {
			t.Fatalf("DISCONNECT %v", b.disc)
		}
	})
	// A hostile server-first-message: the client's Answer refuses it
	// before any work, and Connect fails with its error.
	challenges := map[string]struct {
		first func(nonce string) string
		want  error
	}{
		"a nonce that does not extend the client's": {func(string) string { return "r=other,s=c2FsdA==,i=4096" }, scram.ErrNonce},
		"ten million iterations":                    {func(n string) string { return "r=" + n + "x,s=c2FsdA==,i=10000000" }, scram.ErrIterations},
		"a mandatory extension":                     {func(n string) string { return "m=x,r=" + n + "x,s=c2FsdA==,i=4096" }, scram.ErrUnsupported},
	}
	for name, tc := range challenges {
		t.Run(name, func(t *testing.T) {
			b := &broker{t: t, lookup: lookup, challenge: func(clientFirst []byte) []byte {
				_, nonce, _ := strings.Cut(string(clientFirst), ",r=")
				return []byte(tc.first(nonce))
			}}
			if c, err := connect(t, b, "user", "pencil", nil); c != nil || !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
}
