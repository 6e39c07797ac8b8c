package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/client/websocket"
)

// connect connects to the broker of the options with package client,
// which then reconnects by itself (options.reconnects) and resumes the
// session it keeps in memory; the connection's life is reported on
// stderr. edit, if not nil, completes the configuration (handlers).
func connect(ctx context.Context, o *options, stderr io.Writer, edit func(*client.Config)) (*client.Client, error) {
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	cfg.Dialer = newDialer(cfg.TLSConfig)
	if !cfg.NoReconnect {
		cfg.OnConnectionLost = func(err error) {
			fmt.Fprintf(stderr, "client: connection lost (%v); reconnecting\n", oneLine(err))
		}
		cfg.OnConnectionUp = func(present bool) {
			fmt.Fprintf(stderr, "client: reconnected to %s (session present: %v)\n", o.url, present)
		}
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := client.Connect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}

// disconnect closes the client: it waits, up to wait, for the QoS 1 and
// QoS 2 messages in flight, then sends DISCONNECT.
func disconnect(c *client.Client, wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_ = c.Close(ctx) // the command has said what went wrong already
}

// errUnreachable wraps the error of a dial that found nobody listening.
var errUnreachable = errors.New("broker unreachable")

// dialer opens the transport of -url: TCP and TLS with the client's
// standard dialer, WebSocket with package client/websocket (through the
// environment's HTTP proxy, as a browser would). A dial that reaches
// nobody is errUnreachable.
type dialer struct{ std, ws client.Dialer }

func newDialer(tc *tls.Config) dialer {
	return dialer{std: client.StandardDialer(tc, nil),
		ws: &websocket.Dialer{TLSConfig: tc, Proxy: client.ProxyFromEnvironment}}
}

func (d dialer) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	next := d.std
	if u.Scheme == "ws" || u.Scheme == "wss" {
		next = d.ws
	}
	conn, err := next.Dial(ctx, u)
	var op *net.OpError
	var dns *net.DNSError
	if err != nil && (errors.As(err, &op) || errors.As(err, &dns)) {
		err = fmt.Errorf("%w: %w", errUnreachable, err)
	}
	return conn, err
}
