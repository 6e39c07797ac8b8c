package mqtt

import (
	"errors"
	"strings"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// What a server's CONNACK announces it supports (section 3.2.2.3): the
// client enforces it on what it sends, the server on what it receives.
// Also the client's requests in CONNECT that bind the server: Request
// Problem Information and Request Response Information.

// ErrNotSupported is matched (errors.Is) by every *CapabilityError.
var ErrNotSupported = errors.New("mqtt: not supported by the server")

// CapabilityError is returned by Send for a packet that uses what the
// server's CONNACK said it does not support. Code is the reason code the
// server would answer with.
type CapabilityError struct {
	Code      packet.ReasonCode
	Statement string
}

// Error names the reason code and the statement the packet would break.
func (e *CapabilityError) Error() string {
	return "mqtt: server does not support it: " + e.Code.String() + " (" + e.Statement + ")"
}

// Is reports whether target is ErrNotSupported.
func (e *CapabilityError) Is(target error) bool { return target == ErrNotSupported }

// capabilities is what a CONNACK announced; the zero value means "not yet
// known" and allows everything.
type capabilities struct {
	maxQoS                                   packet.QoS
	noRetain, noWildcard, noSubIDs, noShared bool
}

func capabilitiesOf(p *property.Properties) capabilities {
	k := capabilities{maxQoS: packet.QoS2}
	if p.Has(property.MaximumQoS) {
		k.maxQoS = packet.QoS(p.MaximumQoS)
	}
	off := func(id property.ID, v byte) bool { return p.Has(id) && v == 0 }
	k.noRetain = off(property.RetainAvailable, p.RetainAvailable)
	k.noWildcard = off(property.WildcardSubscriptionAvailable, p.WildcardSubAvailable)
	k.noSubIDs = off(property.SubscriptionIdentifierAvailable, p.SubscriptionIDsAvailable)
	k.noShared = off(property.SharedSubscriptionAvailable, p.SharedSubAvailable)
	return k
}

var (
	errCapQoS      = &PeerError{Code: packet.QoSNotSupported, Statement: "MQTT-3.2.2-11", Msg: "PUBLISH above the Maximum QoS"}
	errCapRetain   = &PeerError{Code: packet.RetainNotSupported, Statement: "MQTT-3.2.2-14", Msg: "retained PUBLISH though Retain Available is 0"}
	errCapWildcard = &PeerError{Code: packet.WildcardSubscriptionsNotSupported, Msg: "wildcard subscription though Wildcard Subscription Available is 0"}
	errCapSubID    = &PeerError{Code: packet.SubscriptionIdentifiersNotSupported, Msg: "Subscription Identifier though Subscription Identifier Available is 0"}
	errCapShared   = &PeerError{Code: packet.SharedSubscriptionsNotSupported, Msg: "shared subscription though Shared Subscription Available is 0"}
)

func (k capabilities) checkPublish(qos packet.QoS, retain bool) *PeerError {
	switch {
	case qos > k.maxQoS:
		return errCapQoS
	case retain && k.noRetain:
		return errCapRetain
	}
	return nil
}

func (k capabilities) checkSubscribe(subs []packet.Subscription, props *property.Properties) *PeerError {
	if k.noSubIDs && len(props.SubscriptionIDs) > 0 {
		return errCapSubID
	}
	for i := range subs {
		f := subs[i].Filter
		switch {
		case k.noShared && packet.IsShared(f):
			return errCapShared
		case k.noWildcard && strings.ContainsAny(f, "+#"):
			return errCapWildcard
		}
	}
	return nil
}

// capabilityError turns a violation into the caller's error.
func capabilityError(e *PeerError) error {
	if e == nil {
		return nil
	}
	return &CapabilityError{Code: e.Code, Statement: e.Statement}
}

// problemInfoAllowed reports whether a packet of type t may carry a Reason
// String or User Properties when the client asked for no problem
// information (MQTT-3.1.2-32).
func problemInfoAllowed(t packet.Type) bool {
	return t == packet.TypePublish || t == packet.TypeConnack || t == packet.TypeDisconnect
}

var errProblemInfo = protocolViolation("MQTT-3.1.2-32",
	"Reason String or User Properties though the client asked for no problem information")

// hasProblemInfo reports whether props hold a Reason String or User
// Properties.
func hasProblemInfo(props *property.Properties) bool {
	return props.ReasonString != "" || len(props.User) > 0
}

// problemInfoViolation reports whether a server's packet carries what the
// client asked not to get.
func (c *Connection[ID]) problemInfoViolation(p packet.Packet) bool {
	if c.role != RoleClient || c.problemInfo || problemInfoAllowed(p.Type()) {
		return false
	}
	props := droppable(p)
	return props != nil && (props.Has(property.ReasonString) || len(props.User) > 0)
}
