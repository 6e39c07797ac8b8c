package packetid

import (
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestMapModel checks Map against Go's map under random Set, Delete and
// lookups, with identifiers drawn from a small range so that probe chains
// collide, wrap around and are repaired by backward-shift deletion.
func TestMapModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var m Map[uint16, int]
		model := map[uint16]int{}
		idGen := rapid.Uint16Range(0, 80)
		t.Repeat(map[string]func(*rapid.T){
			"set": func(t *rapid.T) {
				id, v := idGen.Draw(t, "id"), rapid.Int().Draw(t, "v")
				if m.Set(id, v) != (id != 0) {
					t.Fatalf("Set(%d) result", id)
				}
				if id != 0 {
					model[id] = v
				}
			},
			"delete": func(t *rapid.T) {
				id := idGen.Draw(t, "id")
				_, had := model[id]
				if m.Delete(id) != had {
					t.Fatalf("Delete(%d) = %v, want %v", id, !had, had)
				}
				delete(model, id)
			},
			"": func(t *rapid.T) {
				if m.Len() != len(model) {
					t.Fatalf("Len %d, want %d", m.Len(), len(model))
				}
				for id := uint16(0); id <= 80; id++ {
					v, ok := m.Get(id)
					want, wantOK := model[id]
					if ok != wantOK || v != want {
						t.Fatalf("Get(%d) = %d, %v; want %d, %v", id, v, ok, want, wantOK)
					}
				}
				got := maps.Collect(m.All())
				if !maps.Equal(got, model) {
					t.Fatalf("All = %v, want %v", got, model)
				}
				keys := slices.Sorted(maps.Keys(model))
				if k := m.Keys(nil); !slices.Equal(k, keys) {
					t.Fatalf("Keys = %v, want %v (in increasing order)", k, keys)
				}
			},
		})
	})
}

func TestMapSteadyStateAllocatesNothing(t *testing.T) {
	var m Map[uint32, byte]
	for id := uint32(1); id <= 100; id++ {
		m.Set(id, 1)
	}
	next := uint32(101)
	allocs := testing.AllocsPerRun(1000, func() {
		m.Delete(next - 100)
		m.Set(next, 1)
		next++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Delete+Set", allocs)
	}
}
