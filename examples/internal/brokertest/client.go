package brokertest

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/transport"
	"github.com/mqttcore/mqtt/packet"
)

// Client is a client.Client for the examples' tests, connected once
// (Config.NoReconnect): Messages hands over the messages it receives,
// Drop ends its connection without DISCONNECT, as a crash would, and its
// session lives in a Store that a later Client takes over to resume it.
type Client struct {
	*client.Client
	msgs  chan client.Message
	store client.Store
	quit  chan struct{} // closed by Drop: a message not handed over is dropped
	once  sync.Once

	mu   sync.Mutex
	conn net.Conn // the transport, for Drop
}

// Config returns the Config of a client of version v that connects to
// server (a URL) with the CONNECT cn: its client identifier, user name,
// password, Keep Alive (0 turns it off), Clean Start, will and, through
// Config.EditConnect, its v5 properties.
func Config(server string, v packet.Version, cn *packet.Connect) client.Config {
	cfg := client.Config{Servers: []string{server}, Version: v, ClientID: cn.ClientID,
		Username: cn.Username, Password: cn.Password, CleanStart: cn.CleanStart,
		KeepAlive: time.Duration(cn.KeepAlive) * time.Second}
	if cn.KeepAlive == 0 {
		cfg.KeepAlive = -1
	}
	if v == packet.V5 {
		cfg.SessionExpiry = time.Duration(cn.Props.SessionExpiry) * time.Second
	}
	if w := cn.Will; w.Topic != "" {
		cfg.Will = &client.Message{Topic: w.Topic, QoS: w.QoS, Retain: w.Retain, Payload: w.Payload, Props: w.Props}
	}
	props := cn.Props.Clone()
	cfg.EditConnect = func(p *packet.Connect) { p.Props = props }
	return cfg
}

// Connect connects a Client with cfg, to which it adds NoReconnect, an
// OnMessage that feeds Messages, a Dialer that keeps the transport for
// Drop (around cfg.Dialer), and, unless cfg.Store is set (the Store of
// an earlier Client, whose session this one resumes), a MemoryStore.
func Connect(ctx context.Context, cfg client.Config) (*Client, error) {
	c := &Client{msgs: make(chan client.Message, 1024), store: cfg.Store, quit: make(chan struct{})}
	if c.store == nil {
		c.store = new(client.MemoryStore)
	}
	d := cfg.Dialer
	if d == nil {
		d = client.StandardDialer(cfg.TLSConfig, cfg.Proxy)
	}
	cfg.Dialer = keepConn{c: c, d: d}
	cfg.NoReconnect = true
	cfg.Store = c.store
	cfg.OnMessage = func(m client.Message) {
		select {
		case c.msgs <- m:
		case <-c.quit:
		}
	}
	cc, err := client.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.Client = cc
	return c, nil
}

// Dial connects a Client with cfg, as Connect does, within 5 seconds; it
// fails the test if it cannot, and drops the connection when the test
// ends.
func Dial(t testing.TB, cfg client.Config) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("connect %q: %v", cfg.ClientID, err)
	}
	t.Cleanup(c.Drop)
	return c
}

// Messages delivers the messages the client receives: each QoS 1 and
// QoS 2 message is acknowledged once it is in the channel. It holds 1024;
// a client whose messages are not read stalls.
func (c *Client) Messages() <-chan client.Message { return c.msgs }

// Store returns the Store of the client's session, for a Client that
// resumes it.
func (c *Client) Store() client.Store { return c.store }

// Drop closes the connection without DISCONNECT, as a crash or a network
// failure would, and waits for the Client to end.
func (c *Client) Drop() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	conn.Close() // first: nothing more is written, no acknowledgement either
	c.once.Do(func() { close(c.quit) })
	<-c.Done()
}

// keepConn is a Dialer that keeps the transport it opens for Drop.
type keepConn struct {
	c *Client
	d client.Dialer
}

func (k keepConn) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	conn, err := k.d.Dial(ctx, u)
	if err == nil {
		k.c.mu.Lock()
		k.c.conn = conn
		k.c.mu.Unlock()
	}
	return conn, err
}

// Transport returns a Dialer over package transport, for the schemes it
// knows (tcp://, tls://, ws://, wss://), with tlsCfg for the secure ones.
func Transport(tlsCfg *tls.Config) client.Dialer { return transportDialer{tls: tlsCfg} }

type transportDialer struct{ tls *tls.Config }

func (d transportDialer) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	return transport.Dial(ctx, u.String(), d.tls)
}
