package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/examples/internal/client"
	"github.com/mqttcore/mqtt/examples/internal/transport"
	"github.com/mqttcore/mqtt/packet"
)

// link is the client's connection to the broker across reconnections: the
// session state of one network connection is exported when it ends and
// imported into the next, so the core re-sends what was in flight.
type link struct {
	o       *options
	tlsCfg  *tls.Config
	cfg     mqtt.Config
	connect *packet.Connect
	subs    []packet.Subscription // sub: subscribed again when the session is not resumed
	stderr  io.Writer

	cl     *client.Client
	state  []byte // the exported session, between connections
	joined bool   // a connection has succeeded
}

func newLink(o *options, stderr io.Writer) (*link, error) {
	l := &link{o: o, cfg: mqtt.Config{Version: o.version}, connect: o.connectPacket(), stderr: stderr}
	a, _ := transport.Parse(o.url)
	if a.Scheme.Secure() {
		cfg, err := o.tls.ClientConfig()
		if err != nil {
			return nil, err
		}
		l.tlsCfg = cfg
	}
	return l, nil
}

// dial makes one connection attempt.
func (l *link) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.o.timeout)
	defer cancel()
	nc, err := transport.Dial(ctx, l.o.url, l.tlsCfg)
	if err != nil {
		return err
	}
	cp := *l.connect
	var state []byte
	if l.joined && l.o.persistent() {
		cp.CleanStart, state = false, l.state // resume the session
	}
	cl, err := client.Connect(ctx, nc, &cp, l.cfg, state)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", l.o.url, err)
	}
	l.cl, l.joined = cl, true
	if len(l.subs) > 0 && !cl.Connack().SessionPresent {
		ack, err := cl.SubscribeWith(ctx, &packet.Subscribe{Subscriptions: l.subs})
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		refused := 0
		for i, r := range ack.Reasons {
			if r.IsError() && i < len(l.subs) {
				refused++
				fmt.Fprintf(l.stderr, "client: subscription to %q refused: 0x%02X %v\n", l.subs[i].Filter, byte(r), r)
			}
		}
		if refused == len(l.subs) {
			cl.Close()
			return errors.New("every subscription was refused")
		}
	}
	return nil
}

// reconnect waits for the current connection to end, then connects again
// with exponential backoff, up to --retry-max between attempts, until it
// succeeds, the broker refuses the client, or ctx ends.
func (l *link) reconnect(ctx context.Context, cause error) error {
	<-l.cl.Done()
	if err := l.cl.Err(); err != nil {
		cause = err
	}
	l.state = l.cl.Session()
	if l.o.retryMax <= 0 {
		return fmt.Errorf("connection lost: %w", cause)
	}
	delay := 50 * time.Millisecond
	for {
		fmt.Fprintf(l.stderr, "client: connection lost (%v); reconnecting in %v\n", oneLineErr(cause), delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		err := l.dial(ctx)
		if err == nil {
			fmt.Fprintf(l.stderr, "client: reconnected to %s (session present: %v)\n",
				l.o.url, l.cl.Connack().SessionPresent)
			return nil
		}
		var refused *client.RefusedError
		if errors.As(err, &refused) || ctx.Err() != nil {
			return err
		}
		cause = err
		delay = min(delay*2, l.o.retryMax)
	}
}

func oneLineErr(err error) string {
	if err == nil {
		return "closed"
	}
	return oneLine(err)
}

// close disconnects cleanly (DISCONNECT, bounded wait).
func (l *link) close() {
	if l.cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if l.cl.Disconnect(ctx, packet.NormalDisconnection) != nil {
		l.cl.Close()
	}
}
