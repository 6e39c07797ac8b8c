package broker_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Adversarial tests: hostile clients against the broker over loopback TCP.
// Each test plays one attack, checks the reaction the protocol asks for,
// checks that a well-behaved client connected alongside keeps getting its
// messages, and measures what the broker holds per hostile connection at
// the attack's worst (hostileConns of them at once) against a bound
// derived from the limits in force. The tests that measure memory or
// goroutines do not run in parallel; the numbers are logged
// (go test -run Hostile -v).

const (
	hostileMax            = 4 << 10 // Config.MaxPacketSize
	hostileConnectTimeout = time.Second
	hostileConns          = 100
	hostileAliasMax       = 16   // the Topic Alias Maximum the broker announces
	hostileMaxSubs        = 1000 // Config.MaxSubscriptions
	hostileReceiveMax     = 256  // Config.ReceiveMaximum
	// hostileReadBuf is the reader's buffer: what the broker holds per
	// connection whatever the client does, besides small structures (the
	// Connection, the conn, the socket and, counted in the same heap, the
	// test's own end of the socket).
	hostileReadBuf = 32 << 10
)

// startHostileBroker serves a broker with small limits, changed by tweak
// if given. Its log goes to the test only with -v, and is cut short:
// hostile clients make a lot.
func startHostileBroker(t *testing.T, tweak ...func(*broker.Config)) string {
	t.Helper()
	var mu sync.Mutex
	lines := 0
	done := false
	t.Cleanup(func() { // after the broker's own cleanup: no log once the test is over
		mu.Lock()
		done = true
		mu.Unlock()
	})
	cfg := broker.Config{MaxPacketSize: hostileMax, ConnectTimeout: hostileConnectTimeout, MaxQueued: 100,
		MaxSubscriptions: hostileMaxSubs, ReceiveMaximum: hostileReceiveMax,
		Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) {
			mu.Lock()
			defer mu.Unlock()
			if lines++; lines <= 20 && !done && testing.Verbose() {
				t.Log(strings.TrimSuffix(string(p), "\n"))
			}
		}), nil))}
	for _, f := range tweak {
		f(&cfg)
	}
	b, addr := brokertest.Serve(t, cfg)
	hostileBrokers.Store(addr, b)
	return addr
}

// writerFunc is an io.Writer that hands each write to a function.
type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) {
	f(p)
	return len(p), nil
}

// hostileBrokers holds the brokers of startHostileBroker by address, for
// holdHostile to count their connections.
var hostileBrokers sync.Map

// hostileClient is a client that writes whatever bytes it likes and reads
// the broker's packets back.
type hostileClient struct {
	tb  testing.TB
	nc  net.Conn
	v   packet.Version
	buf []byte
}

func dialHostile(tb testing.TB, addr string, v packet.Version) *hostileClient {
	tb.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	return &hostileClient{tb: tb, nc: nc, v: v}
}

// write writes b; an error means the broker has closed the connection.
func (h *hostileClient) write(b []byte) error {
	_ = h.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := h.nc.Write(b)
	return err
}

// encode encodes ps for the client's version.
func (h *hostileClient) encode(ps ...packet.Packet) []byte {
	h.tb.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = p.AppendTo(b, h.v); err != nil {
			h.tb.Fatalf("encode %v: %v", p.Type(), err)
		}
	}
	return b
}

func (h *hostileClient) send(ps ...packet.Packet) {
	h.tb.Helper()
	if err := h.write(h.encode(ps...)); err != nil {
		h.tb.Fatalf("write: %v", err)
	}
}

// errClosed: the broker closed the connection.
var errClosed = errors.New("connection closed by the broker")

// next returns the broker's next packet, errClosed once the connection
// is closed, or a timeout error.
func (h *hostileClient) next(wait time.Duration) (packet.Packet, error) {
	_ = h.nc.SetReadDeadline(time.Now().Add(wait))
	chunk := make([]byte, 4096)
	for {
		p, n, err := packet.Decode[uint16](h.v, h.buf, 0)
		if err != nil {
			return nil, fmt.Errorf("decoding what the broker sent: %w", err)
		}
		if n > 0 {
			h.buf = h.buf[n:]
			return p, nil
		}
		k, err := h.nc.Read(chunk)
		h.buf = append(h.buf, chunk[:k]...)
		if err != nil && k == 0 {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, err
			}
			return nil, errClosed
		}
	}
}

// expect returns the next packet and checks its type.
func (h *hostileClient) expect(t packet.Type) packet.Packet {
	h.tb.Helper()
	p, err := h.next(3 * time.Second)
	if err != nil || p.Type() != t {
		h.tb.Fatalf("got %v (%v), want %v", p, err, t)
	}
	return p
}

// connect sends a CONNECT and checks for a successful CONNACK.
func (h *hostileClient) connect(cn *packet.Connect) {
	h.tb.Helper()
	h.send(cn)
	if a := h.expect(packet.TypeConnack).(*packet.Connack); a.Reason != packet.Success {
		h.tb.Fatalf("CONNACK %v", a.Reason)
	}
}

// expectEnd checks that the broker ends the connection within wait: a v5
// client gets a DISCONNECT (or, with connack set, a CONNACK) with code
// first; with code 0, or in 3.1.1, the connection just closes. It returns
// how long that took.
func (h *hostileClient) expectEnd(code packet.ReasonCode, connack bool, wait time.Duration) time.Duration {
	h.tb.Helper()
	start := time.Now()
	var got []packet.Packet
	for {
		p, err := h.next(wait - time.Since(start))
		if errors.Is(err, errClosed) {
			break
		}
		if err != nil {
			h.tb.Fatalf("connection not closed within %v (received %v): %v", wait, got, err)
		}
		got = append(got, p)
	}
	elapsed := time.Since(start)
	want := packet.TypeDisconnect
	if connack {
		want = packet.TypeConnack
	}
	if code == 0 || h.v != packet.V5 {
		for _, p := range got {
			if p.Type() == want || p.Type() == packet.TypeConnack {
				h.tb.Fatalf("received %v before the close, want nothing", got)
			}
		}
		return elapsed
	}
	if len(got) == 0 {
		h.tb.Fatalf("closed without %v %v", want, code)
	}
	var r packet.ReasonCode
	switch p := got[len(got)-1].(type) {
	case *packet.Disconnect:
		r = p.Reason
	case *packet.Connack:
		r = p.Reason
	}
	if got[len(got)-1].Type() != want || r != code {
		h.tb.Fatalf("the broker ended with %v (%v), want %v %v", got[len(got)-1].Type(), r, want, code)
	}
	return elapsed
}

// witness is a well-behaved v5 subscriber on good/#, with a publisher:
// check makes sure the broker still serves them.
type witness struct {
	sub, pub *brokertest.Client
	n        int
}

func newWitness(t *testing.T, addr, name string) *witness {
	t.Helper()
	w := &witness{sub: dial(t, addr, packet.V5, connect(name+"-sub")), pub: dial(t, addr, packet.V311, connect(name+"-pub"))}
	subscribe(t, w.sub, packet.Subscription{Filter: "good/#", QoS: packet.QoS1})
	w.check(t)
	return w
}

