package topic

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// collect returns the keys and values Tree.Match visits for name, as
// "key=value", sorted.
func collect[K comparable, V any](tree *Tree[K, V], name string) []string {
	var out []string
	tree.Match(name, func(k K, v V) { out = append(out, fmt.Sprintf("%v=%v", k, v)) })
	slices.Sort(out)
	return out
}

// groups returns the share groups Tree.MatchShared visits for name, each
// as "name:key=value,key=value" in the members' order, sorted.
func groups[K comparable, V any](tree *Tree[K, V], name string) []string {
	var out []string
	tree.MatchShared(name, func(g *Group[K, V]) {
		var ms []string
		for i := range g.Len() {
			k, v := g.Member(i)
			ms = append(ms, fmt.Sprintf("%v=%v", k, v))
		}
		out = append(out, g.Name()+":"+strings.Join(ms, ","))
	})
	slices.Sort(out)
	return out
}

// A key has one ordinary subscription to a filter: a second Add replaces
// its value (MQTT-3.8.4-3); Remove removes it once.
func TestTreeAddReplaceRemove(t *testing.T) {
	var tree Tree[string, int]
	if tree.Add("a/+", "s1", 1) || tree.Add("a/+", "s2", 2) || tree.Add("a/b", "s1", 3) {
		t.Fatal("a first Add reported a replacement")
	}
	if !tree.Add("a/+", "s1", 4) {
		t.Error("MQTT-3.8.4-3: a second Add of a filter did not report the replacement")
	}
	if got, want := collect(&tree, "a/b"), []string{"s1=3", "s1=4", "s2=2"}; !slices.Equal(got, want) {
		t.Errorf("MQTT-3.8.4-3: a/b matched %v, want %v", got, want)
	}
	if tree.Remove("a/b", "s2") || tree.Remove("a/+/c", "s1") || tree.Remove("x", "s1") {
		t.Error("Remove of a subscription that does not exist reported true")
	}
	if !tree.Remove("a/+", "s1") || tree.Remove("a/+", "s1") {
		t.Error("Remove did not remove exactly once")
	}
	if got, want := collect(&tree, "a/b"), []string{"s1=3", "s2=2"}; !slices.Equal(got, want) {
		t.Errorf("after Remove: a/b matched %v, want %v", got, want)
	}
	// Ordinary and shared subscriptions of one key to one filter are
	// distinct.
	tree.AddShared("g", "a/b", "s1", 5)
	if !tree.Remove("a/b", "s1") || collect(&tree, "a/b")[0] != "s2=2" {
		t.Error("Remove of the ordinary subscription failed beside a shared one")
	}
	if got, want := groups(&tree, "a/b"), []string{"g:s1=5"}; !slices.Equal(got, want) {
		t.Errorf("the shared subscription: %v, want %v", got, want)
	}
}

// A filter with many subscribers finds each key through its index, and
// lets the index go when few are left.
func TestTreeManySubscribers(t *testing.T) {
	var tree Tree[int, int]
	const n = 40
	for k := range n {
		tree.Add("a/b", k, k)
	}
	for k := range n {
		if !tree.Add("a/b", k, k+100) {
			t.Fatalf("key %d: second Add not a replacement", k)
		}
	}
	node := tree.root.children["a"].children["b"]
	if node.index == nil {
		t.Fatalf("%d subscriptions without an index", n)
	}
	// Remove in an order that moves the last entry into the gap.
	for k := 0; k < n; k += 2 {
		if !tree.Remove("a/b", k) {
			t.Fatalf("key %d not removed", k)
		}
	}
	var want []string
	for k := 1; k < n; k += 2 {
		want = append(want, fmt.Sprintf("%d=%d", k, k+100))
	}
	slices.Sort(want)
	if got := collect(&tree, "a/b"); !slices.Equal(got, want) {
		t.Fatalf("after removing the even keys: %v, want %v", got, want)
	}
	for k := 1; k < n-4; k += 2 {
		tree.Remove("a/b", k)
	}
	if node.index != nil || len(node.subs) != 2 {
		t.Errorf("%d subscriptions left with an index of %d", len(node.subs), len(node.index))
	}
	for k := n - 3; k < n; k += 2 {
		if !tree.Add("a/b", k, 0) {
			t.Errorf("key %d not found after the index went", k)
		}
	}
}

