// Package websocket serves MQTT over WebSocket with package server: an
// http.Handler that upgrades each request to a WebSocket with the
// subprotocol "mqtt" and hands it to server.Server.ServeConn as a
// net.Conn. It is a nested module on github.com/coder/websocket, so that
// the core module needs nothing but the standard library.
//
//	srv := server.New(server.Config{Handler: myBroker})
//	http.Handle("/mqtt", &websocket.Handler{Server: srv})
//	go http.ListenAndServe(":8080", nil) // or ListenAndServeTLS for wss://
//	...
//	httpServer.Shutdown(ctx) // no new connections
//	srv.Shutdown(ctx)        // the WebSocket connections too
//
// What the specification asks of a WebSocket server (section 6, the
// same in 5.0 and 3.1.1): the MQTT bytes travel in binary messages, and a
// text message closes the connection (MQTT-6.0.0-1: the WebSocket is
// closed with status 1003, and OnClose gets the error); packets may
// span messages or share one (MQTT-6.0.0-2: the connection is a byte
// stream to the core); the server selects the subprotocol "mqtt"
// (MQTT-6.0.0-4) that the client must offer (MQTT-6.0.0-3). A request
// that offers neither "mqtt" nor "mqttv3.1" (what MQTT 3.1 clients
// offer, before the 3.1.1 specification named "mqtt"; served as the
// mosquitto broker does) is refused with 400 Bad Request before any
// WebSocket is opened.
//
// Closing a connection (after a DISCONNECT, Conn.Close, Shutdown) sends
// the WebSocket close message (status 1000) and closes the TCP
// connection: at once when the server is reading it (the pending read
// ends), else once the client's close message arrives, within
// Handler.CloseTimeout. A second close, such as Shutdown's when its
// context ends, closes the TCP connection at once.
package websocket

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/mqttcore/mqtt/server"
)

// Subprotocol is the WebSocket subprotocol of MQTT (MQTT-6.0.0-3, -4).
const Subprotocol = "mqtt"

// SubprotocolV31 is the subprotocol MQTT 3.1 clients offer instead of
// Subprotocol; it is selected only for a client that does not offer
// Subprotocol.
const SubprotocolV31 = "mqttv3.1"

// DefaultCloseTimeout is the default of Handler.CloseTimeout.
const DefaultCloseTimeout = 2 * time.Second

// Handler upgrades HTTP requests to WebSocket connections and serves
// each with Server. A request that is no WebSocket upgrade gets 426
// Upgrade Required; one whose Origin is not allowed gets 403 Forbidden.
// Authentication of the HTTP request, if any, belongs in a handler that
// wraps this one (MQTT's own, in the CONNECT, is the Server Handler's).
type Handler struct {
	// Server serves the connections. Required.
	Server *server.Server

	// OriginPatterns lists the hosts whose web pages may connect, as
	// github.com/coder/websocket's AcceptOptions.OriginPatterns (patterns
	// of path.Match, such as "*.example.com"). A request without an Origin
	// header (a program, not a browser) and one from a page of the
	// request's own host are always accepted; by default no other, so
	// that a web page from elsewhere cannot use a browser's credentials
	// (cookies, TLS client certificates) with the broker. "*" accepts
	// every origin.
	OriginPatterns []string

	// CloseTimeout bounds the WebSocket closing handshake (the close
	// message sent, the client's awaited) when the server closes a
	// connection. 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration
}

// ServeHTTP upgrades r and hands the connection to h.Server; it returns
// at once. After the Server's Shutdown the connection is closed at once.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nc, err := h.Upgrade(w, r)
	if err != nil {
		return // Upgrade has answered the request
	}
	h.Server.ServeConn(nc)
}

// Upgrade upgrades r to a WebSocket with the subprotocol of MQTT and
// returns it as a net.Conn that carries the byte stream in binary
// messages, for a caller that serves it itself. On error it has
// answered the request with an HTTP error status.
func (h *Handler) Upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
	proto := selectSubprotocol(r.Header)
	if proto == "" && tokenIn(r.Header, "Upgrade", "websocket") {
		http.Error(w, "websocket: the subprotocol \"mqtt\" is required (MQTT-6.0.0-3)", http.StatusBadRequest)
		return nil, ErrSubprotocol
	}
	hw := &hijacked{ResponseWriter: w}
	opts := &websocket.AcceptOptions{Subprotocols: []string{proto}, OriginPatterns: h.OriginPatterns}
	if len(h.OriginPatterns) == 1 && h.OriginPatterns[0] == "*" {
		opts.OriginPatterns, opts.InsecureSkipVerify = nil, true
	}
	c, err := websocket.Accept(hw, r, opts)
	if err != nil {
		return nil, err
	}
	timeout := h.CloseTimeout
	if timeout <= 0 {
		timeout = DefaultCloseTimeout
	}
	// The read and write contexts are not the request's: that one ends
	// when ServeHTTP returns.
	return &conn{Conn: websocket.NetConn(context.Background(), c, websocket.MessageBinary),
		raw: hw.conn, timeout: timeout}, nil
}

// ErrSubprotocol is Upgrade's error for a client that offers neither
// Subprotocol nor SubprotocolV31.
var ErrSubprotocol = errors.New("websocket: the client does not offer the subprotocol mqtt")

// selectSubprotocol returns the subprotocol to select from those the
// client offers: Subprotocol, else SubprotocolV31, else "".
func selectSubprotocol(h http.Header) string {
	switch {
	case tokenIn(h, "Sec-WebSocket-Protocol", Subprotocol):
		return Subprotocol
	case tokenIn(h, "Sec-WebSocket-Protocol", SubprotocolV31):
		return SubprotocolV31
	}
	return ""
}

// tokenIn reports whether the comma-separated values of header name
// include token. Subprotocol names are compared exactly (RFC 6455 4.1:
// they are case-sensitive), other tokens without regard to case.
func tokenIn(h http.Header, name, token string) bool {
	exact := name == "Sec-WebSocket-Protocol"
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if t == token || !exact && strings.EqualFold(t, token) {
				return true
			}
		}
	}
	return false
}

// hijacked is the ResponseWriter handed to websocket.Accept: it keeps
// the connection the upgrade takes over, so that conn can bound the
// closing handshake and cut it short.
type hijacked struct {
	http.ResponseWriter
	conn net.Conn
}

func (w *hijacked) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	w.conn = nc
	return nc, brw, err
}

func (w *hijacked) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// conn is the WebSocket as a net.Conn, with a Close that does not wait
// longer than timeout and a second Close that does not wait at all.
type conn struct {
	net.Conn          // websocket.NetConn
	raw      net.Conn // the TCP (or TLS) connection under it
	timeout  time.Duration
	once     sync.Once
}

// Close closes the WebSocket (websocket.NetConn's Close: the close
// message, then the connection) within c.timeout; a Close while one is
// in progress, or after it, closes the underlying connection at once.
func (c *conn) Close() error {
	first := false
	c.once.Do(func() { first = true })
	if !first {
		return c.raw.Close()
	}
	// The closing handshake reads and writes the underlying connection:
	// the deadline bounds both, and the read loop's Read with them.
	_ = c.raw.SetDeadline(time.Now().Add(c.timeout))
	err := c.Conn.Close()
	_ = c.raw.Close()
	return err
}
