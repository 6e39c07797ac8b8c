package server

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// Conn is one client's connection. Its methods are safe for concurrent
// use, from any goroutine, Handler calls included.
type Conn struct {
	// (The fields are in an order that packs them: an idle connection's
	// Conn is 240 bytes.)

	// Immutable, but for fd, remote and gen, set once before the
	// connection is served.
	srv    *Server
	nc     net.Conn // the transport; nil on the event loop
	fd     rawFD    // the socket on the event loop (fd_linux.go)
	remote peerAddr // the client's address on the event loop

	// Set once, before OnConnect, and read without a lock after it:
	// version (and the core's client identifier: ClientID).
	version packet.Version
	gen     uint32 // the event loop's registration

	// parked: the event loop does not read the connection until its
	// backlog drains (see rearm).
	parked  atomic.Bool
	closing atomic.Bool // the connection ends or has ended: Send refuses

	// backlog counts the bytes accepted and not yet written: those in out,
	// in the writer's hands, and those of the packets in the mailbox.
	backlog atomic.Int64
	room    chan struct{} // the writer made progress, or the connection ended (capacity 1; the goroutine path)

	// mu serialises the calls on the core and guards what follows.
	// Whoever holds it releases it with unlock, which carries out what
	// other goroutines posted in the mailbox meanwhile.
	mu           sync.Mutex
	mc           *mqtt.Connection[uint16]
	out          []byte // bytes to write, in order
	writing      bool   // a writer owns the writing side (see loop.go)
	hangUp       bool   // close the transport once out is written
	ended        bool   // the transport has closed: the core is done
	connected    bool   // OnConnect was called
	disconnected bool   // the client sent DISCONNECT
	inRead       bool   // the reader writes the bytes of its Recv itself (inlineWrites)
	quiet        bool   // the core let go of its scratch after the handshake
	wreg         bool   // the event loop watches the socket for writes
	stalled      bool   // stall runs
	// timers, by kind less 1: where the timer is in the Server's timer
	// queue (internal/timerqueue), plus 1; 0 when not running. Guarded
	// by the queue's lock (the queue moves entries).
	timers [timerKinds]int32
	stall  *time.Timer // ends a client that takes no bytes (event loop)
	err    error       // why the connection ends, once known

	box atomic.Pointer[mailbox] // made by the first post
	x   ext                     // the Handler's requests besides Send and Close (ext.go)
}

// mailbox holds what other goroutines asked of a Conn while its lock was
// held: the holder carries it out before it lets go of the lock.
type mailbox struct {
	mu  sync.Mutex
	ops []op
}

// empty reports whether nothing waits in b (none, if b is nil).
func (b *mailbox) empty() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ops) == 0
}

// op is a packet to send or, with p nil, a close with reason.
type op struct {
	p      packet.Packet
	size   int64
	reason packet.ReasonCode
}

func newConn(s *Server, nc net.Conn) *Conn {
	c := &Conn{srv: s, nc: nc}
	if s.cfg.Trace != nil {
		// A tracer of its own: a Config of its own.
		cfg := s.cfg.Conn
		cfg.Trace = &connTracer{c: c}
		c.mc = mqtt.NewServer(cfg, c.event)
	} else {
		c.mc = mqtt.NewSharedServer(s.conn, c.event)
	}
	return c
}

// ClientID returns the client's identifier, from OnConnect on: the
// CONNECT's, or the one the server assigned for an empty one.
func (c *Conn) ClientID() string { return c.mc.ClientID() }

// Version returns the protocol version of the client's CONNECT, from
// OnConnect on.
func (c *Conn) Version() packet.Version { return c.version }

// RemoteAddr returns the client's network address.
func (c *Conn) RemoteAddr() net.Addr {
	if c.nc != nil {
		return c.nc.RemoteAddr()
	}
	return c.remote.tcpAddr()
}

// peerAddr is a client's IP address (IPv4 mapped into IPv6) and port: 18
// bytes, where a netip.AddrPort takes 32.
type peerAddr struct {
	ip   [16]byte
	port uint16
}

func makePeerAddr(ap netip.AddrPort) peerAddr {
	return peerAddr{ip: ap.Addr().As16(), port: ap.Port()}
}

func (a peerAddr) tcpAddr() *net.TCPAddr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(a.ip).Unmap(), a.port))
}

// Core returns the connection's core, for what the Handler needs of it
// beyond Send and Close: ImportSession (or Replay) in OnConnect, before it
// accepts the client with SessionPresent, to resume a session it kept;
// SessionPersists, SessionExpiry and ExportSession in OnClose, to keep it;
// InFlight, Queued and SendQuota. Call it, and the core's methods, only
// inside the Handler's calls for this connection: the core is not safe
// for concurrent use, and the connection's lock is held then. (Sending
// through the core's Send bypasses MaxBacklog; use Conn.Send.)
func (c *Conn) Core() *mqtt.Connection[uint16] { return c.mc }

// Backlog returns the bytes accepted for the client and not yet written.
func (c *Conn) Backlog() int { return int(c.backlog.Load()) }