func (w *witness) check(t *testing.T) {
	t.Helper()
	w.n++
	publish(t, w.pub, "good/check", packet.QoS1, false, fmt.Sprint(w.n))
	expect(t, w.sub, "good/check", fmt.Sprint(w.n), packet.QoS1)
}

// liveHeap returns the bytes of live heap objects after a collection.
// Closed sockets are freed by the collection after the one that runs
// their finalizers: hence two.
func liveHeap() int64 {
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// settle waits until the number of goroutines is at most want, and
// returns it.
func settle(want int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// measured is what n connections cost the process at once.
type measured struct {
	n                int
	heap, goroutines int64 // per connection
}

// holdHostile opens n hostile connections, brings each to its worst with
// attack, and returns what they cost per connection (the broker's side
// and the test's own socket), with the connections still open.
func holdHostile(t *testing.T, addr string, n int, attack func(i int, h *hostileClient)) (measured, []*hostileClient) {
	t.Helper()
	v, _ := hostileBrokers.Load(addr)
	b := v.(*broker.Broker)
	c0 := b.Stats().Conns
	g0, h0 := runtime.NumGoroutine(), liveHeap()
	hs := make([]*hostileClient, n)
	t.Cleanup(func() {
		for _, h := range hs {
			if h != nil {
				h.nc.Close()
			}
		}
	})
	for i := range hs {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		hs[i] = &hostileClient{tb: t, nc: nc, v: packet.V5}
		attack(i, hs[i])
	}
	// The broker handles what was written on its own goroutines (or
	// event loop): wait until it serves each connection.
	deadline := time.Now().Add(3 * time.Second)
	for b.Stats().Conns < c0+n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the last bytes read and handled
	m := measured{n: n, heap: (liveHeap() - h0) / int64(n), goroutines: int64(runtime.NumGoroutine()-g0) / int64(n)}
	if got := b.Stats().Conns - c0; got < n {
		t.Fatalf("the broker serves %d of the %d connections: some ended before they were measured", got, n)
	}
	return m, hs
}

func (m measured) check(t *testing.T, what string, bound int64) {
	t.Helper()
	t.Logf("memory: %s: %d bytes of heap and %d goroutines per connection (%d connections); bound %d bytes",
		what, m.heap, m.goroutines, m.n, bound)
	if m.heap > bound {
		t.Errorf("%s: %d bytes per connection, over the bound of %d", what, m.heap, bound)
	}
	if m.goroutines > 3 {
		t.Errorf("%s: %d goroutines per connection", what, m.goroutines)
	}
}

// closeAll closes the hostile connections and checks that the broker
// lets go of their goroutines and memory: all but what the runtime keeps
// of ended goroutines for reuse and some noise, well under the buffers a
// connection has.
func closeAll(t *testing.T, hs []*hostileClient, g0 int, h0 int64) {
	t.Helper()
	for i, h := range hs {
		h.nc.Close()
		hs[i] = nil // the test's side goes too
	}
	if n := settle(g0, 3*time.Second); n > g0 {
		t.Errorf("%d goroutines left after the hostile connections closed, %d before them", n, g0)
	}
	if left := liveHeap() - h0; left > int64(len(hs))*3<<10+16<<10 {
		t.Errorf("%d bytes still held after %d hostile connections closed", left, len(hs))
	}
}

// maxPublish returns a v5 PUBLISH on topic of exactly hostileMax bytes.
func maxPublish(t *testing.T, topic string) []byte {
	t.Helper()
	p := &packet.Publish{Topic: topic}
	for {
		b, err := p.AppendTo(nil, packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == hostileMax {
			return b
		}
		p.Payload = append(p.Payload, 'x')
	}
}

// TestHostileBrokerSlowloris: a client trickling bytes never completes
// its CONNECT (closed after the connect timeout) or a packet after it
// (closed 1.5 Keep Alive periods after the last whole packet,
// MQTT-3.1.2-24, with DISCONNECT 0x8D in v5). While it trickles, the
// broker holds at most its read buffer and the partial packet, and after
// the close nothing.
func TestHostileBrokerSlowloris(t *testing.T) {
	addr := startHostileBroker(t)
	w := newWitness(t, addr, "slowloris")
	t.Run("spec", func(t *testing.T) {
		t.Run("CONNECT-one-byte-at-a-time-connect-timeout", func(t *testing.T) {
			t.Parallel()
			h := dialHostile(t, addr, packet.V5)
			stop := make(chan struct{})
			defer close(stop)
			go h.trickle(h.encode(&packet.Connect{ClientID: "slow", CleanStart: true}), 100*time.Millisecond, stop)
			// Not before the timeout; after it, as soon as a loaded machine
			// lets the broker run.
			if d := h.expectEnd(0, true, 5*time.Second); d < hostileConnectTimeout-50*time.Millisecond || d > hostileConnectTimeout+3*time.Second {
				t.Errorf("closed after %v, want the connect timeout of %v", d, hostileConnectTimeout)
			}
		})
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			t.Run("MQTT-3.1.2-24/"+v.String()+"/one-byte-per-period", func(t *testing.T) {
				t.Parallel()
				h := dialHostile(t, addr, v)
				h.connect(&packet.Connect{ClientID: "slowloris-" + v.String(), CleanStart: true, KeepAlive: 1})
				stop := make(chan struct{})
				defer close(stop)
				go h.trickle(h.encode(&packet.Publish{Topic: "good/slow", Payload: make([]byte, 64)}), 400*time.Millisecond, stop)
				code := packet.ReasonCode(0)
				if v == packet.V5 {
					code = packet.KeepAliveTimeout
				}
				if d := h.expectEnd(code, false, 5*time.Second); d < 1400*time.Millisecond || d > 4*time.Second {
					t.Errorf("closed %v after the CONNACK, want 1.5 s", d)
				}
			})
		}
	})
	w.check(t)
	t.Run("memory", func(t *testing.T) {
		g0, h0 := runtime.NumGoroutine(), liveHeap()
		stream := maxPublish(t, "good/slow")
		m, hs := holdHostile(t, addr, hostileConns, func(i int, h *hostileClient) {
			// A keep-alive long enough that none ends while the others
			// are still being set up on a loaded machine.
			h.connect(&packet.Connect{ClientID: fmt.Sprint("slowloris-", i), CleanStart: true, KeepAlive: 5})
			if err := h.write(stream[:len(stream)-1]); err != nil {
				t.Fatal(err)
			}
		})
		m.check(t, "partial PUBLISH of the maximum size", hostileReadBuf+2*hostileMax+16<<10)
		w.check(t)
		// The keep-alive ends them all.
		for _, h := range hs {
			h.expectEnd(packet.KeepAliveTimeout, false, 12*time.Second)
		}
		w.check(t)
		closeAll(t, hs, g0, h0)
	})
}

// trickle writes b a byte at a time, one every every, until it is all
// written, the broker closes the connection, or stop is closed.
func (h *hostileClient) trickle(b []byte, every time.Duration, stop <-chan struct{}) {
	for _, c := range b {
		if h.write([]byte{c}) != nil {
			return
		}
		select {
		case <-time.After(every):
		case <-stop:
			return
		}
	}
}

// connectKeepAlive sends a CONNECT with keepAlive and returns the
// successful CONNACK.
func (h *hostileClient) connectKeepAlive(id string, keepAlive uint16) *packet.Connack {
	h.tb.Helper()
	h.send(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: keepAlive})
	a := h.expect(packet.TypeConnack).(*packet.Connack)
	if a.Reason != packet.Success {
		h.tb.Fatalf("CONNACK %v", a.Reason)
	}
	return a
}

// TestHostileBrokerKeepAliveMaximum: a client asking for no Keep Alive
// (0) or for one above Config.MaxKeepAlive, here 1 s, cannot hold a
// connection open by sending nothing, or bytes that never make a whole
// packet. A v5 client is sent the maximum as Server Keep Alive in the
// CONNACK, which it must use (MQTT-3.2.2-21), and is disconnected with
// 0x8D one and a half times that after its last packet (MQTT-3.1.2-24); a
// v5 client asking for no more keeps its own (MQTT-3.2.2-22). A 3.1.1
// client cannot be told: its connection is closed after one and a half
// times the maximum without a packet, any packet starting the count
// again. Well-behaved clients, a v5 one asking for 0 and told 1 s, a
// 3.1.1 one asking for 1 s, are served throughout. A negative maximum
// sets no limit.
func TestHostileBrokerKeepAliveMaximum(t *testing.T) {
	const limit = 1 // seconds
	addr := startHostileBroker(t, func(c *broker.Config) { c.MaxKeepAlive = limit })
	w := &witness{sub: dial(t, addr, packet.V5, &packet.Connect{ClientID: "keepalive-sub", CleanStart: true}),
		pub: dial(t, addr, packet.V311, &packet.Connect{ClientID: "keepalive-pub", CleanStart: true, KeepAlive: limit})}
	subscribe(t, w.sub, packet.Subscription{Filter: "good/#", QoS: packet.QoS1})
	w.check(t)
	unlimited := startHostileBroker(t, func(c *broker.Config) { c.MaxKeepAlive = -1 })
	partial := func(h *hostileClient) []byte {
		return h.encode(&packet.Publish{Topic: "good/slow", Payload: make([]byte, 64)})
	}
	// closedIn checks that the connection ends, after 1.5 times the
	// maximum, counted from now.
	closedIn := func(t *testing.T, h *hostileClient, code packet.ReasonCode) {
		t.Helper()
		if d := h.expectEnd(code, false, 5*time.Second); d < limit*1300*time.Millisecond || d > limit*4*time.Second {
			t.Errorf("closed after %v, want %v", d, limit*1500*time.Millisecond)
		}
	}
	t.Run("spec", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			v         packet.Version
			keepAlive uint16
			partial   bool
		}{
			{"MQTT-3.1.2-24/5.0/keep-alive-0/partial-packet", packet.V5, 0, true},
			{"MQTT-3.1.2-24/5.0/keep-alive-above-the-maximum/silent", packet.V5, 600, false},
			{"3.1.1/keep-alive-0/partial-packet", packet.V311, 0, true},
			{"3.1.1/keep-alive-above-the-maximum/silent", packet.V311, 600, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := dialHostile(t, addr, tc.v)
				a := h.connectKeepAlive("keepalive-"+tc.name, tc.keepAlive)
				reason := packet.ReasonCode(0) // 3.1.1 has no DISCONNECT to carry one
				if tc.v == packet.V5 {
					if !a.Props.Has(property.ServerKeepAlive) || a.Props.ServerKeepAlive != limit {
						t.Fatalf("CONNACK with Server Keep Alive %d (present: %v), want %d", a.Props.ServerKeepAlive, a.Props.Has(property.ServerKeepAlive), limit)
					}
					reason = packet.KeepAliveTimeout
				}
				if tc.partial {
					stop := make(chan struct{})
					defer close(stop)
					go h.trickle(partial(h), 400*time.Millisecond, stop)
				}
				closedIn(t, h, reason)
			})
		}
		t.Run("MQTT-3.2.2-22/5.0/keep-alive-within-the-maximum-kept", func(t *testing.T) {
			t.Parallel()
			h := dialHostile(t, addr, packet.V5)
			if a := h.connectKeepAlive("keepalive-within", limit); a.Props.Has(property.ServerKeepAlive) {
				t.Fatalf("CONNACK with Server Keep Alive %d, want none", a.Props.ServerKeepAlive)
			}
			closedIn(t, h, packet.KeepAliveTimeout)
		})
		t.Run("3.1.1/keep-alive-0/each-packet-starts-the-count-again", func(t *testing.T) {
			t.Parallel()
			h := dialHostile(t, addr, packet.V311)
			h.connectKeepAlive("keepalive-pings", 0)
			for range 6 { // 3 s: twice the 1.5 s
				time.Sleep(limit * 500 * time.Millisecond)
				h.send(&packet.Pingreq{})
				h.expect(packet.TypePingresp)
			}
			closedIn(t, h, 0)
		})
		t.Run("no-limit", func(t *testing.T) {
			t.Parallel()
			h5 := dialHostile(t, unlimited, packet.V5)
			if a := h5.connectKeepAlive("keepalive-unlimited-5", 0); a.Props.Has(property.ServerKeepAlive) {
				t.Fatalf("CONNACK with Server Keep Alive %d, want none", a.Props.ServerKeepAlive)
			}
			h3 := dialHostile(t, unlimited, packet.V311)
			h3.connectKeepAlive("keepalive-unlimited-3", 0)
			time.Sleep(limit * 2 * time.Second)
			for _, h := range []*hostileClient{h3, h5} {
				h.send(&packet.Pingreq{})
				h.expect(packet.TypePingresp)
			}
		})
	})
	w.check(t)
}

