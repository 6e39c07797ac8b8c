package packetid

import (
	"errors"
	"testing"

	"pgregory.net/rapid"
)

// TestAllocatorModel drives an Allocator with random Next, Use and Release
// calls against a map and checks that it never hands out 0 or an identifier
// in use (MQTT-2.2.1-3, MQTT-2.2.1-4), hands out the first free identifier
// after the last one (round-robin), and reports exhaustion as an error.
func TestAllocatorModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.Uint16Range(1, 300).Draw(t, "max")
		a := NewAllocator(max)
		used := map[uint16]bool{}
		var last uint16
		t.Repeat(map[string]func(*rapid.T){
			"next": func(t *rapid.T) {
				id, err := a.Next()
				if len(used) == int(max) {
					if !errors.Is(err, ErrExhausted) {
						t.Fatalf("Next with all %d in use: %d, %v", max, id, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				want := last
				for {
					want = want%max + 1
					if !used[want] {
						break
					}
				}
				if id != want {
					t.Fatalf("Next = %d, want %d (round-robin after %d)", id, want, last)
				}
				used[id], last = true, id
			},
			"release": func(t *rapid.T) {
				id := rapid.Uint16Range(0, max).Draw(t, "id")
				if got := a.Release(id); got != used[id] {
					t.Fatalf("Release(%d) = %v, in use %v", id, got, used[id])
				}
				delete(used, id)
			},
			"use": func(t *rapid.T) {
				id := rapid.Uint16Range(0, max).Draw(t, "id")
				err := a.Use(id)
				if (err == nil) != (id != 0 && !used[id]) {
					t.Fatalf("Use(%d) = %v, in use %v", id, err, used[id])
				}
				if err == nil {
					used[id] = true
				}
			},
			"": func(t *rapid.T) {
				if a.InUse() != len(used) {
					t.Fatalf("InUse = %d, want %d", a.InUse(), len(used))
				}
				for id := uint16(0); id <= max; id++ {
					if a.InUseID(id) != used[id] {
						t.Fatalf("InUseID(%d) = %v, want %v", id, a.InUseID(id), used[id])
					}
				}
			},
		})
	})
}

func TestAllocatorNeverZeroAcrossWrap(t *testing.T) {
	var a Allocator[uint16]
	for i := 0; i < 3*65535; i++ {
		id, err := a.Next()
		if err != nil || id == 0 {
			t.Fatalf("step %d: id %d, err %v", i, id, err)
		}
		if !a.Release(id) {
			t.Fatalf("Release(%d) = false", id)
		}
	}
}

func TestAllocatorExhaustsUint16(t *testing.T) {
	var a Allocator[uint16]
	for i := 0; i < 65535; i++ {
		if _, err := a.Next(); err != nil {
			t.Fatalf("after %d: %v", i, err)
		}
	}
	if _, err := a.Next(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Next with 65535 in use: %v", err)
	}
	a.Release(7)
	if id, err := a.Next(); id != 7 || err != nil {
		t.Fatalf("Next after releasing 7 = %d, %v", id, err)
	}
}

func TestAllocatorUint32(t *testing.T) {
	var a Allocator[uint32]
	if Size[uint32]() != 4 || Size[uint16]() != 2 {
		t.Fatal("Size: want 4 and 2")
	}
	if err := a.Use(^uint32(0)); err != nil {
		t.Fatal(err)
	}
	a.last = ^uint32(0) - 1
	if id, _ := a.Next(); id != 1 {
		t.Fatalf("Next after the top = %d, want 1 (wrapped, skipping 0 and the one in use)", id)
	}
}

func TestAllocatorSteadyStateAllocatesNothing(t *testing.T) {
	var a Allocator[uint16]
	ids := make([]uint16, 100)
	for i := range ids {
		ids[i], _ = a.Next()
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for i := range ids {
			a.Release(ids[i])
			ids[i], _ = a.Next()
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round", allocs)
	}
}

func BenchmarkAllocatorNextRelease(b *testing.B) {
	var a Allocator[uint16]
	window := make([]uint16, 64)
	for i := range window {
		window[i], _ = a.Next()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a.Release(window[i])
		window[i], _ = a.Next()
		i = (i + 1) % len(window)
	}
}
