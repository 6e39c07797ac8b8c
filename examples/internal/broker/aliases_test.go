package broker_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// aliasSubscriber connects a raw v5 client that announces the Topic
// Alias Maximum max (0: none) and subscribes to filter at QoS 0.
func aliasSubscriber(t *testing.T, addr string, max uint16, filter string) *raw {
	t.Helper()
	r := dialRaw(t, addr)
	r.send(&packet.Connect{ClientID: fmt.Sprintf("alias-sub-%d", max), CleanStart: true, KeepAlive: 30,
		Props: property.Properties{TopicAliasMaximum: max}})
	readType[*packet.Connack](r, packet.V5)
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter}}})
	readType[*packet.Suback](r, packet.V5)
	return r
}

// wire reads n PUBLISH packets from r and returns each one's topic and
// Topic Alias as sent ("t/1@1", "@1" for the alias alone, "t/1" for none).
func wire(r *raw, n int) []string {
	r.t.Helper()
	var got []string
	for range n {
		p := readType[*packet.Publish](r, packet.V5)
		s := strings.Clone(p.Topic)
		if a := p.Props.TopicAlias; a != 0 {
			s += fmt.Sprintf("@%d", a)
		}
		got = append(got, s)
	}
	return got
}

// The broker sends Topic Aliases to a v5 client that announced a Topic
// Alias Maximum, never above it (MQTT-3.1.2-29, MQTT-3.3.2-11), taking
// over the alias used least recently when all are taken; none to a
// client that announced none (MQTT-3.1.2-30); and none above
// Config.TopicAliasesOut, or at all when it is negative.
func TestOutgoingAliases_MQTT_3_1_2_29(t *testing.T) {
	t.Parallel()
	topics := []string{"a/1", "a/2", "a/1", "a/3", "a/2", "a/2"}
	for _, tc := range []struct {
		name       string
		aliasesOut int    // Config.TopicAliasesOut
		max        uint16 // the client's Topic Alias Maximum
		want       []string
	}{
		{"MQTT-3.1.2-29 two aliases", 0, 2, []string{"a/1@1", "a/2@2", "@1", "a/3@2", "a/2@1", "@1"}},
		{"MQTT-3.1.2-29 the broker's cap of one", 1, 2, []string{"a/1@1", "a/2@1", "a/1@1", "a/3@1", "a/2@1", "@1"}},
		{"MQTT-3.1.2-29 aliases for every topic", 0, 100, []string{"a/1@1", "a/2@2", "@1", "a/3@3", "@2", "@2"}},
		{"MQTT-3.1.2-30 no maximum, no alias", 0, 0, []string{"a/1", "a/2", "a/1", "a/3", "a/2", "a/2"}},
		{"MQTT-3.1.2-30 aliases off in the broker", -1, 2, []string{"a/1", "a/2", "a/1", "a/3", "a/2", "a/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startBrokerConfig(t, broker.Config{TopicAliasesOut: tc.aliasesOut})
			sub := aliasSubscriber(t, addr, tc.max, "a/#")
			pub := dial(t, addr, packet.V5, connect("alias-pub"))
			for _, topic := range topics {
				publish(t, pub, topic, packet.QoS1, false, "x")
			}
			if got := wire(sub, len(topics)); !slices.Equal(got, tc.want) {
				t.Errorf("on the wire %q, want %q", got, tc.want)
			}
		})
	}
}

// A client of package client that announces a Topic Alias Maximum
// resolves the aliases: each of many topics, cycled through more topics
// than aliases, arrives with its own name; and a session's messages kept
// while it is offline go with their topics to the next connection, which
// has no mapping yet (MQTT-3.3.2-7).
func TestOutgoingAliasesResolved_MQTT_3_3_2_7(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, broker.Config{TopicAliasesOut: 4})
	cn := persistent("alias-resolver", 300)
	cn.Props.TopicAliasMaximum = 8
	sub := dial(t, addr, packet.V5, cn)
	subscribe(t, sub, packet.Subscription{Filter: "m/#", QoS: packet.QoS1})
	pub := dial(t, addr, packet.V5, connect("alias-pub"))
	for round := range 3 {
		for i := range 6 {
			topic := fmt.Sprintf("m/%d", i)
			publish(t, pub, topic, packet.QoS1, false, fmt.Sprint(round))
			expect(t, sub, topic, fmt.Sprint(round), packet.QoS1)
		}
	}
	sub.Drop()
	publish(t, pub, "m/1", packet.QoS1, false, "offline")
	again := resume(t, addr, packet.V5, cn, sub)
	// The last message of the loop comes again first if its PUBACK did
	// not reach the broker before the drop (QoS 1: at least once).
	m := next(t, again)
	if m.Dup && m.Topic == "m/5" && string(m.Payload) == "2" {
		m = next(t, again)
	}
	if m.Topic != "m/1" || string(m.Payload) != "offline" {
		t.Fatalf("received %q %q after resuming, want \"m/1\" \"offline\"", m.Topic, m.Payload)
	}
	publish(t, pub, "m/1", packet.QoS1, false, "online")
	expect(t, again, "m/1", "online", packet.QoS1)
}
