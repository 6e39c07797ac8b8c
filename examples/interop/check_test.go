package interop

import (
	"os"
	"strconv"
	"testing"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/mqtttest"
)

// checks is the number of CheckBroker scenarios per broker: 20 in CI,
// MQTTTEST_CHECKS of them for a thorough run (with -rapid.checks at
// least as large: it caps them, at 100 by default).
func checks(t *testing.T) int {
	if s := os.Getenv("MQTTTEST_CHECKS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("MQTTTEST_CHECKS=%q: %v", s, err)
		}
		return n
	}
	return 20
}

// CheckBroker against the example broker: both versions, every feature.
func TestCheckExampleBroker(t *testing.T) {
	addr := brokertest.Start(t, broker.Config{})
	mqtttest.CheckBroker(t, addr, mqtttest.BrokerOptions{Checks: checks(t)})
}

// CheckBroker against an embedded mochi broker, with options around
// five faults the check found in mochi 2.7.9 (see the README): No Local
// on one subscription keeps the client's own message from its other
// matching subscriptions too (MQTT-4.5.0-1), a
// message beyond a client's Receive Maximum left waiting until the client
// sends something (MQTT-4.5.0-1), a SUBACK 0x91 for a SUBSCRIBE whose
// identifier equals one of mochi's own PUBLISHes (in 3.1.1 a reason code
// the version does not have, MQTT-3.9.3-2), and a PUBLISH by Topic Alias
// alone before the alias was set (a Protocol Error), and now and then a
// retained message forwarded on an established subscription with RETAIN
// 1 (MQTT-3.3.1-12), which leaves retained messages unchecked here.
func TestCheckMochi(t *testing.T) {
	addr := startMochi(t)
	mqtttest.CheckBroker(t, addr, mqtttest.BrokerOptions{Checks: checks(t),
		NoReceiveMaximum: true, HighPacketIDs: true, NoTopicAliases: true, NoRetain: true, NoNoLocal: true})
}

// CheckBroker against a mosquitto the test starts, with options around
// what the check found in mosquitto 2.0 (see the README): a SUBSCRIBE
// that replaces a subscription keeps its Retain As Published (against
// MQTT-3.8.4-3), and more unacknowledged QoS 1 and 2 messages than a
// client's Receive Maximum (MQTT-3.3.4-9; TestMosquittoExceedsReceiveMaximum
// confirms it on raw sockets).
func TestCheckMosquitto(t *testing.T) {
	addr := startMosquitto(t)
	mqtttest.CheckBroker(t, addr, mqtttest.BrokerOptions{Checks: checks(t),
		KeepsOptions: true, NoReceiveMaximum: true})
}
