// Package mqtttest helps test MQTT software, ours or anyone's: rapid
// generators of valid packets of both protocol versions (Connect,
// Publish, Packet, ...), generators of invalid input that each break one
// named rule of the specification and say how a receiver must answer
// (Invalid), and a scriptable peer that plays a well- or ill-behaved
// client or broker over a net.Conn (Peer).
//
// The generators are pgregory.net/rapid generators: draw from them in a
// rapid.Check property, or take deterministic examples with Example.
//
//	rapid.Check(t, func(t *rapid.T) {
//		p := mqtttest.Publish[uint16](mqtttest.Options{Version: packet.V311}).Draw(t, "publish")
//		handle(p) // the code under test
//	})
package mqtttest
