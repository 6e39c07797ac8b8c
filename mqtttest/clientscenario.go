package mqtttest

import (
	"fmt"
	"strings"

	"github.com/mqttcore/mqtt/packet"
	"pgregory.net/rapid"
)

// A CheckClient scenario: the client's version, what the check's broker
// announces, and the steps, one after the other.

// clientTopics are the topics of a CheckClient scenario and clientFilters
// its filters, under its prefix.
var (
	clientTopics  = []string{"a", "b", "c/d"}
	clientFilters = []string{"a", "+", "#", "c/+"}
)

// cstepKind is what a CheckClient step does.
type cstepKind uint8

const (
	cstepSubscribe  cstepKind = iota // the application subscribes to Filter at QoS
	cstepPublish                     // the application publishes Count messages on Topic at QoS
	cstepDeliver                     // the broker sends Count messages on Topic at QoS
	cstepDrop                        // the broker ends the connection; the client connects again
	cstepDisconnect                  // the client disconnects, then connects again
	cstepIdle                        // nothing happens for 1.6 times the Keep Alive
)

// Hold: what the broker withholds from a published message's exchange.
const (
	holdNone    = iota
	holdAck     // no PUBACK (QoS 1) or PUBREC (QoS 2)
	holdPubcomp // QoS 2: PUBREC, but no PUBCOMP for the PUBREL
)

// cstep is one step of a CheckClient scenario.
type cstep struct {
	Kind   cstepKind
	Topic  int // index in clientTopics
	Filter int // index in clientFilters
	QoS    packet.QoS
	Count  int
	// cstepPublish: Hold the exchanges, then end the hold by ending the
	// connection (Drop) or by sending what was withheld.
	Hold int
	Drop bool
	// cstepDeliver: send each PUBLISH again with DUP before completing its
	// exchange (Dup), or end the connection right after sending (Drop).
	Dup bool
}

func (s cstep) String() string {
	switch s.Kind {
	case cstepSubscribe:
		return fmt.Sprintf("subscribe P/%s qos%d", clientFilters[s.Filter], s.QoS)
	case cstepPublish:
		what := fmt.Sprintf("publish P/%s qos%d x%d", clientTopics[s.Topic], s.QoS, s.Count)
		switch s.Hold {
		case holdAck:
			what += ", the broker withholds " + map[packet.QoS]string{1: "PUBACK", 2: "PUBREC"}[s.QoS]
		case holdPubcomp:
			what += ", the broker withholds PUBCOMP"
		}
		if s.Hold != holdNone {
			if s.Drop {
				what += ", then ends the connection (the client connects again)"
			} else {
				what += ", then sends it"
			}
		}
		return what
	case cstepDeliver:
		what := fmt.Sprintf("the broker sends P/%s qos%d x%d", clientTopics[s.Topic], s.QoS, s.Count)
		if s.Dup {
			what += ", each again with DUP before completing it"
		}
		if s.Drop {
			what += ", then ends the connection (the client connects again)"
		}
		return what
	case cstepDrop:
		return "the broker ends the connection; the client connects again"
	case cstepDisconnect:
		return "disconnect, then connect again"
	case cstepIdle:
		return "idle for 1.6 x Keep Alive"
	}
	return "?"
}

// clientScenario is what one CheckClient check draws.
type clientScenario struct {
	Version    packet.Version
	ReceiveMax uint16 // v5: the broker's Receive Maximum (0: none announced)
	AliasMax   uint16 // v5: the broker's Topic Alias Maximum
	Aliases    bool   // v5: the broker uses Topic Aliases when the client takes them
	Steps      []cstep
}

func (s *clientScenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: %s, persistent session; topics under a prefix P\n", versionName(s.Version))
	if s.Version == packet.V5 {
		fmt.Fprintf(&b, "broker: receive-max %d, topic-alias-max %d", s.ReceiveMax, s.AliasMax)
		if s.Aliases {
			b.WriteString(", sends Topic Aliases")
		}
		b.WriteString("\n")
	}
	b.WriteString("steps:\n")
	for i, st := range s.Steps {
		fmt.Fprintf(&b, "  %d. %v\n", i+1, st)
	}
	return b.String()
}

func drawClientScenario(t *rapid.T, o *ClientOptions) *clientScenario {
	s := &clientScenario{Version: rapid.SampledFrom(o.versions()).Draw(t, "version")}
	if s.Version == packet.V5 {
		s.ReceiveMax = uint16(rapid.SampledFrom([]int{0, 1, 2, 3}).Draw(t, "receive max"))
		s.AliasMax = uint16(rapid.SampledFrom([]int{0, 2}).Draw(t, "topic alias max"))
		s.Aliases = rapid.Bool().Draw(t, "aliases")
	}
	idle := !o.NoIdle && rapid.IntRange(0, 4).Draw(t, "idle") == 0
	s.Steps = rapid.SliceOfN(rapid.Custom(drawClientStep), 1, o.steps()).Draw(t, "steps")
	if idle {
		at := rapid.IntRange(0, len(s.Steps)).Draw(t, "idle at")
		s.Steps = append(s.Steps[:at], append([]cstep{{Kind: cstepIdle}}, s.Steps[at:]...)...)
	}
	return s
}

