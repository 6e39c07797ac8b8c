package quic_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/quic"
	"github.com/mqttcore/mqtt/server"
)

// broker is a server.Server with a router on a QUIC Listener on
// loopback, ended with the test.
type broker struct {
	*server.Server
	r   *router
	l   *quic.Listener
	url string
	cli *tls.Config // trusts the server's certificate
}

func startBroker(t *testing.T, conf *quicgo.Config) *broker {
	t.Helper()
	srvTLS, cliTLS := certs()
	l, err := quic.Listen("127.0.0.1:0", srvTLS, conf)
	if err != nil {
		t.Fatal(err)
	}
	r := newRouter()
	b := &broker{Server: server.New(server.Config{Handler: r}), r: r, l: l,
		url: "quic://" + l.Addr().String(), cli: cliTLS}
	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return b
}

func (b *broker) connect(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	cfg.Servers = []string{b.url}
	if cfg.Dialer == nil {
		cfg.Dialer = &quic.Dialer{TLSConfig: b.cli}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPubSub_MQTT_4_2_0_1: MQTT packets go over the QUIC stream both ways,
// as over TCP: a client of package client subscribes and publishes at
// each QoS through a server.Server on a Listener, in both versions, and
// gets every message back once, in order.
func TestPubSub_MQTT_4_2_0_1(t *testing.T) {
	b := startBroker(t, nil)
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		t.Run(v.String(), func(t *testing.T) {
			ctx := testContext(t)
			c := b.connect(t, client.Config{Version: v, ClientID: "pubsub-" + v.String()})
			got := make(chan client.Message, 3)
			err := c.Subscribe(ctx, packet.Subscription{Filter: "q/+", QoS: packet.QoS2}, func(m client.Message) { got <- m })
			if err != nil {
				t.Fatal(err)
			}
			for qos := packet.QoS0; qos <= packet.QoS2; qos++ {
				want := fmt.Sprintf("at QoS %d over QUIC", qos)
				if err := c.Publish(ctx, client.Message{Topic: "q/1", QoS: qos, Payload: []byte(want)}); err != nil {
					t.Fatal(err)
				}
				select {
				case m := <-got:
					if string(m.Payload) != want || m.QoS != qos {
						t.Fatalf("got %q at QoS %d, want %q at QoS %d", m.Payload, m.QoS, want, qos)
					}
				case <-ctx.Done():
					t.Fatalf("QoS %d: nothing back", qos)
				}
			}
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-b.r.closed; err != nil {
				t.Fatalf("OnClose after DISCONNECT: %v, want nil", err)
			}
		})
	}
}

// TestConnAddrs: the server's Conn and the client's say where the other
// end is; the deadlines work.
func TestConnAddrs(t *testing.T) {
	l, cc, sc := pair(t)
	// The client's socket is [::]:port, the server sees 127.0.0.1:port.
	if sc.RemoteAddr().(*net.UDPAddr).Port != cc.LocalAddr().(*net.UDPAddr).Port ||
		sc.LocalAddr().String() != l.Addr().String() || cc.RemoteAddr().String() != l.Addr().String() {
		t.Errorf("server %v <- %v, client %v -> %v", sc.LocalAddr(), sc.RemoteAddr(), cc.LocalAddr(), cc.RemoteAddr())
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(sc, buf); err != nil || buf[0] != 0xC0 {
		t.Fatalf("read %q, %v", buf, err)
	}
	sc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := sc.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	var ne net.Error
	if _, err := sc.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a net.Error with Timeout", err)
	}
}

// TestClose: Close sends what was written, then the end of the stream;
// a Read waiting wakes with net.ErrClosed; the QUIC connection ends with
// CodeClosed once the peer closes too.
func TestClose(t *testing.T) {
	l, cc, sc := pair(t)
	ctx := testContext(t)
	reading := make(chan error, 1)
	go func() {
		n, err := cc.Read(make([]byte, 1<<20+1)) // waits: the server's bytes come after Close
		if err == nil {
			var all []byte
			all, err = io.ReadAll(cc) // nil at io.EOF
			if n+len(all) != 1<<20 {
				err = fmt.Errorf("%d bytes, then %v", n+len(all), err)
			}
		}
		reading <- err
	}()
	big := bytes.Repeat([]byte{'x'}, 1<<20)
	if _, err := sc.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := sc.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := sc.Write([]byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := <-reading; err != nil {
		t.Fatalf("the client read: %v, want 1 MiB and io.EOF", err)
	}
	cc.Close() // the peer ended first: the QUIC connection closes now
	wantClosed(t, ctx, sc.QUIC(), quic.CodeClosed, "the server's QUIC connection")

	// A client Close with a blocked Read.
	cc, err := l.dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() { reading <- func() error { _, err := cc.Read(make([]byte, 1)); return err }() }()
	time.Sleep(10 * time.Millisecond) // most likely in Read by now; either way it must end
	cc.Close()
	if err := <-reading; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a Read when Close came: %v, want net.ErrClosed", err)
	}

	// Both ends close at once (a DISCONNECT each way, say): each sees the
	// other's end of stream, and the connection ends long before the
	// linger time.
	l2 := listen(t)
	l2.Linger = time.Hour
	_, cc, sc = pair(t, l2)
	go cc.Close()
	sc.Close()
	for _, qc := range []*quicgo.Conn{sc.QUIC(), cc.(*quic.Conn).QUIC()} {
		select {
		case <-qc.Context().Done():
		case <-ctx.Done():
			t.Fatal("the connection waits for the linger time")
		}
	}
}

// TestVanished: a client whose network goes away (no CONNECTION_CLOSE,
// no packet at all) is found out by the QUIC idle timeout, and the
// Handler's OnClose gets an error (its will would be due).
func TestVanished(t *testing.T) {
	b := startBroker(t, &quicgo.Config{MaxIdleTimeout: 300 * time.Millisecond})
	d, sock := b.lossyDialer()
	c := b.connect(t, client.Config{ClientID: "vanishing", Dialer: d, NoReconnect: true, KeepAlive: time.Hour})
	defer c.Close(context.Background())
	sock.Load().drop.Store(true) // no CONNECTION_CLOSE, nothing at all
	select {
	case err := <-b.r.closed:
		var idle *quicgo.IdleTimeoutError
		if !errors.As(err, &idle) {
			t.Fatalf("OnClose: %v, want the idle timeout", err)
		}
	case <-testContext(t).Done():
		t.Fatal("OnClose was not called")
	}
}

// TestShutdown: Shutdown sends a v5 client DISCONNECT 0x8B, ends the
// QUIC connection and returns once OnClose has.
func TestShutdown(t *testing.T) {
	b := startBroker(t, nil)
	lost := make(chan error, 1)
	b.connect(t, client.Config{ClientID: "to be shut", NoReconnect: true, OnConnectionLost: func(err error) { lost <- err }})
	ctx := testContext(t)
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var cl *client.ConnectionLostError
	if err := <-lost; !errors.As(err, &cl) || cl.Reason != packet.ServerShuttingDown {
		t.Fatalf("the client lost its connection with %v, want DISCONNECT 0x8B", err)
	}
	if err := <-b.r.closed; !errors.Is(err, server.ErrClosed) {
		t.Fatalf("OnClose: %v, want server.ErrClosed", err)
	}
}

// TestALPN: a QUIC client that offers another protocol than "mqtt" is
// refused in the TLS handshake, and Accept never returns it; the Dialer
// refuses a server that does not speak "mqtt".
func TestALPN(t *testing.T) {
	b := startBroker(t, nil)
	ctx := testContext(t)
	tc := b.cli.Clone()
	tc.NextProtos = []string{"h3"}
	_, err := quicgo.DialAddr(ctx, b.l.Addr().String(), tc, nil)
	var te *quicgo.TransportError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "application protocol") {
		t.Fatalf("dial with ALPN h3: %v, want the TLS alert no_application_protocol", err)
	}

	srvTLS, cliTLS := certs()
	srvTLS.NextProtos = []string{"h3"}
	h3, err := quicgo.ListenAddr("127.0.0.1:0", srvTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h3.Close()
	_, err = (&quic.Dialer{TLSConfig: cliTLS}).Dial(ctx, &url.URL{Scheme: quic.Scheme, Host: h3.Addr().String()})
	if !errors.As(err, &te) {
		t.Fatalf("dial a server of h3 only: %v, want a TLS alert", err)
	}
	if n := b.r.conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the Handler", n)
	}

	// A QUIC listener of the caller's that offers h3 too: NewListener
	// closes what agreed on h3.
	bothTLS := srvTLS.Clone()
	bothTLS.NextProtos = []string{"h3", quic.ALPN}
	both, err := quicgo.ListenAddr("127.0.0.1:0", bothTLS, quic.ServerConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	ml := quic.NewListener(both)
	defer ml.Close()
	ml.StreamTimeout = time.Hour // what ends the connection is the ALPN check
	go ml.Accept()
	tc = cliTLS.Clone()
	tc.NextProtos = []string{"h3"}
	qc, err := quicgo.DialAddr(ctx, both.Addr().String(), tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantClosed(t, ctx, qc, quic.CodeNoStream, "a connection that agreed on h3")
}

// TestNoStream: a client that completes the handshake but opens no
// stream is closed with CodeNoStream after StreamTimeout, and Accept goes
// on with the others.
func TestNoStream(t *testing.T) {
	l := listen(t)
	l.StreamTimeout = 50 * time.Millisecond
	ctx := testContext(t)
	tc := l.cli.Clone()
	tc.NextProtos = []string{quic.ALPN}
	idle, err := quicgo.DialAddr(ctx, l.Addr().String(), tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	wantClosed(t, ctx, idle, quic.CodeNoStream, "a connection without a stream")
	cc, err := l.dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cc.Write([]byte{0xC0, 0}) // PINGREQ: the stream reaches the server with its bytes
	if c := <-accepted; c == nil {
		t.Fatal("Accept failed")
	} else {
		c.Close()
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

// TestLarge: a 1 MB message at QoS 1 and 2 (many QUIC packets and flow
// control updates), and 2,000 messages in flight from one client.
func TestLarge(t *testing.T) {
	b := startBroker(t, nil)
	ctx := testContext(t)
	c := b.connect(t, client.Config{ClientID: "large", MaxInFlight: 1000})
	defer c.Close(ctx)
	got := make(chan client.Message, 2048)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "big/#", QoS: packet.QoS2}, func(m client.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for _, qos := range []packet.QoS{packet.QoS1, packet.QoS2} {
		if err := c.Publish(ctx, client.Message{Topic: "big/1", QoS: qos, Payload: big}); err != nil {
			t.Fatal(err)
		}
		if m := <-got; !bytes.Equal(m.Payload, big) {
			t.Fatalf("QoS %d: got %d bytes, not the ones sent", qos, len(m.Payload))
		}
	}
	const n = 2000
	var pending []*client.Pending
	for i := range n {
		p, err := c.PublishAsync(ctx, client.Message{Topic: "big/many", QoS: packet.QoS(1 + i%2), Payload: fmt.Appendf(nil, "%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	for _, p := range pending {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		select {
		case m := <-got:
			if want := fmt.Sprint(i); string(m.Payload) != want {
				t.Fatalf("message %d: %q, want %q", i, m.Payload, want)
			}
		case <-ctx.Done():
			t.Fatalf("%d messages of %d", i, n)
		}
	}
}

// TestMigrate: the client's network changes (its old socket drops
// everything, a new one is bound to 127.0.0.2): Migrate moves the QUIC
// connection, and the MQTT connection goes on with no new CONNECT, both
// ways on the new path (the old one loses everything).
func TestMigrate(t *testing.T) {
	b := startBroker(t, nil)
	ctx := testContext(t)
	d, old := b.lossyDialer()
	ups := make(chan bool, 1)
	c := b.connect(t, client.Config{ClientID: "moving", Dialer: d, OnConnectionUp: func(bool) { ups <- true }})
	defer c.Close(ctx)
	got := make(chan client.Message, 2)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "m", QoS: packet.QoS1}, func(m client.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	old.Load().drop.Store(true) // the old network is gone
	pc, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Skip("no 127.0.0.2 here:", err)
	}
	if err := d.Migrate(ctx, pc); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "m", QoS: packet.QoS1, Payload: []byte("moved")}); err != nil {
		t.Fatal(err)
	}
	if m := <-got; string(m.Payload) != "moved" {
		t.Fatalf("got %q", m.Payload)
	}
	select {
	case <-ups:
		t.Fatal("the client connected again")
	default:
	}
	if n := b.r.conns.Load(); n != 1 {
		t.Fatalf("%d CONNECTs, want 1", n)
	}
}

// testListener is a Listener on loopback with a Dialer that trusts it.
type testListener struct {
	*quic.Listener
	cli *tls.Config
}

func listen(t *testing.T) testListener {
	t.Helper()
	srvTLS, cliTLS := certs()
	l, err := quic.Listen("127.0.0.1:0", srvTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return testListener{l, cliTLS}
}

func (l testListener) dial(ctx context.Context) (net.Conn, error) {
	u := &url.URL{Scheme: quic.Scheme, Host: l.Addr().String()}
	return (&quic.Dialer{TLSConfig: l.cli, Linger: l.Linger}).Dial(ctx, u)
}

// pair returns a Listener (l, or a new one) and both ends of a
// connection through it.
func pair(t *testing.T, ls ...testListener) (l testListener, cc net.Conn, sc *quic.Conn) {
	t.Helper()
	if len(ls) > 0 {
		l = ls[0]
	} else {
		l = listen(t)
	}
	cc, err := l.dial(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	// The server learns of the stream with its first bytes.
	if _, err := cc.Write([]byte{0xC0, 0}); err != nil { // PINGREQ
		t.Fatal(err)
	}
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return l, cc, nc.(*quic.Conn)
}

// wantClosed waits for qc to end, with the application error code.
func wantClosed(t *testing.T, ctx context.Context, qc *quicgo.Conn, code quicgo.ApplicationErrorCode, what string) {
	t.Helper()
	select {
	case <-qc.Context().Done():
	case <-ctx.Done():
		t.Fatalf("%s stays open", what)
	}
	var ae *quicgo.ApplicationError
	if err := context.Cause(qc.Context()); !errors.As(err, &ae) || ae.ErrorCode != code {
		t.Fatalf("%s ended with %v, want application error %d", what, err, code)
	}
}

// lossyDialer returns a Dialer whose sockets are blackholes, and the last
// of them.
func (b *broker) lossyDialer() (*quic.Dialer, *atomic.Pointer[blackhole]) {
	l := &link{} // no added delay
	return &quic.Dialer{TLSConfig: b.cli, ListenPacket: func() (net.PacketConn, error) {
		return l.listen("127.0.0.1")
	}}, &l.sock
}

// blackhole is a socket that loses every datagram, both ways, once drop
// is set: a network that went away.
type blackhole struct {
	net.PacketConn
	drop atomic.Bool
}

func (b *blackhole) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, a, err := b.PacketConn.ReadFrom(p)
		if err != nil || !b.drop.Load() {
			return n, a, err
		}
	}
}

func (b *blackhole) WriteTo(p []byte, a net.Addr) (int, error) {
	if b.drop.Load() {
		return len(p), nil
	}
	return b.PacketConn.WriteTo(p, a)
}

// TestDialerSchemes: a quic:// URL without a port dials DefaultPort, and
// the Dialer hands tcp:// to the standard dialer.
func TestDialerSchemes(t *testing.T) {
	srvTLS, cliTLS := certs()
	srv := server.New(server.Config{Handler: newRouter()})
	defer srv.Shutdown(context.Background())
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tl)
	servers := []string{"tcp://" + tl.Addr().String()}
	if ql, err := quic.Listen("127.0.0.1:"+quic.DefaultPort, srvTLS, nil); err != nil {
		t.Logf("UDP port %s taken (%v): the default port is not tried", quic.DefaultPort, err)
	} else {
		go srv.Serve(ql)
		servers = append(servers, "quic://127.0.0.1")
	}
	ctx := testContext(t)
	for _, s := range servers {
		c, err := client.Connect(ctx, client.Config{Servers: []string{s}, ClientID: "schemes", NoReconnect: true,
			Dialer: &quic.Dialer{TLSConfig: cliTLS}})
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if err := c.Publish(ctx, client.Message{Topic: "s", QoS: packet.QoS1}); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		c.Close(ctx)
	}
}
