package broker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/auth/scram"
	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// authDelay is the delay against guessing in the tests: short, and long
// enough to be seen.
const authDelay = 150 * time.Millisecond

func authConfig(t *testing.T) broker.Config {
	return broker.Config{Passwords: testPasswords(t, "alice:wonderland", "bob:builder"), AuthDelay: authDelay}
}

func withUser(cn *packet.Connect, user, password string) *packet.Connect {
	cn.Username, cn.Password = user, []byte(password)
	return cn
}

// TestAuthPasswords: the CONNECT's user name and password against the
// password file, in both versions.
func TestAuthPasswords(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, authConfig(t))
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		bad, anonymous := packet.BadUserNameOrPassword, packet.NotAuthorized
		if v == packet.V311 {
			bad, anonymous = packet.RefusedBadUserNameOrPassword, packet.RefusedNotAuthorized
		}
		// A refusing CONNACK, then close: MQTT-3.1.4-2 in 5.0, MQTT-3.2.2-5
		// in 3.1.1 (where MQTT-3.1.4-2 is about takeover).
		name, refusal := versionName(v), "MQTT-3.1.4-2"
		if v == packet.V311 {
			refusal = "MQTT-3.2.2-5"
		}
		t.Run("good password/"+name, func(t *testing.T) {
			c := dial(t, addr, v, withUser(connect("alice-"+name), "alice", "wonderland"))
			subscribe(t, c, packet.Subscription{Filter: "pw/" + name, QoS: packet.QoS1})
			publish(t, c, "pw/"+name, packet.QoS1, false, "in")
			expect(t, c, "pw/"+name, "in", packet.QoS1)
		})
		t.Run(refusal+" wrong password: refused, then close/"+name, func(t *testing.T) {
			start := time.Now()
			refused(t, addr, v, withUser(connect("guess-"+name), "alice", "Wonderland"), bad)
			if waited := time.Since(start); waited < authDelay {
				t.Errorf("refused after %v, before the delay against guessing (%v)", waited, authDelay)
			}
		})
		t.Run(refusal+" unknown user/"+name, func(t *testing.T) {
			refused(t, addr, v, withUser(connect("carol-"+name), "carol", "wonderland"), bad)
		})
		t.Run(refusal+" another user's password/"+name, func(t *testing.T) {
			refused(t, addr, v, withUser(connect("bob-"+name), "bob", "wonderland"), bad)
		})
		t.Run(refusal+" user name without password/"+name, func(t *testing.T) {
			cn := connect("nopw-" + name)
			cn.Username = "alice"
			refused(t, addr, v, cn, bad)
		})
		t.Run(refusal+" anonymous refused/"+name, func(t *testing.T) {
			refused(t, addr, v, connect("anon-"+name), anonymous)
		})
	}
	t.Run("MQTT-3.1.4-2 password without user name/v5", func(t *testing.T) {
		cn := connect("pw-only")
		cn.Password = []byte("wonderland")
		refused(t, addr, packet.V5, cn, packet.BadUserNameOrPassword)
	})
}

// Config.AllowAnonymous lets clients without a user name in, and still
// checks the others.
func TestAuthAnonymousAllowed(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	cfg.AllowAnonymous = true
	addr := startBrokerConfig(t, cfg)
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		c := dial(t, addr, v, connect("anon-"+versionName(v)))
		subscribe(t, c, packet.Subscription{Filter: "x", QoS: packet.QoS0})
		refused(t, addr, v, withUser(connect("guess-"+versionName(v)), "alice", "x"), refusedCode(v, packet.BadUserNameOrPassword))
	}
}

func refusedCode(v packet.Version, r packet.ReasonCode) packet.ReasonCode {
	if v == packet.V5 {
		return r
	}
	switch r {
	case packet.BadUserNameOrPassword:
		return packet.RefusedBadUserNameOrPassword
	}
	return packet.RefusedNotAuthorized
}

// Refusals wait for their delay on timers and password checks on
// goroutines of their own, not on the server's workers (GOMAXPROCS of
// them on the event loop): with many clients guessing at once, a client
// with the right password is let in before any guesser is answered.
func TestAuthDelayHoldsNoWorker(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	cfg.AuthDelay = 1500 * time.Millisecond // far longer than the rest of the test takes; at most 3 s
	addr := startBrokerConfig(t, cfg)
	const guessers = 16
	answered := make(chan time.Time, guessers)
	var wg sync.WaitGroup
	for i := range guessers {
		r := dialRaw(t, addr)
		sendAs(r, packet.V5, withUser(connect("guesser-"+string(rune('a'+i))), "alice", "guess"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, 1)
			if _, err := r.nc.Read(b); err != nil || b[0] != 0x20 {
				answered <- time.Time{} // no CONNACK
				return
			}
			answered <- time.Now() // the CONNACK, after the delay
		}()
	}
	time.Sleep(100 * time.Millisecond) // every guess is read and its check done
	c := dial(t, addr, packet.V5, withUser(connect("alice-meanwhile"), "alice", "wonderland"))
	subscribe(t, c, packet.Subscription{Filter: "meanwhile", QoS: packet.QoS1})
	in := time.Now()
	wg.Wait()
	close(answered)
	for at := range answered {
		switch {
		case at.IsZero():
			t.Fatal("a guesser got no CONNACK")
		case at.Before(in):
			t.Fatal("a guesser was answered before the right password got in")
		}
	}
}