// A share group's members are in the order they joined; Turn goes round
// them; a member that leaves keeps the others' order, and the last one
// takes the group with it.
func TestTreeShareGroups(t *testing.T) {
	var tree Tree[string, int]
	for i, k := range []string{"a", "b", "c"} {
		if tree.AddShared("g", "x/+", k, i) {
			t.Fatalf("%s: first AddShared reported a replacement", k)
		}
	}
	tree.AddShared("h", "x/+", "a", 9)
	tree.AddShared("g", "x/#", "d", 7)
	if !tree.AddShared("g", "x/+", "b", 5) {
		t.Error("second AddShared of a member not a replacement")
	}
	want := []string{"g:a=0,b=5,c=2", "g:d=7", "h:a=9"}
	if got := groups(&tree, "x/y"); !slices.Equal(got, want) {
		t.Errorf("x/y: groups %v, want %v", got, want)
	}
	if got := collect(&tree, "x/y"); got != nil {
		t.Errorf("MQTT-4.8.2-1: shared subscriptions visited by Match: %v", got)
	}
	var g *Group[string, int]
	tree.MatchShared("x/y", func(m *Group[string, int]) {
		if m.Name() == "g" && m.Len() == 3 {
			g = m
		}
	})
	var turns []int
	for range 7 {
		turns = append(turns, g.Turn())
	}
	if !slices.Equal(turns, []int{0, 1, 2, 0, 1, 2, 0}) {
		t.Errorf("turns %v, want round-robin from 0", turns)
	}
	if !tree.RemoveShared("g", "x/+", "b") || tree.RemoveShared("g", "x/+", "b") ||
		tree.RemoveShared("h", "x/+", "b") || tree.RemoveShared("g", "x", "a") {
		t.Error("RemoveShared did not remove exactly the one membership")
	}
	want = []string{"g:a=0,c=2", "g:d=7", "h:a=9"}
	if got := groups(&tree, "x/y"); !slices.Equal(got, want) {
		t.Errorf("after b left: %v, want %v", got, want)
	}
	// Group finds one group by its name and its filter, and nothing else.
	if g := tree.Group("g", "x/#"); g == nil || g.Len() != 1 {
		t.Errorf(`Group("g", "x/#") = %v, want the group of d`, g)
	}
	if g := tree.Group("g", "x/+"); g == nil || g.Len() != 2 || g.Name() != "g" {
		t.Errorf(`Group("g", "x/+") = %v, want the group of a and c`, g)
	}
	for _, k := range []struct{ share, filter string }{{"h", "x/#"}, {"g", "x"}, {"g", "x/y"}, {"z", "x/+"}, {"g", "q/r/s"}} {
		if g := tree.Group(k.share, k.filter); g != nil {
			t.Errorf("Group(%q, %q) = %v, want nil", k.share, k.filter, g)
		}
	}
	for _, m := range []struct{ share, filter, key string }{{"g", "x/+", "a"}, {"g", "x/+", "c"}, {"h", "x/+", "a"}, {"g", "x/#", "d"}} {
		if !tree.RemoveShared(m.share, m.filter, m.key) {
			t.Errorf("%+v not removed", m)
		}
	}
	if got := groups(&tree, "x/y"); got != nil || !tree.root.empty() {
		t.Errorf("groups %v left, tree %+v", got, tree.root)
	}
}

// Nodes are pruned, wildcard levels too, when their last subscription
// goes; what does not exist is not made by Remove.
func TestTreePrunes(t *testing.T) {
	var tree Tree[int, struct{}]
	filters := []string{"+", "#", "+/#", "a/+/#", "a/+", "/+", "a/b/c", "a", "", "a//"}
	for _, f := range filters {
		tree.Add(f, 1, struct{}{})
		tree.Add(f, 2, struct{}{})
		tree.AddShared("g", f, 1, struct{}{})
	}
	for _, f := range filters {
		if tree.Remove(f+"/x", 1) || tree.Remove(f, 3) || tree.RemoveShared("h", f, 1) {
			t.Errorf("%q: removed what was not there", f)
		}
		if !tree.Remove(f, 1) || !tree.Remove(f, 2) || !tree.RemoveShared("g", f, 1) {
			t.Errorf("%q: a subscription was not found", f)
		}
		if tree.Remove(f, 1) {
			t.Errorf("%q: removed twice", f)
		}
	}
	if !tree.root.empty() || tree.subs != 0 || tree.shared != 0 {
		t.Errorf("tree not empty: %+v, %d subscriptions, %d members", tree.root, tree.subs, tree.shared)
	}
}

