package broker

import (
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// BenchmarkStoreCommit measures the Store's group commit as a QoS 1
// fan-in to a persistent session uses it: each op is one message, its
// delivery recorded in the outbox by its publisher's unit (which waits
// for the commit, as the PUBACK does), then taken with a journal batch of
// the PUBLISH sent by the subscriber's unit (one session: the outbox
// and the journal of one subscriber). Many publishers at once
// (SetParallelism) share the commits. It reports the messages per commit
// and the pages bbolt wrote per message.
func BenchmarkStoreCommit(b *testing.B) {
	st, err := OpenStore(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m := newMessage("bench/topic", make([]byte, 64), packet.QoS1, false, &property.Properties{}, nil)
	record := appendMessageRecord(nil, m, packet.QoS1, false, nil)
	journal := make([]byte, 128) // about the journal batch of one PUBLISH sent
	const sid = 1                // the one subscriber's session
	var seqs atomic.Uint64
	commits, pages := st.Commits(), pagesWritten(st)
	b.SetParallelism(64) // a publisher's window each, at most
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			seq := seqs.Add(1)
			u := st.newUnit()
			u.ops = append(u.ops, storeOp{kind: opOutbox, sid: sid, seq: seq, value: record})
			if err := st.sync(st.seal(u)); err != nil {
				b.Error(err)
				return
			}
			u = st.newUnit()
			u.ops = append(u.ops, storeOp{kind: opTaken, sid: sid, seq: seq},
				storeOp{kind: opLog, sid: sid, value: journal})
			st.seal(u)
		}
	})
	b.StopTimer()
	if n := st.Commits() - commits; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "msgs/commit")
	}
	b.ReportMetric(float64(pagesWritten(st)-pages)/float64(b.N), "pages/msg")
}

// pagesWritten returns how many pages bbolt has written to st's file.
func pagesWritten(st *Store) int64 {
	s := st.db.Stats()
	return s.TxStats.GetWrite()
}
