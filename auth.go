package mqtt

import (
	"errors"
	"strings"

	"github.com/mqttcore/mqtt/packet"
)

// Enhanced authentication (v5, section 4.12): the AUTH exchange before
// CONNACK, and re-authentication afterwards. The Connection enforces the
// rules; the application supplies the challenges and responses.

// ErrAuth is returned by Send for an AUTH, or a CONNACK, that breaks the
// rules of enhanced authentication: no Authentication Method in the CONNECT
// (MQTT-4.12.0-6, MQTT-4.12.0-7), a different method (MQTT-4.12.0-5), or a
// reason code that does not fit the step (MQTT-4.12.0-2, MQTT-4.12.0-3,
// MQTT-4.12.1-1).
var ErrAuth = errors.New("mqtt: AUTH not allowed here")

var (
	errAuthNoMethod = protocolViolation("MQTT-4.12.0-6", "AUTH without an Authentication Method in CONNECT")
	errAuthMethod   = &PeerError{Code: packet.BadAuthenticationMethod, Statement: "MQTT-4.12.0-5",
		Msg: "authentication method differs from the CONNECT's"}
	errAuthStep      = protocolViolation("MQTT-4.12.0-3", "AUTH reason code does not fit the authentication step")
	errConnackMethod = protocolViolation("MQTT-4.12.0-5", "CONNACK authentication method differs from the CONNECT's")
)

// auth is the enhanced-authentication state of a network connection.
type auth struct {
	method string // the CONNECT's Authentication Method; "" for none
	reauth bool   // a re-authentication is in progress
}

// begin records the method of a CONNECT.
func (a *auth) begin(c *packet.Connect) {
	*a = auth{method: strings.Clone(c.Props.AuthMethod)}
}

// step checks an AUTH against the exchange, for either direction, and
// advances it. fromClient tells who sent it; connecting, whether CONNACK is
// still to come.
func (a *auth) step(p *packet.Auth, fromClient, connecting bool) error {
	if a.method == "" {
		return errAuthNoMethod
	}
	if p.Props.AuthMethod != a.method {
		return errAuthMethod
	}
	switch r := p.Reason; {
	case connecting:
		if r != packet.ContinueAuthentication {
			return errAuthStep
		}
	case !a.reauth:
		if r != packet.ReAuthenticate || !fromClient {
			return errAuthStep // MQTT-4.12.1-1: only the client starts it
		}
		a.reauth = true
	case r == packet.Success && !fromClient:
		a.reauth = false
	case r != packet.ContinueAuthentication:
		return errAuthStep
	}
	return nil
}

// checkConnack applies MQTT-4.12.0-5 and MQTT-4.12.0-6 to a
// successful CONNACK.
func (a *auth) checkConnack(p *packet.Connack) bool {
	return p.Reason != packet.Success || p.Props.AuthMethod == a.method
}

// sendAuth sends the caller's AUTH.
func (c *Connection[ID]) sendAuth(p *packet.Auth) error {
	saved := c.auth
	if c.auth.step(p, c.role == RoleClient, c.state == StateConnecting) != nil {
		c.auth = saved
		return ErrAuth
	}
	if err := c.write(p); err != nil {
		c.auth = saved
		return err
	}
	return nil
}

// recvAuth handles an AUTH from the peer.
func (c *Connection[ID]) recvAuth(p *packet.Auth) {
	if c.state == StateDisconnected {
		c.fail(errUnexpected)
		return
	}
	if err := c.auth.step(p, c.role == RoleServer, c.state == StateConnecting); err != nil {
		if c.role == RoleServer && c.state == StateConnecting {
			c.refuseConnect(err) // CONNACK 0x8C or 0x82 (MQTT-4.12.0-1)
		} else {
			c.fail(err)
		}
		return
	}
	c.deliver(p)
}