// TestHostileBrokerDefaultLimits: the zero Config limits a client to
// 1,000 subscriptions, a Keep Alive of 300 s (sent as Server Keep Alive to
// a v5 client asking for none or more) and, announced to v5 clients, 256
// unreleased QoS 2 messages.
func TestHostileBrokerDefaultLimits(t *testing.T) {
	addr := startHostileBroker(t, func(c *broker.Config) {
		c.MaxPacketSize, c.MaxSubscriptions, c.MaxKeepAlive, c.ReceiveMaximum = 0, 0, 0, 0
	})
	for _, tc := range []struct {
		keepAlive, server uint16 // 0: no Server Keep Alive
	}{{0, 300}, {300, 0}, {301, 300}} {
		h := dialHostile(t, addr, packet.V5)
		a := h.connectKeepAlive(fmt.Sprint("defaults-", tc.keepAlive), tc.keepAlive)
		if a.Props.ServerKeepAlive != tc.server || a.Props.ReceiveMaximum != 256 {
			t.Errorf("Keep Alive %d: CONNACK with Server Keep Alive %d and Receive Maximum %d, want %d and 256",
				tc.keepAlive, a.Props.ServerKeepAlive, a.Props.ReceiveMaximum, tc.server)
		}
	}
	h := dialHostile(t, addr, packet.V5)
	h.connectKeepAlive("defaults-subscriptions", 60)
	p := &packet.Subscribe{PacketID: 1}
	for i := range 1001 {
		p.Subscriptions = append(p.Subscriptions, packet.Subscription{Filter: fmt.Sprint("many/", i)})
	}
	h.send(p)
	a := h.expect(packet.TypeSuback).(*packet.Suback)
	if len(a.Reasons) != 1001 {
		t.Fatalf("SUBACK with %d codes for 1,001 filters", len(a.Reasons))
	}
	for i, r := range a.Reasons {
		want := packet.GrantedQoS0
		if i >= 1000 {
			want = packet.QuotaExceeded
		}
		if r != want {
			t.Fatalf("filter %d of 1,001: %v, want %v", i+1, r, want)
		}
	}
}

