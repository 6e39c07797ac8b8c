package broker

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/mqttcore/mqtt/auth/scram"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Authentication (Config.Passwords) and the identity the ACL is applied
// to (Config.ACL). A client is authenticated by one of:
//
//   - the User Name and Password of its CONNECT, against the bcrypt hash
//     of the password file: the comparison (tens of milliseconds) runs on
//     a goroutine of its own, at most checkSlots at a time, with the
//     CONNACK deferred (server.Conn.DeferConnack), so that no worker of
//     the server waits for it;
//   - v5 enhanced authentication with the method SCRAM-SHA-256 (section
//     4.12; package auth/scram): the CONNECT's Authentication Data is the
//     client-first-message, the broker answers with AUTH 0x18, the
//     client's AUTH 0x18 carries its proof, and the CONNACK the
//     server-final-message. The connection goes on being read meanwhile
//     (server.Conn.ReadAuth). A client re-authenticates with AUTH 0x19
//     (section 4.12.1), as the same user, and the exchange ends with
//     AUTH 0x00.
//
// A refusal for bad credentials waits Config.AuthDelay, and up to as much
// again at random, before the CONNACK (0x86 Bad User Name or Password;
// 4 in 3.1.1) is sent, on a timer: it slows down guessing without holding
// anything but the connection. Another Authentication Method is refused at
// once with 0x8C Bad authentication method (MQTT-4.12.0-1), a client
// without a user name with 0x87 Not authorized (5 in 3.1.1) unless
// Config.AllowAnonymous.

// authState is what a connection keeps of its authentication and
// authorisation; made by authenticate when the broker has Passwords or an
// ACL.
type authState struct {
	// timer wakes the connection (wakeAuthLate) when a SCRAM-SHA-256
	// exchange before CONNACK has taken Config.ConnectTimeout: OnWake
	// refuses the client if the exchange is still under way. The
	// goroutine that checked a password wakes it with wakeAuthDone once
	// the client is authenticated: OnWake goes on with the CONNECT.
	timer *time.Timer

	user       string
	hasUser    bool
	authorized bool         // the client is connected: the ACL applies to it
	acl        *ACL         // the ACL perms was taken from (reload.go)
	perms      *Permissions // acl's rules for the client; nil: no ACL

	// SCRAM-SHA-256: the exchange under way, if any, and the method and
	// server-final-message for the CONNACK.
	scram  *scram.Server
	method string
	final  []byte
}

// checkSlots bounds the password checks (bcrypt) running at once; the
// others wait for a slot on their own goroutines.
const checkSlots = 4

// defaultAuthDelay is Config.AuthDelay's default.
const defaultAuthDelay = time.Second

// authenticate authenticates the client of a CONNECT that check accepted.
// It returns the CONNACK code to refuse it with at once, or wait when the
// answer comes later (the CONNACK is deferred: authenticated accepts the
// client, refuseLater refuses it), or neither: the client is
// authenticated (or the broker authenticates nobody).
func (c *conn) authenticate(p *packet.Connect) (refuse packet.ReasonCode, wait bool) {
	passwords, acl := c.b.passwords(), c.b.acl()
	if p.Props.AuthMethod != "" { // v5 only: the decoder allows it nowhere else
		if p.Props.AuthMethod != scram.Method || passwords == nil {
			return packet.BadAuthenticationMethod, false // MQTT-4.12.0-1
		}
		c.startSCRAM(p, passwords)
		return 0, true
	}
	if passwords == nil && acl == nil {
		return 0, false
	}
	a := &authState{user: strings.Clone(p.Username), hasUser: p.HasUsername()}
	c.extra().auth = a
	switch {
	case passwords == nil:
		return 0, false // the ACL applies to the user name the client gave
	case !a.hasUser && p.Password == nil:
		if c.b.cfg.AllowAnonymous {
			return 0, false
		}
		c.logf("no user name: not authorized")
		return refusal(c.version, packet.NotAuthorized), false
	}
	password := bytes.Clone(p.Password) // p aliases the read buffer
	c.sc.DeferConnack()
	go c.checkPassword(a, passwords, password)
	return 0, true
}

