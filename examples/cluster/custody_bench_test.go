package cluster

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// BenchmarkCustody measures how fast the sessions of a node that crashed
// are kept by the others (custody.go): 2,000 offline persistent sessions
// on node A of a three-node cluster (NodeTimeout 0.5 s), A crashed, and
// the time until B and C hold them all, from the crash ("s") and from
// the end of NodeTimeout ("sessions/s").
//
//	go test ./examples/cluster -run '^$' -bench Custody -benchtime 1x
func BenchmarkCustody(b *testing.B) {
	const sessions = 2000
	for range b.N {
		sc := startSessionCluster(b)
		var wg sync.WaitGroup
		slots := make(chan struct{}, connectParallel)
		for i := range sessions {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				cn := &packet.Connect{ClientID: fmt.Sprintf("custody-%d", i), CleanStart: true, KeepAlive: 30,
					Props: property.Properties{SessionExpiry: 600}}
				if err := connectOnce(sc.addrs[0], cn, false); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		sc.awaitWritten(b, 0)
		held := func() int { return sc.brokers[1].Stats().Sessions + sc.brokers[2].Stats().Sessions }
		before := held()
		sc.nodes[0].kill()
		crashed := time.Now()
		if err := sc.brokers[0].Shutdown(ctx(b)); err != nil {
			b.Fatal(err)
		}
		for held() < before+sessions {
			if time.Since(crashed) > 5*time.Minute {
				b.Fatalf("%d of %d sessions kept after 5 minutes", held()-before, sessions)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(crashed)
		b.ReportMetric(took.Seconds(), "s")
		b.ReportMetric(float64(sessions)/(took-sc.nodes[1].cfg.NodeTimeout).Seconds(), "sessions/s")
	}
}
