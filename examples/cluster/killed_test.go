package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// TestBrokerKilled is the broker-killed test of issue 15: three broker
// commands (built with -tags cluster) run as processes, each a node on
// its own server of a three-server embedded NATS cluster. A publisher on
// node A sends a numbered QoS 1 stream, each message acknowledged before
// the next, to a persistent session (v5, Clean Start 0, Session Expiry an
// hour) subscribed on node B. Mid-stream, with node B holding a few
// hundred messages of it for the subscriber, node B's process is killed
// with SIGKILL, and the subscriber resumes on node C with the same client
// identifier (Session Present 1). Every message the publisher got a
// PUBACK for must reach the subscriber, at least once. A control runs the
// same stream first without the kill.
func TestBrokerKilled(t *testing.T) {
	bin := brokerBinary(t)
	urls := startNATS(t, 3)
	dir := t.TempDir()
	var nodes []*brokerProc
	for i, name := range []string{"A", "B", "C"} {
		nodes = append(nodes, startBrokerProc(t, bin, dir, name, "-cluster", urls[i],
			"-cluster-node", "killed-"+name, "-cluster-replicas", "3", "-sys-interval", "0", "-log-level", "warn"))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	t.Run("control: node B left running", func(t *testing.T) { streamAcrossKill(t, "ctl", a, b, nil) })
	t.Run("node B killed mid-stream, the subscriber resumes on C", func(t *testing.T) { streamAcrossKill(t, "killed", a, b, c) })
}

// streamAcrossKill publishes n messages on a to a persistent session on
// b. The subscriber reads readFirst of them, then stops reading until b
// holds at least held more for it; if resume is set, b is killed then
// and the session resumed on resume. It reads on until the publisher is
// done and every acknowledged message has come or none has for a while,
// fails the test for each acknowledged message that never came, and
// logs the duplicates.
func streamAcrossKill(t *testing.T, topic string, a, b, resume *brokerProc) {
	const n, readFirst, held = 2500, 200, 300
	id := topic + "-sub"
	sub := brokertest.Dial(t, subscriberConfig(b.addr, id, new(client.MemoryStore))) // Clean Start 0 from the first
	subscribe(t, sub, packet.QoS1, topic+"/#", probeTopic)
	pub := dialAddr(t, a.addr, topic+"-pub")
	awaitRoute(t, pub, sub)

	var acked [n]bool // the publisher's until published is closed
	var ackedSoFar atomic.Int64
	var pubErr error
	published := make(chan struct{})
	pubCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		defer close(published)
		tick := time.NewTicker(time.Millisecond) // a steady pace, at most 1,000 a second
		defer tick.Stop()
		for i := range n {
			<-tick.C
			m := client.Message{Topic: topic + "/x", QoS: packet.QoS1, Payload: strconv.AppendInt(nil, int64(i), 10)}
			if err := pub.Publish(pubCtx, m); err != nil {
				pubErr = fmt.Errorf("message %d: %w", i, err)
				return
			}
			acked[i] = true
			ackedSoFar.Add(1)
		}
	}()

	tl := &tally{t: t, topic: topic + "/x", count: make([]int, n)}
	deadline := time.After(60 * time.Second)
	for tl.distinct < readFirst {
		select {
		case m := <-sub.Messages():
			tl.add(m)
		case <-deadline:
			t.Fatalf("%d of %d messages received", tl.distinct, readFirst)
		}
	}
	// The reader stops until node B holds at least held messages of the
	// stream beyond what the subscriber's client can have (its channel's
	// room, one more waiting for it and receiveMax unacknowledged): queued
	// in its outbox or not yet pulled by its consumer.
	for ackedSoFar.Load() < int64(tl.distinct+cap(sub.Messages())+1+receiveMax+held) {
		select {
		case <-published:
			t.Fatalf("the publisher ended (%v) before node B held %d messages", pubErr, held)
		case <-deadline:
			t.Fatalf("node B does not hold %d messages in 60 s: %d acknowledged, %d received", held, ackedSoFar.Load(), tl.distinct)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if resume != nil {
		b.kill()
		t.Logf("node B killed: %d messages acknowledged to the publisher, %d received", ackedSoFar.Load(), tl.distinct)
		// What the client took before its connection ended (it notices
		// once its channel has room).
		for gone := false; !gone; {
			select {
			case m := <-sub.Messages():
				tl.add(m)
			case <-sub.Done():
				gone = true
			case <-deadline:
				t.Fatal("the subscriber's connection to node B still open")
			}
		}
		for drained := false; !drained; {
			select {
			case m := <-sub.Messages():
				tl.add(m)
			default:
				drained = true
			}
		}
		start := time.Now()
		sub = brokertest.Dial(t, subscriberConfig(resume.addr, id, sub.Store()))
		t.Logf("resumed on C %v after the kill; %d received by then", time.Since(start).Round(time.Millisecond), tl.distinct)
		if !sub.Connack().SessionPresent {
			t.Error("Session Present 0 on C: the session of the killed node was not resumed")
		}
	}

	// Until the publisher is done and, then, every acknowledged message
	// has arrived or none has for 2 s.
	const quietFor = 2 * time.Second
	var quiet <-chan time.Time
	for done := false; !done; {
		select {
		case m := <-sub.Messages():
			tl.add(m)
			if published == nil {
				done = tl.hasAll(acked[:])
				quiet = time.After(quietFor)
			}
		case <-published:
			published, quiet = nil, time.After(quietFor)
			done = tl.hasAll(acked[:])
		case <-quiet:
			done = true
		case <-deadline:
			t.Fatalf("the publisher not done in 60 s (%d acknowledged); %d messages received", ackedSoFar.Load(), tl.distinct)
		}
	}
	if pubErr != nil {
		t.Errorf("the publisher stopped: %v", pubErr)
	}
	var lost []int
	sent := 0
	for i, ok := range acked {
		if ok {
			sent++
			if tl.count[i] == 0 {
				lost = append(lost, i)
			}
		}
	}
	t.Logf("%d acknowledged, %d received, %d of them more than once (QoS 1: at least once)", sent, tl.distinct, tl.dups)
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged messages lost: %s", len(lost), sent, spans(lost))
	}
}

// receiveMax is the subscriber's Receive Maximum: its node sends it no
// more QoS 1 messages unacknowledged, and holds the rest.
const receiveMax = 20

// subscriberConfig is persistentConfig with a Receive Maximum of
// receiveMax.
func subscriberConfig(addr, id string, store client.Store) client.Config {
	cfg := persistentConfig(addr, id, store)
	edit := cfg.EditConnect
	cfg.EditConnect = func(p *packet.Connect) {
		edit(p)
		p.Props.ReceiveMaximum = receiveMax
	}
	return cfg
}

// tally counts, by number, the messages of the stream on topic that a
// subscriber receives.
type tally struct {
	t        testing.TB
	topic    string
	count    []int // by number
	distinct int   // numbers received
	dups     int   // copies beyond the first
}

// add counts m; probes are skipped, and anything else not of the stream
// fails the test.
func (tl *tally) add(m client.Message) {
	if m.Topic == probeTopic {
		return
	}
	i, err := strconv.Atoi(string(m.Payload))
	if m.Topic != tl.topic || m.QoS != packet.QoS1 || err != nil || i < 0 || i >= len(tl.count) {
		tl.t.Errorf("unexpected message %q %q at QoS %d", m.Topic, m.Payload, m.QoS)
		return
	}
	if tl.count[i]++; tl.count[i] == 1 {
		tl.distinct++
	} else {
		tl.dups++
	}
}

// hasAll reports whether every message acked marks has arrived.
func (tl *tally) hasAll(acked []bool) bool {
	for i, ok := range acked {
		if ok && tl.count[i] == 0 {
			return false
		}
	}
	return true
}

// spans writes ascending numbers as ranges: "3-7, 9".
func spans(ns []int) string {
	var b strings.Builder
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if fmt.Fprint(&b, ns[i]); j > i {
			fmt.Fprintf(&b, "-%d", ns[j])
		}
		i = j + 1
	}
	return b.String()
}
