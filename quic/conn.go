// Package quic carries MQTT over QUIC (github.com/quic-go/quic-go): a
// Listener for package server and a Dialer for package client, each MQTT
// connection a QUIC connection with one bidirectional stream, opened by the
// client, ALPN "mqtt", TLS 1.3. It is a nested module, so that the core
// module needs nothing but the standard library.
//
//	l, err := quic.Listen("127.0.0.1:14567", tlsConfig, nil)
//	go srv.Serve(l) // srv is a *server.Server: unchanged
//
//	c, err := client.Connect(ctx, client.Config{
//		Servers: []string{"quic://broker.example.com"}, // port 14567
//		Dialer:  &quic.Dialer{TLSConfig: tlsConfig},
//	})
//
// MQTT needs an ordered, lossless stream of bytes from the client to the
// server and back (section 4.2, MQTT-4.2.0-1); a QUIC stream is one, so
// the packets go on it as on TCP, unframed. There is no IANA port for MQTT over QUIC: DefaultPort
// is 14567, the one EMQX and NanoMQ listen on.
//
// A client whose address changes (another network, another interface)
// can keep its QUIC connection, and with it its MQTT connection:
// Conn.Migrate (Dialer.Migrate for the connection a Client runs on)
// moves it to a new socket, with no new handshake and no new CONNECT.
package quic

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// ALPN is the application protocol the TLS handshake of each connection
// agrees on.
const ALPN = "mqtt"

// DefaultPort is the UDP port of quic:// URLs without one.
const DefaultPort = "14567"

// Application error codes, sent in the CONNECTION_CLOSE that ends a
// connection.
const (
	// CodeClosed: the MQTT connection ended (Close).
	CodeClosed quicgo.ApplicationErrorCode = 0
	// CodeNoStream: the client opened no stream within the Listener's
	// StreamTimeout, or its handshake agreed on another protocol.
	CodeNoStream quicgo.ApplicationErrorCode = 1
)

// DefaultLinger bounds how long a closed Conn waits for its peer to take
// what was written before the QUIC connection is closed.
const DefaultLinger = 5 * time.Second

// Conn is an MQTT connection over QUIC: the byte stream of the QUIC
// connection's one bidirectional stream, as a net.Conn. Read and Write
// may be called concurrently with each other and with Close.
type Conn struct {
	qc     *quicgo.Conn
	str    *quicgo.Stream
	linger time.Duration

	reading chan struct{} // one slot: held by Read, then by Close's drain
	writing sync.Mutex    // quic-go's Close may not run during a Write
	done    chan struct{} // closed by Close
	closed  atomic.Bool
	eof     atomic.Bool // Read returned io.EOF: the peer ended its side

	mu    sync.Mutex
	owned []io.Closer // transports and sockets of the client side, closed last
}

var _ net.Conn = (*Conn)(nil)

func newConn(qc *quicgo.Conn, str *quicgo.Stream, linger time.Duration) *Conn {
	if linger <= 0 {
		linger = DefaultLinger
	}
	return &Conn{qc: qc, str: str, linger: linger, reading: make(chan struct{}, 1), done: make(chan struct{})}
}

// Read reads from the stream; after Close it returns net.ErrClosed.
func (c *Conn) Read(p []byte) (int, error) {
	select {
	case c.reading <- struct{}{}:
		defer func() { <-c.reading }()
	case <-c.done:
		return 0, net.ErrClosed
	}
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.str.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		c.eof.Store(true)
	case c.closed.Load():
		err = net.ErrClosed // woken by Close
	}
	if n > 0 {
		// quic-go returns the last bytes with io.EOF (or a reset);
		// readers of a net.Conn, the server's and the client's, look at
		// the error first. The next Read returns it again.
		err = nil
	}
	return n, err
}

// Write writes to the stream; it returns once quic-go has taken the
// bytes (sent them, or buffered them within flow control).
func (c *Conn) Write(p []byte) (int, error) {
	c.writing.Lock()
	defer c.writing.Unlock()
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.str.Write(p)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed // woken by Close
	}
	return n, err
}

// Close ends the connection: a Read or Write waiting is woken with
// net.ErrClosed, and what was written is sent, followed by the end of the
// stream. The QUIC connection is closed (CodeClosed) once the peer has
// ended its side of the stream too (what it sends meanwhile is read and
// dropped), or has closed the connection, or after the linger time
// (DefaultLinger): so the last packets (a DISCONNECT) are not cut off by
// the CONNECTION_CLOSE. Close does not wait for it.
//
// So when a server closes after the client's DISCONNECT, or a client
// after the server's, the end that closes second sees the other's end of
// stream and closes the connection at once, and neither waits for the
// linger time.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	close(c.done)
	now := time.Now()
	c.str.SetReadDeadline(now)
	c.str.SetWriteDeadline(now)
	c.writing.Lock()
	c.str.Close() // FIN after the bytes written
	c.writing.Unlock()
	go c.drain()
	return nil
}

// drain reads what the peer sends until the end of its stream, the end
// of the connection or the linger time, then closes the connection.
func (c *Conn) drain() {
	c.reading <- struct{}{} // a Read woken by Close has returned
	if !c.eof.Load() {
		c.str.SetReadDeadline(time.Now().Add(c.linger))
		io.Copy(io.Discard, c.str)
	}
	c.finish()
}

// abort closes the QUIC connection at once, with code.
func (c *Conn) abort(code quicgo.ApplicationErrorCode, reason string) {
	c.closed.Store(true)
	c.qc.CloseWithError(code, reason)
	c.closeOwned()
}

func (c *Conn) finish() { c.abort(CodeClosed, "") }

func (c *Conn) closeOwned() {
	c.mu.Lock()
	owned := c.owned
	c.owned = nil
	c.mu.Unlock()
	for _, o := range owned {
		o.Close()
	}
}

// LocalAddr is the local UDP address of the connection's current path.
func (c *Conn) LocalAddr() net.Addr { return c.qc.LocalAddr() }

// RemoteAddr is the peer's UDP address on the current path.
func (c *Conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// SetDeadline sets the read and write deadlines of the stream.
func (c *Conn) SetDeadline(t time.Time) error { return c.str.SetDeadline(t) }

// SetReadDeadline sets the deadline of Read.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.str.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of Write.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.str.SetWriteDeadline(t) }

// QUIC is the QUIC connection, for what net.Conn does not say:
// ConnectionState (TLS, the peer's certificates), ConnectionStats.
func (c *Conn) QUIC() *quicgo.Conn { return c.qc }
