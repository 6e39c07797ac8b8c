package fuzz

import (
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/topic"
)

// FuzzMatch checks package topic on any filter and topic name: nothing
// panics; a Tree holding a valid filter, ordinary and shared, matches
// exactly the names topic.Match matches, and finds nothing once the
// subscriptions are removed; a filter the codec accepts in v5 splits into
// a ShareName and a valid filter that make it up again.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"a/+/c", "a/b/c"}, {"a/#", "a"}, {"#", "$SYS/x"}, {"+/x", "$a/x"},
		{"/+", "/a"}, {"a//#", "a/"}, {"$share/g/a/+", "a/b"}, {"+/+", "a/+"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		want := topic.Match(filter, name)
		share, inner, err := topic.SplitShared(filter)
		if err == nil && share != "" && filter != topic.SharePrefix+share+"/"+inner {
			t.Fatalf("SplitShared(%q) = %q, %q", filter, share, inner)
		}
		if packet.ValidTopicFilter(filter, packet.V5) == nil &&
			(err != nil || topic.ValidFilter(inner) != nil || strings.ContainsAny(share, "/+#")) {
			t.Fatalf("the codec accepts %q, but SplitShared says %q, %q, %v", filter, share, inner, err)
		}
		var tree topic.Tree[int, int]
		tree.Add(filter, 1, 1)
		tree.AddShared("g", filter, 2, 2)
		var got []int
		tree.Match(name, func(k, _ int) { got = append(got, k) })
		tree.MatchShared(name, func(g *topic.Group[int, int]) {
			k, _ := g.Member(g.Turn())
			got = append(got, k)
		})
		if topic.ValidFilter(filter) == nil {
			if n := map[bool]int{false: 0, true: 2}[want]; len(got) != n {
				t.Fatalf("Match(%q, %q) = %v, but the tree visited %v", filter, name, want, got)
			}
		}
		if !tree.Remove(filter, 1) || !tree.RemoveShared("g", filter, 2) {
			t.Fatalf("%q: the subscriptions were not removed", filter)
		}
		tree.Match(name, func(k, _ int) { t.Fatalf("%q still matches %q", filter, name) })
	})
}
