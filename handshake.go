package mqtt

import (
	"crypto/rand"
	"strings"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/mqttcore/mqtt/topicalias"
)

// CONNECT, CONNACK, DISCONNECT and AUTH: the life of a network connection.

func seconds(s uint16) time.Duration { return time.Duration(s) * time.Second }

// receiveMaximum returns the Receive Maximum a property list announces.
func receiveMaximum(p *property.Properties) int32 {
	if p.ReceiveMaximum == 0 {
		return 65535 // absent
	}
	return int32(p.ReceiveMaximum)
}

// maxPacket returns the Maximum Packet Size a property list announces.
func maxPacket(p *property.Properties) int32 {
	if p.MaximumPacketSize == 0 {
		return packet.MaxPacketSize // absent: the protocol's limit
	}
	return int32(min(p.MaximumPacketSize, packet.MaxPacketSize))
}

// sendConnect starts a client's connection.
func (c *Connection[ID]) sendConnect(p *packet.Connect) error {
	if emptyClientIDRefused(c.version, p) {
		return ErrClientID // MQTT-3.1.3-7 (3.1.1); 3.1 has none
	}
	if err := c.write(p); err != nil {
		return err
	}
	c.startSession(p)
	if p.CleanStart && c.sess.persists {
		// This side knows the state of the session the CONNECT starts:
		// empty. The server may have created it even if no CONNACK comes,
		// and the next connection may resume it (MQTT-3.2.2-4 refuses a
		// resumed session only to a client without its state).
		c.sess.present = true
	}
	c.auth.begin(p)
	c.noteRequests(p)
	c.state = StateConnecting
	c.keepAlive = seconds(p.KeepAlive)
	c.clientID = strings.Clone(p.ClientID)
	if c.cfg.ConnectTimeout > 0 {
		c.arm(TimerConnect, c.cfg.ConnectTimeout)
	}
	if c.version == packet.V5 {
		c.recvMax = receiveMaximum(&p.Props)
		c.maxIn = c.capIn(p.Props.MaximumPacketSize)
		if p.Props.Has(property.SessionExpiryInterval) {
			c.setExpiry(p.Props.SessionExpiry)
		}
		c.aliasIn = *topicalias.NewReceiver(p.Props.TopicAliasMaximum)
	}
	return nil
}

// recvConnack completes a client's handshake.
func (c *Connection[ID]) recvConnack(p *packet.Connack) {
	if c.state != StateConnecting {
		c.fail(errUnexpected)
		return
	}
	if c.version == packet.V5 && !c.auth.checkConnack(p) {
		c.fail(errConnackMethod)
		return
	}
	c.disarm(TimerConnect)
	c.deliver(p)
	if p.Reason != packet.Success {
		c.close() // MQTT-3.2.2-7: the server closes too
		return
	}
	c.state = StateConnected
	if c.version == packet.V5 {
		if p.Props.AssignedClientID != "" {
			c.clientID = strings.Clone(p.Props.AssignedClientID) // p aliases the input
		}
		c.sendQuota = receiveMaximum(&p.Props)
		if p.Props.Has(property.SessionExpiryInterval) {
			c.setExpiry(p.Props.SessionExpiry)
		}
		c.maxOut = maxPacket(&p.Props)
		c.aliasOut = aliasSender(p.Props.TopicAliasMaximum, c.cfg.MaxOutgoingAliases)
		c.caps = capabilitiesOf(&p.Props)
		if p.Props.Has(property.ServerKeepAlive) {
			c.keepAlive = seconds(p.Props.ServerKeepAlive) // MQTT-3.1.2-23
		}
	}
	if c.cfg.PingInterval > 0 {
		c.keepAlive = c.cfg.PingInterval
	}
	c.pingTimeout = c.cfg.PingTimeout
	if c.pingTimeout == 0 {
		c.pingTimeout = c.keepAlive
	}
	if c.keepAlive > 0 {
		c.arm(TimerPing, c.keepAlive)
	}
	if p.SessionPresent && (c.cleanStart || !c.sess.present) {
		c.fail(ErrNoSession) // MQTT-3.2.2-4
		return
	}
	c.resume(p.SessionPresent)
}

// startSession applies a CONNECT to the session: a clean start discards it
// (MQTT-3.1.2-4), and the CONNECT says whether it outlives the connection.
func (c *Connection[ID]) startSession(p *packet.Connect) {
	c.cleanStart, c.began = p.CleanStart, true
	if p.CleanStart {
		c.dropStored()
	}
	c.adoptVersion()
	c.sess.expiry = p.Props.SessionExpiry
	c.sess.persists = persistent(c.version, p.CleanStart, c.sess.expiry)
}

func (c *Connection[ID]) setExpiry(expiry uint32) {
	c.sess.expiry = expiry
	c.sess.persists = persistent(c.version, c.cleanStart, expiry)
}

