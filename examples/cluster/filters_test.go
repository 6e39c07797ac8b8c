package cluster

import (
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"pgregory.net/rapid"
)

// subjectGen draws subjects of a few tokens from a small alphabet, with
// wildcards if wild.
func subjectGen(wild bool) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		toks := []string{"a", "b", "c"}
		if wild {
			toks = append(toks, "*", "*", ">")
		}
		n := rapid.IntRange(1, 4).Draw(t, "n")
		var out []string
		for i := range n {
			tok := rapid.SampledFrom(toks).Draw(t, "tok")
			out = append(out, tok)
			if tok == ">" || i == n-1 {
				break
			}
		}
		return strings.Join(out, ".")
	})
}

// subjectMatch agrees with NATS's own matching; subjectCovers(b, a)
// means every subject a matches, b matches; coverSubjects keeps what a
// set matches, and none of what it keeps covers another (what JetStream
// refuses in a consumer's filters).
func TestSubjectSets(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		set := rapid.SliceOfN(subjectGen(true), 1, 5).Draw(t, "set")
		subj := subjectGen(false).Draw(t, "subject")
		for _, f := range set {
			if got, want := subjectMatch(f, subj), server.SubjectMatchesFilter(subj, f); got != want {
				t.Fatalf("subjectMatch(%q, %q) = %v, NATS says %v", f, subj, got, want)
			}
		}
		a, b := set[0], set[len(set)-1]
		if subjectCovers(b, a) && subjectMatch(a, subj) && !subjectMatch(b, subj) {
			t.Fatalf("%q said to cover %q, but %q matches only the latter", b, a, subj)
		}
		cover := coverSubjects(set)
		any := func(fs []string) bool {
			return slices.ContainsFunc(fs, func(f string) bool { return subjectMatch(f, subj) })
		}
		if any(set) != any(cover) {
			t.Fatalf("%q reduced to %q: %q matched by one, not the other", set, cover, subj)
		}
		for i, x := range cover {
			for j, y := range cover {
				if i != j && subjectCovers(y, x) {
					t.Fatalf("%q kept in %q, covered by %q", x, cover, y)
				}
			}
		}
	})
	if !subjectCovers("a.>", "a.*.b") || subjectCovers("a.*", "a.>") || subjectCovers("a.>", "a") {
		t.Error("subjectCovers wrong on a fixed case")
	}
}