// TestHostileBrokerBurst: a client that sends a burst of minimal packets
// (QoS 0 PUBLISH, or whole QoS 2 exchanges: PUBLISH and PUBREL) and then
// goes quiet leaves the broker holding little more than a quiet client
// does: once the client has been quiet a moment, the connection has the
// Connection let go of the packet values and events it kept for the
// largest calls of the burst (a piece of 4 KiB of minimal packets makes
// hundreds of each).
func TestHostileBrokerBurst(t *testing.T) {
	// The QoS 2 burst has every exchange open until the broker's PUBCOMP,
	// which answers the PUBREL once the read is handled: the Receive
	// Maximum is set high enough for a burst of them (MQTT-3.3.4-7).
	addr := startHostileBroker(t, func(c *broker.Config) { c.ReceiveMaximum = 0xFFFF })
	w := newWitness(t, addr, "burst")
	for _, qos := range []packet.QoS{0, 2} {
		t.Run(fmt.Sprintf("QoS%d", qos), func(t *testing.T) {
			g0, h0 := runtime.NumGoroutine(), liveHeap()
			m, hs := holdHostile(t, addr, hostileConns/2, func(i int, h *hostileClient) {
				h.connect(&packet.Connect{ClientID: fmt.Sprint("burst-", i), CleanStart: true})
				var b []byte
				for id := 1; len(b) < 32<<10; id++ {
					b = append(b, h.encode(&packet.Publish{Topic: "void", QoS: qos, PacketID: uint16(id)})...)
					if qos == packet.QoS2 {
						// Released at once: the Receive Maximum is not
						// what this test is about (see above).
						b = append(b, h.encode(&packet.Pubrel{PacketID: uint16(id)})...)
					}
				}
				if err := h.write(b); err != nil {
					t.Fatal(err)
				}
			})
			// What stays is the Connection's minimum: 64 packet values
			// of each type the burst used and, for QoS 0, its list of
			// events. Without the trim the values of the largest calls
			// stayed: 185 KB (QoS 0) and 390 KB (QoS 2) per connection.
			m.check(t, fmt.Sprintf("32 KiB burst of minimal QoS %d packets, then quiet", qos), hostileReadBuf+128<<10)
			w.check(t)
			closeAll(t, hs, g0, h0)
		})
	}
}

// TestHostileBrokerHugeLength: a fixed header announcing up to 268,435,455
// bytes is refused from the header (v5: DISCONNECT 0x95) before the CONNECT
// too; a client announcing a packet of the maximum size and sending
// nothing more costs no buffer of that size.
func TestHostileBrokerHugeLength(t *testing.T) {
	addr := startHostileBroker(t)
	w := newWitness(t, addr, "huge")
	header := func(first byte, n int) []byte {
		b := []byte{first}
		for {
			d := byte(n % 128)
			if n /= 128; n > 0 {
				d |= 0x80
			}
			if b = append(b, d); n == 0 {
				return b
			}
		}
	}
	t.Run("spec", func(t *testing.T) {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			for _, n := range []int{hostileMax - 1, packet.MaxRemainingLength} {
				name := fmt.Sprintf("%v/PUBLISH-declaring-%d", v, n)
				if v == packet.V5 {
					name = "MQTT-3.2.2-15/" + name
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					h := dialHostile(t, addr, v)
					h.connect(&packet.Connect{ClientID: "huge-" + name, CleanStart: true})
					if err := h.write(header(0x30, n)); err != nil {
						t.Fatal(err)
					}
					code := packet.ReasonCode(0)
					if v == packet.V5 {
						code = packet.PacketTooLarge
					}
					h.expectEnd(code, false, 2*time.Second)
				})
			}
		}
		t.Run("CONNECT-declaring-268435455", func(t *testing.T) {
			t.Parallel()
			h := dialHostile(t, addr, packet.V5)
			if err := h.write(header(0x10, packet.MaxRemainingLength)); err != nil {
				t.Fatal(err)
			}
			h.expectEnd(0, true, 2*time.Second) // no version known: no CONNACK
		})
	})
	w.check(t)
	t.Run("memory", func(t *testing.T) {
		g0, h0 := runtime.NumGoroutine(), liveHeap()
		m, hs := holdHostile(t, addr, hostileConns, func(i int, h *hostileClient) {
			h.connect(&packet.Connect{ClientID: fmt.Sprint("huge-", i), CleanStart: true})
			if err := h.write(header(0x30, hostileMax-3)); err != nil {
				t.Fatal(err)
			}
		})
		m.check(t, "header announcing a packet of the maximum size, nothing more", hostileReadBuf+16<<10)
		w.check(t)
		closeAll(t, hs, g0, h0)
	})
}

