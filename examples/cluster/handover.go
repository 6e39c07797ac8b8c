package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
)

// Handovers by request: a node that claims a session another node holds
// asks that node for it ("<prefix>.node.<origin>.handover": the client
// identifier, the claim it replaced, its own claim and its Clean Start)
// and takes the session from the reply. The request starts the handover
// at once, without waiting for the holder's watch of the owner keys to
// see the claim (that watch starts it too, for a claim whose request is
// lost). The holder answers when the handover is done, and keeps the
// answer a few seconds (keepAnswers) for a request that comes after;
// a node that does not hold the session under that claim answers so at
// once, and one that is gone has no responders: the claiming node then
// takes the session as last written (and gives it again the stream from
// its floor: replay.go). The handover is written to the sessions bucket
// as well.

// handoverSubject is where node answers handover requests.
func (s *sessions) handoverSubject(node uint64) string { return s.nodeSubject(node) + ".handover" }

// handKey is a handover: a client identifier and the claim it ends.
type handKey struct {
	id     string
	holder uint64
}

// handAnswer is a handover done, kept for late requests.
type handAnswer struct {
	data []byte
	at   time.Time
}

// Reply statuses.
const (
	handNotHeld = 0 // the node does not hold the session under that claim
	handDone    = 1 // the handover, the snapshot after it
)

func handoverRequest(id string, holder, claim uint64, clean bool) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 17+len(id)), holder)
	v = binary.BigEndian.AppendUint64(v, claim)
	if clean {
		v = append(v, 1)
	} else {
		v = append(v, 0)
	}
	return append(v, id...)
}

func parseHandoverRequest(v []byte) (id string, holder, claim uint64, clean, ok bool) {
	if len(v) < 17 {
		return "", 0, 0, false, false
	}
	return string(v[17:]), binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), v[16] == 1, true
}

// onHandoverRequest answers a handover request, now or when the handover
// it starts (or the one running) is done.
func (s *sessions) onHandoverRequest(m *nats.Msg) {
	id, holder, claim, clean, ok := parseHandoverRequest(m.Data)
	if !ok {
		return
	}
	k := handKey{id, holder}
	s.mu.Lock()
	if a, ok := s.answers[k]; ok {
		s.mu.Unlock()
		_ = m.Respond(append([]byte{handDone}, a.data...))
		return
	}
	ks := s.keys[id]
	if ks == nil || ks.lastOwn != holder && !ks.claiming {
		stale := s.asking[k] // asked while a claim of this node ran
		delete(s.asking, k)
		s.mu.Unlock()
		for _, m := range append(stale, m) {
			_ = m.Respond([]byte{handNotHeld})
		}
		return
	}
	s.asking[k] = append(s.asking[k], m)
	var h func()
	if claim > ks.last {
		ks.last, ks.lastClean = claim, clean
		h = s.handOverLocked(id, ks)
	}
	s.mu.Unlock()
	if h != nil {
		h()
	}
}

// keepAnswers is how long a handover's answer is kept for a request that
// comes after it (the claiming node asks right after its claim, and again
// every 4 pingTimeout while no answer comes); answers older than that are
// let go at most every pingTimeout.
const keepAnswers = 8 * pingTimeout

// answerLocked answers the requests for the handover k, done with data,
// and keeps the answer for those to come. s.mu is held.
func (s *sessions) answerLocked(k handKey, data []byte) {
	now := time.Now()
	if now.Sub(s.pruned) > pingTimeout {
		s.pruned = now
		for old, a := range s.answers {
			if now.Sub(a.at) > keepAnswers {
				delete(s.answers, old)
			}
		}
	}
	s.answers[k] = handAnswer{data: data, at: now}
	reply := append([]byte{handDone}, data...)
	for _, m := range s.asking[k] {
		_ = m.Respond(reply)
	}
	delete(s.asking, k)
}

// notHeldLocked answers the requests for a handover of id that will not
// come: the claim that held it ended another way (the session ended, or
// this node's claim failed). s.mu is held.
func (s *sessions) notHeldLocked(id string) {
	for k, ms := range s.asking {
		if k.id != id {
			continue
		}
		for _, m := range ms {
			_ = m.Respond([]byte{handNotHeld})
		}
		delete(s.asking, k)
	}
}

// fetch returns the session of id that prev's node hands over (handed),
// asked of it by request under this node's claim (clean: its Clean
// Start), for Config.HandoverTimeout at most; a node that is gone, or
// that does not hold the session under prev's claim, has this node take
// the session as last written.
func (s *sessions) fetch(ctx context.Context, id string, prev previous, claim uint64, clean bool) (data []byte, handed bool) {
	key := sessionPrefix + sessionKey(id)
	req := handoverRequest(id, prev.rev, claim, clean)
	deadline := time.Now().Add(s.timeout)
	for {
		wait := min(time.Until(deadline), 4*pingTimeout)
		if wait <= 0 {
			s.n.log.Warn("cluster: no session handover in time: the last saved is resumed", "client", id,
				"wait", s.timeout)
			return s.read(ctx, key), false
		}
		rctx, cancel := context.WithTimeout(ctx, wait)
		m, err := s.n.nc.RequestWithContext(rctx, s.handoverSubject(prev.node), req)
		cancel()
		switch {
		case err == nil && len(m.Data) > 0 && m.Data[0] == handDone:
			return m.Data[1:], true
		case err == nil, errors.Is(err, nats.ErrNoResponders):
			return s.read(ctx, key), false // not held there, or the node is gone
		case ctx.Err() != nil:
			return nil, false
		}
		// No answer yet (its connection of the client is ending): asked
		// again, which waits on as long as the node answers.
	}
}
