package mqtt

import (
	"errors"

	"github.com/mqttcore/mqtt/packet"
)

// Errors returned to the caller for what it asked of a Connection. None of
// them changes the Connection's state.
var (
	// ErrRole: the packet is never sent by this side (a client sending
	// CONNACK, a server sending CONNECT).
	ErrRole = errors.New("mqtt: packet not sent by this role")
	// ErrState: the packet may not be sent in the connection's state
	// (PUBLISH before CONNACK, a second CONNECT, anything after close).
	ErrState = errors.New("mqtt: packet not allowed in this state")
	// ErrQuotaExceeded: the peer's Receive Maximum of unacknowledged QoS 1
	// and QoS 2 PUBLISH packets is reached (MQTT-3.3.4-7, MQTT-3.3.4-9).
	ErrQuotaExceeded = errors.New("mqtt: send quota exhausted")
	// ErrPacketTooLarge: the packet exceeds the peer's Maximum Packet Size
	// (MQTT-3.1.2-27, MQTT-3.2.2-15).
	ErrPacketTooLarge = errors.New("mqtt: packet exceeds the peer's maximum packet size")
	// ErrIDInUse: a packet names a packet identifier already in use.
	ErrIDInUse = errors.New("mqtt: packet identifier in use")
	// ErrIDUnknown: an acknowledgement names a packet identifier with no
	// exchange awaiting it.
	ErrIDUnknown = errors.New("mqtt: no exchange awaits this packet identifier")
	// ErrAssignClientID: a v5 server accepting a CONNECT with an empty
	// Client Identifier must name the one it assigned in the CONNACK's
	// Assigned Client Identifier (MQTT-3.2.2-16), and Config.AssignClientID
	// returned an empty one.
	ErrAssignClientID = errors.New("mqtt: CONNACK must carry the assigned client identifier")
	// ErrClientID: before v5 a CONNECT with an empty Client Identifier must
	// ask for a clean session (MQTT-3.1.3-7 of 3.1.1).
	ErrClientID = errors.New("mqtt: empty client identifier without clean session")
	// ErrSessionPresent: a server may not report a session present to a
	// client that asked for a clean start (MQTT-3.2.2-2).
	ErrSessionPresent = errors.New("mqtt: session present after a clean start")
	// ErrSessionExpiry: a DISCONNECT may not set a Session Expiry Interval
	// when the CONNECT's was 0, and a server's DISCONNECT never carries one
	// (MQTT-3.14.2-2).
	ErrSessionExpiry = errors.New("mqtt: session expiry interval not allowed in this DISCONNECT")
	// ErrResponseInformation: a CONNACK with Response Information for a
	// client that did not ask for it (MQTT-3.1.2-31).
	ErrResponseInformation = errors.New("mqtt: response information not requested")
	// ErrSubscriptionIdentifier: a client's PUBLISH may not carry a
	// Subscription Identifier (MQTT-3.3.4-6).
	ErrSubscriptionIdentifier = errors.New("mqtt: a client's PUBLISH carries no Subscription Identifier")
	// ErrAlias: a Topic Alias above the peer's Topic Alias Maximum.
	ErrAlias = errors.New("mqtt: topic alias above the peer's maximum")
)

// Errors reported in EventError and EventDropped for what happened on the
// connection.
var (
	// ErrSessionLost: the peer did not resume the session (CONNACK Session
	// Present 0), or a clean start discarded it; the message was dropped.
	ErrSessionLost = errors.New("mqtt: session not resumed")
	// ErrExpired: the message's Message Expiry Interval passed before it
	// could be sent.
	ErrExpired = errors.New("mqtt: message expired before it was sent")
	// ErrConnectTimeout: the handshake did not complete within
	// Config.ConnectTimeout (no CONNACK for a client, no CONNECT for a
	// server).
	ErrConnectTimeout = errors.New("mqtt: handshake not completed in time")
	// ErrPingTimeout: the server did not answer PINGREQ in time.
	ErrPingTimeout = errors.New("mqtt: no PINGRESP in time")
	// ErrKeepAliveTimeout: the client sent nothing for one and a half
	// times its Keep Alive (MQTT-3.1.2-24).
	ErrKeepAliveTimeout = &packet.Error{Code: packet.KeepAliveTimeout, Statement: "MQTT-3.1.2-24",
		Msg: "no packet from the client within one and a half times its keep alive"}
	// ErrConnectionRefused: the server answered CONNECT with a failure code.
	ErrConnectionRefused = errors.New("mqtt: connection refused")
	// ErrDisconnected: the peer sent DISCONNECT; EventPacket carried it.
	ErrDisconnected = errors.New("mqtt: peer disconnected")
)

// protocolViolation builds the error for a rule the peer broke that the
// codec cannot see (the packet is well formed but not allowed here).
func protocolViolation(statement, msg string) *packet.Error {
	return &packet.Error{Code: packet.ProtocolError, Statement: statement, Msg: msg}
}

// Rules the peer can break, checked by the Connection.
var (
	errSecondConnect   = protocolViolation("MQTT-3.1.0-2", "second CONNECT on a connection")
	errFirstNotConnect = protocolViolation("MQTT-3.1.0-1", "first packet from the client is not CONNECT")
	errEmptyClientID   = &packet.Error{Code: packet.ClientIdentifierNotValid, Statement: "MQTT-3.1.3-8",
		Msg: "empty client identifier without clean session"}
	errUnexpected     = protocolViolation("", "packet not allowed in this state")
	errWrongSender    = protocolViolation("", "packet the peer's role never sends")
	errReceiveMaximum = &packet.Error{Code: packet.ReceiveMaximumExceeded, Statement: "MQTT-3.3.4-9",
		Msg: "more unacknowledged QoS 1 and QoS 2 PUBLISH packets than the Receive Maximum"}
	errClientSubscriptionID = protocolViolation("MQTT-3.3.4-6", "PUBLISH from a client with a Subscription Identifier")
	errIDInUse              = protocolViolation("MQTT-2.2.1-3", "packet identifier of an exchange still in progress reused")
	errNoSession            = protocolViolation("MQTT-3.2.2-4", "CONNACK reports a session the client does not have")
	errDisconnectExpiry     = protocolViolation("", "DISCONNECT sets a Session Expiry Interval after a CONNECT with 0")
	errTooLargeIn           = &packet.Error{Code: packet.PacketTooLarge, Statement: "MQTT-3.2.2-15",
		Msg: "packet larger than the Maximum Packet Size"}
)