// userFlood returns a v5 QoS 1 PUBLISH on topic filled with numbered User
// Properties up to size bytes, and its encoding.
func userFlood(t *testing.T, topic string, size int) (*packet.Publish, []byte) {
	t.Helper()
	p := &packet.Publish{Topic: topic, QoS: packet.QoS1, PacketID: 1}
	var b []byte
	for i := 0; ; i++ {
		p.Props.User = append(p.Props.User, property.User{Key: fmt.Sprint(i), Value: "v"})
		next, err := p.AppendTo(nil, packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		if len(next) > size {
			p.Props.User = p.Props.User[:i]
			return p, b
		}
		b = next
	}
}

// TestHostileBrokerPropertyFlood: a PUBLISH filled with User Properties
// up to the maximum packet size is forwarded with all of them, unaltered
// and in order (MQTT-3.3.2-17, MQTT-3.3.2-18); one property more is
// refused with 0x95. Connections flooding the broker this way cost it a
// bounded amount each.
func TestHostileBrokerPropertyFlood(t *testing.T) {
	addr := startHostileBroker(t)
	w := newWitness(t, addr, "props")
	t.Run("MQTT-3.3.2-17/MQTT-3.3.2-18/forwarded-whole", func(t *testing.T) {
		p, b := userFlood(t, "good/flood", hostileMax)
		h := dialHostile(t, addr, packet.V5)
		h.connect(&packet.Connect{ClientID: "flooder", CleanStart: true})
		if err := h.write(b); err != nil {
			t.Fatal(err)
		}
		h.expect(packet.TypePuback)
		m := expect(t, w.sub, "good/flood", "", packet.QoS1)
		if len(m.Props.User) != len(p.Props.User) {
			t.Fatalf("%d User Properties forwarded, want %d", len(m.Props.User), len(p.Props.User))
		}
		for i, u := range m.Props.User {
			if u != p.Props.User[i] {
				t.Fatalf("User Property %d forwarded as %q=%q, want %q=%q", i, u.Key, u.Value, p.Props.User[i].Key, p.Props.User[i].Value)
			}
		}
		p.Props.User = append(p.Props.User, property.User{Key: "one", Value: "more"})
		p.PacketID = 2
		h.send(p)
		h.expectEnd(packet.PacketTooLarge, false, 2*time.Second)
	})
	w.check(t)
	t.Run("memory", func(t *testing.T) {
		g0, h0 := runtime.NumGoroutine(), liveHeap()
		p, b := userFlood(t, "void/flood", hostileMax)
		var burst []byte
		for i := range 8 {
			p.PacketID = uint16(i + 1)
			next, err := p.AppendTo(burst, packet.V5)
			if err != nil {
				t.Fatal(err)
			}
			burst = next
		}
		m, hs := holdHostile(t, addr, hostileConns, func(i int, h *hostileClient) {
			h.connect(&packet.Connect{ClientID: fmt.Sprint("flood-", i), CleanStart: true})
			if err := h.write(burst); err != nil {
				t.Fatal(err)
			}
		})
		// The Connection's values of the last packets handled (each with
		// its User Properties, about 7 times the packet) stay until the
		// next call on it.
		m.check(t, fmt.Sprintf("%d PUBLISH of %d bytes full of User Properties", 8, len(b)), hostileReadBuf+16*hostileMax+64<<10)
		w.check(t)
		closeAll(t, hs, g0, h0)
	})
}

// TestHostileBrokerTopicAliases: aliases up to the broker's Topic Alias
// Maximum are resolved, and one above it ends the connection with 0x94.
// Each connection holds at most one topic per alias.
func TestHostileBrokerTopicAliases(t *testing.T) {
	addr := startHostileBroker(t)
	w := newWitness(t, addr, "alias")
	withAlias := func(topic string, alias uint16, payload string) *packet.Publish {
		return &packet.Publish{Topic: topic, QoS: packet.QoS1, PacketID: alias, Payload: []byte(payload),
			Props: property.Properties{TopicAlias: alias}}
	}
	t.Run("MQTT-3.3.2-12/every-alias-then-MQTT-3.3.2-9/one-above-0x94", func(t *testing.T) {
		h := dialHostile(t, addr, packet.V5)
		h.send(&packet.Connect{ClientID: "aliaser", CleanStart: true})
		a := h.expect(packet.TypeConnack).(*packet.Connack)
		if a.Props.TopicAliasMaximum != hostileAliasMax {
			t.Fatalf("Topic Alias Maximum %d, want %d", a.Props.TopicAliasMaximum, hostileAliasMax)
		}
		for i := uint16(1); i <= hostileAliasMax; i++ {
			h.send(withAlias(fmt.Sprint("good/alias/", i), i, "set"))
			h.expect(packet.TypePuback)
			expect(t, w.sub, fmt.Sprint("good/alias/", i), "set", packet.QoS1)
		}
		for i := uint16(hostileAliasMax); i >= 1; i-- {
			h.send(withAlias("", i, "used"))
			h.expect(packet.TypePuback)
			expect(t, w.sub, fmt.Sprint("good/alias/", i), "used", packet.QoS1)
		}
		h.send(withAlias("good/alias/over", hostileAliasMax+1, "over"))
		h.expectEnd(packet.TopicAliasInvalid, false, 2*time.Second)
		quiet(t, w.sub)
	})
	w.check(t)
	t.Run("memory", func(t *testing.T) {
		g0, h0 := runtime.NumGoroutine(), liveHeap()
		m, hs := holdHostile(t, addr, hostileConns, func(i int, h *hostileClient) {
			h.connect(&packet.Connect{ClientID: fmt.Sprint("alias-", i), CleanStart: true})
			var b []byte
			for a := uint16(1); a <= hostileAliasMax; a++ {
				topic := fmt.Sprintf("void/%d/%d/", i, a) + strings.Repeat("x", hostileMax-64)
				b = append(b, h.encode(&packet.Publish{Topic: topic, Props: property.Properties{TopicAlias: a}})...)
			}
			if err := h.write(b); err != nil {
				t.Fatal(err)
			}
		})
		m.check(t, fmt.Sprintf("%d aliases mapped to topics of %d bytes", hostileAliasMax, hostileMax-50),
			hostileReadBuf+hostileAliasMax*hostileMax+64<<10)
		w.check(t)
		closeAll(t, hs, g0, h0)
	})
}

// TestHostileBrokerQoS2Replay: a QoS 2 PUBLISH repeated before PUBREL is
// acknowledged each time and delivered once (MQTT-4.3.3-10); after PUBCOMP
// the same identifier is a new message (MQTT-4.3.3-12); a replayed PUBREL
// delivers nothing and is answered with PUBCOMP (MQTT-4.3.3-11).
func TestHostileBrokerQoS2Replay(t *testing.T) {
	addr := startHostileBroker(t)
	w := newWitness(t, addr, "replay")
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run("MQTT-4.3.3-10/MQTT-4.3.3-12/MQTT-4.3.3-11/"+v.String(), func(t *testing.T) {
			h := dialHostile(t, addr, v)
			h.connect(&packet.Connect{ClientID: "replayer", CleanStart: true})
			topic := "good/q2/" + v.String()
			var b []byte
			for i := range 50 {
				b = append(b, h.encode(&packet.Publish{Topic: topic, QoS: packet.QoS2, PacketID: 7, Dup: i > 0, Payload: []byte(fmt.Sprint("first ", i))})...)
			}
			if err := h.write(b); err != nil {
				t.Fatal(err)
			}
			for range 50 {
				if r := h.expect(packet.TypePubrec).(*packet.Pubrec); r.PacketID != 7 {
					t.Fatalf("PUBREC %d", r.PacketID)
				}
			}
			expect(t, w.sub, topic, "first 0", packet.QoS1)
			h.send(&packet.Pubrel{PacketID: 7})
			h.expect(packet.TypePubcomp)
			quiet(t, w.sub) // once (MQTT-4.3.3-10)

			h.send(&packet.Publish{Topic: topic, QoS: packet.QoS2, PacketID: 7, Payload: []byte("second")})
			h.expect(packet.TypePubrec)
			expect(t, w.sub, topic, "second", packet.QoS1) // a new message (MQTT-4.3.3-12)
			h.send(&packet.Pubrel{PacketID: 7})
			h.expect(packet.TypePubcomp)

			var rel []byte
			for range 20 {
				rel = append(rel, h.encode(&packet.Pubrel{PacketID: 7})...)
			}
			if err := h.write(rel); err != nil {
				t.Fatal(err)
			}
			want := packet.ReasonCode(0)
			if v == packet.V5 {
				want = packet.PacketIdentifierNotFound
			}
			for range 20 {
				if c := h.expect(packet.TypePubcomp).(*packet.Pubcomp); c.PacketID != 7 || c.Reason != want {
					t.Fatalf("PUBCOMP %d %v, want 7 %v", c.PacketID, c.Reason, want)
				}
			}
			quiet(t, w.sub)
		})
	}
	w.check(t)
}

