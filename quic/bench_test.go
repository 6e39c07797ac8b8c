package quic_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/quic"
	"github.com/mqttcore/mqtt/server"
)

// transports is one server.Server on three loopback listeners: QUIC, TCP
// and TLS over TCP, with the same certificate.
type transports struct {
	quic, tcp, tls string // URLs
	cli            *tls.Config
}

func serveAll(b *testing.B) transports {
	srvTLS, cliTLS := certs()
	srv := server.New(server.Config{Handler: newRouter()})
	ql, err := quic.Listen("127.0.0.1:0", srvTLS, nil)
	if err != nil {
		b.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sl, err := tls.Listen("tcp", "127.0.0.1:0", srvTLS)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range []net.Listener{ql, tl, sl} {
		go srv.Serve(l)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return transports{quic: "quic://" + ql.Addr().String(), tcp: "tcp://" + tl.Addr().String(),
		tls: "tls://" + sl.Addr().String(), cli: cliTLS}
}

func (ts transports) servers() []struct{ name, url string } {
	return []struct{ name, url string }{{"QUIC", ts.quic}, {"TCP", ts.tcp}, {"TLS", ts.tls}}
}

// BenchmarkConnect: Connect, from the dial to the CONNACK (a full TLS
// handshake each time, no session resumption, for QUIC and TLS), over
// loopback; closing the client is not timed.
func BenchmarkConnect(b *testing.B) {
	ts := serveAll(b)
	ctx := context.Background()
	for _, s := range ts.servers() {
		b.Run(s.name, func(b *testing.B) {
			cfg := client.Config{Servers: []string{s.url}, ClientID: "bench", NoReconnect: true,
				TLSConfig: ts.cli, Dialer: &quic.Dialer{TLSConfig: ts.cli}}
			for b.Loop() {
				c, err := client.Connect(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.Close(ctx)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkReconnect: the client's network changes — its address on
// loopback goes from 127.0.0.2 to 127.0.0.3 and back — and the time
// measured is from then until a QoS 1 message published after it is
// acknowledged:
//   - Migrate: the QUIC connection migrates to a socket on the new
//     address (Dialer.Migrate), the old one losing every packet; the MQTT
//     connection is the same.
//   - QUIC, TCP, TLS: the client drops the connection (its UDP socket
//     closed; its TCP connection reset) and connects anew (reconnection
//     after 1 µs: the retry delay is not measured), from the new address.
//
// A client notices a change of its own network at once; one that
// learned of it from its keep-alive would add that to every case but
// Migrate.
func BenchmarkReconnect(b *testing.B) {
	ts := serveAll(b)
	local := func(i int) string { return fmt.Sprintf("127.0.0.%d", 2+i%2) }

	b.Run("Migrate", func(b *testing.B) {
		var sock atomic.Pointer[blackhole]
		d := &quic.Dialer{TLSConfig: ts.cli, ListenPacket: func() (net.PacketConn, error) {
			return listenLossy(local(0), &sock)
		}}
		i := 1
		connect := func() *client.Client {
			i = 1 // the Dialer's socket is on local(0)
			return connectBench(b, client.Config{Servers: []string{ts.quic}, Dialer: d})
		}
		// A connection migrates a few times, not thousands: quic-go
		// keeps the old paths until the connection ends.
		reconnect(b, connect, 8, func(ctx context.Context) {
			sock.Load().drop.Store(true)
			pc, err := listenLossy(local(i), &sock)
			if err != nil {
				b.Fatal(err)
			}
			i++
			if err := d.Migrate(ctx, pc); err != nil {
				b.Fatal(err)
			}
		})
	})

	b.Run("QUIC", func(b *testing.B) {
		var sock atomic.Pointer[blackhole]
		i := 0
		d := &quic.Dialer{TLSConfig: ts.cli, ListenPacket: func() (net.PacketConn, error) {
			i++
			return listenLossy(local(i), &sock)
		}}
		ups := make(chan bool, 1)
		connect := func() *client.Client {
			return connectBench(b, client.Config{Servers: []string{ts.quic}, Dialer: d, OnConnectionUp: func(bool) { ups <- true }})
		}
		reconnect(b, connect, 0, func(ctx context.Context) {
			sock.Load().Close()
			<-ups
		})
	})

	for _, s := range ts.servers()[1:] {
		b.Run(s.name, func(b *testing.B) {
			var tc atomic.Pointer[net.TCPConn]
			i := 0
			d := dialerFunc(func(ctx context.Context, u *url.URL) (net.Conn, error) {
				i++
				nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local(i))}}
				nc, err := nd.DialContext(ctx, "tcp", u.Host)
				if err != nil {
					return nil, err
				}
				tc.Store(nc.(*net.TCPConn))
				if u.Scheme == "tls" {
					conf := ts.cli.Clone()
					conf.ServerName = u.Hostname()
					tlc := tls.Client(nc, conf)
					return tlc, tlc.HandshakeContext(ctx)
				}
				return nc, nil
			})
			ups := make(chan bool, 1)
			connect := func() *client.Client {
				return connectBench(b, client.Config{Servers: []string{s.url}, Dialer: d, OnConnectionUp: func(bool) { ups <- true }})
			}
			reconnect(b, connect, 0, func(context.Context) {
				tc.Load().SetLinger(0) // RST
				tc.Load().Close()
				<-ups
			})
		})
	}
}

// reconnect times change and a QoS 1 publish after it, once per
// iteration, on a client from connect, a new one (not timed) after each
// run of every iterations, or only at the start for every 0.
func reconnect(b *testing.B, connect func() *client.Client, every int, change func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := connect()
	n := 0
	for b.Loop() {
		if n++; every > 0 && n > every {
			b.StopTimer()
			c.Close(ctx)
			c, n = connect(), 1
			b.StartTimer()
		}
		change(ctx)
		if err := c.Publish(ctx, client.Message{Topic: "bench/up", QoS: packet.QoS1, Payload: []byte("up")}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close(ctx)
}

func connectBench(b *testing.B, cfg client.Config) *client.Client {
	cfg.ClientID = "reconnecting"
	cfg.MinRetryDelay = time.Microsecond
	cfg.MaxRetryDelay = time.Microsecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// listenLossy opens a blackhole on a UDP port of ip, and stores it in last.
func listenLossy(ip string, last *atomic.Pointer[blackhole]) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		return nil, err
	}
	bh := &blackhole{PacketConn: pc}
	last.Store(bh)
	return bh, nil
}

type dialerFunc func(ctx context.Context, u *url.URL) (net.Conn, error)

func (f dialerFunc) Dial(ctx context.Context, u *url.URL) (net.Conn, error) { return f(ctx, u) }
