package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// future is a jetstream.PubAckFuture that the test resolves.
type future struct {
	ok  chan *jetstream.PubAck
	err chan error
}

func newFuture() *future {
	return &future{ok: make(chan *jetstream.PubAck, 1), err: make(chan error, 1)}
}

func (f *future) Ok() <-chan *jetstream.PubAck { return f.ok }
func (f *future) Err() <-chan error            { return f.err }
func (f *future) Msg() *nats.Msg               { return nil }

// waitNode is a Node with what awaitRetained needs.
func waitNode(timeout time.Duration) *Node {
	return &Node{cfg: Config{PublishTimeout: timeout}, ret: retainedState{done: make(chan struct{})}}
}

// await runs awaitRetained on f and returns the channel of its done.
func await(n *Node, f *future) chan error {
	got := make(chan error, 1)
	go n.awaitRetained(f, func(err error) { got <- err })
	return got
}

// notYet fails the test if done was called.
func notYet(t *testing.T, got chan error) {
	t.Helper()
	select {
	case err := <-got:
		t.Fatalf("done(%v) before the watch applied the write", err)
	case <-time.After(50 * time.Millisecond):
	}
}

// The done of a retained write waits for the bucket's acknowledgement
// and then for the watch to have applied the bucket up to the write's
// revision: the write itself, or a later revision (the write replaced
// before the watch brought it).
func TestRetainedWaitsForWatch(t *testing.T) {
	n := waitNode(10 * time.Second)
	n.appliedUpTo(3)
	f := newFuture()
	got := await(n, f)
	notYet(t, got)
	f.ok <- &jetstream.PubAck{Sequence: 5}
	notYet(t, got)
	n.appliedUpTo(4)
	notYet(t, got)
	n.appliedUpTo(7) // 5 was replaced: the watch never brings it
	if err := <-got; err != nil {
		t.Fatalf("done(%v), want nil", err)
	}
	if len(n.ret.waiting) != 0 {
		t.Errorf("%d waits kept", len(n.ret.waiting))
	}

	// Applied already when the acknowledgement comes.
	f = newFuture()
	f.ok <- &jetstream.PubAck{Sequence: 6}
	if err := <-await(n, f); err != nil {
		t.Fatalf("done(%v), want nil", err)
	}
}

// A write the bucket refuses, or that the watch does not apply in
// Config.PublishTimeout, or whose node closes, fails.
func TestRetainedWaitFails(t *testing.T) {
	n := waitNode(10 * time.Second)
	f := newFuture()
	got := await(n, f)
	refused := errors.New("refused")
	f.err <- refused
	if err := <-got; !errors.Is(err, refused) {
		t.Errorf("refused: done(%v)", err)
	}

	n = waitNode(50 * time.Millisecond)
	f = newFuture()
	f.ok <- &jetstream.PubAck{Sequence: 1}
	if err := <-await(n, f); !errors.Is(err, ErrTimeout) {
		t.Errorf("never applied: done(%v), want ErrTimeout", err)
	}

	n = waitNode(10 * time.Second)
	f = newFuture()
	f.ok <- &jetstream.PubAck{Sequence: 1}
	got = await(n, f)
	notYet(t, got)
	close(n.ret.done)
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Errorf("closed: done(%v), want ErrClosed", err)
	}
}
