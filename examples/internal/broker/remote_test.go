package broker_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// DeliverTaken tells the cluster to stop once an outbox the message went
// to is full (the message queued all the same), and lets it go on when
// that outbox has drained; each message is taken at once without a
// Store.
func TestDeliverTakenFlowControl(t *testing.T) {
	t.Parallel()
	const maxQueued = 20
	f := &fakeCluster{}
	b, addr := brokertest.Serve(t, broker.Config{Cluster: f, MaxQueued: maxQueued, Logger: brokertest.Logger(t, slog.LevelInfo)})
	r := dialStalled(t, addr, "t", packet.QoS1)
	var room <-chan struct{}
	sent := 0
	// The stalled client's Connection takes up to connQueue messages
	// from the outbox when it is woken, which may come after the outbox
	// filled: the wait then ends, and the outbox is filled again.
	for round := 0; ; round++ {
		for room == nil {
			if sent > 4*maxQueued+connQueue {
				t.Fatalf("%d messages to a stalled subscriber, and no wait", sent)
			}
			taken := false
			room = b.DeliverTaken(&packet.Publish{Topic: "t", QoS: packet.QoS1, Payload: []byte("x")}, "", "",
				broker.Mark{}, func(ok bool) { taken = ok })
			if !taken {
				t.Fatal("taken not called at once without a Store")
			}
			sent++
		}
		if st := b.Stats(); st.Queued < maxQueued*3/4 {
			// The Connection took a batch since: the outbox has drained
			// below the low-water mark, and the wait must end.
			select {
			case <-room:
				room = nil
				continue
			case <-time.After(5 * time.Second):
				t.Fatalf("the cluster waits with %d queued, below the low-water mark of MaxQueued %d", st.Queued, maxQueued)
			}
		}
		select {
		case <-room:
			if round == 3 {
				t.Fatal("the wait ended before the outbox drained")
			}
			room = nil
			continue
		case <-time.After(50 * time.Millisecond):
		}
		break
	}
	r.nc.Close() // the session ends with its connection: its outbox is no more full
	select {
	case <-room:
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end when the outbox went")
	}
}

// connQueue is what a stalled subscriber's Connection takes from its
// outbox (queued beyond its Receive Maximum) before the outbox fills.
const connQueue = 64 + 1

// With a Store, DeliverTaken calls taken once the deliveries to
// persistent sessions are committed, with the mark, which ClusterMark
// returns after a restart.
func TestDeliverTakenMark(t *testing.T) {
	t.Parallel()
	sb := startStoreBroker(t, filepath.Join(t.TempDir(), "store.db"))
	for seq := uint64(1); seq <= 3; seq++ {
		done := make(chan bool, 1)
		sb.b.DeliverTaken(&packet.Publish{Topic: "t", QoS: packet.QoS2, Payload: []byte(fmt.Sprint(seq))}, "", "",
			broker.Mark{Key: "k", Seq: seq * 10}, func(ok bool) { done <- ok })
		if ok := <-done; !ok {
			t.Fatal("taken(false)")
		}
		if got := sb.b.ClusterMark("k"); got != seq*10 {
			t.Fatalf("mark %d once taken, want %d", got, seq*10)
		}
	}
	sb = sb.restart()
	if got, other := sb.b.ClusterMark("k"), sb.b.ClusterMark("other"); got != 30 || other != 0 {
		t.Fatalf("after a restart: mark %d, other key %d; want 30 and 0", got, other)
	}
}
