package cluster

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// validKey is the rule nats.go (jetstream/kv.go, keyValid) and ADR-8 give
// for a key: these bytes only, no '.' first or last, no "..".
var validKey = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

func isValidKey(k string) bool {
	return validKey.MatchString(k) && k[0] != '.' && k[len(k)-1] != '.' && !strings.Contains(k, "..")
}

// TestTopicKeyRoundTrip: every topic has a valid key, which maps back to
// it (so no two topics share a key).
func TestTopicKeyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		name := genTopic().Draw(t, "topic")
		if rapid.Bool().Draw(t, "odd") {
			// Bytes the subject keeps and a key may not hold.
			name += rapid.SampledFrom([]string{"=", "!", "ü", "~", "'", ":"}).Draw(t, "odd byte")
		}
		key, err := TopicKey(name)
		if err != nil {
			t.Fatalf("TopicKey(%q): %v", name, err)
		}
		if !isValidKey(key) {
			t.Fatalf("TopicKey(%q) = %q: not a valid key", name, key)
		}
		back, err := KeyTopic(key)
		if err != nil || back != name {
			t.Fatalf("KeyTopic(%q) = %q, %v; want %q", key, back, err, name)
		}
	})
}

func TestTopicKeyExamples(t *testing.T) {
	for _, tc := range []struct{ topic, key string }{
		{"a/b", "m.a.b"},
		{"$SYS/x", "d.=2524SYS.x"},
		{"a//b", "m.a.=25.b"},
		{"a.b/c d", "m.a=252Eb.c=2520d"},
		{"x=y/ü", "m.x=3Dy.=C3=BC"},
	} {
		got, err := TopicKey(tc.topic)
		if err != nil || got != tc.key {
			t.Errorf("TopicKey(%q) = %q, %v; want %q", tc.topic, got, err, tc.key)
		}
	}
}

func TestKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		key string
		err error
	}{
		{"m.a=3", ErrBadKey},   // short escape
		{"m.=61", ErrBadKey},   // needless escape
		{"m.=3d", ErrBadKey},   // lower-case hex
		{"m.a%2E", ErrBadKey},  // a byte a key does not hold
		{"x.a", ErrBadKey},     // no namespace
		{"m.=2561", ErrBadKey}, // the subject's escape needless
	} {
		if _, err := KeyTopic(tc.key); !errors.Is(err, tc.err) {
			t.Errorf("KeyTopic(%q): %v, want %v", tc.key, err, tc.err)
		}
	}
	// A topic whose subject fits and whose key does not.
	name := strings.Repeat("ü", MaxSubjectLen/2-2)
	if _, err := TopicSubject(name); err != nil {
		t.Fatal(err)
	}
	if _, err := TopicKey(name); !errors.Is(err, ErrTooLong) {
		t.Errorf("TopicKey of %d bytes of UTF-8: %v, want ErrTooLong", len(name), err)
	}
}

// FuzzKeyTopic: a key is accepted only if it is the one TopicKey makes of
// the topic it decodes to, and then it is a valid key.
func FuzzKeyTopic(f *testing.F) {
	for _, s := range []string{"m.a.b", "d.=2524SYS.x", "m.=25", "m.=3D", "m.a=3", "x", "m..", "m.=61"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		name, err := KeyTopic(key)
		if err != nil {
			return
		}
		again, err := TopicKey(name)
		if err != nil || again != key || !isValidKey(key) {
			t.Fatalf("KeyTopic(%q) = %q, whose key is %q, %v", key, name, again, err)
		}
	})
}