func drawClientStep(t *rapid.T) cstep {
	kinds := []cstepKind{cstepSubscribe, cstepSubscribe, cstepPublish, cstepPublish, cstepPublish,
		cstepDeliver, cstepDeliver, cstepDeliver, cstepDrop, cstepDisconnect}
	st := cstep{Kind: rapid.SampledFrom(kinds).Draw(t, "kind")}
	switch st.Kind {
	case cstepSubscribe:
		st.Filter = rapid.IntRange(0, len(clientFilters)-1).Draw(t, "filter")
		st.QoS = packet.QoS(rapid.IntRange(0, 2).Draw(t, "qos"))
	case cstepPublish, cstepDeliver:
		st.Topic = rapid.IntRange(0, len(clientTopics)-1).Draw(t, "topic")
		st.QoS = packet.QoS(rapid.IntRange(0, 2).Draw(t, "qos"))
		st.Count = rapid.SampledFrom([]int{1, 1, 2, 4}).Draw(t, "count")
		if st.QoS == 0 {
			break
		}
		if st.Kind == cstepPublish {
			st.Hold = rapid.IntRange(0, int(st.QoS)).Draw(t, "hold")
			st.Drop = st.Hold != holdNone && rapid.Bool().Draw(t, "drop")
		} else {
			st.Dup = rapid.IntRange(0, 2).Draw(t, "dup") == 0
			st.Drop = rapid.IntRange(0, 2).Draw(t, "drop") == 0
		}
	}
	return st
}

// The statements a client is held to, in both versions.
var (
	cruleNewID        = promise{"MQTT-2.2.1-3", "MQTT-2.3.1-2", "a new SUBSCRIBE, UNSUBSCRIBE or QoS 1 or 2 PUBLISH takes a packet identifier not in use"}
	cruleDupFirst1    = promise{"MQTT-4.3.2-2", "MQTT-4.3.2-1", "a new QoS 1 message is sent with DUP 0"}
	cruleDupFirst2    = promise{"MQTT-4.3.3-2", "MQTT-4.3.3-1", "a new QoS 2 message is sent with DUP 0"}
	cruleDupAgain     = promise{"MQTT-3.3.1-1", "MQTT-3.3.1-1", "a PUBLISH sent again carries DUP 1"}
	cruleDupQoS0      = promise{"MQTT-3.3.1-2", "MQTT-3.3.1-2", "a QoS 0 PUBLISH carries DUP 0"}
	cruleResend       = promise{"MQTT-4.4.0-1", "MQTT-4.4.0-1", "on resuming the session the client sends again every unacknowledged PUBLISH and PUBREL, with its original packet identifier"}
	cruleResendOrder  = promise{"MQTT-4.6.0-1", "MQTT-4.6.0-1", "PUBLISH packets sent again go in the order first sent"}
	cruleNoRepublish  = promise{"MQTT-4.3.3-6", "MQTT-4.3.3-1", "a QoS 2 PUBLISH is not sent again once its PUBREL was sent (once delivered, a message is not sent as a new one)"}
	cruleSend         = promise{"MQTT-4.3.2-2", "MQTT-4.3.2-1", "the client sends the message its application published"}
	cruleSendQoS2     = promise{"MQTT-4.3.3-2", "MQTT-4.3.3-1", "the client sends the message its application published"}
	cruleSendPubrel   = promise{"MQTT-4.3.3-4", "MQTT-4.3.3-1", "the sender answers PUBREC with PUBREL"}
	crulePuback       = promise{"MQTT-4.3.2-4", "MQTT-4.3.2-2", "the receiver of a QoS 1 PUBLISH answers with PUBACK and takes ownership of the message"}
	crulePubrec       = promise{"MQTT-4.3.3-8", "MQTT-4.3.3-2", "the receiver of a QoS 2 PUBLISH answers with PUBREC and takes ownership of the message"}
	crulePubcomp      = promise{"MQTT-4.3.3-11", "MQTT-4.3.3-2", "the receiver answers PUBREL with PUBCOMP"}
	cruleOnce         = promise{"MQTT-4.3.3-10", "MQTT-4.3.3-2", "a QoS 2 message is delivered once, even when the PUBLISH comes again before PUBREL"}
	cruleOrderPuback  = promise{"MQTT-4.6.0-2", "MQTT-4.6.0-2", "PUBACKs go in the order the PUBLISH packets came"}
	cruleOrderPubrec  = promise{"MQTT-4.6.0-3", "MQTT-4.6.0-3", "PUBRECs go in the order the PUBLISH packets came"}
	cruleOrderPubrel  = promise{"MQTT-4.6.0-4", "MQTT-4.6.0-4", "PUBRELs go in the order the PUBRECs came"}
	cruleKeepAlive    = promise{"MQTT-3.1.2-22", "MQTT-3.1.2-23", "the client sends a packet, PINGREQ if nothing else, within each Keep Alive"}
	cruleReceiveMax   = promise{"MQTT-3.3.4-7", "", "no more unacknowledged QoS 1 and 2 PUBLISH packets than the broker's Receive Maximum"}
	cruleAliasMax     = promise{"MQTT-3.3.2-9", "", "no Topic Alias above the broker's Topic Alias Maximum"}
	cruleAliasConn    = promise{"MQTT-3.3.2-7", "", "Topic Alias mappings end with the network connection (an alias alone names only a topic set on this connection)"}
	cruleAliasAccept  = promise{"MQTT-3.3.2-10", "", "the client accepts the broker's Topic Aliases within its Topic Alias Maximum"}
	cruleAtMostOnceIn = promise{"MQTT-4.3.1-1", "MQTT-4.3.1-1", "QoS 0: at most once"}
	cruleWellFormed   = promise{"MQTT-1.5.3-1", "MQTT-1.5.3-1", "every packet the client sends is well formed"}
)
