package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// ErrReauth is returned by Reauthenticate when it cannot start: no
// Config.Auth, no connection up, or a re-authentication already in
// progress.
var ErrReauth = errors.New("client: cannot re-authenticate now")

// Reauthenticate runs a new exchange of Config.Auth on the connection
// that is up (v5 re-authentication, section 4.12.1): an AUTH 0x19 with
// the Authenticator's Start data, its answers to the server's challenges,
// and the server's AUTH 0x00 Success, whose data goes to Finish. It
// returns nil once Finish accepted the server. A failure ends the
// connection: the server's DISCONNECT (a *ConnectionLostError with its
// reason code), or the Client's DISCONNECT 0x87 when Finish refuses the
// server (an error wrapping Finish's); the Client then reconnects, with a
// fresh exchange, unless Config.NoReconnect. The messages in flight wait
// meanwhile, as the connection allows.
func (c *Client) Reauthenticate(ctx context.Context) error {
	a := c.cfg.Auth
	c.mu.Lock()
	l := c.link
	if a == nil || l == nil || !l.up || c.reauth != nil || c.err != nil {
		c.mu.Unlock()
		return ErrReauth
	}
	data, err := a.Start()
	if err == nil {
		err = c.mc.Send(&packet.Auth{Reason: packet.ReAuthenticate,
			Props: property.Properties{AuthMethod: a.Method(), AuthData: data}})
	}
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("client: authentication: %w", err)
	}
	done := make(chan error, 1)
	c.reauth = done
	c.mu.Unlock()
	select {
	case err = <-done:
		return err
	case <-l.ended:
		if err = l.err; err == nil {
			err = ErrClosed
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.mu.Lock()
	if c.reauth == done {
		c.reauth = nil
	}
	c.mu.Unlock()
	select {
	case finished := <-done: // the answer came first
		return finished
	default:
		return err
	}
}

// reauthenticated hands the data of the server's AUTH 0x00 to Finish, and
// its verdict to Reauthenticate. A server that Finish refuses is
// disconnected with 0x87 Not authorized (MQTT-4.12.1-2), as at connection
// time.
func (c *Client) reauthenticated(l *link, p *packet.Auth) {
	done, a := c.reauth, c.cfg.Auth
	c.reauth = nil
	if a == nil {
		return
	}
	err := a.Finish(p.Props.AuthData)
	if err != nil {
		err = fmt.Errorf("client: authentication: %w", err)
		if l.err == nil {
			l.err = &ConnectionLostError{Err: err}
		}
		_ = c.mc.Send(&packet.Disconnect{Reason: packet.NotAuthorized})
	}
	if done != nil {
		done <- err
	}
}
