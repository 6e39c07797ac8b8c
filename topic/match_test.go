package topic

import (
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// matchCases are the matching rules of section 4.7, each case a filter, a
// topic name and whether they match.
var matchCases = []struct {
	name, filter, topic string
	want                bool
}{
	{"exact", "a/b", "a/b", true},
	{"exact other level", "a/b", "a/c", false},
	{"exact shorter name", "a/b", "a", false},
	{"exact longer name", "a/b", "a/b/c", false},
	{"one level", "a", "a", true},
	{"MQTT-4.7.1-2 plus is one level", "a/+", "a/b", true},
	{"MQTT-4.7.1-2 plus is not two levels", "a/+", "a/b/c", false},
	{"MQTT-4.7.1-2 plus is not zero levels", "a/+", "a", false},
	{"MQTT-4.7.1-2 plus matches an empty level", "a/+/c", "a//c", true},
	{"MQTT-4.7.1-2 plus first level", "+/b", "a/b", true},
	{"MQTT-4.7.1-2 plus alone", "+", "a", true},
	{"MQTT-4.7.1-2 plus alone not two levels", "+", "a/b", false},
	{"MQTT-4.7.1-2 plus plus", "+/+", "a/b", true},
	{"MQTT-4.7.1-2 plus then exact mismatch", "+/b", "a/c", false},
	{"MQTT-4.7.1-1 hash any depth", "a/#", "a/b/c/d", true},
	{"MQTT-4.7.1-1 hash one level", "a/#", "a/b", true},
	{"MQTT-4.7.1-1 hash includes the parent", "a/#", "a", true},
	{"MQTT-4.7.1-1 hash not a sibling", "a/#", "b", false},
	{"MQTT-4.7.1-1 hash not a prefix of a level", "a/#", "ab", false},
	{"MQTT-4.7.1-1 hash alone", "#", "x/y", true},
	{"MQTT-4.7.1-1 hash alone one level", "#", "x", true},
	{"MQTT-4.7.1-1 hash matches an empty last level", "a/#", "a/", true},
	{"MQTT-4.7.1-1 hash deep parent", "a/b/#", "a/b", true},
	{"MQTT-4.7.1-1 hash deep parent only", "a/b/#", "a", false},
	{"MQTT-4.7.1-1 plus then hash", "+/#", "x", true},
	{"MQTT-4.7.1-1 plus then hash deep", "+/#", "x/y/z", true},
	{"MQTT-4.7.1-1 plus plus hash not one level", "+/+/#", "x", false},
	{"empty levels count", "a//b", "a//b", true},
	{"empty levels count not collapsed", "a//b", "a/b", false},
	{"leading empty level", "/+", "/a", true},
	{"leading empty level vs plus", "+", "/a", false},
	{"leading empty level vs plus plus", "+/+", "/a", true},
	{"trailing empty level", "a/", "a/", true},
	{"trailing empty level not dropped", "a/", "a", false},
	{"trailing empty level plus", "a/+", "a/", true},
	{"MQTT-4.7.2-1 hash vs $", "#", "$SYS/x", false},
	{"MQTT-4.7.2-1 hash vs $ alone", "#", "$", false},
	{"MQTT-4.7.2-1 plus vs $", "+/x", "$SYS/x", false},
	{"MQTT-4.7.2-1 plus hash vs $", "+/#", "$SYS/x", false},
	{"MQTT-4.7.2-1 explicit $", "$SYS/#", "$SYS/x", true},
	{"MQTT-4.7.2-1 explicit $ parent", "$SYS/#", "$SYS", true},
	{"MQTT-4.7.2-1 $ then plus", "$SYS/+", "$SYS/x", true},
	{"MQTT-4.7.2-1 $ in a later level", "a/+", "a/$x", true},
	{"MQTT-4.7.2-1 hash below $ level", "a/#", "a/$x/y", true},
	{"MQTT-4.7.2-1 $ not first character", "+", "a$", true},
	{"MQTT-4.7.2-1 $share topic", "#", "$share/g/a", false},
	{"MQTT-4.7.3-4 case sensitive", "A", "a", false},
	{"MQTT-4.7.3-4 no trimming", "a ", "a", false},
	{"MQTT-4.7.3-4 no Unicode normalization", "caf\u00e9", "cafe\u0301", false},
	{"MQTT-4.7.3-4 same bytes", "caf\u00e9/+", "caf\u00e9/x", true},
	{"MQTT-4.7.3-4 wildcard in a name is a plain character", "a/+", "a/+", true},
	{"MQTT-4.7.3-4 plus in a name not a wildcard", "a/b", "a/+", false},
}

// Match, and a Tree holding the filter, agree with the matching rules of
// section 4.7: the ordinary subscription and a shared one alike.
func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Match(tc.filter, tc.topic); got != tc.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}
			var tree Tree[int, string]
			tree.Add(tc.filter, 1, "v")
			tree.AddShared("g", tc.filter, 2, "w")
			var got []int
			tree.Match(tc.topic, func(k int, v string) {
				if v != "v" {
					t.Errorf("value %q, want v", v)
				}
				got = append(got, k)
			})
			tree.MatchShared(tc.topic, func(g *Group[int, string]) {
				if g.Name() != "g" || g.Len() != 1 {
					t.Errorf("group %q of %d members, want g of 1", g.Name(), g.Len())
				}
				k, _ := g.Member(0)
				got = append(got, k)
			})
			if want := map[bool]int{false: 0, true: 2}[tc.want]; len(got) != want {
				t.Errorf("tree: %q matched %q: visited %v, want %d subscriptions", tc.filter, tc.topic, got, want)
			}
		})
	}
}