// resume continues after a successful CONNACK: with the session present
// the unfinished exchanges are re-sent, else they are dropped; then the
// queue drains.
func (c *Connection[ID]) resume(present bool) {
	if present {
		c.resend()
	} else {
		c.dropStored()
	}
	c.sess.present = true
	c.drain()
}

// recvConnect starts a server's connection.
func (c *Connection[ID]) recvConnect(p *packet.Connect) {
	if c.state != StateDisconnected {
		c.fail(errSecondConnect)
		return
	}
	c.disarm(TimerConnect)
	if c.cfg.Version != 0 && p.Version != c.cfg.Version {
		c.version = p.Version // answer in the client's own version
		c.refuseConnect(errVersionRefused)
		return
	}
	if emptyClientIDRefused(c.version, p) {
		// MQTT-3.1.3-8 (3.1.1): identifier rejected, then close. MQTT 3.1
		// asks for 1 to 23 characters: an empty one is rejected alike.
		c.writeConnack(packet.RefusedIdentifierRejected)
		err := errEmptyClientID
		if c.version == packet.V31 {
			err = errEmptyClientID31
		}
		c.emit(Event[ID]{Kind: EventError, Err: err})
		c.close()
		return
	}
	c.startSession(p)
	c.auth.begin(p)
	c.noteRequests(p)
	c.state = StateConnecting
	c.keepAlive = seconds(p.KeepAlive)
	c.emptyClientID = p.ClientID == ""
	c.clientID = strings.Clone(p.ClientID) // p aliases the input
	if c.emptyClientID {
		c.clientID = c.assignClientID() // MQTT-3.1.3-6
	}
	if c.version == packet.V5 {
		c.sendQuota = receiveMaximum(&p.Props)
		c.maxOut = maxPacket(&p.Props)
		c.aliasOut = aliasSender(p.Props.TopicAliasMaximum, c.cfg.MaxOutgoingAliases)
	}
	c.deliver(p)
}

// emptyClientIDRefused reports whether version v refuses the empty Client
// Identifier of p: 3.1.1 without a clean session (MQTT-3.1.3-7), 3.1
// always.
func emptyClientIDRefused(v packet.Version, p *packet.Connect) bool {
	return p.ClientID == "" && (v == packet.V31 || v == packet.V311 && !p.CleanStart)
}

// refuseConnect answers a CONNECT the server cannot accept: with a CONNACK
// carrying the reason where the version has a code for it, then close.
func (c *Connection[ID]) refuseConnect(err error) {
	code, _ := packet.ReasonOf(err)
	switch {
	case code == packet.UnsupportedProtocolVersion && c.version != packet.V5:
		// 3.1.1 and older clients understand the 3.1.1 return code
		// (MQTT-3.1.2-2 of 3.1.1).
		c.version = packet.V311
		c.writeConnack(packet.RefusedUnacceptableVersion)
	case c.version == packet.V5 && packet.ValidReason(packet.TypeConnack, packet.V5, code):
		c.writeConnack(code)
	}
	c.emit(Event[ID]{Kind: EventError, Err: err})
	c.close()
}

func (c *Connection[ID]) writeConnack(code packet.ReasonCode) {
	a := c.sent.get(packet.TypeConnack).(*packet.Connack)
	a.Props.Reset()
	a.SessionPresent, a.Reason = false, code
	_ = c.write(a)
}

// assignClientID returns a Client Identifier for a client that sent an
// empty one: Config.AssignClientID's, or 23 random letters and digits.
func (c *Connection[ID]) assignClientID() string {
	var id string
	if c.cfg.AssignClientID != nil {
		id = c.cfg.AssignClientID()
	} else {
		id = rand.Text()[:23] // 23 characters of A-Z and 2-7: 115 random bits
	}
	if c.cfg.Trace != nil {
		c.cfg.Trace.Input(Input{Kind: InputClientID, ClientID: id})
	}
	return id
}

