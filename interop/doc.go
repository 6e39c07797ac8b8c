// Package interop holds no code of its own: its tests check the mqttcore codec
// (packet, property) against two independent MQTT codecs, the packets
// packages of eclipse/paho.golang and mochi-mqtt/server/v2, in both
// directions, and its benchmarks compare the three.
//
// It is a nested module so that users of the core never download the peers.
//
//	cd interop && go test ./...
//	cd interop && go test -run '^$' -bench . -benchmem
package interop
