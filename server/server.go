package server

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// Handler is the broker's logic: the Server calls it for each client.
//
// The calls for one connection are made one at a time, in order, by the
// goroutine that reads that connection (or an event loop worker), with the connection's lock held:
// OnConnect once, then OnPacket for each packet received, then OnClose
// once. Conn.Core gives them the connection's core. Packets are valid until the call returns (they alias the read
// buffer): copy, with the packets' Clone methods, what must live longer.
// A call should not block for long, since the connection reads nothing
// meanwhile; it may call Send and Close on any connection, its own
// included.
type Handler interface {
	// OnConnect decides on a client's CONNECT: the Connack returned is
	// sent. The zero Connack accepts the client with no session present;
	// a Reason that is an error (v5: 0x80 and above; 3.1.1: a return code
	// above 0) refuses it, and the connection ends after the CONNACK.
	// ClientID is in force when OnConnect is called (the one assigned to
	// a client that sent an empty one).
	OnConnect(c *Conn, p *packet.Connect) packet.Connack
	// OnPacket receives every packet after the CONNECT, once the core has
	// done what the protocol asks of it (acknowledgements of QoS 1 and 2
	// PUBLISH, PINGRESP, Topic Alias resolution): PUBLISH, SUBSCRIBE and
	// UNSUBSCRIBE (answer them with Send: SUBACK, UNSUBACK), the
	// acknowledgements of the PUBLISH packets sent, AUTH and DISCONNECT.
	OnPacket(c *Conn, p packet.Packet)
	// OnClose is called once the connection has ended and its core has
	// been told (mqtt.Connection.Closed), if OnConnect was called (not
	// for a client that never sent a CONNECT). err is nil when the client
	// sent DISCONNECT, ErrClosed when the server closed it (Conn.Close,
	// Shutdown), the core's error for a protocol violation or a timeout
	// (mqtt.ErrKeepAliveTimeout, a *packet.Error, ...), an error that is
	// os.ErrDeadlineExceeded for a client that took no bytes for
	// Config.WriteTimeout, or else the transport's error (io.EOF for a
	// client that went away without DISCONNECT: publish its will).
	OnClose(c *Conn, err error)
}

// Config configures a Server.
type Config struct {
	// Handler receives the clients' packets. Required.
	Handler Handler

	// Conn configures each connection's core (package mqtt): Version to
	// accept only one, MaxPacketSize, ConnectTimeout (0 here means
	// DefaultConnectTimeout), TopicAliases, the manual acknowledgements.
	// QueueWhenQuotaExhausted is always on, with MaxQueued 0 meaning
	// DefaultMaxQueued, and Clock is time.Now unless set.
	Conn mqtt.Config

	// MaxBacklog bounds the bytes accepted for a connection and not yet
	// written to it: beyond it Send returns ErrBacklog and the connection's
	// own reads stop (so the acknowledgements a client that does not read
	// makes the server send do not pile up). 0 means DefaultMaxBacklog.
	MaxBacklog int

	// WriteTimeout bounds each write to a client; a client that takes no
	// bytes for that long is disconnected. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration

	// NoEventLoop serves every connection with a goroutine that reads
	// it. Otherwise, on Linux, a connection over TCP (not TLS) is served
	// by the Server's event loop (epoll): while idle it has no
	// goroutine, no buffer and no net.Conn. See the package doc.
	NoEventLoop bool

	// Trace, when set, is asked for a writer for each connection: the
	// trace of its core Connection (package trace) goes there, every
	// chunk read, packet sent, timer firing and event, one Write per
	// record under the connection's lock; trace.Read and trace.Check
	// replay it. It is called once the connection's address is known (the
	// Conn's RemoteAddr), from the connection's first call on; nil means
	// none for that connection. The Server does not close the writer
	// (OnClose may). Conn.Trace is not used: a trace is one Connection's.
	Trace func(c *Conn) io.Writer
	// Journal, when set, turns the cores' session journal on
	// (mqtt.Config.Journal), receives its batches, and holds each
	// connection's writes until what was recorded before them is durable
	// (journal.go).
	Journal Journal
}

// Defaults of Config.
const (
	DefaultMaxBacklog     = 1 << 20
	DefaultWriteTimeout   = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxQueued      = 1000
)

// Errors of the package.
var (
	// ErrServerClosed is returned by Serve after Shutdown.
	ErrServerClosed = errors.New("server: closed")
	// ErrClosed: the connection has ended, or is ending, on the server's
	// side (Conn.Close, Shutdown); Send returns it, and OnClose gets it.
	ErrClosed = errors.New("server: connection closed")
	// ErrBacklog: the connection already has Config.MaxBacklog bytes
	// waiting to be written; the packet was not sent.
	ErrBacklog = errors.New("server: too many bytes waiting for the client")
)

// Server serves MQTT clients over net.Listeners, one core
// mqtt.Connection per client.
type Server struct {
	cfg  Config
	conn *mqtt.SharedConfig // cfg.Conn, which every connection's core reads

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{} // on the goroutine path
	loopConns int                // on the event loop (in poll's table)
	closing   bool
	gone      chan struct{} // closed when conns becomes empty while closing
	timers    timerQueue    // the connections' timers
	poll      *poller       // the event loop, once a connection needed it
	pollErr   error         // why there is none

	traffic [trafficStripes]trafficStripe // bytes read and written (traffic.go)
}

// eventLoop switches the event loop off for the tests of the goroutine
// path.
var eventLoop = true

