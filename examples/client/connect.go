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

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/client/websocket"
)

// connect connects to the broker of the options with package client,
// which then reconnects by itself (options.reconnects) and resumes the
// session it keeps in memory, or in the --session file; the connection's
// life is reported on stderr. edit, if not nil, completes the
// configuration (handlers). It returns the client and the function that
// ends it: that waits, up to wait, for the QoS 1 and QoS 2 messages in
// flight, sends DISCONNECT and closes the session file.
func connect(ctx context.Context, o *options, stderr io.Writer, edit func(*client.Config)) (*client.Client, func(wait time.Duration), error) {
	cfg, err := o.config()
	if err != nil {
		return nil, nil, err
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
	closeStore := func() {}
	if o.session != "" {
		store, err := client.OpenFileStore(o.session)
		if err != nil {
			return nil, nil, fmt.Errorf("--session: %w", err)
		}
		cfg.Store, closeStore = store, func() { store.Close() }
	}
	c, err := client.Connect(ctx, cfg)
	if errors.Is(err, mqtt.ErrNoSession) {
		// This process holds the client's side of a session only in a
		// --session file an earlier run wrote.
		closeStore()
		return nil, nil, fmt.Errorf("the broker kept a session for client id %q that this process has no copy of "+
			"(MQTT-3.2.2-4): keep it in a --session file to resume it in a later run, or leave out -c", o.clientID)
	}
	if err != nil {
		closeStore()
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	end := func(wait time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = c.Close(ctx) // the command has said what went wrong already
		closeStore()
	}
	return c, end, nil
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
