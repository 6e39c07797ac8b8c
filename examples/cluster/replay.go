package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/packet"
	"github.com/nats-io/nats.go/jetstream"
)

// A node that resumes a session without a handover (the node that held
// it crashed, or did not hand it over in time), or with one cut short
// (larger than MaxSessionBytes), gives it again what the stream holds of
// its subscriptions from its floor on (the broker's floor.go): the
// messages that were queued for it, or in flight to its client, on the
// node that held it. The floor is the higher of the one in the session as
// last written and the one last saved ("f.<id>") under the same claim:
// each was below every message the session had not yet had acknowledged
// when it was computed, and every message that came later. (One saved
// under another claim is left out: the session may have ended and begun
// again since.)
//
// The replay ends at the stream's last sequence once this node's own
// consumer takes the session's filters (the session prepare made has
// them subscribed): the consumer gives what comes after it to that
// session. What the session has already (handed over, or queued by the
// consumer meanwhile) is told by its position and not queued twice;
// what was delivered to the client before the crash comes again (at
// least once), as does a message published on this node both queued to
// the prepared session and replayed.

// replayFor returns what the session of id, as fetched (data; handed:
// from a handover), is to be given again.
func (s *sessions) replayFor(ctx context.Context, id string, data []byte, handed bool) []broker.Replayed {
	floor, filters, cut := broker.ReplayPlan(data)
	if handed && !cut || len(filters) == 0 {
		return nil
	}
	if !handed {
		floor = max(floor, s.savedFloor(ctx, id))
	}
	if floor == 0 {
		s.n.log.Warn("cluster: session resumed without a floor: what its node had queued is not given again", "client", id)
		return nil
	}
	for {
		replay, err := s.n.replay(ctx, floor, filters)
		if err == nil {
			return replay
		}
		// JetStream refused (a leader being elected, say): again, whole.
		select {
		case <-ctx.Done():
			s.n.log.Warn("cluster: session not given again what its node had queued", "client", id, "err", err)
			return replay
		case <-time.After(retryEvery):
		}
	}
}

// savedFloor returns the floor last saved for id under the claim the
// session as last written was held under; 0 for none.
func (s *sessions) savedFloor(ctx context.Context, id string) uint64 {
	k := sessionKey(id)
	se, err := s.kv.Get(ctx, sessionPrefix+k)
	if err != nil {
		return 0
	}
	_, holder, _, ok := parseSession(se.Value())
	if !ok {
		return 0
	}
	fe, err := s.kv.Get(ctx, floorPrefix+k)
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.n.log.Warn("cluster: session floor not read", "client", id, "err", err)
		}
		return 0
	}
	if floorHolder, floor, ok := parseFloor(fe.Value()); ok && floorHolder == holder {
		return floor
	}
	return 0
}

// replayBatch is how many messages a replay fetches at a time.
const replayBatch = 256

// replay returns the QoS 1 and QoS 2 messages of the stream that the
// topic filters match, from the stream sequence from up to the last one
// once the node's consumer takes the filters, at most Config.MaxReplay
// (the oldest).
func (n *Node) replay(ctx context.Context, from uint64, filters []string) ([]broker.Replayed, error) {
	subjs := n.consumerSubjects(filters)
	if len(subjs) == 0 {
		return nil, nil
	}
	if err := n.awaitInterest(ctx, subjs); err != nil {
		// Given again all the same, up to the last sequence now: what
		// comes before the consumer takes the filters may be missed.
		n.log.Warn("cluster: replay made before the node's consumer takes the session's filters", "err", err)
	}
	info, err := n.stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	last := info.State.LastSeq
	if from > last {
		return nil, nil
	}
	cons, err := n.js.CreateConsumer(ctx, n.cfg.Stream, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubjects:    coverSubjects(subjs),
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), n.cfg.PublishTimeout)
		defer cancel()
		_ = n.js.DeleteConsumer(dctx, n.cfg.Stream, cons.CachedInfo().Name)
	}()
	if cons.CachedInfo().NumPending == 0 {
		return nil, nil
	}
	var out []broker.Replayed
	for {
		batch, err := cons.FetchNoWait(replayBatch) // what the stream holds: no wait for more
		if err != nil {
			return out, err
		}
		got, done := 0, false
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil || done {
				continue
			}
			seq := meta.Sequence.Stream
			if seq > last {
				done = true
				continue
			}
			p := new(packet.Publish)
			if _, _, ok := n.decode(m.Subject(), m.Data(), p); ok {
				out = append(out, broker.Replayed{Pos: seq, Publish: p})
			}
			if seq == last || meta.NumPending == 0 {
				done = true
			} else if len(out) >= n.cfg.MaxReplay {
				n.log.Warn("cluster: replay cut short at Config.MaxReplay", "max", n.cfg.MaxReplay, "from", from, "last", last)
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return out, err
		}
		if done || got == 0 {
			return out, nil
		}
	}
}

// consumerSubjects returns the subjects (prefixed) of the QoS 1 and QoS 2
// messages of topic filters, as the node's consumer has them.
func (n *Node) consumerSubjects(filters []string) []string {
	var subjs []string
	for _, f := range filters {
		ss, err := FilterSubjects(f)
		if err != nil {
			continue // not subscribed to in the cluster either
		}
		subjs = append(subjs, n.durableSubjects(ss)...)
	}
	return subjs
}

// awaitInterest waits until the node's consumer takes the subjects subjs
// (prefixed), each wanted since a known sequence (interest.go), for
// Config.HandoverTimeout at most.
func (n *Node) awaitInterest(ctx context.Context, subjs []string) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.HandoverTimeout)
	defer cancel()
	for !n.interest.takes(subjs) {
		select {
		case <-ctx.Done():
			return errors.New("cluster: the node's consumer did not take the session's filters in time: replay not made")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
