package cluster

import (
	"context"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// interest is what the node's own consumer is to deliver: the subjects
// of the QoS 1 and QoS 2 messages of the node's ordinary subscriptions.
// Subscribe and Unsubscribe change it and must not block; update (one
// goroutine) brings the consumer's filter subjects up to date.
//
// A consumer whose filters change goes on from where it was, and it does
// not move while no message matches them: a filter added would have it
// deliver the messages of the stream (up to Config.MaxAge old) that
// match the new filter and came before it. Each subject is wanted since a
// stream sequence, the stream's last when the consumer was updated for
// it (0: before the node started, the consumer had it: what came
// meanwhile is for the sessions the broker's Store kept); eligible drops
// a message that only subjects wanted since after it match.
type interest struct {
	mu       sync.Mutex
	want     map[string]int    // subject (prefixed) -> the filters that map to it
	since    map[string]uint64 // subject -> wanted since (pending: not yet known)
	youngest uint64            // the largest of since
	// inherited is the consumer's filters when the node started, until
	// Attach.
	inherited []string

	kick    chan struct{} // update has work
	applied []string      // the consumer's filters, as update last set them (nil: not yet)
}

// pending is the since of a subject whose consumer update has not been
// made: only subjects wanted before take its messages.
const pending = math.MaxUint64

func newInterest(inherited []string) *interest {
	return &interest{want: make(map[string]int), since: make(map[string]uint64),
		inherited: inherited, kick: make(chan struct{}, 1)}
}

// add counts a filter that maps to subjs (prefixed).
func (in *interest) add(subjs []string) {
	in.mu.Lock()
	for _, s := range subjs {
		if in.want[s]++; in.want[s] == 1 {
			in.since[s] = pending
			in.youngest = pending
		}
	}
	in.mu.Unlock()
	in.poke()
}

// remove uncounts a filter that maps to subjs.
func (in *interest) remove(subjs []string) {
	in.mu.Lock()
	for _, s := range subjs {
		if in.want[s]--; in.want[s] <= 0 {
			delete(in.want, s)
			delete(in.since, s)
		}
	}
	in.mu.Unlock()
	in.poke()
}

func (in *interest) poke() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// attach takes the subjects wanted now, those of the sessions the
// broker's Store restored, as wanted since before the node started if
// the consumer had them: it delivers what was published meanwhile.
func (in *interest) attach() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for s := range in.since {
		if slices.ContainsFunc(in.inherited, func(f string) bool { return subjectCovers(f, s) }) {
			in.since[s] = 0
		}
	}
	in.inherited = nil
}

// eligible reports whether a message of the consumer, subject subj at
// stream sequence seq, is to be delivered: a subject wanted since before
// it matches it (again: the consumer gave it before, and it was then).
func (in *interest) eligible(subj string, seq uint64, again bool) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if again || seq > in.youngest {
		return true
	}
	young := false
	for s, since := range in.since {
		if since >= seq && subjectMatch(s, subj) {
			young = true
			break
		}
	}
	if !young {
		return true // the consumer matched it by a subject wanted before
	}
	for s, since := range in.since {
		if since < seq && subjectMatch(s, subj) {
			return true
		}
	}
	return false
}

// takes reports whether the consumer's filters, as last set, take every
// subject of subjs, each wanted since a known sequence: what is published
// after the stream's last sequence now reaches the node through it.
func (in *interest) takes(subjs []string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, s := range subjs {
		if in.since[s] == pending {
			return false
		}
		if !slices.ContainsFunc(in.applied, func(f string) bool { return subjectCovers(f, s) }) {
			return false
		}
	}
	return true
}

// update keeps the consumer's filter subjects those of the node's
// ordinary subscriptions (coverSubjects of them; idleSubject when there
// are none: no filter would be the whole stream), until the node closes.
func (n *Node) update() {
	defer close(n.updated)
	in := n.interest
	for {
		select {
		case <-in.kick:
		case <-n.ctx.Done():
			return
		}
		for !n.applyInterest() {
			select {
			case <-time.After(retryEvery):
			case <-n.ctx.Done():
				return
			}
		}
	}
}

// applyInterest makes one update of the consumer, if its filters are to
// change, and settles the since of the subjects added; it reports false
// if NATS refused, to be tried again.
func (n *Node) applyInterest() bool {
	in := n.interest
	in.mu.Lock()
	filters := n.filtersLocked()
	waits := in.youngest == pending
	changed := !slices.Equal(filters, in.applied)
	in.mu.Unlock()
	if !changed && !waits {
		return true
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.PublishTimeout)
	defer cancel()
	info, err := n.stream.Info(ctx)
	if err != nil {
		n.log.Warn("cluster: stream info", "stream", n.cfg.Stream, "err", err)
		return false
	}
	last := info.State.LastSeq
	in.mu.Lock()
	in.youngest = 0
	for s, since := range in.since {
		if since == pending {
			since = last
			in.since[s] = since
		}
		in.youngest = max(in.youngest, since)
	}
	in.mu.Unlock()
	if !changed {
		return true
	}
	if _, err := n.js.UpdateConsumer(ctx, n.cfg.Stream, n.consumerConfig(n.own.name, filters, n.cfg.MaxAge)); err != nil {
		n.log.Warn("cluster: consumer update", "consumer", n.own.name, "err", err)
		return false
	}
	in.mu.Lock()
	in.applied = filters
	in.mu.Unlock()
	return true
}

// filtersLocked returns the filter subjects the consumer is to have.
// in.mu is held.
func (n *Node) filtersLocked() []string {
	filters := coverSubjects(slices.Collect(maps.Keys(n.interest.want)))
	if len(filters) == 0 {
		filters = []string{n.idleSubject()}
	}
	return filters
}

// ensureOwn makes the node's consumer again (it has gone: deleted after
// MaxAge without a pull), with the filters it last had.
func (n *Node) ensureOwn(ctx context.Context) (jetstream.Consumer, error) {
	in := n.interest
	in.mu.Lock()
	filters := in.applied
	if filters == nil {
		filters = n.filtersLocked()
	}
	in.mu.Unlock()
	return n.js.CreateOrUpdateConsumer(ctx, n.cfg.Stream, n.consumerConfig(n.own.name, filters, n.cfg.MaxAge))
}

// idleSubject is the filter of the node's consumer while it has no
// ordinary subscription: in the stream's subjects, and no topic maps to
// it (its namespace token is neither "m" nor "d").
func (n *Node) idleSubject() string { return n.cfg.Prefix + ".1._" }