// scramConfig returns the Config of a v5 client that authenticates with
// SCRAM-SHA-256 as user with password.
func scramConfig(t *testing.T, addr, id, user, password string) client.Config {
	t.Helper()
	auth, err := scram.NewClient(user, password)
	if err != nil {
		t.Fatal(err)
	}
	cfg := brokertest.Config("tcp://"+addr, packet.V5, connect(id))
	cfg.Auth, cfg.EditConnect = auth, nil // EditConnect would replace the Authentication Method
	return cfg
}

// connectRefused connects with cfg and returns the CONNACK code that
// refused it.
func connectRefused(t *testing.T, cfg client.Config) packet.ReasonCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := brokertest.Connect(ctx, cfg)
	var refused *client.RefusedError
	if !errors.As(err, &refused) {
		if c != nil {
			c.Drop()
		}
		t.Fatalf("connect: %v, want a refusal", err)
	}
	return refused.Reason
}

// TestAuthSCRAM: v5 enhanced authentication with SCRAM-SHA-256 against
// the password file, by the importable client's Authenticator.
func TestAuthSCRAM(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, authConfig(t))

	t.Run("MQTT-4.12.0-2 the right password: AUTH 0x18, then CONNACK", func(t *testing.T) {
		c := brokertest.Dial(t, scramConfig(t, addr, "scram-alice", "alice", "wonderland"))
		if m := c.Connack().Props.AuthMethod; m != scram.Method {
			t.Errorf("CONNACK Authentication Method %q", m)
		}
		subscribe(t, c, packet.Subscription{Filter: "scram/#", QoS: packet.QoS2})
		publish(t, c, "scram/x", packet.QoS2, false, "in")
		expect(t, c, "scram/x", "in", packet.QoS2)
	})
	t.Run("MQTT-4.12.0-4 wrong password: 0x86, then close", func(t *testing.T) {
		start := time.Now()
		if r := connectRefused(t, scramConfig(t, addr, "scram-guess", "alice", "Wonderland")); r != packet.BadUserNameOrPassword {
			t.Fatalf("refused with %v, want 0x86", r)
		}
		if waited := time.Since(start); waited < authDelay {
			t.Errorf("refused after %v, before the delay against guessing", waited)
		}
	})
	t.Run("MQTT-4.12.0-4 unknown user: 0x86", func(t *testing.T) {
		if r := connectRefused(t, scramConfig(t, addr, "scram-carol", "carol", "x")); r != packet.BadUserNameOrPassword {
			t.Fatalf("refused with %v, want 0x86", r)
		}
	})
	t.Run("MQTT-4.12.0-1 another method: 0x8C, then close", func(t *testing.T) {
		cn := connect("other-method")
		cn.Props.AuthMethod, cn.Props.AuthData = "SCRAM-SHA-1", []byte("n,,n=alice,r=abc")
		refused(t, addr, packet.V5, cn, packet.BadAuthenticationMethod)
	})
	t.Run("MQTT-4.12.0-4 a malformed client-first-message: refused", func(t *testing.T) {
		cn := connect("malformed")
		cn.Props.AuthMethod, cn.Props.AuthData = scram.Method, []byte("not scram")
		refused(t, addr, packet.V5, cn, packet.NotAuthorized)
	})
}

// swappable is an Authenticator whose credentials a test changes between
// exchanges.
type swappable struct {
	mu sync.Mutex
	*scram.Client
}

func (s *swappable) set(t *testing.T, user, password string) {
	c, err := scram.NewClient(user, password)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.Client = c
	s.mu.Unlock()
}

func (s *swappable) current() *scram.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Client
}

func (s *swappable) Start() ([]byte, error)          { return s.current().Start() }
func (s *swappable) Answer(c []byte) ([]byte, error) { return s.current().Answer(c) }
func (s *swappable) Finish(d []byte) error           { return s.current().Finish(d) }

