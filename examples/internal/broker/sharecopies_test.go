package broker_test

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// TestShareGroupCopies: a share group's message is a copy of its own,
// not merged with what the session's other subscriptions get (MQTT 5.0
// section 4.8.2: a client with a shared and a non-shared subscription
// that a message matches may receive a copy for each). mqtttest's
// CheckBroker found the merge: a client in two share groups got one
// copy, and one group none.
func TestShareGroupCopies(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	c := dial(t, addr, packet.V5, connect("member"))
	subscribe(t, c, packet.Subscription{Filter: "$share/g/P/a/+", QoS: packet.QoS2})
	subscribe(t, c, packet.Subscription{Filter: "$share/g/P/#", QoS: packet.QoS1})
	subscribe(t, c, packet.Subscription{Filter: "P/a/b", QoS: packet.QoS1})
	pub := dial(t, addr, packet.V311, connect("publisher"))
	publish(t, pub, "P/a/b", packet.QoS1, false, "m1")
	for range 3 { // the ordinary subscription's and one for each group
		expect(t, c, "P/a/b", "m1", packet.QoS1)
	}
	publish(t, pub, "P/x", packet.QoS1, false, "m2")
	expect(t, c, "P/x", "m2", packet.QoS1) // $share/g/P/# only
	quiet(t, c)
}
