// Package websocket is a WebSocket transport for package client: MQTT
// over WebSocket with the subprotocol "mqtt", on github.com/coder/websocket
// (a nested module, so that the core module needs nothing but the standard
// library).
//
//	c, err := client.Connect(ctx, client.Config{
//		Servers: []string{"wss://broker.example.com/mqtt"},
//		Dialer:  &websocket.Dialer{},
//	})
package websocket

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
	"github.com/mqttcore/mqtt/client"
)

// Subprotocol is the WebSocket subprotocol of MQTT (MQTT-6.0.0-3, -4).
const Subprotocol = "mqtt"

// Dialer dials ws:// and wss:// servers, and hands tcp:// and tls:// ones
// (and their aliases) to the client's standard dialer. The zero Dialer is
// ready to use.
type Dialer struct {
	// TLSConfig is used for wss://; nil means the system roots.
	TLSConfig *tls.Config
	// HTTPClient, when set, makes the WebSocket handshake (proxies, for
	// instance); it overrides TLSConfig.
	HTTPClient *http.Client
	// Header is added to the handshake request (authentication, say).
	Header http.Header
	// Proxy is as client.Config.Proxy (client.ProxyFromEnvironment, say);
	// for ws:// and wss:// it goes into the HTTP client's transport.
	Proxy func(*url.URL) (*url.URL, error)
}

var _ client.Dialer = (*Dialer)(nil)

// Dial opens a WebSocket to the server u and returns it as a byte
// stream: each write goes out as one binary message.
func (d *Dialer) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	switch u.Scheme {
	case "ws", "wss":
	default:
		return client.StandardDialer(d.TLSConfig, d.Proxy).Dial(ctx, u)
	}
	hc := d.HTTPClient
	if hc == nil && (d.TLSConfig != nil || d.Proxy != nil) {
		t := &http.Transport{TLSClientConfig: d.TLSConfig.Clone()}
		if d.Proxy != nil {
			t.Proxy = func(r *http.Request) (*url.URL, error) { return d.Proxy(u) }
		}
		hc = &http.Client{Transport: t}
	}
	c, _, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:   hc,
		HTTPHeader:   d.Header,
		Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		return nil, err
	}
	if c.Subprotocol() != Subprotocol {
		c.CloseNow()
		return nil, fmt.Errorf("websocket: %s did not accept the subprotocol %q", u.Redacted(), Subprotocol)
	}
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
}