// Send sends p to the client. The core applies the protocol to it: a QoS
// 1 or 2 PUBLISH with PacketID 0 gets a free identifier and is resent on
// reconnection while its session lasts, waits in the core's queue when
// the client's Receive Maximum is reached, and loses its topic to an
// alias with Config.Conn.TopicAliases.
//
// When the connection is free, Send hands p to the core at once and
// returns the core's error (mqtt.ErrQuotaExceeded when the queue is
// full, mqtt.ErrPacketTooLarge, ...). When another goroutine is working
// on the connection, a Handler call on this one included, Send keeps a
// copy of p and returns nil: the holder sends it before letting go, and an
// error then goes unreported. Either way the caller may reuse p once Send
// returns, and the packets reach the client in the order of the Send
// calls made by one goroutine.
//
// Send returns ErrBacklog, sending nothing, when Config.MaxBacklog bytes
// already wait for the client (a broker drops the message, or closes a
// client that does not keep up), and ErrClosed after the connection ended
// or began to close.
func (c *Conn) Send(p packet.Packet) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if c.backlog.Load() >= int64(c.srv.cfg.MaxBacklog) {
		return ErrBacklog
	}
	if c.mu.TryLock() {
		// What this goroutine posted while the connection was busy
		// goes first: its packets keep their order.
		c.drain()
		err := c.sendLocked(p)
		c.unlock()
		return err
	}
	size := int64(p.Size(c.version))
	c.backlog.Add(size)
	c.post(op{p: clone(p), size: size})
	return nil
}

// Close ends the connection: a v5 client that is connected is sent a
// DISCONNECT with reason (packet.NormalDisconnection, SessionTakenOver,
// AdministrativeAction, ...), after the bytes that wait for it; then the
// transport is closed and OnClose gets ErrClosed. Closing a connection
// that ends already does nothing.
func (c *Conn) Close(reason packet.ReasonCode) {
	if c.mu.TryLock() {
		c.drain() // what was posted before goes first
		c.closeLocked(reason)
		c.unlock()
		return
	}
	c.post(op{reason: reason})
}

// post puts o in the mailbox and carries the mailbox out if the lock is
// free by then.
func (c *Conn) post(o op) {
	b := c.box.Load()
	if b == nil {
		c.box.CompareAndSwap(nil, new(mailbox))
		b = c.box.Load()
	}
	b.mu.Lock()
	b.ops = append(b.ops, o)
	b.mu.Unlock()
	if c.mu.TryLock() {
		c.unlock()
	}
}

// unlock carries out the mailbox and releases c.mu. A goroutine that
// posts while c.mu is held either finds c.mu free when it tries it after
// posting, or its post comes before the release, and the check after the
// release finds it: nothing posted waits while nobody holds c.mu.
func (c *Conn) unlock() {
	for {
		c.drain()
		c.seal() // journal.go: what was recorded meanwhile is one unit
		c.mu.Unlock()
		if c.box.Load().empty() && !c.pending() || !c.mu.TryLock() {
			return
		}
	}
}

// drain carries out the mailbox, with c.mu held.
func (c *Conn) drain() {
	for {
		var ops []op
		if b := c.box.Load(); b != nil {
			b.mu.Lock()
			ops, b.ops = b.ops, nil
			b.mu.Unlock()
		}
		if len(ops) == 0 {
			if c.runTodo() { // ext.go
				continue
			}
			return
		}
		for _, o := range ops {
			if o.p == nil {
				c.closeLocked(o.reason)
				continue
			}
			c.backlog.Add(-o.size)
			_ = c.sendLocked(o.p) // see Send: the error is not reported
		}
	}
}

// sendLocked sends p with c.mu held.
func (c *Conn) sendLocked(p packet.Packet) error {
	if c.ended || c.hangUp {
		return ErrClosed
	}
	return c.mc.Send(p)
}

// closeLocked starts closing, with c.mu held.
func (c *Conn) closeLocked(reason packet.ReasonCode) {
	if c.ended || c.hangUp {
		return
	}
	if c.err == nil {
		c.err = ErrClosed
	}
	if c.mc.Version() == packet.V5 && c.mc.State() == mqtt.StateConnected {
		_ = c.mc.Send(&packet.Disconnect{Reason: reason})
	}
	c.hang()
}

// hang has the writer close the transport once out is written, with c.mu
// held.
func (c *Conn) hang() {
	if !c.hangUp {
		c.hangUp = true
		c.closing.Store(true)
		// The writer may be stuck on a client that does not read: it
		// gets WriteTimeout from now at most.
		if c.nc != nil {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		}
		c.startWriter()
	}
}

// clone copies a packet the caller may reuse after Send returns.
func clone(p packet.Packet) packet.Packet {
	switch p := p.(type) {
	case *packet.Publish:
		return p.Clone()
	case *packet.Puback:
		return p.Clone()
	case *packet.Pubrec:
		return p.Clone()
	case *packet.Pubrel:
		return p.Clone()
	case *packet.Pubcomp:
		return p.Clone()
	case *packet.Suback:
		return p.Clone()
	case *packet.Unsuback:
		return p.Clone()
	case *packet.Connack:
		return p.Clone()
	case *packet.Disconnect:
		return p.Clone()
	case *packet.Auth:
		return p.Clone()
	case *packet.Pingresp:
		return &packet.Pingresp{}
	}
	return p // not a server's packet: the core refuses it
}
