package mqtt

import (
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// Config configures a Connection. The zero Config is a sensible default:
// MQTT 5.0 for a client, the version of the first CONNECT for a server,
// every automatic behaviour on.
type Config struct {
	// Version is the protocol version. A client speaks it (0 means V5); a
	// server with Version 0 learns it from the client's CONNECT, and with a
	// version set refuses others.
	Version packet.Version

	// MaxPacketSize caps the size of packets accepted from the peer, for
	// every version. 0 means the Maximum Packet Size this side announces
	// (CONNECT for a client, CONNACK for a server), or else the protocol's
	// limit. A packet over the cap is refused from its fixed header, before
	// it is buffered.
	MaxPacketSize int

	// ConnectTimeout bounds the handshake: a client that has sent CONNECT
	// and has no CONNACK within it (AUTH round trips included), or a server
	// whose transport opened (Opened) and got no CONNECT within it, reports
	// ErrConnectTimeout and closes. 0 means no limit.
	ConnectTimeout time.Duration

	// PingInterval overrides the interval between a client's PINGREQs;
	// 0 means the Server Keep Alive, or else the CONNECT's Keep Alive.
	PingInterval time.Duration
	// PingTimeout is how long a client waits for PINGRESP before it
	// closes the connection; 0 means the ping interval.
	PingTimeout time.Duration

	// QueueWhenQuotaExhausted makes Send queue a QoS 1 or QoS 2 PUBLISH
	// when the peer's Receive Maximum is reached, instead of returning
	// ErrQuotaExceeded. The queue keeps a copy of each packet and sends them
	// in order as acknowledgements return quota.
	QueueWhenQuotaExhausted bool
	// MaxQueued caps the PUBLISH packets waiting in the queue (for quota or
	// while offline); Send returns ErrQuotaExceeded beyond it. 0 means no
	// cap: the caller bounds the queue (Queued tells its length).
	MaxQueued int

	// OfflineQueue makes Send accept QoS 1 and QoS 2 PUBLISH packets while
	// the client is not connected; they are queued like those waiting for
	// quota and sent after the next successful CONNACK.
	OfflineQueue bool

	// Journal makes the Connection hand out, before the events of each call
	// that changes the persistent session state, an EventJournal whose
	// Bytes record the changes: make them durable with what the call
	// delivered before writing the call's bytes, and a new process rebuilds
	// the session with Replay (see EventJournal, and journal.go for the
	// format).
	Journal bool

	// Clock, when set, tells the Connection the time, so that a PUBLISH
	// kept for later (queued, or stored in the session) is sent with its
	// Message Expiry Interval counted down, and one that expires before it
	// is ever sent is dropped with an EventDropped. Without it messages do
	// not age. The Connection calls it only when it stores or sends such a
	// message.
	Clock func() time.Time

	// Trace, when set, is told every input of the Connection and every
	// event it hands the Handler, in order: package trace records them to
	// a file and replays them, event for event. With a Tracer the
	// Connection keeps only the wall clock reading of Config.Clock (a
	// replay has no monotonic clock to give). nil costs nothing.
	Trace Tracer

	// AssignClientID gives a server the Client Identifier of a client
	// that connects with an empty one and is accepted (v5, and 3.1.1 with
	// clean session 1): it must return an identifier no other session of
	// the server uses (MQTT-3.1.3-6, MQTT-3.2.2-16). nil means a random
	// one of 23 letters and digits, valid with every server (MQTT-3.1.3-5)
	// and, at 115 random bits, unique in practice. It is called while the
	// CONNECT is received; see Connection.ClientID.
	AssignClientID func() string

	// TopicAliases chooses how a v5 Connection uses Topic Aliases on its
	// own for PUBLISH packets sent without one, within the peer's Topic
	// Alias Maximum.
	TopicAliases AliasMode
	// MaxOutgoingAliases, when above 0, caps the Topic Aliases the
	// Connection uses towards the peer below the peer's Topic Alias
	// Maximum, as if the peer had announced it: a server that maps the
	// topics of many clients bounds what each mapping holds (a topic and
	// a few bytes per alias). A PUBLISH the caller sends with an alias
	// above it is refused (ErrAlias).
	MaxOutgoingAliases uint16

	// Each of these turns one automatic behaviour off. The caller then
	// sends that packet itself with Send when it chooses.
	ManualPuback   bool // PUBACK for a QoS 1 PUBLISH received
	ManualPubrec   bool // PUBREC for a QoS 2 PUBLISH received
	ManualPubrel   bool // PUBREL for a PUBREC received
	ManualPubcomp  bool // PUBCOMP for a PUBREL received
	ManualPingresp bool // PINGRESP for a PINGREQ (server)
}

func (c *Config) version(r Role) packet.Version {
	if c.Version == 0 && r == RoleClient {
		return packet.V5
	}
	return c.Version
}

// AliasMode is how a Connection assigns Topic Aliases to outgoing PUBLISH
// packets that do not carry one.
type AliasMode uint8

// The alias modes.
const (
	// AliasOff sends topics as given; only aliases the caller sets are used.
	AliasOff AliasMode = iota
	// AliasReplace replaces a topic by its alias when the caller mapped it
	// earlier on this connection.
	AliasReplace
	// AliasAuto maps each new topic to an alias, evicting the least
	// recently used mapping when all are taken, and replaces mapped topics
	// by their alias.
	AliasAuto
)
