package mqtt

import (
	"errors"
	"strings"

	"github.com/mqttcore/mqtt/packet"
)

// Errors returned to the caller for what it asked of a Connection. None of
// them changes the Connection's state.
var (
	// ErrRole: the packet is never sent by this side (a client sending
	// CONNACK, a server sending CONNECT, a server sending DISCONNECT before
	// v5).
	ErrRole = errors.New("mqtt: packet not sent by this role")
	// ErrIDWidth: the packet's identifier type is not the Connection's (a
	// PublishOf[uint32] sent on a Connection[uint16]).
	ErrIDWidth = errors.New("mqtt: packet identifier width differs from the connection's")
	// ErrState: the packet may not be sent in the connection's state
	// (PUBLISH before CONNACK, a second CONNECT, anything after close).
	ErrState = errors.New("mqtt: packet not allowed in this state")
	// ErrQuotaExceeded: the peer's Receive Maximum of unacknowledged QoS 1
	// and QoS 2 PUBLISH packets is reached (MQTT-3.3.4-7, MQTT-3.3.4-9).
	ErrQuotaExceeded = errors.New("mqtt: send quota exhausted")
	// ErrPacketTooLarge: the packet is too large to send: over the peer's
	// Maximum Packet Size (MQTT-3.1.2-27, MQTT-3.2.2-15) or the protocol's
	// limit. It is never reported for a packet received: one over this
	// side's limit arrives in EventError as a *PeerError that matches
	// packet.ErrPacketTooLarge.
	ErrPacketTooLarge = errors.New("mqtt: packet too large to send")
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
	// ask for a clean session (MQTT-3.1.3-7 of 3.1.1), and MQTT 3.1 has no
	// empty Client Identifier at all.
	ErrClientID = errors.New("mqtt: empty client identifier not allowed")
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
	// ErrAliasUnmapped: a PUBLISH with a Topic Alias and no topic, where
	// the alias names no topic on this network connection. Aliases do not
	// outlive one (MQTT-3.3.2-7), so a PUBLISH queued while offline always
	// needs its topic.
	ErrAliasUnmapped = errors.New("mqtt: topic alias not mapped on this network connection, and no topic")
)

// PeerError is a rule of the protocol the peer broke that the Connection
// found where the codec cannot: a well-formed packet not allowed here (a
// second CONNECT, a Receive Maximum exceeded, a Topic Alias never mapped),
// a packet over this side's size limit, or a silent peer. EventError
// carries it; what the codec refuses arrives there as a *packet.Error.
//
// A PeerError has the fields of a packet.Error (Code is the reason code the
// Connection answered with where the version has one) and unwraps to one,
// so the same matching serves both: packet.ReasonOf(err) for the code,
// errors.As(err, &pe) with pe a *packet.Error for the code and the
// statement, errors.Is(err, packet.ErrProtocol) (ErrMalformed,
// ErrPacketTooLarge) by code. errors.As(err, &ce) with ce a *PeerError
// tells the Connection's findings from the codec's. Its text starts with
// "mqtt: ".
type PeerError packet.Error

// Error gives the rule broken and, where it has one, its statement, as
// packet.Error does, with the Connection's prefix.
func (e *PeerError) Error() string {
	return "mqtt: " + strings.TrimPrefix((*packet.Error)(e).Error(), "packet: ")
}

// Unwrap returns e as a *packet.Error, for packet.ReasonOf, errors.As and
// errors.Is.
func (e *PeerError) Unwrap() error { return (*packet.Error)(e) }

// StatementFor returns the statement e breaks in version v, as
// packet.Error's StatementFor does.
func (e *PeerError) StatementFor(v packet.Version) string {
	return (*packet.Error)(e).StatementFor(v)
}

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
	ErrKeepAliveTimeout = &PeerError{Code: packet.KeepAliveTimeout, Statement: "MQTT-3.1.2-24",
		Msg: "no packet from the client within one and a half times its keep alive"}
	// ErrNoSession: the server's CONNACK says Session Present 1, but the
	// client holds no session to resume. It is what a new process meets
	// when it connects with Clean Start 0 (3.1.1: Clean Session 0) to a
	// server that kept its predecessor's session: the Connection starts
	// with no session state, and MQTT-3.2.2-4 has the client close (a v5
	// client sends DISCONNECT 0x82 first). Such a client should either
	// connect with Clean Start 1, which discards the server's copy, or
	// restore the state its predecessor saved with ExportSession, through
	// ImportSession before it sends CONNECT; then Session Present 1 resumes
	// the session.
	ErrNoSession = protocolViolation("MQTT-3.2.2-4", "CONNACK reports a session the client does not have")
)

// protocolViolation builds the error for a rule the peer broke that the
// codec cannot see (the packet is well formed but not allowed here).
func protocolViolation(statement, msg string) *PeerError {
	return &PeerError{Code: packet.ProtocolError, Statement: statement, Msg: msg}
}

// Rules the peer can break, checked by the Connection.
var (
	errSecondConnect   = protocolViolation("MQTT-3.1.0-2", "second CONNECT on a connection")
	errFirstNotConnect = protocolViolation("MQTT-3.1.0-1", "first packet from the client is not CONNECT")
	errEmptyClientID   = &PeerError{Code: packet.ClientIdentifierNotValid, Statement: "MQTT-3.1.3-8",
		Msg: "empty client identifier without clean session"}
	errEmptyClientID31 = &PeerError{Code: packet.ClientIdentifierNotValid, Statement311: "MQTT-3.1.3-9",
		Msg: "empty client identifier in MQTT 3.1"}
	errUnexpected  = protocolViolation("", "packet not allowed in this state")
	errWrongSender = protocolViolation("", "packet the peer's role never sends")
	// A 3.1.1 server never sends DISCONNECT: a protocol violation, on which
	// the client closes (MQTT-4.8.0-1 of 3.1.1).
	errServerDisconnect = &PeerError{Code: packet.ProtocolError, Statement311: "MQTT-4.8.0-1",
		Msg: "DISCONNECT from a server before MQTT 5.0"}
	errReceiveMaximum = &PeerError{Code: packet.ReceiveMaximumExceeded, Statement: "MQTT-3.3.4-9",
		Msg: "more unacknowledged QoS 1 and QoS 2 PUBLISH packets than the Receive Maximum"}
	errClientSubscriptionID = protocolViolation("MQTT-3.3.4-6", "PUBLISH from a client with a Subscription Identifier")
	errIDInUse              = protocolViolation("MQTT-2.2.1-3", "packet identifier of an exchange still in progress reused")
	errDisconnectExpiry     = protocolViolation("", "DISCONNECT sets a Session Expiry Interval after a CONNECT with 0")
	errTooLargeFromClient   = &PeerError{Code: packet.PacketTooLarge, Statement: "MQTT-3.2.2-15",
		Msg: "packet from the client larger than the server's maximum packet size"}
	errTooLargeFromServer = &PeerError{Code: packet.PacketTooLarge, Statement: "MQTT-3.1.2-27",
		Msg: "packet from the server larger than the client's maximum packet size"}
	errVersionRefused = &PeerError{Code: packet.UnsupportedProtocolVersion, Statement: "MQTT-3.1.2-2",
		Msg: "protocol version not accepted by this server"}
)
