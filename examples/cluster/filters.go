package cluster

import (
	"slices"
	"strings"
)

// NATS subject filters as sets: a JetStream consumer takes several filter
// subjects, but refuses two of which one covers the other (every subject
// the first matches, the second matches too), so the filters of a node's
// subscriptions are reduced to those no other covers (coverSubjects);
// and a node tells which of its filters match a message (subjectMatch).

// subjectMatch reports whether the literal subject subj matches the
// filter f, whose tokens may be the wildcards "*" (one token) and ">"
// (one or more, last).
func subjectMatch(f, subj string) bool {
	for {
		ft, frest, fmore := strings.Cut(f, ".")
		st, srest, smore := strings.Cut(subj, ".")
		switch {
		case ft == ">":
			return true
		case ft != "*" && ft != st:
			return false
		case !fmore || !smore:
			return fmore == smore
		}
		f, subj = frest, srest
	}
}

// subjectCovers reports whether the filter b matches every subject the
// filter a matches.
func subjectCovers(b, a string) bool {
	for {
		bt, brest, bmore := strings.Cut(b, ".")
		at, arest, amore := strings.Cut(a, ".")
		switch {
		case bt == ">":
			return true
		case at == ">":
			return false // a matches more tokens here than b's one
		case bt != "*" && bt != at:
			return false
		case !bmore || !amore:
			return bmore == amore
		}
		b, a = brest, arest
	}
}

// coverSubjects returns the filters of set that no other one covers, once
// each, sorted: together they match what set matches, and none covers
// another.
func coverSubjects(set []string) []string {
	set = slices.Compact(slices.Sorted(slices.Values(set)))
	var out []string
	for i, a := range set {
		covered := false
		for j, b := range set {
			if i != j && subjectCovers(b, a) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, a)
		}
	}
	return out
}
