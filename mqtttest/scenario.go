package mqtttest

import (
	"fmt"
	"strings"

	"github.com/mqttcore/mqtt/packet"
	"pgregory.net/rapid"
)

// A CheckBroker scenario: a few clients, each of one protocol version,
// and the steps they take one after the other. Client 0 is the monitor:
// it subscribes to every topic of the scenario and never leaves, so that
// what it receives tells the check that the broker has routed a message.

// topicNames are the scenario's topics, under its prefix.
var topicNames = []string{"a", "a/b", "a/c", "d/b"}

// filterNames are its ordinary topic filters, under its prefix.
var filterNames = []string{"a", "a/b", "a/+", "+/b", "#", "a/#"}

// sharedFilters are the shared subscriptions' filters ($share/g/ and the
// prefix before them).
var sharedFilters = []string{"a/+", "#"}

// clientSpec is how a client connects, each time it connects.
type clientSpec struct {
	Version    packet.Version
	Persistent bool // Clean Start 0 (Clean Session 0), and in v5 a Session Expiry
	Will       *willSpec
	ReceiveMax uint16 // v5: the Receive Maximum it announces (0: none)
	AliasMax   uint16 // v5: the Topic Alias Maximum it announces
}

type willSpec struct {
	Topic  int
	QoS    packet.QoS
	Retain bool
}

func (c clientSpec) String() string {
	var b strings.Builder
	b.WriteString(versionName(c.Version))
	if c.Persistent {
		b.WriteString(" persistent session")
	}
	if c.Will != nil {
		fmt.Fprintf(&b, " will(%s qos%d", topicNames[c.Will.Topic], c.Will.QoS)
		if c.Will.Retain {
			b.WriteString(" retained")
		}
		b.WriteString(")")
	}
	if c.ReceiveMax > 0 {
		fmt.Fprintf(&b, " receive-max %d", c.ReceiveMax)
	}
	if c.AliasMax > 0 {
		fmt.Fprintf(&b, " topic-alias-max %d", c.AliasMax)
	}
	return b.String()
}

func versionName(v packet.Version) string {
	if v == packet.V5 {
		return "v5"
	}
	return "v3.1.1"
}

// stepKind is what a step does.
type stepKind uint8

const (
	stepSubscribe   stepKind = iota // Filter (Shared: a shared one), QoS and the v5 options
	stepUnsubscribe                 // Filter
	stepPublish                     // Count messages on Topic at QoS, Retain, Empty
	stepDisconnect                  // DISCONNECT, then close: the will is discarded
	stepDrop                        // close without DISCONNECT: the will is published
	stepConnect                     // connect again (Clean: with Clean Start 1)
)

// step is one action of one client. A step that does not apply when its
// turn comes (a publish from a client that is not connected, say) is
// skipped, so that every part of a scenario shrinks on its own.
type step struct {
	Kind   stepKind
	Client int
	Topic  int // stepPublish: index in topicNames
	Filter int // index in filterNames, or sharedFilters when Shared
	Shared bool
	QoS    packet.QoS
	Retain bool
	Empty  bool // an empty payload: removes the retained message
	Count  int  // stepPublish: messages sent back to back
	Clean  bool // stepConnect

	NoLocal, RetainAsPublished bool
	RetainHandling             byte
}

func (s step) filter(prefix string) string {
	if s.Shared {
		return "$share/g/" + prefix + "/" + sharedFilters[s.Filter]
	}
	return prefix + "/" + filterNames[s.Filter]
}

func (s step) String() string {
	c := fmt.Sprintf("c%d", s.Client)
	switch s.Kind {
	case stepSubscribe:
		f := "P/" + filterNames[min(s.Filter, len(filterNames)-1)]
		if s.Shared {
			f = "$share/g/P/" + sharedFilters[s.Filter]
		}
		opts := ""
		if s.NoLocal {
			opts += " no-local"
		}
		if s.RetainAsPublished {
			opts += " retain-as-published"
		}
		if s.RetainHandling != 0 {
			opts += fmt.Sprintf(" retain-handling %d", s.RetainHandling)
		}
		return fmt.Sprintf("%s subscribe %s qos%d%s", c, f, s.QoS, opts)
	case stepUnsubscribe:
		return fmt.Sprintf("%s unsubscribe %s", c, s.filter("P"))
	case stepPublish:
		what := fmt.Sprintf("%s publish P/%s qos%d", c, topicNames[s.Topic], s.QoS)
		if s.Retain {
			what += " retained"
		}
		if s.Empty {
			what += " empty"
		}
		if s.Count > 1 {
			what += fmt.Sprintf(" x%d", s.Count)
		}
		return what
	case stepDisconnect:
		return c + " disconnect"
	case stepDrop:
		return c + " drops the connection"
	case stepConnect:
		if s.Clean {
			return c + " connects with clean start"
		}
		return c + " connects again"
	}
	return "?"
}

