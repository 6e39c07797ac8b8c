// Package mqtttest tests MQTT software, ours or anyone's:
//
//   - generators (pgregory.net/rapid) of valid packets of both protocol
//     versions and both packet identifier widths: Connect, Publish,
//     Subscribe, ..., Of for one type and Packet for any, sized by Options;
//   - generators of invalid input that each break one named rule of the
//     specification, and say what the receiver owes it: Invalid, InvalidRule
//     and their Violation values;
//   - Peer, a scriptable client or broker over a net.Conn that sends what
//     a test tells it, misbehaves on request (fragmented and slow writes,
//     Receive Maximum exceeded, unknown Topic Aliases, QoS 2 duplicates,
//     oversize packets, silence past Keep Alive) and checks what arrives;
//   - CheckBroker, property checks of a live broker at an address: random
//     scenarios of clients of both versions, held to what the
//     specifications promise, shrunk to a small one on failure.
//   - CheckClient, property checks of a client program through a broker
//     the check plays: random scenarios of subscriptions, messages both
//     ways, withheld acknowledgements and ended connections, the client
//     held to what the specifications promise.
//
// Draw from the generators in a rapid property:
//
//	rapid.Check(t, func(t *rapid.T) {
//		p := mqtttest.Publish[uint16](mqtttest.Options{Version: packet.V311}).Draw(t, "publish")
//		handle(p) // the code under test
//	})
//
// The package imports pgregory.net/rapid and github.com/google/go-cmp; no
// other package of the module does outside its tests.
package mqtttest
