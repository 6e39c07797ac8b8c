package topic_test

import (
	"fmt"

	"github.com/mqttcore/mqtt/topic"
)

func ExampleMatch() {
	fmt.Println(topic.Match("sensors/+/temp", "sensors/kitchen/temp"))
	fmt.Println(topic.Match("sensors/+/temp", "sensors/kitchen/hall/temp"))
	fmt.Println(topic.Match("sensors/#", "sensors"))
	fmt.Println(topic.Match("#", "$SYS/uptime"))
	fmt.Println(topic.Match("$SYS/#", "$SYS/uptime"))
	// Output:
	// true
	// false
	// true
	// false
	// true
}

// A client's message handlers, by topic filter: every handler whose
// filter matches a message's topic gets the message.
func ExampleTree() {
	var handlers topic.Tree[string, func(topic string)]
	handlers.Add("sensors/+/temp", "temperature", func(t string) { fmt.Println("temperature of", t) })
	handlers.Add("sensors/#", "log", func(t string) { fmt.Println("log", t) })
	handlers.Add("alarms/#", "alarm", func(t string) { fmt.Println("alarm", t) })

	handlers.Match("sensors/kitchen/temp", func(_ string, h func(string)) { h("sensors/kitchen/temp") })
	// Unordered output:
	// temperature of sensors/kitchen/temp
	// log sensors/kitchen/temp
}

// A broker's subscriptions, ordinary and shared: a message goes to every
// ordinary subscriber, and to one member of each share group, in turn.
func ExampleTree_MatchShared() {
	var subs topic.Tree[string, byte] // client -> granted QoS
	subscribe := func(client, filter string, qos byte) {
		share, filter, err := topic.SplitShared(filter)
		if err == nil {
			err = topic.ValidFilter(filter)
		}
		switch {
		case err != nil:
			fmt.Println(client, err)
		case share != "":
			subs.AddShared(share, filter, client, qos)
		default:
			subs.Add(filter, client, qos)
		}
	}
	subscribe("w1", "$share/workers/jobs/+", 1)
	subscribe("w2", "$share/workers/jobs/+", 1)
	subscribe("monitor", "jobs/#", 0)
	subscribe("w3", "$share//jobs/+", 1)

	for _, job := range []string{"jobs/1", "jobs/2", "jobs/3"} {
		subs.Match(job, func(client string, qos byte) { fmt.Println(job, "to", client) })
		subs.MatchShared(job, func(g *topic.Group[string, byte]) {
			client, _ := g.Member(g.Turn())
			fmt.Println(job, "to", client, "of", g.Name())
		})
	}
	// Output:
	// w3 topic: shared subscription without a share name
	// jobs/1 to monitor
	// jobs/1 to w1 of workers
	// jobs/2 to monitor
	// jobs/2 to w2 of workers
	// jobs/3 to monitor
	// jobs/3 to w1 of workers
}
