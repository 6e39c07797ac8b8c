// Package interop holds no code of its own: its tests check the mqttcore codec
// (packet, property) against two independent MQTT codecs, the packets
// packages of eclipse/paho.golang and mochi-mqtt/server/v2, in both
// directions, and its benchmarks compare the three. Its differential fuzz
// targets, FuzzDifferentialV5 and FuzzDifferentialV311, give the same bytes
// to the three decoders and fail on any disagreement that the table of
// differential_explain_test.go does not explain (a rule we apply and a peer
// does not, or a known peer bug).
//
// It is a nested module so that users of the core never download the peers.
//
//	cd interop && go test ./...
//	cd interop && go test -run '^$' -bench . -benchmem
//	cd interop && go test -run '^$' -fuzz '^FuzzDifferentialV5$' -fuzztime 10m -parallel 1
package interop
