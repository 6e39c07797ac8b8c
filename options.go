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

	// PingInterval overrides the interval between a client's PINGREQs;
	// 0 means the Server Keep Alive, or else the CONNECT's Keep Alive.
	PingInterval time.Duration
	// PingTimeout is how long a client waits for PINGRESP before it
	// closes the connection; 0 means the ping interval.
	PingTimeout time.Duration

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
