package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
)

// publish runs "client pub".
func publish(ctx context.Context, o *options, stdin io.Reader, stderr io.Writer) error {
	c, end, err := connect(ctx, o, stderr, nil)
	if err != nil {
		return err
	}
	closeWait := 5 * time.Second
	defer func() { end(closeWait) }()

	msgs := make(chan []byte)
	readErr := make(chan error, 1)
	stopRead := make(chan struct{})
	defer close(stopRead)
	go func() {
		defer close(msgs)
		if !o.lines {
			for range o.count {
				select {
				case msgs <- []byte(o.message):
				case <-stopRead:
					return
				}
			}
			return
		}
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<28)
		for sc.Scan() {
			select {
			case msgs <- append([]byte(nil), sc.Bytes()...):
			case <-stopRead:
				return
			}
		}
		readErr <- sc.Err()
	}()

	var (
		pending  []*client.Pending // QoS 1 and 2 acknowledgements to come, oldest first
		refused  int
		lost     int
		ended    error // why the client ended, if it did
		interval time.Duration
		next     = time.Now()
	)
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	// settle takes the outcomes known, oldest first, waiting for each
	// until wait is closed; it reports whether none is left.
	settle := func(wait <-chan struct{}) bool {
		for len(pending) > 0 {
			p := pending[0]
			select {
			case <-p.Done():
			default:
				select {
				case <-p.Done():
				case <-wait:
					return false
				}
			}
			pending = pending[1:]
			var ack *client.AckError
			switch err := p.Err(); {
			case err == nil:
			case errors.As(err, &ack):
				refused++
				fmt.Fprintf(stderr, "client: %v\n", err)
			default: // ErrSessionLost, or why the client ended
				lost++
				if !errors.Is(err, client.ErrSessionLost) {
					ended = err
				}
			}
		}
		return true
	}

publishing:
	for {
		var payload []byte
		select {
		case m, ok := <-msgs:
			if !ok {
				break publishing
			}
			payload = m
		case <-ctx.Done():
			break publishing
		}
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					break publishing
				}
			}
			next = next.Add(interval)
			if now := time.Now(); next.Before(now.Add(-interval)) {
				next = now // do not burst to catch up after a stall
			}
		}
		m := client.Message{Topic: o.topics[0], QoS: o.qos, Retain: o.retain, Payload: payload}
		m.Props.User = o.user
		// While the client reconnects, PublishAsync waits for it.
		p, err := c.PublishAsync(ctx, m)
		if err != nil {
			if ctx.Err() != nil {
				break publishing
			}
			return fmt.Errorf("publish: %w", err)
		}
		if o.qos > 0 {
			pending = append(pending, p)
		}
		settle(closed)
	}
	select {
	case err := <-readErr:
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
	default:
	}

	// Wait, bounded, for the QoS 1 and QoS 2 messages still in flight; the
	// client re-sends them from the session if it reconnects meanwhile.
	drain := make(chan struct{})
	t := time.AfterFunc(o.drainWait, func() { close(drain) })
	defer t.Stop()
	if !settle(drain) {
		closeWait = 0 // DISCONNECT now: a session kept (-x, -c, --session) keeps the rest
		return fmt.Errorf("%d messages not acknowledged within %v", len(pending), o.drainWait)
	}
	switch {
	case ended != nil:
		return fmt.Errorf("%d messages not acknowledged: %w", lost, ended)
	case lost > 0 && o.persistent():
		return fmt.Errorf("%d messages lost with a session the broker did not keep", lost)
	case lost > 0:
		return fmt.Errorf("%d messages lost with a connection (use -x or -c to keep them in the session across reconnects)", lost)
	case refused > 0:
		return fmt.Errorf("%d messages refused by the broker", refused)
	}
	return nil
}

// closed is a closed channel: settle(closed) does not wait.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// subscribe runs "client sub". The messages are acknowledged once they
// are written out (at least once to stdout), and those past -C not at all:
// a session kept (-x, -c) has them for the next run.
func subscribe(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	msgs := make(chan client.Message, 64)
	stop := make(chan struct{})
	handle := func(m client.Message) { // on the client's read loop
		select {
		case msgs <- m:
		case <-stop:
		}
	}
	// OnMessage takes what a resumed session (-c) sends before SUBSCRIBE.
	c, end, err := connect(ctx, o, stderr, func(cfg *client.Config) { cfg.ManualAck, cfg.OnMessage = true, handle })
	if err != nil {
		return err
	}
	defer func() {
		close(stop)
		end(5 * time.Second)
	}()
	subs := make([]packet.Subscription, len(o.topics))
	for i, t := range o.topics {
		subs[i] = packet.Subscription{Filter: t, QoS: o.qos}
		if o.version == packet.V5 && c.Connack().SessionPresent {
			subs[i].RetainHandling = 1 // the session has them: no retained messages again
		}
	}
	// The client subscribes again by itself to a new session after a
	// reconnection.
	ack, err := c.SubscribeWith(ctx, &packet.Subscribe{Subscriptions: subs}, handle)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("subscribe: %w", err)
	}
	refused := 0
	for i, r := range ack.Reasons {
		if r.IsError() && i < len(subs) {
			refused++
			fmt.Fprintf(stderr, "client: subscription to %q refused: 0x%02X %v\n", subs[i].Filter, byte(r), r)
		}
	}
	if refused == len(subs) {
		return errors.New("every subscription was refused")
	}
	if ready, ok := ctx.Value(readyKey{}).(chan struct{}); ok {
		close(ready) // tests: subscribed
	}

	w := bufio.NewWriter(stdout)
	var unacked []client.Message // written to w, not yet flushed
	// flush writes out what was printed, then acknowledges it.
	flush := func() error {
		if err := w.Flush(); err != nil {
			return err
		}
		for _, m := range unacked {
			_ = c.Ack(m) // one from a connection that ended comes again
		}
		clear(unacked)
		unacked = unacked[:0]
		return nil
	}
	n := 0
	show := func(m client.Message) bool {
		if o.verbose {
			fmt.Fprintf(w, "%s %s\n", m.Topic, m.Payload)
		} else {
			fmt.Fprintf(w, "%s\n", m.Payload)
		}
		if m.QoS > 0 {
			unacked = append(unacked, m)
		}
		n++
		return o.limit > 0 && n >= o.limit
	}
	for {
		select {
		case m := <-msgs:
			done := show(m)
			if len(msgs) == 0 || len(unacked) >= cap(msgs) || done {
				if err := flush(); err != nil {
					return err
				}
			}
			if done {
				return nil
			}
		case <-c.Done(): // --retry-max 0
			for len(msgs) > 0 { // what arrived before the end
				if show(<-msgs) {
					return flush()
				}
			}
			if err := flush(); err != nil {
				return err
			}
			return c.Err()
		case <-ctx.Done():
			return flush()
		}
	}
}

// readyKey is the context key of a channel that "client sub" closes once
// it has subscribed (for tests).
type readyKey struct{}