// Re-authentication (section 4.12.1): AUTH 0x19 with SCRAM-SHA-256 again,
// as the same user; a failure ends the connection with DISCONNECT 0x87.
func TestAuthReauthenticate(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, authConfig(t))
	auth := &swappable{}
	dial := func(id string) *brokertest.Client {
		auth.set(t, "alice", "wonderland")
		cfg := brokertest.Config("tcp://"+addr, packet.V5, connect(id))
		cfg.Auth, cfg.EditConnect = auth, nil
		return brokertest.Dial(t, cfg)
	}

	t.Run("MQTT-4.12.1-1 re-authentication succeeds, the connection goes on", func(t *testing.T) {
		c := dial("reauth-ok")
		subscribe(t, c, packet.Subscription{Filter: "reauth", QoS: packet.QoS1})
		for range 2 {
			if err := c.Reauthenticate(testContext(t)); err != nil {
				t.Fatalf("Reauthenticate: %v", err)
			}
		}
		publish(t, c, "reauth", packet.QoS1, false, "after")
		expect(t, c, "reauth", "after", packet.QoS1)
	})
	for _, c := range []struct{ name, user, password string }{
		{"wrong password", "alice", "Wonderland"},
		{"another user, with the right password", "bob", "builder"},
	} {
		t.Run("MQTT-4.12.1-2 "+c.name+": DISCONNECT 0x87, then close", func(t *testing.T) {
			cl := dial("reauth-" + c.user)
			auth.set(t, c.user, c.password)
			if err := cl.Reauthenticate(testContext(t)); err == nil {
				t.Fatal("re-authentication accepted")
			}
			<-cl.Done()
			if r, ok := disconnectedWith(cl); !ok || r != packet.NotAuthorized {
				t.Fatalf("connection ended with %v (DISCONNECT %v), want DISCONNECT 0x87", cl.Err(), ok)
			}
		})
	}
}

// The SCRAM exchange reads the client while the CONNACK waits, and the
// core holds what the client sends early (MQTT-3.1.4-6): a PUBLISH sent
// right after the client-final-message is handled after the CONNACK.
func TestAuthSCRAMRaw(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, authConfig(t))
	r, sc, challenge := startRawSCRAM(t, addr, "raw-scram")
	final, err := sc.Answer(challenge.Props.AuthData)
	if err != nil {
		t.Fatal(err)
	}
	sendAs(r, packet.V5, &packet.Auth{Reason: packet.ContinueAuthentication,
		Props: property.Properties{AuthMethod: scram.Method, AuthData: final}},
		&packet.Publish{Topic: "early", QoS: packet.QoS1, PacketID: 1, Payload: []byte("x")})
	ack := readType[*packet.Connack](r, packet.V5)
	if ack.Reason != packet.Success || ack.Props.AuthMethod != scram.Method {
		t.Fatalf("CONNACK %v method %q", ack.Reason, ack.Props.AuthMethod)
	}
	if err := sc.Finish(ack.Props.AuthData); err != nil {
		t.Fatalf("the broker's signature: %v", err)
	}
	if p := readType[*packet.Puback](r, packet.V5); p.PacketID != 1 {
		t.Fatalf("PUBACK %d", p.PacketID)
	}
}

func versionName(v packet.Version) string {
	if v == packet.V5 {
		return "v5"
	}
	return "3.1.1"
}

// A client that starts SCRAM-SHA-256 and does not answer the challenge is
// refused (0x87) once Config.ConnectTimeout has passed, not held open.
func TestAuthSCRAMTimeout(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	cfg.ConnectTimeout = 200 * time.Millisecond
	addr := startBrokerConfig(t, cfg)
	r, _, _ := startRawSCRAM(t, addr, "silent")
	if ack := readType[*packet.Connack](r, packet.V5); ack.Reason != packet.NotAuthorized {
		t.Fatalf("CONNACK %v, want 0x87", ack.Reason)
	}
	if p := readAs(r, packet.V5); p != nil {
		t.Fatalf("got %T after the refusal, want the end", p)
	}
}

// startRawSCRAM sends a raw client's CONNECT with alice's
// client-first-message, as client id, and returns the broker's challenge
// (AUTH 0x18) with the client and its SCRAM side.
func startRawSCRAM(t *testing.T, addr, id string) (*raw, *scram.Client, *packet.Auth) {
	t.Helper()
	sc, err := scram.NewClient("alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	first, err := sc.Start()
	if err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, addr)
	cn := connect(id)
	cn.Props.AuthMethod, cn.Props.AuthData = scram.Method, first
	sendAs(r, packet.V5, cn)
	challenge := readType[*packet.Auth](r, packet.V5)
	if challenge.Reason != packet.ContinueAuthentication || challenge.Props.AuthMethod != scram.Method {
		t.Fatalf("AUTH %v method %q, want 0x18 %s", challenge.Reason, challenge.Props.AuthMethod, scram.Method)
	}
	return r, sc, challenge
}