// New returns a Server. It panics if cfg.Handler is nil.
func New(cfg Config) *Server {
	if cfg.Handler == nil {
		panic("server: nil Handler")
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = DefaultMaxBacklog
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Conn.ConnectTimeout <= 0 {
		cfg.Conn.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Conn.MaxQueued <= 0 {
		cfg.Conn.MaxQueued = DefaultMaxQueued
	}
	cfg.Conn.QueueWhenQuotaExhausted = true
	cfg.Conn.Trace = nil // see Config.Trace
	cfg.Conn.Journal = cfg.Journal != nil
	if cfg.Conn.Clock == nil {
		cfg.Conn.Clock = time.Now
	}
	s := &Server{cfg: cfg, conn: mqtt.ShareConfig(cfg.Conn), listeners: map[net.Listener]struct{}{}, conns: map[*Conn]struct{}{}, gone: make(chan struct{})}
	s.timers.init()
	return s
}

// Serve accepts connections on l and serves each (on the event loop for
// a TCP listener on Linux, otherwise on goroutines of its own) until l
// fails or Shutdown is called; it then returns ErrServerClosed
// (after Shutdown) or the error of Accept. For TLS pass a listener of
// crypto/tls. l is closed when Serve returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	// On the event loop, Accept waits for clients (and for the listener
	// to close); the clients waiting behind the one it returns are
	// accepted raw (fd_linux.go).
	tl, _ := l.(*net.TCPListener)
	var p *poller
	if tl != nil {
		p = s.eventLoop()
	}
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait, as
				// net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.ServeConn(nc)
		if p != nil {
			s.acceptWaiting(tl, p)
		}
	}
}

// ServeConn serves one client on nc and returns at once: for transports
// that are no net.Listener (a WebSocket handler, net.Pipe in tests).
// After Shutdown it closes nc. nc is the Server's from then on: end the
// connection with Conn.Close. (On the event loop the Server takes a
// *net.TCPConn's socket for its own and closes nc at once: closing nc
// later does nothing; a shutdown of the socket, as a network failure
// would, is seen.)
func (s *Server) ServeConn(nc net.Conn) {
	c := newConn(s, nc)
	p := s.poller(nc)
	if p != nil {
		if c.takeFD(nc.(*net.TCPConn)) {
			c.nc = nil
		} else {
			p = nil
		}
	}
	s.start(c, p)
}

// start serves c: on the event loop p, or with a read loop for p nil.
func (s *Server) start(c *Conn, p *poller) {
	if p == nil {
		c.room = make(chan struct{}, 1)
	}
	c.mu.Lock() // a worker that gets an event waits for Opened
	s.mu.Lock()
	var err error
	switch {
	case s.closing:
		err = ErrServerClosed
	case p == nil:
		s.conns[c] = struct{}{}
	default:
		// Registered under s.mu, so that Shutdown finds it.
		if err = p.add(c); err == nil {
			s.loopConns++
		}
	}
	s.mu.Unlock()
	if err != nil { // closing, or the socket cannot be watched (out of memory, ...)
		c.mu.Unlock()
		c.closeTransportNow()
		return
	}
	c.mc.Opened()
	c.unlock()
	if p == nil {
		go c.readLoop()
	}
}

// poller returns the event loop for nc, started on the first call, or
// nil for the goroutine path.
func (s *Server) poller(nc net.Conn) *poller {
	if _, ok := nc.(*net.TCPConn); !ok {
		return nil
	}
	return s.eventLoop()
}

// eventLoop returns the event loop, started on the first call, or nil
// when there is none (Config.NoEventLoop, not Linux).
func (s *Server) eventLoop() *poller {
	if !eventLoop || s.cfg.NoEventLoop {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poll == nil && s.pollErr == nil && !s.closing {
		s.poll, s.pollErr = newPoller()
	}
	return s.poll
}

// isClosing reports whether Shutdown was called.
func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// remove forgets a connection that ended.
func (s *Server) remove(c *Conn) {
	s.mu.Lock()
	if c.nc == nil {
		s.loopConns--
	} else {
		delete(s.conns, c)
	}
	if s.closing && len(s.conns)+s.loopConns == 0 {
		select {
		case <-s.gone:
		default:
			close(s.gone)
		}
	}
	s.mu.Unlock()
}

// Shutdown stops the Server: it closes the listeners, sends each client
// a DISCONNECT with 0x8B Server shutting down (v5; a 3.1.1 client's
// connection is just closed) after what waits to be written to it, and
// waits until every connection has ended and its OnClose has returned.
// When ctx ends first, it closes the remaining connections at once and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*Conn, 0, len(s.conns)+s.loopConns)
	if s.poll != nil {
		conns = s.poll.appendConns(conns)
	}
	for c := range s.conns {
		conns = append(conns, c)
	}
	if len(s.conns)+s.loopConns == 0 {
		select {
		case <-s.gone:
		default:
			close(s.gone)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close(packet.ServerShuttingDown)
	}
	var err error
	select {
	case <-s.gone:
	case <-ctx.Done():
		for _, c := range conns {
			c.closeTransport()
		}
		<-s.gone
		err = ctx.Err()
	}
	s.mu.Lock()
	p := s.poll
	s.mu.Unlock()
	if p != nil {
		p.close()
	}
	return err
}

// Conns returns the number of connections being served: accepted, and
// not yet ended with their OnClose returned.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) + s.loopConns
}