// checkPassword checks the client's password on its own goroutine, and
// wakes the connection to go on with the CONNECT, or has it refused.
func (c *conn) checkPassword(a *authState, passwords *Passwords, password []byte) {
	b := c.b
	b.checks <- struct{}{}
	ok := a.hasUser && passwords.Check(a.user, password)
	<-b.checks
	if !ok {
		c.refuseLater(packet.BadUserNameOrPassword)
		return
	}
	c.wake(wakeAuthDone)
}

// startSCRAM answers a CONNECT with Authentication Method SCRAM-SHA-256
// with the server-first-message (AUTH 0x18), and defers the CONNACK to
// the end of the exchange (onAuth).
func (c *conn) startSCRAM(p *packet.Connect, passwords *Passwords) {
	a := &authState{method: scram.Method, scram: scram.NewServer(passwords.SCRAM)}
	c.extra().auth = a
	c.sc.DeferConnack()
	first, err := a.scram.Challenge(p.Props.AuthData)
	if err != nil {
		c.logf("SCRAM-SHA-256: %v", err)
		c.refuseLater(scram.Reason(err))
		return
	}
	c.sc.ReadAuth()
	if err := c.sendAuth(packet.ContinueAuthentication, first); err != nil {
		c.logf("SCRAM-SHA-256: AUTH not sent: %v", err)
		c.refuseLater(packet.UnspecifiedError)
		return
	}
	// A client that does not answer does not hold the connection open
	// for ever (its Keep Alive is watched from the CONNACK on).
	a.timer = time.AfterFunc(c.b.cfg.ConnectTimeout, func() { c.wake(wakeAuthLate) })
}

// checkLate, in OnWake, refuses a client whose SCRAM-SHA-256 exchange
// before CONNACK is still under way after Config.ConnectTimeout.
func (c *conn) checkLate() {
	if a := c.authState(); c.woken(wakeAuthLate) && a != nil && a.scram != nil && !c.connected {
		c.logf("SCRAM-SHA-256: no answer within %v", c.b.cfg.ConnectTimeout)
		a.scram = nil
		c.sc.Connack(packet.Connack{Reason: packet.NotAuthorized})
	}
}

func (c *conn) sendAuth(r packet.ReasonCode, data []byte) error {
	return c.mc().Send(&packet.Auth{Reason: r, Props: property.Properties{AuthMethod: c.x.auth.method, AuthData: data}})
}

// onAuth takes an AUTH from the client (the Connection has checked that
// it fits the exchange: MQTT-4.12.0-5 and the order of reason codes):
// the proof of the exchange before CONNACK, or a step of a
// re-authentication.
func (c *conn) onAuth(p *packet.Auth) {
	a := c.authState()
	if a == nil || a.method == "" {
		return // the Connection lets no AUTH through without a method
	}
	switch {
	case !c.connected && c.x.waiting != nil && a.scram != nil:
		final, err := a.scram.Verify(p.Props.AuthData)
		user := a.scram.Username()
		a.scram = nil
		a.timer.Stop()
		if err != nil {
			c.logf("SCRAM-SHA-256: %v", err)
			c.refuseLater(scram.Reason(err))
			return
		}
		a.user, a.hasUser, a.final = user, true, final
		c.authenticated()
	case c.connected && p.Reason == packet.ReAuthenticate:
		// A user the connection is not is unknown: the exchange plays
		// out and fails, telling nothing about that user's password.
		self := a.user
		a.scram = scram.NewServer(func(name string) (scram.Credentials, error) {
			if name != self {
				return scram.Credentials{}, scram.ErrUnknownUser
			}
			return c.b.passwords().SCRAM(name)
		})
		first, err := a.scram.Challenge(p.Props.AuthData)
		if err == nil {
			err = c.sendAuth(packet.ContinueAuthentication, first)
		}
		if err != nil {
			c.reauthFailed(err)
		}
	case c.connected && a.scram != nil:
		final, err := a.scram.Verify(p.Props.AuthData)
		a.scram = nil
		if err == nil {
			err = c.sendAuth(packet.Success, final)
		}
		if err != nil {
			c.reauthFailed(err)
		}
	}
	// Otherwise the exchange has failed and its refusal is on its way.
}

