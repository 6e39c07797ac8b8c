package topic

import (
	"fmt"
	"testing"
)

// benchTree is the example broker's benchmark tree: 3,000 subscriptions
// of 1,000 keys, exact, + and #, of which the topic site/7/room/temp
// matches 2.
func benchTree() *Tree[int, int] {
	var tree Tree[int, int]
	for i := range 1000 {
		tree.Add(fmt.Sprintf("site/%d/+/temp", i), i, 0)
		tree.Add(fmt.Sprintf("site/%d/room/#", i), i, 0)
		tree.Add(fmt.Sprintf("other/%d", i), i, 0)
	}
	return &tree
}

func BenchmarkMatch(b *testing.B) {
	for _, bc := range []struct{ filter, name string }{
		{"site/7/room/temp", "site/7/room/temp"},
		{"site/+/+/temp", "site/7/room/temp"},
		{"site/#", "site/7/room/temp"},
		{"site/8/room/temp", "site/7/room/temp"},
	} {
		b.Run(bc.filter, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Match(bc.filter, bc.name)
			}
		})
	}
}

func BenchmarkTreeMatch(b *testing.B) {
	tree := benchTree()
	n := 0
	count := func(int, int) { n++ }
	b.ReportAllocs()
	for b.Loop() {
		tree.Match("site/7/room/temp", count)
	}
}

func BenchmarkTreeMatchShared(b *testing.B) {
	tree := benchTree()
	for i := range 1000 {
		tree.AddShared("workers", fmt.Sprintf("site/%d/+/temp", i), i, 0)
		tree.AddShared("workers", fmt.Sprintf("site/%d/+/temp", i), i+1, 0)
	}
	n := 0
	pick := func(g *Group[int, int]) { n += g.Turn() }
	b.ReportAllocs()
	for b.Loop() {
		tree.MatchShared("site/7/room/temp", pick)
	}
}

func BenchmarkTreeAddRemove(b *testing.B) {
	tree := benchTree()
	b.ReportAllocs()
	for b.Loop() {
		tree.Add("site/7/room/temp", -1, 0)
		tree.Remove("site/7/room/temp", -1)
	}
}
