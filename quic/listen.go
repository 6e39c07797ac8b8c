package quic

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// DefaultKeepAlive is the QUIC keep-alive period of both sides when the
// quic.Config sets none: below the 30 s idle timeout of QUIC, which would
// otherwise end a connection before the MQTT keep-alive (60 s by
// default) pings it, and below the UDP timeouts of most NATs.
const DefaultKeepAlive = 15 * time.Second

// DefaultStreamTimeout is how long a Listener waits for a client that
// completed the QUIC handshake to open its stream.
const DefaultStreamTimeout = 10 * time.Second

// Listener accepts MQTT connections over QUIC as net.Conns (*Conn), so
// that server.Server.Serve takes it as it takes a TCP listener. Accept
// returns a connection once its handshake is complete, its TLS agreed on
// ALPN "mqtt" and the client opened its stream; a client that does none
// of it delays no other.
type Listener struct {
	// StreamTimeout bounds the wait for a client's stream; 0 means
	// DefaultStreamTimeout. Linger is the Conns' (DefaultLinger for 0).
	// Set them before the first Accept.
	StreamTimeout time.Duration
	Linger        time.Duration

	ql     *quicgo.Listener
	start  sync.Once
	conns  chan *Conn
	ctx    context.Context // ended by Close
	cancel context.CancelFunc
	once   sync.Once

	failed chan struct{} // closed when the QUIC listener fails; err says why
	err    error
}

var _ net.Listener = (*Listener)(nil)

// Listen listens on the UDP address addr. tlsConfig needs a certificate;
// its NextProtos become "mqtt" alone, and QUIC uses TLS 1.3 whatever
// MinVersion says. config may be nil; a nil or zero field gets its
// default (ServerConfig).
func Listen(addr string, tlsConfig *tls.Config, config *quicgo.Config) (*Listener, error) {
	ql, err := quicgo.ListenAddr(addr, ServerTLS(tlsConfig), ServerConfig(config))
	if err != nil {
		return nil, err
	}
	return NewListener(ql), nil
}

// NewListener serves MQTT on a QUIC listener made by the caller (on a
// quic.Transport of its own, say), with TLS from ServerTLS and a
// configuration from ServerConfig. Connections whose TLS agreed on
// another protocol than ALPN are closed (CodeNoStream).
func NewListener(ql *quicgo.Listener) *Listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &Listener{ql: ql, conns: make(chan *Conn), ctx: ctx, cancel: cancel, failed: make(chan struct{})}
}

// ServerTLS returns a copy of c that offers ALPN "mqtt" only.
func ServerTLS(c *tls.Config) *tls.Config {
	c = c.Clone()
	if c == nil {
		c = &tls.Config{}
	}
	c.NextProtos = []string{ALPN}
	c.MinVersion = tls.VersionTLS13
	return c
}

// ServerConfig returns a copy of c (nil means the defaults of quic-go)
// that lets a client open one bidirectional stream and no unidirectional
// one, unless c says otherwise, and keeps connections alive every
// DefaultKeepAlive unless c sets KeepAlivePeriod.
func ServerConfig(c *quicgo.Config) *quicgo.Config {
	c = clone(c)
	if c.MaxIncomingStreams == 0 {
		c.MaxIncomingStreams = 1
	}
	return c
}

// clone copies c with what both sides need: no unidirectional streams
// from the peer and the keep-alive.
func clone(c *quicgo.Config) *quicgo.Config {
	if c == nil {
		c = &quicgo.Config{}
	} else {
		c = c.Clone()
	}
	if c.MaxIncomingUniStreams == 0 {
		c.MaxIncomingUniStreams = -1
	}
	if c.KeepAlivePeriod == 0 {
		c.KeepAlivePeriod = DefaultKeepAlive
	}
	return c
}

// Accept waits for the next client with its stream open. After Close it
// returns net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.run() })
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	case <-l.failed:
		if l.ctx.Err() != nil {
			return nil, net.ErrClosed
		}
		return nil, l.err
	}
}

// run accepts QUIC connections and waits for each one's stream on a
// goroutine of its own.
func (l *Listener) run() {
	for {
		qc, err := l.ql.Accept(l.ctx)
		if err != nil {
			l.err = err
			close(l.failed)
			return
		}
		go l.stream(qc)
	}
}

// stream waits for the client's stream and hands the connection to
// Accept.
func (l *Listener) stream(qc *quicgo.Conn) {
	if p := qc.ConnectionState().TLS.NegotiatedProtocol; p != ALPN {
		qc.CloseWithError(CodeNoStream, "ALPN "+ALPN+" only")
		return
	}
	timeout := l.StreamTimeout
	if timeout <= 0 {
		timeout = DefaultStreamTimeout
	}
	ctx, cancel := context.WithTimeout(l.ctx, timeout) // Close ends the wait too
	str, err := qc.AcceptStream(ctx)
	cancel()
	if err != nil {
		qc.CloseWithError(CodeNoStream, "no stream")
		return
	}
	c := newConn(qc, str, l.Linger)
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		c.abort(CodeClosed, "listener closed")
	}
}

// Close stops accepting; connections accepted already go on.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		l.cancel()
		err = l.ql.Close()
	})
	return err
}

// Addr is the UDP address the Listener listens on.
func (l *Listener) Addr() net.Addr { return l.ql.Addr() }