// reauthFailed ends a connection whose re-authentication failed with
// DISCONNECT (MQTT-4.12.1-2), after the delay against guessing, during
// which it is not read.
func (c *conn) reauthFailed(err error) {
	c.logf("re-authentication failed: %v", err)
	c.x.auth.scram = nil
	c.sc.PauseReading()
	reason := scram.DisconnectReason(err)
	time.AfterFunc(c.b.authDelay(), func() { c.sc.Close(reason) })
}

// authenticated goes on with the CONNECT whose CONNACK waited for the
// client to be authenticated.
func (c *conn) authenticated() {
	if c.x == nil || c.x.waiting == nil {
		return
	}
	p := c.x.waiting
	ack, busy := c.admit(p)
	if busy {
		return // waits for the session: claimAgain sends the CONNACK
	}
	c.x.waiting = nil
	c.sc.Connack(ack)
}

// refuseLater refuses the connection, whose CONNACK is deferred, with
// code (a v5 reason code) after the delay against guessing.
func (c *conn) refuseLater(code packet.ReasonCode) {
	ack := packet.Connack{Reason: refusal(c.version, code)}
	c.logf("authentication failed: refused with %#02x", byte(ack.Reason))
	sc := c.sc
	time.AfterFunc(c.b.authDelay(), func() { sc.Connack(ack) })
}

// authDelay returns how long to wait before refusing a client for its
// credentials: Config.AuthDelay, and up to as much again at random.
func (b *Broker) authDelay() time.Duration {
	d := b.cfg.AuthDelay
	if d <= 0 {
		return 0
	}
	return d + rand.N(d)
}

// authorize marks the client authenticated: perms applies the ACL's
// rules to it from then on.
func (c *conn) authorize() {
	if a := c.authState(); a != nil {
		a.authorized = true
	}
}

// perms returns the client's rules under the ACL in force, taken again
// after a Reload; nil (everything allowed) without an ACL, or before the
// client is authorized.
func (c *conn) perms() *Permissions {
	a := c.authState()
	if a == nil || !a.authorized {
		return nil
	}
	if acl := c.b.acl(); acl != a.acl {
		a.acl, a.perms = acl, nil
		if acl != nil {
			a.perms = acl.For(a.user, a.hasUser, c.clientID)
		}
	}
	return a.perms
}

// authState returns the client's authentication state; nil when the
// broker has neither Passwords nor an ACL.
func (c *conn) authState() *authState {
	if c.x == nil {
		return nil
	}
	return c.x.auth
}

// mayPublish reports whether the client may publish on topic: by
// Config.MayPublish and the ACL.
func (c *conn) mayPublish(topic string) bool {
	if isSys(topic) {
		return false // the broker's own (sys.go)
	}
	if f := c.b.cfg.MayPublish; f != nil && !f(c.clientID, topic) {
		return false
	}
	return c.perms().MayWrite(topic)
}

// notAuthorized is the SUBACK code of a filter the ACL refuses: 0x87 Not
// authorized, or 0x80 Failure in 3.1.1 (MQTT-3.9.3-2 of 3.1.1).
func (c *conn) notAuthorized() packet.ReasonCode {
	if c.version == packet.V5 {
		return packet.NotAuthorized
	}
	return packet.SubscribeFailure
}
