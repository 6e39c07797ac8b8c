package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/mqttcore/mqtt/client"
)

// Scheme is the URL scheme of MQTT over QUIC: quic://host[:port].
const Scheme = "quic"

// Dialer dials quic:// servers for package client, and hands the other
// schemes (tcp://, tls:// and their aliases) to the client's standard
// dialer, with no proxy. The zero Dialer is ready to use.
type Dialer struct {
	// TLSConfig is used for quic:// (and tls://); nil means the system
	// roots. For quic:// its NextProtos become "mqtt" alone, and
	// ServerName the URL's host unless set.
	TLSConfig *tls.Config
	// Config configures QUIC; nil or zero fields get their defaults
	// (DefaultKeepAlive, no stream opened by the server).
	Config *quicgo.Config
	// ListenPacket opens the local socket of each connection; nil means
	// a UDP socket on a port of the system's choice. The Conn closes it.
	ListenPacket func() (net.PacketConn, error)
	// Linger is the Conns' (0 means DefaultLinger).
	Linger time.Duration

	mu   sync.Mutex
	last *Conn
}

var _ client.Dialer = (*Dialer)(nil)

// Dial opens a QUIC connection to the server u and its stream.
func (d *Dialer) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	if u.Scheme != Scheme {
		return client.StandardDialer(d.TLSConfig, nil).Dial(ctx, u)
	}
	port := u.Port()
	if port == "" {
		port = DefaultPort
	}
	raddr, err := resolve(ctx, u.Hostname(), port)
	if err != nil {
		return nil, err
	}
	tlsConf := d.TLSConfig.Clone()
	if tlsConf == nil {
		tlsConf = &tls.Config{}
	}
	tlsConf.NextProtos = []string{ALPN}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = u.Hostname()
	}
	conf := clone(d.Config)
	if conf.MaxIncomingStreams == 0 {
		conf.MaxIncomingStreams = -1
	}
	pc, err := d.listenPacket()
	if err != nil {
		return nil, err
	}
	tr := &quicgo.Transport{Conn: pc}
	qc, err := tr.Dial(ctx, raddr, tlsConf, conf)
	if err != nil {
		tr.Close()
		pc.Close()
		return nil, err
	}
	str, err := qc.OpenStreamSync(ctx)
	if err != nil {
		qc.CloseWithError(CodeNoStream, "")
		tr.Close()
		pc.Close()
		return nil, err
	}
	c := newConn(qc, str, d.Linger)
	c.owned = []io.Closer{tr, pc}
	d.mu.Lock()
	d.last = c
	d.mu.Unlock()
	return c, nil
}

func (d *Dialer) listenPacket() (net.PacketConn, error) {
	if d.ListenPacket != nil {
		return d.ListenPacket()
	}
	return net.ListenUDP("udp", nil)
}

// resolve returns the UDP address of host and port.
func resolve(ctx context.Context, host, port string) (*net.UDPAddr, error) {
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	pn, err := net.DefaultResolver.LookupPort(ctx, "udp", port)
	if err != nil {
		return nil, err
	}
	return &net.UDPAddr{IP: ips[0].Unmap().AsSlice(), Port: pn}, nil
}

// ErrNoConn: the Dialer has no connection to migrate.
var ErrNoConn = errors.New("quic: no connection")

// Migrate moves the connection the Dialer dialled last (the one a
// Client runs on) to pc: see Conn.Migrate.
func (d *Dialer) Migrate(ctx context.Context, pc net.PacketConn) error {
	d.mu.Lock()
	c := d.last
	d.mu.Unlock()
	if c == nil || c.closed.Load() {
		return ErrNoConn
	}
	return c.Migrate(ctx, pc)
}

// Migrate moves a client's connection to the local socket pc, after a
// change of network (QUIC connection migration, RFC 9000 section 9): it
// probes the path from pc to the server and switches to it once the
// server answered, keeping the stream, and with it the MQTT connection,
// as it was. The old socket is closed with the connection (quic-go
// keeps it until then), pc too, even when Migrate fails; the connection
// then stays on its path.
func (c *Conn) Migrate(ctx context.Context, pc net.PacketConn) error {
	tr := &quicgo.Transport{Conn: pc}
	c.mu.Lock()
	c.owned = append(c.owned, tr, pc)
	c.mu.Unlock()
	p, err := c.qc.AddPath(tr)
	if err != nil {
		return err
	}
	if err := p.Probe(ctx); err != nil {
		p.Close()
		return err
	}
	if err := p.Switch(); err != nil {
		p.Close()
		return err
	}
	return nil
}
