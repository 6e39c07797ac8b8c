package fuzz

import (
	"github.com/mqttcore/mqtt/internal/testvectors"
	"github.com/mqttcore/mqtt/packet"
)

// vectorSeeds returns the hand-written wire vectors of version v (v3.1.1
// includes 3.1) from internal/testvectors, valid and malformed, with
// four-byte packet identifiers or standard ones.
func vectorSeeds(v packet.Version, id32 bool) [][]byte {
	same := func(w packet.Version) bool {
		return w == v || v == packet.V311 && w == packet.V31
	}
	var out [][]byte
	for _, tv := range testvectors.Valid {
		if same(tv.Version) && tv.ID32 == id32 {
			out = append(out, tv.Wire)
		}
	}
	for _, bad := range testvectors.Malformed {
		if same(bad.Version) {
			out = append(out, bad.Wire)
		}
	}
	return out
}