// openExchanges writes n QoS 2 PUBLISH packets with Packet Identifiers 1
// to n and no PUBREL, reading their PUBRECs meanwhile so that neither side
// blocks.
func (h *hostileClient) openExchanges(n int) error {
	one := h.encode(&packet.Publish{Topic: "void", QoS: packet.QoS2, PacketID: 1})
	all := make([]byte, 0, n*len(one))
	for id := 1; id <= n; id++ {
		all = append(all, one...)
		// The Packet Identifier follows the fixed header (2 bytes) and
		// the topic (6).
		all[len(all)-len(one)+8], all[len(all)-len(one)+9] = byte(id>>8), byte(id)
	}
	done := make(chan error, 1)
	go func() {
		for id := 1; id <= n; id++ {
			p, err := h.next(5 * time.Second)
			if err != nil {
				done <- err
				return
			}
			if r, ok := p.(*packet.Pubrec); !ok || int(r.PacketID) != id {
				done <- fmt.Errorf("got %v, want PUBREC %d", p, id)
				return
			}
		}
		done <- nil
	}()
	if err := h.write(all); err != nil {
		return err
	}
	return <-done
}

// TestHostileBrokerUnreleasedQoS2: a v5 client may leave as many QoS 2
// exchanges unreleased (PUBLISH received, PUBREL not yet) as the Receive
// Maximum the broker announces in its CONNACK; one more ends the
// connection with DISCONNECT 0x93 Receive Maximum exceeded, and a client
// at the limit costs the broker little. A 3.1.1 client, which has no
// Receive Maximum, may leave one exchange per Packet Identifier open:
// 65,535, whose table the broker holds. Other clients are unaffected.
func TestHostileBrokerUnreleasedQoS2(t *testing.T) {
	addr := startHostileBroker(t)
	w := newWitness(t, addr, "unreleased")
	t.Run("5.0/one-above-the-receive-maximum-0x93", func(t *testing.T) {
		h := dialHostile(t, addr, packet.V5)
		h.send(&packet.Connect{ClientID: "unreleased", CleanStart: true})
		if a := h.expect(packet.TypeConnack).(*packet.Connack); a.Reason != packet.Success || a.Props.ReceiveMaximum != hostileReceiveMax {
			t.Fatalf("CONNACK %v with Receive Maximum %d, want Success with %d", a.Reason, a.Props.ReceiveMaximum, hostileReceiveMax)
		}
		if err := h.openExchanges(hostileReceiveMax); err != nil {
			t.Fatal(err)
		}
		// At the limit, a repeat of an open exchange is acknowledged
		// again, and a released one frees its place.
		h.send(&packet.Publish{Topic: "good/nope", QoS: packet.QoS2, PacketID: 1, Dup: true})
		h.expect(packet.TypePubrec)
		h.send(&packet.Pubrel{PacketID: 1})
		h.expect(packet.TypePubcomp)
		h.send(&packet.Publish{Topic: "void", QoS: packet.QoS2, PacketID: 1})
		h.expect(packet.TypePubrec)
		// One more is one too many.
		h.send(&packet.Publish{Topic: "good/nope", QoS: packet.QoS2, PacketID: hostileReceiveMax + 1})
		h.expectEnd(packet.ReceiveMaximumExceeded, false, 2*time.Second)
		quiet(t, w.sub)
	})
	w.check(t)
	t.Run("5.0/memory", func(t *testing.T) {
		g0, h0 := runtime.NumGoroutine(), liveHeap()
		m, hs := holdHostile(t, addr, hostileConns, func(i int, h *hostileClient) {
			h.connect(&packet.Connect{ClientID: fmt.Sprint("unreleased-", i), CleanStart: true})
			if err := h.openExchanges(hostileReceiveMax); err != nil {
				t.Fatal(err)
			}
		})
		// The exchange table, and the Connection's minimum of packet
		// values and its list of events of the burst. Without the
		// Receive Maximum, a v5 client could open 65,535 exchanges, as
		// the 3.1.1 one below does: 700 KB.
		m.check(t, fmt.Sprintf("%d unreleased QoS 2 exchanges (the Receive Maximum)", hostileReceiveMax), hostileReadBuf+128<<10)
		w.check(t)
		closeAll(t, hs, g0, h0)
	})
	t.Run("3.1.1/every-packet-identifier", func(t *testing.T) {
		const conns = 2
		g0, h0 := runtime.NumGoroutine(), liveHeap()
		m, hs := holdHostile(t, addr, conns, func(i int, h *hostileClient) {
			h.v = packet.V311
			h.connect(&packet.Connect{ClientID: fmt.Sprint("unreleased-311-", i), CleanStart: true})
			if err := h.openExchanges(65535); err != nil {
				t.Fatal(err)
			}
		})
		// The exchange table, at most 4 slots of 3 bytes per exchange, and
		// what the connection holds anyway.
		m.check(t, "65,535 unreleased QoS 2 exchanges (3.1.1)", hostileReadBuf+4*65536*3+256<<10)
		w.check(t)
		// A repeat of one of them is acknowledged again, not delivered.
		h := hs[0]
		h.send(&packet.Publish{Topic: "good/nope", QoS: packet.QoS2, PacketID: 1, Dup: true})
		h.expect(packet.TypePubrec)
		quiet(t, w.sub)
		closeAll(t, hs, g0, h0)
	})
}