// Match allocates nothing, however long the topic.
func TestMatchAllocations(t *testing.T) {
	name := strings.Repeat("level/", 100) + "end"
	for _, filter := range []string{"#", strings.Repeat("+/", 100) + "end", strings.Repeat("level/", 50) + "#"} {
		if n := testing.AllocsPerRun(100, func() {
			if !Match(filter, name) {
				t.Fatalf("%q does not match", filter)
			}
		}); n != 0 {
			t.Errorf("Match(%.20q...): %v allocations, want 0", filter, n)
		}
	}
}

// matchLevels is Match written plainly, level by level: the reference
// that Match's single pass is pinned to.
func matchLevels(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		n, nrest, nmore := strings.Cut(name, "/")
		switch {
		case f == "#":
			return true
		case f != "+" && f != n:
			return false
		case !fmore:
			return !nmore
		case !nmore:
			return frest == "#"
		}
		filter, name = frest, nrest
	}
}

// Match agrees with matchLevels on any filter and name, malformed or not.
func TestMatchIsMatchLevels(t *testing.T) {
	for _, tc := range matchCases {
		if got := matchLevels(tc.filter, tc.topic); got != tc.want {
			t.Errorf("%s: matchLevels(%q, %q) = %v", tc.name, tc.filter, tc.topic, got)
		}
	}
	// Any text, and strings of levels that often match: wildcards where
	// they belong and where they do not.
	text := rapid.StringOfN(rapid.SampledFrom([]rune("ab/+#$")), 0, 12, -1)
	levels := func(hash bool, of ...string) *rapid.Generator[string] {
		return rapid.Custom(func(t *rapid.T) string {
			l := rapid.SliceOfN(rapid.SampledFrom(of), 1, 4).Draw(t, "levels")
			if hash && rapid.Bool().Draw(t, "hash") {
				l = append(l, "#")
			}
			return strings.Join(l, "/")
		})
	}
	filters := rapid.OneOf(text, levels(true, "a", "+", "b", "", "$a", "#", "a+", "#b"))
	names := rapid.OneOf(text, levels(false, "a", "b", "", "$a", "+"))
	rapid.Check(t, func(t *rapid.T) {
		filter, name := filters.Draw(t, "filter"), names.Draw(t, "name")
		if rapid.Bool().Draw(t, "derived") {
			// A name made from the filter: each wildcard replaced by
			// levels, the last level perhaps dropped.
			var out []string
			for _, l := range strings.Split(filter, "/") {
				switch l {
				case "+":
					out = append(out, rapid.SampledFrom([]string{"a", ""}).Draw(t, "plus"))
				case "#":
					out = append(out, rapid.SliceOfN(rapid.SampledFrom([]string{"a", ""}), 0, 2).Draw(t, "hash")...)
				default:
					out = append(out, l)
				}
			}
			if len(out) > 1 && rapid.Bool().Draw(t, "drop") {
				out = out[:len(out)-1]
			}
			name = strings.Join(out, "/")
		}
		if rapid.Bool().Draw(t, "dollar") {
			name = "$" + name // MQTT-4.7.2-1
		}
		if got, want := Match(filter, name), matchLevels(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, matchLevels %v", filter, name, got, want)
		}
	})
}