// sendConnack answers the client's CONNECT.
func (c *Connection[ID]) sendConnack(p *packet.Connack) error {
	assign := c.version == packet.V5 && p.Reason == packet.Success && c.emptyClientID && p.Props.AssignedClientID == ""
	if assign && c.clientID == "" {
		return ErrAssignClientID // MQTT-3.2.2-16
	}
	if p.SessionPresent && c.cleanStart {
		return ErrSessionPresent // MQTT-3.2.2-2
	}
	if c.version == packet.V5 && !c.auth.checkConnack(p) {
		return ErrAuth // MQTT-4.12.0-5, MQTT-4.12.0-6
	}
	if err := c.checkConnackAnswers(p); err != nil {
		return err
	}
	sent := p
	if assign {
		// Send a copy naming the identifier; the caller's packet stays
		// as it was, to be reused for other clients.
		sent = c.sent.get(packet.TypeConnack).(*packet.Connack)
		*sent = *p
		sent.Props.AssignedClientID = c.clientID
	}
	if err := c.write(sent); err != nil {
		return err
	}
	if p.Reason != packet.Success {
		c.close() // MQTT-3.2.2-7
		return nil
	}
	c.state = StateConnected
	if c.version == packet.V5 {
		if id := p.Props.AssignedClientID; id != "" && id != c.clientID {
			c.clientID = strings.Clone(id)
		}
		c.recvMax = receiveMaximum(&p.Props)
		c.maxIn = c.capIn(p.Props.MaximumPacketSize)
		if p.Props.Has(property.SessionExpiryInterval) {
			c.setExpiry(p.Props.SessionExpiry)
		}
		c.aliasIn = *topicalias.NewReceiver(p.Props.TopicAliasMaximum)
		if p.Props.Has(property.ServerKeepAlive) {
			c.keepAlive = seconds(p.Props.ServerKeepAlive) // MQTT-3.2.2-21
		}
		c.caps = capabilitiesOf(&p.Props)
	}
	if c.keepAlive > 0 {
		c.arm(TimerKeepAlive, c.keepAlive*3/2)
	}
	c.resume(p.SessionPresent)
	c.consume(nil) // what the client sent after CONNECT
	return nil
}

var errServerSessionExpiry = protocolViolation("MQTT-3.14.2-2", "server sent Session Expiry Interval in DISCONNECT")

// sendsDisconnect reports whether this side sends DISCONNECT: a server
// before v5 does not (section 2.2.1 of 3.1.1).
func (c *Connection[ID]) sendsDisconnect() bool {
	return c.role == RoleClient || c.version == packet.V5 || c.version == 0
}

func (c *Connection[ID]) recvDisconnect(p *packet.Disconnect) {
	if c.role == RoleClient && c.version != packet.V5 {
		c.fail(errServerDisconnect) // a 3.1.1 server never sends one
		return
	}
	if p.Props.Has(property.SessionExpiryInterval) {
		switch {
		case c.role == RoleClient:
			c.fail(errServerSessionExpiry)
			return
		case c.sess.expiry == 0 && p.Props.SessionExpiry != 0:
			c.fail(errDisconnectExpiry)
			return
		}
		c.setExpiry(p.Props.SessionExpiry)
	}
	c.deliver(p)
	c.close()
}

// sendDisconnect sends the caller's DISCONNECT and closes; a client's may
// change the Session Expiry Interval.
func (c *Connection[ID]) sendDisconnect(p *packet.Disconnect) error {
	if p.Props.Has(property.SessionExpiryInterval) &&
		(c.role == RoleServer || c.sess.expiry == 0 && p.Props.SessionExpiry != 0) {
		return ErrSessionExpiry
	}
	if err := c.write(p); err != nil {
		return err
	}
	if p.Props.Has(property.SessionExpiryInterval) {
		c.setExpiry(p.Props.SessionExpiry)
	}
	c.close()
	return nil
}

// noteRequests records what a CONNECT asks of the server: Request Problem
// Information, Request Response Information, and the will's QoS and retain
// flag, which the server's CONNACK must be able to honour.
func (c *Connection[ID]) noteRequests(p *packet.Connect) {
	c.problemInfo = c.version != packet.V5 || !p.Props.Has(property.RequestProblemInformation) ||
		p.Props.RequestProblemInfo == 1
	c.responseInfo = p.Props.RequestResponseInfo == 1
	c.will = capabilities{maxQoS: p.Will.QoS, noRetain: !p.Will.Retain}
	if !p.HasWill() {
		c.will = capabilities{noRetain: true}
	}
}

// checkConnackAnswers refuses a successful CONNACK that contradicts the
// CONNECT: Response Information nobody asked for (MQTT-3.1.2-31), or
// capabilities the will needs and the CONNACK denies (MQTT-3.2.2-12,
// MQTT-3.2.2-13: the server must refuse such a connection instead).
func (c *Connection[ID]) checkConnackAnswers(p *packet.Connack) error {
	if p.Reason != packet.Success || c.version != packet.V5 {
		return nil
	}
	if p.Props.ResponseInfo != "" && !c.responseInfo {
		return ErrResponseInformation
	}
	return capabilityError(capabilitiesOf(&p.Props).checkPublish(c.will.maxQoS, !c.will.noRetain))
}

// aliasSender returns the sender of Topic Aliases to a peer that takes
// max of them, of which we use at most limit (Config.MaxOutgoingAliases,
// 0 for all); nil for none: most take none, and an idle connection keeps
// no sender.
func aliasSender(max, limit uint16) *topicalias.Sender {
	if limit > 0 && limit < max {
		max = limit
	}
	if max == 0 {
		return nil
	}
	return topicalias.NewSender(max)
}
