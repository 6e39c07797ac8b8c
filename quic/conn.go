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

	eof    atomic.Bool // Read returned io.EOF: the peer closed its side
	closed atomic.Bool

	mu    sync.Mutex
	owned []io.Closer // transports and sockets of the client side, closed last
}

var _ net.Conn = (*Conn)(nil)

func newConn(qc *quicgo.Conn, str *quicgo.Stream, linger time.Duration) *Conn {
	if linger <= 0 {
		linger = DefaultLinger
	}
	return &Conn{qc: qc, str: str, linger: linger}
}

// Read reads from the stream; after Close it returns net.ErrClosed.
func (c *Conn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.str.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		c.eof.Store(true)
	case c.closed.Load():
		err = net.ErrClosed // the CancelRead of Close
	}
	if n > 0 {
		// quic-go returns the last bytes with io.EOF (or a reset);
		// readers of a net.Conn, the server's and the client's, look at
		// the error first. The next Read returns it again.
		err = nil
	}
	return n, err
}

// Write writes to the stream; it returns once quic-go has taken the bytes.
func (c *Conn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	return c.str.Write(p)
}

// Close ends the connection: what was written is sent, followed by the
// end of the stream, and a Read waiting is woken with net.ErrClosed. The
// QUIC connection is closed (CodeClosed) at once if the peer has already
// ended its side of the stream, and otherwise once the peer closes it or
// after the linger time (DefaultLinger), so that the last packets (a
// DISCONNECT) are not cut off by the CONNECTION_CLOSE. Close does not
// wait for it.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	c.str.Close()       // FIN after the bytes written
	c.str.CancelRead(0) // wake a Read; the peer's bytes are not wanted
	if c.eof.Load() {   // the peer ended first: it has read ours, or
		c.finish() // stopped reading them
		return nil
	}
	go func() {
		t := time.NewTimer(c.linger)
		defer t.Stop()
		select {
		case <-c.qc.Context().Done(): // the peer closed it
		case <-t.C:
		}
		c.finish()
	}()
	return nil
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
