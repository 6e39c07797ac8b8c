package quic_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"slices"
	"sync"
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

func serveAll(b testing.TB) transports {
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

// rtts are the round-trip times the benchmarks run with: loopback's
// own, and 10 ms added on the client's side (its datagrams, its TCP
// writes and its TCP dial each wait that long first: a network that
// loses nothing and reorders nothing).
var rtts = []time.Duration{0, 10 * time.Millisecond}

// link dials as a client on the network, from the address local, rtt
// away from the servers.
type link struct {
	ts    transports
	rtt   time.Duration
	local func() string
	sock  atomic.Pointer[blackhole]   // QUIC: the last socket
	tcp   atomic.Pointer[net.TCPConn] // TCP, TLS: the last connection
}

// dialer dials quic://, tcp:// and tls:// over l.
func (l *link) dialer() client.Dialer {
	qd := &quic.Dialer{TLSConfig: l.ts.cli, ListenPacket: func() (net.PacketConn, error) { return l.listen(l.local()) }}
	return dialerFunc(func(ctx context.Context, u *url.URL) (net.Conn, error) {
		if u.Scheme == quic.Scheme {
			return qd.Dial(ctx, u)
		}
		time.Sleep(l.rtt) // SYN, SYN-ACK
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(l.local())}}
		nc, err := nd.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		l.tcp.Store(nc.(*net.TCPConn))
		if l.rtt > 0 {
			nc = slowConn{nc, newDelay(l.rtt)}
		}
		if u.Scheme != "tls" {
			return nc, nil
		}
		conf := l.ts.cli.Clone()
		conf.ServerName = u.Hostname()
		tc := tls.Client(nc, conf)
		return tc, tc.HandshakeContext(ctx)
	})
}

// listen opens a UDP socket on ip, rtt away from the servers, that can
// be made to lose everything.
func (l *link) listen(ip string) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		return nil, err
	}
	bh := &blackhole{PacketConn: pc}
	if l.rtt > 0 {
		bh.PacketConn = slowPackets{pc, newDelay(l.rtt)}
	}
	l.sock.Store(bh)
	return bh, nil
}