// Tree.Match and MatchShared visit exactly the subscriptions whose filters
// Match the topic name, through any sequence of Add, AddShared, Remove and
// RemoveShared; members stay in the order they joined; the tree is empty
// when the subscriptions are.
func TestTreeProperty(t *testing.T) {
	// Few distinct levels, so that filters overlap and collide; "$s"
	// exercises MQTT-4.7.2-1, "" empty levels.
	level := rapid.SampledFrom([]string{"a", "b", "", "$s"})
	filterGen := rapid.Custom(func(t *rapid.T) string {
		levels := rapid.SliceOfN(rapid.OneOf(level, rapid.Just("+")), 0, 4).Draw(t, "levels")
		if len(levels) == 0 || rapid.Bool().Draw(t, "hash") {
			levels = append(levels, "#")
		}
		return strings.Join(levels, "/")
	})
	nameGen := rapid.Custom(func(t *rapid.T) string {
		return strings.Join(rapid.SliceOfN(level, 1, 5).Draw(t, "levels"), "/")
	})
	keyGen := rapid.IntRange(0, 3)
	shareGen := rapid.SampledFrom([]string{"g", "h"})
	type sub struct {
		share, filter string
		key           int
	}
	rapid.Check(t, func(t *rapid.T) {
		var tree Tree[int, int]
		model := map[sub]int{}  // value of each subscription
		joined := map[sub]int{} // when each member joined its group
		var clock int
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				s := sub{filter: filterGen.Draw(t, "filter"), key: keyGen.Draw(t, "key")}
				v := rapid.IntRange(0, 9).Draw(t, "v")
				_, had := model[s]
				if got := tree.Add(s.filter, s.key, v); got != had {
					t.Fatalf("Add(%q, %d) = %v, want %v", s.filter, s.key, got, had)
				}
				model[s] = v
			},
			"addShared": func(t *rapid.T) {
				s := sub{share: shareGen.Draw(t, "share"), filter: filterGen.Draw(t, "filter"), key: keyGen.Draw(t, "key")}
				v := rapid.IntRange(0, 9).Draw(t, "v")
				_, had := model[s]
				if got := tree.AddShared(s.share, s.filter, s.key, v); got != had {
					t.Fatalf("AddShared(%q, %q, %d) = %v, want %v", s.share, s.filter, s.key, got, had)
				}
				model[s] = v
				if !had {
					clock++
					joined[s] = clock
				}
			},
			"remove": func(t *rapid.T) {
				var s sub
				if len(model) > 0 && rapid.Bool().Draw(t, "existing") {
					s = rapid.SampledFrom(slices.SortedFunc(maps.Keys(model), func(a, b sub) int {
						return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
					})).Draw(t, "sub")
				} else {
					s = sub{share: rapid.SampledFrom([]string{"", "g"}).Draw(t, "share"),
						filter: filterGen.Draw(t, "filter"), key: keyGen.Draw(t, "key")}
				}
				_, had := model[s]
				var got bool
				if s.share == "" {
					got = tree.Remove(s.filter, s.key)
				} else {
					got = tree.RemoveShared(s.share, s.filter, s.key)
				}
				if got != had {
					t.Fatalf("remove %+v = %v, want %v", s, got, had)
				}
				delete(model, s)
				delete(joined, s)
			},
			"match": func(t *rapid.T) {
				name := nameGen.Draw(t, "name")
				var want []string
				members := map[string][]sub{}
				for s, v := range model {
					if !Match(s.filter, name) {
						continue
					}
					if s.share == "" {
						want = append(want, fmt.Sprintf("%d=%d", s.key, v))
						continue
					}
					g := s.share + " " + s.filter
					members[g] = append(members[g], s)
				}
				slices.Sort(want)
				if got := collect(&tree, name); !slices.Equal(got, want) {
					t.Fatalf("Match(%q) visited %v, want %v", name, got, want)
				}
				var wantGroups []string
				for _, ms := range members {
					slices.SortFunc(ms, func(a, b sub) int { return joined[a] - joined[b] })
					var parts []string
					for _, s := range ms {
						parts = append(parts, fmt.Sprintf("%d=%d", s.key, model[s]))
					}
					wantGroups = append(wantGroups, ms[0].share+":"+strings.Join(parts, ","))
				}
				slices.Sort(wantGroups)
				if got := groups(&tree, name); !slices.Equal(got, wantGroups) {
					t.Fatalf("MatchShared(%q) visited %v, want %v", name, got, wantGroups)
				}
			},
			"": func(t *rapid.T) {
				if len(model) == 0 && !tree.root.empty() {
					t.Fatalf("no subscriptions, but the tree holds %+v", tree.root)
				}
			},
		})
	})
}

// Matching allocates nothing, with ordinary and shared subscriptions, a
// Turn included.
func TestTreeMatchAllocations(t *testing.T) {
	tree := benchTree()
	tree.AddShared("g", "site/+/room/temp", -1, 0)
	n := 0
	count := func(int, int) { n++ }
	turn := func(g *Group[int, int]) { n += 1 + g.Turn() }
	if a := testing.AllocsPerRun(100, func() {
		tree.Match("site/7/room/temp", count)
		tree.MatchShared("site/7/room/temp", turn)
	}); a != 0 {
		t.Errorf("%v allocations per match, want 0", a)
	}
	if n != 101*3 {
		t.Errorf("%d visits, want %d", n, 101*3)
	}
}

// Match, MatchShared and Turn may run concurrently (go test -race).
func TestTreeConcurrentMatch(t *testing.T) {
	var tree Tree[int, int]
	tree.Add("a/+", 1, 1)
	tree.AddShared("g", "a/#", 1, 1)
	tree.AddShared("g", "a/#", 2, 2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	turns := map[int]int{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				tree.Match("a/b", func(int, int) {})
				tree.MatchShared("a/b", func(g *Group[int, int]) {
					k, _ := g.Member(g.Turn())
					mu.Lock()
					turns[k]++
					mu.Unlock()
				})
			}
		}()
	}
	wg.Wait()
	if turns[1] != 200 || turns[2] != 200 {
		t.Errorf("turns %v, want 200 each", turns)
	}
}
