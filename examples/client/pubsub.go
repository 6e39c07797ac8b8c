package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/client"
	"github.com/mqttcore/mqtt/packet"
)

// publish runs "client pub".
func publish(ctx context.Context, o *options, stdin io.Reader, stderr io.Writer) error {
	l, err := newLink(o, stderr)
	if err != nil {
		return err
	}
	if err := l.dial(ctx); err != nil {
		return err
	}
	defer l.close()

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
		pending  []<-chan error // acknowledgements to come, oldest first
		failures int
		lost     int
		interval time.Duration
		next     = time.Now()
	)
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	// settle takes the outcomes already known, oldest first.
	settle := func(block bool) {
		for len(pending) > 0 {
			var err error
			if block {
				err = <-pending[0]
			} else {
				select {
				case err = <-pending[0]:
				default:
					return
				}
			}
			pending = pending[1:]
			switch {
			case err == nil:
			case errors.Is(err, client.ErrClosed):
				if !o.persistent() {
					lost++ // no session kept it
				} // else: re-sent from the session after reconnecting
			default:
				failures++
				fmt.Fprintf(stderr, "client: %v\n", err)
			}
		}
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
		p := &packet.Publish{Topic: o.topics[0], QoS: o.qos, Retain: o.retain, Payload: payload}
		p.Props.User = o.user
		for {
			acked, err := l.cl.PublishAsync(ctx, p)
			if err == nil {
				pending = append(pending, acked)
				break
			}
			if ctx.Err() != nil {
				break publishing
			}
			if !errors.Is(err, client.ErrClosed) {
				return fmt.Errorf("publish: %w", err)
			}
			if err := l.reconnect(ctx, err); err != nil {
				if ctx.Err() != nil {
					break publishing
				}
				return err
			}
		}
		settle(false)
	}
	select {
	case err := <-readErr:
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
	default:
	}

	// Wait, bounded, for the QoS 1 and QoS 2 messages still in flight,
	// reconnecting if need be: the session re-sends them.
	dctx, cancel := context.WithTimeout(context.Background(), o.drainWait)
	defer cancel()
	for {
		err := l.cl.Drain(dctx)
		if err == nil {
			break
		}
		if dctx.Err() != nil {
			n, _ := l.cl.InFlight(context.Background())
			return fmt.Errorf("%d messages not acknowledged within %v", n, o.drainWait)
		}
		if err := l.reconnect(dctx, err); err != nil {
			return err
		}
	}
	settle(false)
	if lost > 0 {
		return fmt.Errorf("%d messages lost with a connection (use -x or -c to keep them in the session across reconnects)", lost)
	}
	if failures > 0 {
		return fmt.Errorf("%d messages refused by the broker", failures)
	}
	return nil
}

// subscribe runs "client sub".
func subscribe(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	l, err := newLink(o, stderr)
	if err != nil {
		return err
	}
	for _, t := range o.topics {
		l.subs = append(l.subs, packet.Subscription{Filter: t, QoS: o.qos})
	}
	if err := l.dial(ctx); err != nil {
		return err
	}
	defer l.close()
	if ready, ok := ctx.Value(readyKey{}).(chan struct{}); ok {
		close(ready) // tests: subscribed
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	n := 0
	show := func(m *packet.Publish) bool {
		if o.verbose {
			fmt.Fprintf(w, "%s %s\n", m.Topic, m.Payload)
		} else {
			fmt.Fprintf(w, "%s\n", m.Payload)
		}
		n++
		return o.limit > 0 && n >= o.limit
	}
	for {
		select {
		case m := <-l.cl.Messages():
			done := show(m)
			if len(l.cl.Messages()) == 0 || done {
				if err := w.Flush(); err != nil {
					return err
				}
			}
			if done {
				return nil
			}
		case <-l.cl.Done():
			for len(l.cl.Messages()) > 0 { // what arrived before the end
				if show(<-l.cl.Messages()) {
					return nil
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if err := l.reconnect(ctx, client.ErrClosed); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// readyKey is the context key of a channel that "client sub" closes once
// it has subscribed (for tests).
type readyKey struct{}
