package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// dialWebSocket opens a WebSocket with the subprotocol mqtt and adapts it
// to a net.Conn that carries the byte stream in binary messages.
func dialWebSocket(ctx context.Context, a Address, tlsCfg *tls.Config) (net.Conn, error) {
	scheme := "ws"
	if a.Scheme == WSS {
		scheme = "wss"
	}
	c, _, err := websocket.Dial(ctx, scheme+"://"+a.Host+a.Path, &websocket.DialOptions{
		HTTPClient:   httpClient(tlsCfg),
		Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		return nil, dialError(a, err)
	}
	if c.Subprotocol() != Subprotocol {
		c.CloseNow()
		return nil, fmt.Errorf("transport: %s did not accept the WebSocket subprotocol %q", a, Subprotocol)
	}
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
}

// ListenWebSocket serves WebSocket connections with the subprotocol mqtt
// on addr and path (with TLS when tlsCfg is not nil), and hands each out as
// a net.Conn from Accept. Requests for other paths get 404. Any Origin is
// accepted: this is a broker, not a web application with cookies to
// protect.
func ListenWebSocket(addr, path string, tlsCfg *tls.Config) (net.Listener, error) {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		path = DefaultPath
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &wsListener{tcp: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	if tlsCfg != nil {
		cfg := tlsCfg.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, cfg)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, l.upgrade)
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		err := l.srv.Serve(ln)
		l.fail(err)
	}()
	return l, nil
}

type wsListener struct {
	tcp   net.Listener
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	err   error // why the listener stopped; set before done closes
}

func (l *wsListener) upgrade(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{Subprotocol},
		InsecureSkipVerify: true, // any Origin
	})
	if err != nil {
		return // Accept has answered the request
	}
	if c.Subprotocol() != Subprotocol {
		c.Close(websocket.StatusPolicyViolation, "the subprotocol mqtt is required")
		return
	}
	nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
	select {
	case l.conns <- nc:
	case <-l.done:
		c.CloseNow()
	}
}

func (l *wsListener) fail(err error) {
	l.once.Do(func() {
		if err == nil || errors.Is(err, http.ErrServerClosed) {
			err = net.ErrClosed
		}
		l.err = err
		close(l.done)
	})
}

// Accept waits for the next WebSocket connection.
func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.tcp.Addr(), Err: l.err}
	}
}

// Close stops the HTTP server; connections already accepted stay open.
func (l *wsListener) Close() error {
	l.fail(net.ErrClosed)
	return l.srv.Close()
}

// Addr returns the TCP address listened on.
func (l *wsListener) Addr() net.Addr { return l.tcp.Addr() }
