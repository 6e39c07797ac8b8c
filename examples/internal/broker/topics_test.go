package broker

import "testing"

// The topic tree (live messages) and matches (retained messages) agree
// with the matching rules of section 4.7.
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
			if got := matches(tc.filter, tc.topic); got != tc.want {
				t.Errorf("matches(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}
			var tree topicTree
			s := newSession("s")
			tree.subscribe(filterKey{filter: tc.filter}, s, subscription{})
			got := false
			tree.match(tc.topic, func(*session, subscription) { got = true })
			if got != tc.want {
				t.Errorf("tree: %q matched %q = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}
			if !tree.unsubscribe(filterKey{filter: tc.filter}, s) || len(tree.root.children) != 0 {
				t.Errorf("unsubscribe left %v", tree.root.children)
			}
		})
	}
}