// scenario is what one rapid check draws.
type scenario struct {
	Clients []clientSpec // [0] is the monitor
	Steps   []step
}

func (s *scenario) String() string {
	var b strings.Builder
	b.WriteString("clients (topics under a prefix P):\n")
	for i, c := range s.Clients {
		role := ""
		if i == 0 {
			role = ", monitor subscribed to P/# qos2"
		}
		fmt.Fprintf(&b, "  c%d: %v%s\n", i, c, role)
	}
	b.WriteString("steps:\n")
	for i, st := range s.Steps {
		fmt.Fprintf(&b, "  %d. %v\n", i+1, st)
	}
	return b.String()
}

// drawScenario draws a scenario within what o says the broker supports.
func drawScenario(t *rapid.T, o *BrokerOptions) *scenario {
	versions := o.versions()
	maxQoS := int(o.maxQoS())
	n := rapid.IntRange(1, 3).Draw(t, "clients")
	s := &scenario{}
	for i := 0; i <= n; i++ {
		c := clientSpec{Version: rapid.SampledFrom(versions).Draw(t, fmt.Sprintf("c%d version", i))}
		if i > 0 {
			c.Persistent = !o.NoSessions && rapid.Bool().Draw(t, fmt.Sprintf("c%d persistent", i))
			if !o.NoWills && rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("c%d will", i)) == 0 {
				c.Will = &willSpec{
					Topic:  rapid.IntRange(0, len(topicNames)-1).Draw(t, fmt.Sprintf("c%d will topic", i)),
					QoS:    packet.QoS(rapid.IntRange(0, maxQoS).Draw(t, fmt.Sprintf("c%d will qos", i))),
					Retain: !o.NoRetain && rapid.Bool().Draw(t, fmt.Sprintf("c%d will retain", i)),
				}
			}
		}
		if c.Version == packet.V5 {
			if !o.NoReceiveMaximum {
				c.ReceiveMax = uint16(rapid.SampledFrom([]int{0, 0, 1, 2, 3}).Draw(t, fmt.Sprintf("c%d receive max", i)))
			}
			if !o.NoTopicAliases {
				c.AliasMax = uint16(rapid.SampledFrom([]int{0, 1, 4}).Draw(t, fmt.Sprintf("c%d topic alias max", i)))
			}
		}
		s.Clients = append(s.Clients, c)
	}
	s.Steps = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) step {
		return drawStep(t, o, s.Clients, maxQoS)
	}), 1, o.steps()).Draw(t, "steps")
	return s
}

func drawStep(t *rapid.T, o *BrokerOptions, clients []clientSpec, maxQoS int) step {
	st := step{Client: rapid.IntRange(0, len(clients)-1).Draw(t, "client")}
	v5 := clients[st.Client].Version == packet.V5
	kinds := []stepKind{stepPublish, stepPublish, stepPublish, stepSubscribe, stepSubscribe, stepUnsubscribe}
	if st.Client > 0 { // the monitor stays
		kinds = append(kinds, stepDisconnect, stepDrop, stepConnect, stepConnect)
	}
	st.Kind = rapid.SampledFrom(kinds).Draw(t, "kind")
	switch st.Kind {
	case stepSubscribe, stepUnsubscribe:
		st.Shared = v5 && !o.NoShared && st.Client > 0 && rapid.IntRange(0, 3).Draw(t, "shared") == 0
		if st.Shared {
			st.Filter = rapid.IntRange(0, len(sharedFilters)-1).Draw(t, "filter")
		} else {
			st.Filter = rapid.IntRange(0, len(filterNames)-1).Draw(t, "filter")
		}
		st.QoS = packet.QoS(rapid.IntRange(0, 2).Draw(t, "qos"))
		if st.Kind == stepSubscribe && v5 {
			st.NoLocal = !st.Shared && !o.NoNoLocal && rapid.IntRange(0, 3).Draw(t, "no local") == 0
			st.RetainAsPublished = rapid.Bool().Draw(t, "retain as published")
			st.RetainHandling = byte(rapid.IntRange(0, 2).Draw(t, "retain handling"))
		}
	case stepPublish:
		st.Topic = rapid.IntRange(0, len(topicNames)-1).Draw(t, "topic")
		st.QoS = packet.QoS(rapid.IntRange(0, maxQoS).Draw(t, "qos"))
		st.Retain = !o.NoRetain && rapid.IntRange(0, 2).Draw(t, "retain") == 0
		st.Empty = st.Retain && rapid.IntRange(0, 3).Draw(t, "empty") == 0
		st.Count = rapid.SampledFrom([]int{1, 1, 1, 2, 5}).Draw(t, "count")
	case stepConnect:
		st.Clean = rapid.IntRange(0, 3).Draw(t, "clean") == 0
	}
	return st
}
