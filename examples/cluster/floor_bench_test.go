package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkFloorWrites measures how many sessions' floors a node saves a
// second (floor.go: putFloors, floorChunk asynchronous KV puts at a
// time), on one NATS server and on three (the sessions bucket replicated
// three times): with Config.FloorInterval at 1 s, the active persistent
// sessions whose floors a node keeps fresh. "one-at-a-time" is the same
// writes made one after the other, as the node's sessions writer makes
// its writes.
//
//	go test ./examples/cluster -run '^$' -bench FloorWrites -benchtime 20x
func BenchmarkFloorWrites(b *testing.B) {
	const sessions = 4096
	for _, servers := range []int{1, 3} {
		b.Run(fmt.Sprintf("nats=%d", servers), func(b *testing.B) {
			n := dialNode(b, startNATS(b, servers)[0], servers)
			ws := make([]kvWrite, sessions)
			for i := range ws {
				ws[i] = kvWrite{id: fmt.Sprintf("bench-floor-%d", i), rev: 1, floor: uint64(i + 1)}
			}
			b.Run("pipelined", func(b *testing.B) {
				start := time.Now()
				for range b.N {
					n.sess.putFloors(ws, time.Now().Add(time.Minute))
				}
				b.ReportMetric(float64(b.N*sessions)/time.Since(start).Seconds(), "floors/s")
			})
			// As the sessions writer would make them: one at a time.
			b.Run("one-at-a-time", func(b *testing.B) {
				start := time.Now()
				for range b.N {
					for _, x := range ws[:sessions/8] {
						if _, err := n.sess.kv.Put(context.Background(), floorPrefix+sessionKey(x.id), floorValue(x.rev, x.floor)); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N*sessions/8)/time.Since(start).Seconds(), "floors/s")
			})
		})
	}
}