// BenchmarkConnect: Connect, from the dial to the CONNACK (a full TLS
// handshake each time, no session resumption, for QUIC and TLS), over
// loopback; closing the client is not timed.
func BenchmarkConnect(b *testing.B) {
	ts := serveAll(b)
	ctx := context.Background()
	for _, rtt := range rtts {
		for _, s := range ts.servers() {
			b.Run(fmt.Sprintf("RTT=%v/%s", rtt, s.name), func(b *testing.B) {
				l := &link{ts: ts, rtt: rtt, local: func() string { return "127.0.0.1" }}
				cfg := client.Config{Servers: []string{s.url}, ClientID: "bench", NoReconnect: true, Dialer: l.dialer()}
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
	for _, rtt := range rtts {
		b.Run(fmt.Sprintf("RTT=%v/Migrate", rtt), func(b *testing.B) {
			i := 0
			l := &link{ts: ts, rtt: rtt, local: func() string { return localIP(i) }}
			var qd *quic.Dialer
			connect := func() *client.Client {
				i = 0
				qd = &quic.Dialer{TLSConfig: ts.cli, ListenPacket: func() (net.PacketConn, error) { return l.listen(l.local()) }}
				return connectBench(b, client.Config{Servers: []string{ts.quic}, Dialer: qd})
			}
			// A connection migrates a few times, not thousands: quic-go
			// keeps the old paths until the connection ends.
			reconnect(b, connect, 8, func(ctx context.Context) {
				l.sock.Load().drop.Store(true)
				i++
				pc, err := l.listen(l.local())
				if err != nil {
					b.Fatal(err)
				}
				if err := qd.Migrate(ctx, pc); err != nil {
					b.Fatal(err)
				}
			})
		})
		for _, s := range ts.servers() {
			b.Run(fmt.Sprintf("RTT=%v/%s", rtt, s.name), func(b *testing.B) {
				i := 0
				l := &link{ts: ts, rtt: rtt, local: func() string { i++; return localIP(i) }}
				ups := make(chan bool, 1)
				connect := func() *client.Client {
					return connectBench(b, client.Config{Servers: []string{s.url}, Dialer: l.dialer(),
						OnConnectionUp: func(bool) { ups <- true }})
				}
				reconnect(b, connect, 0, func(context.Context) {
					if s.name == "QUIC" {
						l.sock.Load().Close()
					} else {
						l.tcp.Load().SetLinger(0) // RST
						l.tcp.Load().Close()
					}
					<-ups
				})
			})
		}
	}
}

// localIP is the client's address after i changes of network.
func localIP(i int) string { return fmt.Sprintf("127.0.0.%d", 2+i%2) }

// reconnect times change and a QoS 1 publish after it, once per
// iteration, on a client from connect, a new one (not timed) after each
// run of every iterations, or only at the start for every 0. Besides
// the mean (ns/op) it reports the median iteration (ms/median): a
// migration's first acknowledgement can be lost (see the README).
func reconnect(b *testing.B, connect func() *client.Client, every int, change func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := connect()
	n := 0
	var took []time.Duration
	for b.Loop() {
		if n++; every > 0 && n > every {
			b.StopTimer()
			c.Close(ctx)
			c, n = connect(), 1
			b.StartTimer()
		}
		start := time.Now()
		change(ctx)
		if err := c.Publish(ctx, client.Message{Topic: "bench/up", QoS: packet.QoS1, Payload: []byte("up")}); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	c.Close(ctx)
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "ms/median")
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

type dialerFunc func(ctx context.Context, u *url.URL) (net.Conn, error)

func (f dialerFunc) Dial(ctx context.Context, u *url.URL) (net.Conn, error) { return f(ctx, u) }

// delay runs what it is given rtt later, in order, on one goroutine.
type delay struct {
	rtt  time.Duration
	q    chan delayed
	done chan struct{}
	once sync.Once
}

type delayed struct {
	at time.Time
	do func()
}

func newDelay(rtt time.Duration) *delay {
	d := &delay{rtt: rtt, q: make(chan delayed, 1024), done: make(chan struct{})}
	go func() {
		for {
			select {
			case x := <-d.q:
				time.Sleep(time.Until(x.at))
				x.do()
			case <-d.done:
				return
			}
		}
	}()
	return d
}

// later runs do rtt from now, unless stopped.
func (d *delay) later(do func()) error {
	select {
	case d.q <- delayed{time.Now().Add(d.rtt), do}:
		return nil
	case <-d.done:
		return net.ErrClosed
	}
}

func (d *delay) stop() { d.once.Do(func() { close(d.done) }) }

// slowPackets sends each datagram rtt late.
type slowPackets struct {
	net.PacketConn
	*delay
}

func (s slowPackets) WriteTo(p []byte, a net.Addr) (int, error) {
	b := bytes.Clone(p)
	return len(p), s.later(func() { s.PacketConn.WriteTo(b, a) })
}

func (s slowPackets) Close() error {
	s.stop()
	return s.PacketConn.Close()
}

// slowConn writes each chunk rtt late.
type slowConn struct {
	net.Conn
	*delay
}

func (s slowConn) Write(p []byte) (int, error) {
	b := bytes.Clone(p)
	return len(p), s.later(func() { s.Conn.Write(b) })
}

func (s slowConn) Close() error {
	s.stop()
	return s.Conn.Close()
}

// BenchmarkIdle: what an idle MQTT connection holds on the server and
// the client together (this process is both), after CONNACK: heap bytes
// and goroutines per connection, from 200 connections.
func BenchmarkIdle(b *testing.B) {
	ts := serveAll(b)
	const n = 200
	for _, s := range ts.servers() {
		b.Run(s.name, func(b *testing.B) {
			cfg := client.Config{Servers: []string{s.url}, TLSConfig: ts.cli, Dialer: &quic.Dialer{TLSConfig: ts.cli}}
			for b.Loop() {
				b.StopTimer()
				heap0, g0 := heapNow()
				var cs []*client.Client
				for range n {
					cs = append(cs, connectBench(b, cfg))
				}
				heap1, g1 := heapNow()
				b.ReportMetric(float64(heap1-heap0)/n, "heap-B/conn")
				b.ReportMetric(float64(g1-g0)/n, "goroutines/conn")
				for _, c := range cs {
					c.Close(context.Background())
				}
				b.StartTimer()
			}
		})
	}
}

func heapNow() (uint64, int) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, runtime.NumGoroutine()
}
