package broker

import (
	"errors"
	"sync/atomic"
)

// credentials are the password file and the ACL the broker applies now:
// Config.Passwords and Config.ACL, until Reload replaces them.
type credentials struct {
	passwords *Passwords
	acl       *ACL
}

// ErrReloadSwitch is returned by Reload when it would turn
// authentication or the ACL on or off: the broker keeps a client's user
// name only when it started with one of them, so that takes a restart.
var ErrReloadSwitch = errors.New("broker: a reload cannot turn the password file or the ACL on or off: restart the broker")

// Reload replaces the password file and the ACL while the broker runs
// (the command does it on SIGHUP, as mosquitto does). Clients that
// connect from then on authenticate against passwords, and every
// client, connected or not, is held to acl from its next publish,
// subscribe or delivery; connected clients stay connected, whatever
// passwords now says of them. Either may be nil only if the
// corresponding Config field was: see ErrReloadSwitch.
func (b *Broker) Reload(passwords *Passwords, acl *ACL) error {
	if (passwords == nil) != (b.cfg.Passwords == nil) || (acl == nil) != (b.cfg.ACL == nil) {
		return ErrReloadSwitch
	}
	b.creds.Store(&credentials{passwords: passwords, acl: acl})
	return nil
}

// passwords returns the password file in force; nil when the broker
// authenticates nobody.
func (b *Broker) passwords() *Passwords { return b.creds.Load().passwords }

// acl returns the ACL in force; nil when there is none.
func (b *Broker) acl() *ACL { return b.creds.Load().acl }

// credentialsHolder is the Broker's field of the credentials in force.
type credentialsHolder = atomic.Pointer[credentials]