// TestHostileBrokerSubscribeStorm: a thousand SUBSCRIBE packets of ten
// filters each, sent without waiting, are each answered by a SUBACK with
// the same Packet Identifier (MQTT-3.8.4-1, MQTT-3.8.4-2) and a reason code
// per filter, in order; subscribing to the same filter again and again
// replaces the subscription (MQTT-3.8.4-3) and counts once. A session
// holds at most Config.MaxSubscriptions: the filters beyond are refused
// in the SUBACK with 0x97 Quota exceeded (0x80 Failure in 3.1.1) while
// the other filters of the same SUBSCRIBE are granted (MQTT-3.8.4-5 of
// 5.0, MQTT-3.8.4-4 of 3.1.1), so that the broker's memory stops growing
// with the number of distinct filters; it goes back when the client
// leaves.
func TestHostileBrokerSubscribeStorm(t *testing.T) {
	addr := startHostileBroker(t)
	w := newWitness(t, addr, "storm")
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		name := "MQTT-3.8.4-1/MQTT-3.8.4-2/MQTT-3.8.4-3/MQTT-3.8.4-5/MQTT-3.8.4-6/MQTT-3.8.4-7/MQTT-3.9.3-1/5.0"
		refused := packet.QuotaExceeded
		if v == packet.V311 {
			name = "MQTT-3.8.4-1/MQTT-3.8.4-2/MQTT-3.8.4-3/MQTT-3.8.4-4/MQTT-3.8.4-5/MQTT-3.9.3-1/MQTT-3.9.3-2/3.1.1"
			refused = packet.SubscribeFailure
		}
		t.Run(name, func(t *testing.T) {
			h0 := liveHeap()
			h := dialHostile(t, addr, v)
			h.connect(&packet.Connect{ClientID: "stormer-" + v.String(), CleanStart: true})
			// The same filter a thousand times: one subscription.
			var again []byte
			for id := 1; id <= 1000; id++ {
				again = append(again, h.encode(&packet.Subscribe{PacketID: uint16(id),
					Subscriptions: []packet.Subscription{{Filter: "good/#", QoS: packet.QoS1}}})...)
			}
			go func() { _ = h.write(again) }()
			for id := 1; id <= 1000; id++ {
				if a := h.expect(packet.TypeSuback).(*packet.Suback); int(a.PacketID) != id || len(a.Reasons) != 1 || a.Reasons[0] != packet.GrantedQoS1 {
					t.Fatalf("SUBACK %d %v, want %d [1]", a.PacketID, a.Reasons, id)
				}
			}
			// Ten thousand distinct filters: all but the first 999 are
			// refused, the 1,000th subscription being the tenth filter
			// of the hundredth packet.
			const packets, filters = 1000, 10
			var b []byte
			for id := 1; id <= packets; id++ {
				p := &packet.Subscribe{PacketID: uint16(id)}
				for f := range filters {
					p.Subscriptions = append(p.Subscriptions, packet.Subscription{Filter: fmt.Sprintf("storm/%d/%d", id, f), QoS: packet.QoS(f % 3)})
				}
				b = append(b, h.encode(p)...)
			}
			go func() { _ = h.write(b) }()
			for id := 1; id <= packets; id++ {
				a := h.expect(packet.TypeSuback).(*packet.Suback)
				if int(a.PacketID) != id || len(a.Reasons) != filters {
					t.Fatalf("SUBACK %d with %d codes, want %d with %d", a.PacketID, len(a.Reasons), id, filters)
				}
				for f, r := range a.Reasons {
					want := packet.ReasonCode(f % 3)
					if 1+(id-1)*filters+f >= hostileMaxSubs {
						want = refused
					}
					if r != want {
						t.Fatalf("SUBACK %d: code %v for filter %d, want %v", id, r, f, want)
					}
				}
			}
			held := liveHeap() - h0
			t.Logf("memory: %d distinct filters, %d subscriptions at most: %d bytes, %d per subscription held",
				packets*filters, hostileMaxSubs, held, held/hostileMaxSubs)
			// Without the limit: 481 bytes per distinct filter.
			if bound := int64(hostileMaxSubs*1<<10 + 256<<10); held > bound {
				t.Errorf("%d bytes held, over %d", held, bound)
			}
			// At the limit, subscriptions to filters the session has are
			// replaced, one more is refused; an unsubscription makes room.
			h.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
				{Filter: "storm/1/0", QoS: packet.QoS2}, {Filter: "storm/more"}, {Filter: "good/#", QoS: packet.QoS1}}})
			if a := h.expect(packet.TypeSuback).(*packet.Suback); !slices.Equal(a.Reasons, []packet.ReasonCode{packet.GrantedQoS2, refused, packet.GrantedQoS1}) {
				t.Fatalf("SUBACK %v, want [2 %v 1]", a.Reasons, refused)
			}
			h.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"storm/1/1"}})
			h.expect(packet.TypeUnsuback)
			h.send(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "storm/more"}, {Filter: "storm/even-more"}}})
			if a := h.expect(packet.TypeSuback).(*packet.Suback); !slices.Equal(a.Reasons, []packet.ReasonCode{packet.GrantedQoS0, refused}) {
				t.Fatalf("SUBACK %v after an unsubscription, want [0 %v]", a.Reasons, refused)
			}
			w.check(t)
			p := h.expect(packet.TypePublish).(*packet.Publish)
			if p.Topic != "good/check" {
				t.Fatalf("got %q", p.Topic)
			}
			if p.QoS > 0 {
				h.send(&packet.Puback{PacketID: p.PacketID})
			}
			if p, err := h.next(200 * time.Millisecond); err == nil {
				t.Fatalf("a second copy: %v (the subscription was added, not replaced)", p)
			}
			h.nc.Close()
			// The session ends with the connection: its subscriptions go.
			deadline := time.Now().Add(3 * time.Second)
			for liveHeap()-h0 > 64<<10 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if left := liveHeap() - h0; left > 64<<10 {
				t.Errorf("%d bytes still held after the client left", left)
			}
		})
	}
	w.check(t)
}

// hostileUTF8 is a place a UTF-8 Encoded String goes, with the marker
// there, and the 5.0 statement a bad string there breaks besides the UTF-8
// rules ("" for none); hostileStatementsV311 has the places that exist in
// 3.1.1, with their 3.1.1 statements.
type hostileUTF8 struct {
	name    string
	connect bool
	stmt    string
	packet  func() packet.Packet
}

func hostileStatementsV311() map[string]string {
	return map[string]string{
		"client-id":          "MQTT-3.1.3-4",
		"user-name":          "MQTT-3.1.3-11",
		"will-topic":         "MQTT-3.1.3-10",
		"topic":              "MQTT-3.3.2-1",
		"SUBSCRIBE-filter":   "MQTT-3.8.3-1",
		"UNSUBSCRIBE-filter": "MQTT-3.10.3-1",
	}
}

const hostileMarker = "{|}"

