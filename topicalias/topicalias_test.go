package topicalias

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"pgregory.net/rapid"
)

// TestSenderReceiverAgree sends random topics through a Sender and resolves
// what would go on the wire with a Receiver: every topic arrives intact,
// aliases stay within the maximum (MQTT-3.3.2-9, MQTT-3.3.2-11, and the
// receiver accepts them all, MQTT-3.3.2-10, MQTT-3.3.2-12), a mapped topic
// is sent as the alias alone, and a full table evicts the least recently
// used mapping.
func TestSenderReceiverAgree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.Uint16Range(0, 6).Draw(t, "max")
		s, r := NewSender(max), NewReceiver(max)
		var lru []string // most recently used first
		for i := rapid.IntRange(1, 60).Draw(t, "n"); i > 0; i-- {
			topic := fmt.Sprintf("t/%d", rapid.IntRange(0, 9).Draw(t, "topic"))
			alias, withTopic := s.Map(topic)
			if alias > max {
				t.Fatalf("alias %d above maximum %d", alias, max)
			}
			wasMapped := slices.Contains(lru, topic)
			if max == 0 {
				if alias != 0 || !withTopic {
					t.Fatalf("Map with maximum 0 = %d, %v", alias, withTopic)
				}
			} else if withTopic == wasMapped {
				t.Fatalf("Map(%q) withTopic = %v, mapped before = %v", topic, withTopic, wasMapped)
			}
			if max > 0 {
				if wasMapped {
					lru = slices.DeleteFunc(lru, func(s string) bool { return s == topic })
				} else if len(lru) == int(max) {
					evicted := lru[len(lru)-1]
					lru = lru[:len(lru)-1]
					if _, ok := s.Lookup(evicted); ok {
						t.Fatalf("%q should have been evicted, least recently used", evicted)
					}
				}
				lru = append([]string{topic}, lru...)
				// Lookup of the topic just sent keeps it most recent.
				if a, ok := s.Lookup(topic); !ok || a != alias {
					t.Fatalf("Lookup(%q) = %d, %v; want %d", topic, a, ok, alias)
				}
			}
			wire := topic
			if !withTopic {
				wire = ""
			}
			got, err := r.Resolve(wire, alias)
			if err != nil || got != topic {
				t.Fatalf("Resolve(%q, %d) = %q, %v; want %q", wire, alias, got, err, topic)
			}
		}
	})
}

func TestReceiverRejects(t *testing.T) {
	r := NewReceiver(3)
	cases := []struct {
		name  string
		topic string
		alias uint16
		want  error
	}{
		{"MQTT-3.3.2-12/alias above maximum", "a", 4, ErrAliasOutOfRange},
		{"MQTT-3.3.2-7/alias never mapped", "", 2, ErrAliasUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Resolve(c.topic, c.alias)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := NewReceiver(0).Resolve("a", 1); !errors.Is(err, ErrAliasOutOfRange) {
		t.Fatalf("maximum 0 accepted alias 1: %v", err)
	}
}

// MQTT-3.3.2-7: mappings do not outlive the network connection.
func TestResetForgetsMappings(t *testing.T) {
	s, r := NewSender(2), NewReceiver(2)
	alias, _ := s.Map("a/b")
	if _, err := r.Resolve("a/b", alias); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	r.Reset()
	if _, ok := s.Lookup("a/b"); ok {
		t.Fatal("Sender kept a mapping across Reset")
	}
	if _, err := r.Resolve("", alias); !errors.Is(err, ErrAliasUnknown) {
		t.Fatalf("Receiver kept a mapping across Reset: %v", err)
	}
	if a, with := s.Map("c"); a != 1 || !with {
		t.Fatalf("Map after Reset = %d, %v; want 1, true", a, with)
	}
}

func TestReceiverCopiesTopic(t *testing.T) {
	r := NewReceiver(1)
	buf := []byte("x/y")
	if _, err := r.Resolve(string(buf[:0])+unsafeAlias(buf), 1); err != nil {
		t.Fatal(err)
	}
	copy(buf, "zzz")
	if got, _ := r.Resolve("", 1); got != "x/y" {
		t.Fatalf("mapping changed with the read buffer: %q", got)
	}
}

func TestSenderSetAndSteadyState(t *testing.T) {
	s := NewSender(2)
	if s.Set(3, "a") || s.Set(0, "a") || s.Set(1, "") {
		t.Fatal("Set accepted an invalid alias or topic")
	}
	s.Set(2, "a")
	s.Set(1, "a") // moves "a" to alias 1
	if s.Topic(2) != "" || s.Topic(1) != "a" {
		t.Fatalf("after moving: alias 1 %q, alias 2 %q", s.Topic(1), s.Topic(2))
	}
	if allocs := testing.AllocsPerRun(100, func() { s.Map("a") }); allocs != 0 {
		t.Fatalf("Map of a mapped topic allocates %v times", allocs)
	}
}

// unsafeAlias returns a string sharing b's memory, as decoded topics do.
func unsafeAlias(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// A nil *Sender is a Sender for a peer that takes no Topic Alias
// (MQTT-3.1.2-30, MQTT-3.2.2-18): it maps nothing and never panics.
func TestNilSender(t *testing.T) {
	var s *Sender
	if s.Max() != 0 {
		t.Error("Max of nil")
	}
	if a, ok := s.Lookup("t"); ok || a != 0 {
		t.Error("Lookup of nil found an alias")
	}
	if a, with := s.Map("t"); a != 0 || !with {
		t.Error("Map of nil gave an alias")
	}
	if s.Set(1, "t") {
		t.Error("Set of nil succeeded")
	}
	if s.Topic(1) != "" {
		t.Error("Topic of nil")
	}
	s.Remove(1)
	s.Reset()
}

// TestSenderPeekChangesNothing checks that Peek answers what Map would and
// changes no mapping nor the eviction order, so that a PUBLISH that cannot
// be sent leaves the next one the alias it would have had; Commit after
// Peek is Map.
func TestSenderPeekChangesNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.Uint16Range(0, 4).Draw(t, "max")
		peeked, mapped := NewSender(max), NewSender(max)
		topics := rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f"}), 1, 40).Draw(t, "topics")
		for i, topic := range topics {
			a, with := peeked.Peek(topic)
			if rapid.Bool().Draw(t, fmt.Sprint("commit ", i)) {
				peeked.Commit(a, topic, with)
			} else if b, w := peeked.Peek(topic); a != b || with != w {
				t.Fatalf("%q: Peek = %d, %v, then %d, %v", topic, a, with, b, w)
			} else {
				continue // not sent: the twin sends nothing either
			}
			if b, w := mapped.Map(topic); a != b || with != w {
				t.Fatalf("%q: Peek then Commit = %d, %v; Map = %d, %v", topic, a, with, b, w)
			}
			for alias := uint16(1); alias <= max; alias++ {
				if peeked.Topic(alias) != mapped.Topic(alias) {
					t.Fatalf("alias %d: %q, by Map %q", alias, peeked.Topic(alias), mapped.Topic(alias))
				}
			}
		}
	})
}
