package broker

import (
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// The topic tree (live messages) and the retained store (retained
// messages, matched per filter) agree with the matching rules of section
// 4.7; package topic tests the rules in full.
func TestTopicMatching(t *testing.T) {
	cases := []struct {
		name, filter, topic string
		want                bool
	}{
		{"exact", "a/b", "a/b", true},
		{"exact other", "a/b", "a/c", false},
		{"MQTT-4.7.1-2 plus is one level", "a/+", "a/b", true},
		{"MQTT-4.7.1-2 plus not two levels", "a/+", "a/b/c", false},
		{"MQTT-4.7.1-2 plus not zero levels", "a/+", "a", false},
		{"MQTT-4.7.1-2 plus matches an empty level", "a/+/c", "a//c", true},
		{"MQTT-4.7.1-1 hash any depth", "a/#", "a/b/c/d", true},
		{"MQTT-4.7.1-1 hash includes the parent", "a/#", "a", true},
		{"hash alone", "#", "x/y", true},
		{"plus then hash", "+/#", "x", true},
		{"leading empty level", "/+", "/a", true},
		{"leading empty level vs plus", "+", "/a", false},
		{"MQTT-4.7.2-1 hash vs $", "#", "$SYS/x", false},
		{"MQTT-4.7.2-1 plus vs $", "+/x", "$SYS/x", false},
		{"MQTT-4.7.2-1 explicit $", "$SYS/#", "$SYS/x", true},
		{"MQTT-4.7.2-1 $ then plus", "$SYS/+", "$SYS/x", true},
		{"wildcard below $ level", "a/#", "a/$x", true},
		{"case sensitive", "A", "a", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var retained retainedStore
			retained.store(&message{topic: tc.topic, payload: []byte("x")})
			if got := len(retained.matching(tc.filter)) == 1; got != tc.want {
				t.Errorf("retained: %q matched %q = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}
			var tree topicTree
			s := newSession("s")
			tree.subscribe(filterKey{filter: tc.filter}, s, subscription{})
			if got := matched(&tree, tc.topic); got != tc.want {
				t.Errorf("tree: %q matched %q = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}
			if !tree.unsubscribe(filterKey{filter: tc.filter}, s) || matched(&tree, tc.topic) {
				t.Errorf("unsubscribe from %q failed", tc.filter)
			}
		})
	}
}

// matched reports whether some subscription of the tree matches the
// topic name.
func matched(tree *topicTree, name string) bool {
	got := false
	found := func(*session, subscription) { got = true }
	tree.match(name, found, found)
	return got
}

// A v5 filter "$share/{ShareName}/{filter}" is a shared subscription to
// filter; in 3.1.1, which has none, it is an ordinary filter that matches
// itself.
func TestParseFilter(t *testing.T) {
	if k := parseFilter("$share/g/a/+", packet.V5); k != (filterKey{share: "g", filter: "a/+"}) {
		t.Errorf("MQTT-4.8.2-1 v5: %+v", k)
	}
	if k := parseFilter("a/+", packet.V5); k != (filterKey{filter: "a/+"}) {
		t.Errorf("v5 ordinary: %+v", k)
	}
	k := parseFilter("$share/g/a/+", packet.V311)
	if k != (filterKey{filter: "$share/g/a/+"}) {
		t.Errorf("3.1.1: %+v", k)
	}
	var tree topicTree
	s := newSession("s")
	s.goLive(false, nil)
	tree.subscribe(k, s, subscription{})
	if matched(&tree, "a/b") || !matched(&tree, "$share/g/a/b") {
		t.Error("3.1.1: $share/g/a/+ is not an ordinary filter")
	}
	tree.subscribe(parseFilter("$share/g/a/+", packet.V5), s, subscription{})
	if !matched(&tree, "a/b") {
		t.Error("v5: $share/g/a/+ does not match a/b")
	}
}