// TestHostileBrokerInvalidUTF8: an ill-formed UTF-8 string (here an
// encoded surrogate, and U+0000) wherever a string goes ends the
// connection: a v5 client gets CONNACK or DISCONNECT 0x81 Malformed
// Packet, a 3.1.1 client is disconnected without an answer (MQTT-1.5.3-1,
// MQTT-1.5.3-2); nothing it sent is delivered.
func TestHostileBrokerInvalidUTF8(t *testing.T) {
	addr := startHostileBroker(t)
	w := newWitness(t, addr, "utf8")
	m := hostileMarker
	conn := func(f func(c *packet.Connect)) func() packet.Packet {
		return func() packet.Packet {
			c := &packet.Connect{ClientID: "utf8", CleanStart: true, Will: packet.Will{Topic: "good/will", Payload: []byte("will")}}
			f(c)
			return c
		}
	}
	places := []hostileUTF8{
		{name: "client-id", connect: true, stmt: "MQTT-3.1.3-4", packet: conn(func(c *packet.Connect) { c.ClientID = m })},
		{name: "user-name", connect: true, stmt: "MQTT-3.1.3-10", packet: conn(func(c *packet.Connect) { c.Username = m })},
		{name: "will-topic", connect: true, stmt: "MQTT-3.1.3-9", packet: conn(func(c *packet.Connect) { c.Will.Topic = m })},
		{name: "CONNECT-user-property", connect: true, stmt: "MQTT-1.5.7-1",
			packet: conn(func(c *packet.Connect) { c.Props.User = []property.User{{Key: m, Value: "v"}} })},
		{name: "will-content-type", connect: true, stmt: "MQTT-3.3.2-19",
			packet: conn(func(c *packet.Connect) { c.Will.Props.ContentType = m })},
		{name: "will-response-topic", connect: true, stmt: "MQTT-3.3.2-13",
			packet: conn(func(c *packet.Connect) { c.Will.Props.ResponseTopic = m })},
		{name: "topic", stmt: "MQTT-3.3.2-1",
			packet: func() packet.Packet { return &packet.Publish{Topic: "good/" + m, QoS: 1, PacketID: 1} }},
		{name: "PUBLISH-content-type", stmt: "MQTT-3.3.2-19",
			packet: func() packet.Packet {
				return &packet.Publish{Topic: "good/x", QoS: 1, PacketID: 1, Props: property.Properties{ContentType: m}}
			}},
		{name: "PUBLISH-response-topic", stmt: "MQTT-3.3.2-13",
			packet: func() packet.Packet {
				return &packet.Publish{Topic: "good/x", QoS: 1, PacketID: 1, Props: property.Properties{ResponseTopic: m}}
			}},
		{name: "PUBLISH-user-property-value", stmt: "MQTT-1.5.7-1",
			packet: func() packet.Packet {
				return &packet.Publish{Topic: "good/x", QoS: 1, PacketID: 1, Props: property.Properties{User: []property.User{{Key: "k", Value: m}}}}
			}},
		{name: "SUBSCRIBE-filter", stmt: "MQTT-3.8.3-1",
			packet: func() packet.Packet {
				return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "good/#"}, {Filter: m}}}
			}},
		{name: "UNSUBSCRIBE-filter", stmt: "MQTT-3.10.3-1",
			packet: func() packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{m}} }},
		{name: "PUBACK-reason-string",
			packet: func() packet.Packet {
				return &packet.Puback{PacketID: 1, Reason: packet.UnspecifiedError, Props: property.Properties{ReasonString: m}}
			}},
		{name: "DISCONNECT-reason-string",
			packet: func() packet.Packet {
				return &packet.Disconnect{Reason: packet.UnspecifiedError, Props: property.Properties{ReasonString: m}}
			}},
	}
	// The statement each breaks, in 5.0 and in 3.1.1.
	bad := []struct{ name, bytes, stmt, stmtV311 string }{
		{"surrogate", "\xed\xa0\x80", "MQTT-1.5.4-1", "MQTT-1.5.3-1"},
		{"U+0000", "a\x00a", "MQTT-1.5.4-2", "MQTT-1.5.3-2"},
	}
	t.Run("spec", func(t *testing.T) {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			for _, pl := range places {
				stmt := pl.stmt
				if v == packet.V311 {
					var ok bool
					if stmt, ok = hostileStatementsV311()[pl.name]; !ok {
						continue // no such place in 3.1.1
					}
				}
				for _, b := range bad {
					ids := []string{b.stmt, stmt}
					if v == packet.V311 {
						ids[0] = b.stmtV311
					}
					if stmt == "" {
						ids = ids[:1]
					}
					t.Run(strings.Join(ids, "/")+"/"+v.String()+"/"+pl.name+"/"+b.name, func(t *testing.T) {
						t.Parallel()
						h := dialHostile(t, addr, v)
						if !pl.connect {
							h.connect(&packet.Connect{ClientID: "utf8-" + t.Name(), CleanStart: true})
						}
						enc := h.encode(pl.packet())
						if bytes.Count(enc, []byte(m)) != 1 {
							t.Fatalf("marker not once in % x", enc)
						}
						// A valid PINGREQ follows: it must not be answered.
						enc = append(bytes.Replace(enc, []byte(m), []byte(b.bytes), 1), h.encode(&packet.Pingreq{})...)
						if err := h.write(enc); err != nil {
							t.Fatal(err)
						}
						h.expectEnd(packet.MalformedPacket, pl.connect, 2*time.Second)
					})
				}
			}
		}
	})
	// Nothing of it reached the witness: no message, and no will of a
	// CONNECT that was refused.
	quiet(t, w.sub)
	w.check(t)
}

// TestHostileBrokerReconnectStorm: connections claiming the same client
// identifier, one after another and all at once: each new one takes the
// session over, the one before gets DISCONNECT 0x8E (MQTT-3.1.4-3; 3.1.1:
// it is closed, MQTT-3.1.4-2), and when the storm is over one connection
// is left and the broker holds no more than before it.
func TestHostileBrokerReconnectStorm(t *testing.T) {
	addr := startHostileBroker(t)
	w := newWitness(t, addr, "takeover")
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		name := "MQTT-3.1.4-3/" + v.String() + "/one-after-another"
		if v == packet.V311 {
			name = "MQTT-3.1.4-2/" + v.String() + "/one-after-another"
		}
		t.Run(name, func(t *testing.T) {
			g0, h0 := runtime.NumGoroutine(), liveHeap()
			var prev *hostileClient
			for i := range 30 {
				h := dialHostile(t, addr, v)
				cn := &packet.Connect{ClientID: "storm-" + v.String(), CleanStart: i%2 == 0, KeepAlive: 30}
				if v == packet.V5 {
					cn.Props.SessionExpiry = 60
				}
				h.connect(cn)
				if prev != nil {
					code := packet.ReasonCode(0)
					if v == packet.V5 {
						code = packet.SessionTakenOver
					}
					prev.expectEnd(code, false, 3*time.Second)
					prev.nc.Close()
				}
				prev = h
			}
			w.check(t)
			prev.send(&packet.Disconnect{}) // session expiry 60: the session stays
			prev.expectEnd(0, false, 2*time.Second)
			prev.nc.Close()
			if n := settle(g0, 3*time.Second); n > g0 {
				t.Errorf("%d goroutines after the storm, %d before", n, g0)
			}
			if left := liveHeap() - h0; left > 64<<10 {
				t.Errorf("%d bytes more after 30 take-overs", left)
			}
		})
	}
	t.Run("MQTT-3.1.4-3/5.0/all-at-once", func(t *testing.T) {
		g0, h0 := runtime.NumGoroutine(), liveHeap()
		const n = 50
		hs := make([]*hostileClient, n)
		for i := range hs {
			hs[i] = dialHostile(t, addr, packet.V5)
		}
		cn := hs[0].encode(&packet.Connect{ClientID: "herd", CleanStart: true, KeepAlive: 30})
		var wg sync.WaitGroup
		for _, h := range hs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = h.write(cn)
			}()
		}
		wg.Wait()
		// Every connection but one ends: taken over (CONNACK then
		// DISCONNECT 0x8E), or closed while waiting for the session.
		ended := make(chan error, n)
		for _, h := range hs {
			go func() {
				for {
					p, err := h.next(5 * time.Second)
					if errors.Is(err, errClosed) {
						err = nil
					}
					if err != nil {
						ended <- err
						return
					}
					if p == nil {
						ended <- nil
						return
					}
					if d, ok := p.(*packet.Disconnect); ok && d.Reason != packet.SessionTakenOver {
						ended <- fmt.Errorf("DISCONNECT %v, want 0x8E", d.Reason)
						return
					}
				}
			}()
		}
		closed := 0
		timeout := time.After(10 * time.Second)
		for closed < n-1 {
			select {
			case err := <-ended:
				if err != nil {
					t.Fatal(err)
				}
				closed++
			case <-timeout:
				t.Fatalf("%d of %d connections ended; want all but one", closed, n)
			}
		}
		w.check(t)
		for _, h := range hs {
			h.nc.Close()
		}
		if got := settle(g0, 3*time.Second); got > g0 {
			t.Errorf("%d goroutines after the storm, %d before", got, g0)
		}
		if left := liveHeap() - h0; left > 64<<10 {
			t.Errorf("%d bytes more after the storm", left)
		}
	})
	w.check(t)
}
