package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// recorder wraps the example broker and records the connections and how
// they ended.
type recorder struct {
	broker
	mu     sync.Mutex
	conns  map[string]*server.Conn
	closed chan closed
}

type closed struct {
	id  string
	err error
}

func newRecorder() *recorder {
	return &recorder{broker: broker{filters: map[*server.Conn][]string{}}, conns: map[string]*server.Conn{},
		closed: make(chan closed, 1000)}
}

func (r *recorder) OnConnect(c *server.Conn, p *packet.Connect) packet.Connack {
	r.mu.Lock()
	r.conns[c.ClientID()] = c
	r.mu.Unlock()
	if p.Username == "refuse" {
		if c.Version() == packet.V5 {
			return packet.Connack{Reason: packet.NotAuthorized}
		}
		return packet.Connack{Reason: packet.RefusedNotAuthorized}
	}
	return r.broker.OnConnect(c, p)
}

func (r *recorder) OnClose(c *server.Conn, err error) {
	r.broker.OnClose(c, err)
	r.closed <- closed{c.ClientID(), err}
}

func (r *recorder) conn(id string) *server.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[id]
}

// start serves r on loopback TCP and returns the server's address.
func start(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	srv := server.New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, "tcp://" + l.Addr().String()
}

func connect(t *testing.T, addr, id string, v packet.Version) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Config{Servers: []string{addr}, ClientID: id, Version: v, NoReconnect: true})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestPubSub(t *testing.T) {
	_, addr := start(t, server.Config{Handler: newRecorder()})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for q := packet.QoS0; q <= packet.QoS2; q++ {
			t.Run(fmt.Sprintf("v%d/QoS%d", v, q), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				name := fmt.Sprintf("%d-%d", v, q)
				sub := connect(t, addr, "sub-"+name, v)
				got := make(chan client.Message, 10)
				if err := sub.Subscribe(ctx, packet.Subscription{Filter: "t/" + name + "/#", QoS: q},
					func(m client.Message) { got <- m }); err != nil {
					t.Fatal(err)
				}
				pub := connect(t, addr, "pub-"+name, v)
				for i := range 3 {
					err := pub.Publish(ctx, client.Message{Topic: "t/" + name + "/x", QoS: q, Payload: fmt.Appendf(nil, "m%d", i)})
					if err != nil {
						t.Fatal(err)
					}
				}
				for i := range 3 {
					select {
					case m := <-got:
						if want := fmt.Sprintf("m%d", i); string(m.Payload) != want || m.QoS != q {
							t.Fatalf("got %q at QoS %d, want %q at QoS %d", m.Payload, m.QoS, want, q)
						}
					case <-ctx.Done():
						t.Fatalf("message %d not delivered", i)
					}
				}
				if err := sub.Unsubscribe(ctx, "t/"+name+"/#"); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestRefused(t *testing.T) {
	r := newRecorder()
	_, addr := start(t, server.Config{Handler: r})
	for _, tc := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V311, packet.RefusedNotAuthorized}, {packet.V5, packet.NotAuthorized}} {
		rc := &raw{Conn: dialRaw(t, addr), v: tc.v}
		rc.r = bufio.NewReader(rc)
		rc.send(t, &packet.Connect{ClientID: "x", Username: "refuse", CleanStart: true})
		if p, ok := rc.next(t).(*packet.Connack); !ok || p.Reason != tc.want {
			t.Fatalf("v%d: got %v, want CONNACK %v", tc.v, p, tc.want)
		}
		if p := rc.next(t); p != nil {
			t.Fatalf("v%d: got %v after the refusal, want the end", tc.v, p)
		}
		if c := <-r.closed; c.id != "x" {
			t.Fatalf("OnClose for %q", c.id)
		}
	}
}

// raw is a client written by hand, to be silent or not read.
type raw struct {
	net.Conn
	r *bufio.Reader
	v packet.Version
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// handshake sends CONNECT on nc and reads the CONNACK.
func handshake(t *testing.T, nc net.Conn, v packet.Version, p *packet.Connect) *raw {
	t.Helper()
	rc := &raw{Conn: nc, r: bufio.NewReader(nc), v: v}
	rc.send(t, p)
	if p, ok := rc.next(t).(*packet.Connack); !ok || p.Reason != 0 {
		t.Fatalf("got %v, want a successful CONNACK", p)
	}
	return rc
}

func (rc *raw) send(t *testing.T, p packet.Packet) {
	t.Helper()
	b, err := p.AppendTo(nil, rc.v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Write(b); err != nil {
		t.Fatal(err)
	}
}

// next reads one packet; nil at the end of the stream.
func (rc *raw) next(t *testing.T) packet.Packet {
	t.Helper()
	_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [5]byte
	var err error
	if hdr[0], err = rc.r.ReadByte(); err == io.EOF {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	n, size, shift := 1, 0, 0
	for {
		b, err := rc.r.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		hdr[n] = b
		n++
		size |= int(b&0x7f) << shift
		if shift += 7; b < 0x80 {
			break
		}
	}
	buf := append([]byte(nil), hdr[:n]...)
	buf = append(buf, make([]byte, size)...)
	if _, err := io.ReadFull(rc.r, buf[n:]); err != nil {
		t.Fatal(err)
	}
	p, _, err := packet.Decode[uint16](rc.v, buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeepAliveTimeout(t *testing.T) {
	r := newRecorder()
	_, addr := start(t, server.Config{Handler: r})
	rc := handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: "silent", KeepAlive: 1, CleanStart: true})
	began := time.Now()
	p := rc.next(t) // nothing sent: after 1.5 s, DISCONNECT 0x8D
	if d, ok := p.(*packet.Disconnect); !ok || d.Reason != packet.KeepAliveTimeout {
		t.Fatalf("got %v, want DISCONNECT Keep Alive timeout", p)
	}
	if p := rc.next(t); p != nil {
		t.Fatalf("got %v after DISCONNECT, want the end", p)
	}
	if d := time.Since(began); d < time.Second {
		t.Errorf("closed after %v, before the keep alive", d)
	}
	c := <-r.closed
	if !errors.Is(c.err, mqtt.ErrKeepAliveTimeout) {
		t.Errorf("OnClose got %v, want mqtt.ErrKeepAliveTimeout", c.err)
	}
}

func TestConnectTimeout(t *testing.T) {
	cfg := server.Config{Handler: newRecorder()}
	cfg.Conn.ConnectTimeout = 100 * time.Millisecond
	_, addr := start(t, cfg)
	nc := dialRaw(t, addr)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d bytes, %v: want the end", n, err)
	}
}

func TestShutdown(t *testing.T) {
	r := newRecorder()
	srv := server.New(server.Config{Handler: r})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	addr := "tcp://" + l.Addr().String()
	v5 := handshake(t, dialRaw(t, addr), packet.V5, &packet.Connect{ClientID: "five", CleanStart: true})
	v3 := handshake(t, dialRaw(t, addr), packet.V311, &packet.Connect{ClientID: "three", CleanStart: true})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if p := v5.next(t); p == nil || p.(*packet.Disconnect).Reason != packet.ServerShuttingDown {
		t.Errorf("v5 client got %v, want DISCONNECT Server shutting down", p)
	}
	if p := v5.next(t); p != nil {
		t.Errorf("v5 client got %v, want the end", p)
	}
	if p := v3.next(t); p != nil {
		t.Errorf("v3.1.1 client got %v, want the end", p)
	}
	for range 2 {
		if c := <-r.closed; !errors.Is(c.err, server.ErrClosed) {
			t.Errorf("OnClose(%s) got %v, want ErrClosed", c.id, c.err)
		}
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("the listener still accepts")
	}
}

// A subscriber that does not read: Send refuses beyond MaxBacklog
// instead of buffering; and the acknowledgements its own publishes make
// the server send do not pile up either: the server stops reading it.
func TestBacklogBounded(t *testing.T) {
	t.Run("pipe", func(t *testing.T) {
		// net.Pipe has no buffer: bytes not read are bytes the server
		// holds.
		backlogBounded(t, net.Pipe)
	})
	t.Run("tcp", func(t *testing.T) {
		// With the socket buffers small; on Linux the event loop's
		// path.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		backlogBounded(t, func() (net.Conn, net.Conn) {
			cli, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			nc, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			// (A receive buffer of 4 KiB on the server's side had
			// the client's writes wait for TCP's zero-window probes,
			// 200 ms and more, now and then.)
			_ = cli.(*net.TCPConn).SetReadBuffer(4 << 10)
			_ = cli.(*net.TCPConn).SetWriteBuffer(4 << 10)
			_ = nc.(*net.TCPConn).SetWriteBuffer(4 << 10)
			_ = nc.(*net.TCPConn).SetReadBuffer(64 << 10)
			return cli, nc
		})
	})
}

func backlogBounded(t *testing.T, pair func() (client, server net.Conn)) {
	const maxBacklog = 8 << 10
	r := newRecorder()
	// (WriteTimeout: the Shutdown at the end does not wait 30 s for the
	// deaf client over TCP.)
	srv := server.New(server.Config{Handler: r, MaxBacklog: maxBacklog, WriteTimeout: time.Second})
	defer srv.Shutdown(context.Background())

	cli, nc := pair()
	defer cli.Close()
	srv.ServeConn(nc)
	rc := handshake(t, cli, packet.V5, &packet.Connect{ClientID: "deaf", CleanStart: true})
	rc.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t"}}})
	// The SUBACK is read: the subscription is in place before the
	// publishing starts (over TCP the SUBSCRIBE is not read yet when
	// Write returns), and the SUBACK is not refused by a full backlog.
	if p, ok := rc.next(t).(*packet.Suback); !ok {
		t.Fatalf("got %v, want SUBACK", p)
	}
	conn := r.conn("deaf")

	// A publisher for the deaf subscriber.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pub, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://pipe"}, ClientID: "pub", Dialer: pipeDialer{srv}, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(ctx)
	for range 100 {
		if err := pub.Publish(ctx, client.Message{Topic: "t", Payload: make([]byte, 1024)}); err != nil {
			t.Fatal(err)
		}
	}
	if b := conn.Backlog(); b > maxBacklog+2<<10 {
		t.Errorf("backlog %d bytes after 100 KiB published to it, above the bound %d", b, maxBacklog)
	}
	if err := conn.Send(&packet.Publish{Topic: "t"}); !errors.Is(err, server.ErrBacklog) {
		t.Errorf("Send to a full connection returned %v, want ErrBacklog", err)
	}

	// The deaf client publishes at QoS 1: it stops being read.
	stalled := make(chan int, 1)
	go func() {
		b, _ := (&packet.Publish{Topic: "q", QoS: packet.QoS1, PacketID: 1, Payload: make([]byte, 16)}).AppendTo(nil, packet.V5)
		for n := range 100000 {
			_ = cli.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := cli.Write(b); err != nil {
				stalled <- n
				return
			}
		}
		stalled <- -1
	}()
	n := <-stalled
	t.Logf("read stopped after %d publishes, backlog %d", n, conn.Backlog())
	if n < 0 {
		t.Fatal("100,000 publishes read from a client that reads nothing")
	}
	if b := conn.Backlog(); b > maxBacklog+4<<10 {
		t.Errorf("backlog %d bytes, above the bound %d plus a read", b, maxBacklog)
	}
}

// pipeDialer serves each dial over net.Pipe.
type pipeDialer struct{ srv *server.Server }

func (d pipeDialer) Dial(ctx context.Context, _ *url.URL) (net.Conn, error) {
	a, b := net.Pipe()
	d.srv.ServeConn(b)
	return a, nil
}
