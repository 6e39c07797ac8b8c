package client

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// The benchmarks measure the Client's own cost per message, sending and
// receiving, against a scripted server on loopback TCP: it answers CONNECT
// and SUBSCRIBE, acknowledges QoS 1 messages at once, and sends messages
// from pre-encoded bytes. The server's work is in the numbers too (a
// small share of them: it decodes into reused values and encodes nothing
// per message but the acknowledgements); a CPU profile tells the two
// apart:
//
//	go test ./client -run '^$' -bench . -benchmem -cpuprofile cpu.out

// benchPeer is the server end of one benchmark connection.
type benchPeer struct {
	conn       net.Conn
	mu         sync.Mutex // serialises writes: the read loop's answers, send's messages
	subscribed chan struct{}
	window     chan struct{} // QoS 1 messages sent and not yet acknowledged
	lastID     uint16        // of the last QoS 1 message sent
}

// startBenchPeer listens on loopback and serves the first connection; it
// returns a Config that connects to it.
func startBenchPeer(tb testing.TB) (Config, *benchPeer) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &benchPeer{subscribed: make(chan struct{}), window: make(chan struct{}, 1024)}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		conn, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		p.conn = conn
		go p.serve()
	}()
	tb.Cleanup(func() {
		l.Close()
		<-accepted
		if p.conn != nil {
			p.conn.Close()
		}
	})
	return Config{Servers: []string{"tcp://" + l.Addr().String()}, ClientID: "bench", NoReconnect: true}, p
}

func (p *benchPeer) write(b []byte) {
	p.mu.Lock()
	_, _ = p.conn.Write(b)
	p.mu.Unlock()
}

// serve reads the client's packets and answers them, a read's answers in
// one write.
func (p *benchPeer) serve() {
	dec := packet.Decoder[uint16]{Version: packet.V5}
	buf := make([]byte, 64<<10)
	var have int
	var out []byte
	subscribed := false
	for {
		n, err := p.conn.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		data := buf[:have]
		out = out[:0]
		for {
			pkt, used, err := dec.Decode(data)
			if err != nil {
				return
			}
			if used == 0 {
				break
			}
			data = data[used:]
			switch pkt := pkt.(type) {
			case *packet.Connect:
				out, _ = (&packet.Connack{}).AppendTo(out, packet.V5)
			case *packet.Subscribe:
				ack, _ := pkt.Ack(packet.V5, packet.ReasonCode(pkt.Subscriptions[0].QoS))
				out, _ = ack.AppendTo(out, packet.V5)
				subscribed = true
			case *packet.Publish:
				if pkt.QoS == packet.QoS1 {
					out, _ = (&packet.Puback{PacketID: pkt.PacketID}).AppendTo(out, packet.V5)
				}
			case *packet.Puback:
				<-p.window
			case *packet.Disconnect:
				return
			}
		}
		have = copy(buf, data)
		if len(out) > 0 {
			p.write(out)
		}
		if subscribed {
			close(p.subscribed) // once the SUBACK is written
			subscribed = false
		}
	}
}

// send sends n messages of topic "bench", 64-byte payloads, 64 to a
// write; at QoS 1 with at most 1024 unacknowledged.
func (p *benchPeer) send(n int, qos packet.QoS) {
	msg := &packet.Publish{Topic: "bench", QoS: qos, Payload: make([]byte, 64)}
	var out []byte
	for i := range n {
		if qos > 0 {
			p.window <- struct{}{}
			p.lastID = p.lastID%65535 + 1
			msg.PacketID = p.lastID
		}
		out, _ = msg.AppendTo(out, packet.V5)
		if len(out) >= 64*80 || i == n-1 {
			p.write(out)
			out = out[:0]
		}
	}
}

// receiving connects a client subscribed at qos to a benchPeer, and
// returns a function that has the peer send n messages and waits until the
// handler has had them all.
func receiving(tb testing.TB, qos packet.QoS) (receive func(n int)) {
	cfg, peer := startBenchPeer(tb)
	ctx := context.Background()
	c, err := Connect(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(ctx) })
	var got, want atomic.Int64
	done := make(chan struct{}, 1)
	err = c.Subscribe(ctx, packet.Subscription{Filter: "bench", QoS: qos}, func(m Message) {
		if got.Add(1) == want.Load() {
			done <- struct{}{}
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	<-peer.subscribed
	return func(n int) {
		want.Store(got.Load() + int64(n))
		go peer.send(n, qos)
		<-done
	}
}

// publishing connects a client to a benchPeer, and returns a function
// that publishes n messages from one goroutine as examples/bench does: at
// QoS 0 with every 64th one awaited until written, at QoS 1 with at most
// 64 in flight.
func publishing(tb testing.TB, qos packet.QoS) (publish func(n int)) {
	cfg, _ := startBenchPeer(tb)
	cfg.MaxInFlight = 64
	ctx := context.Background()
	c, err := Connect(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(ctx) })
	m := Message{Topic: "bench", QoS: qos, Payload: make([]byte, 64)}
	return func(n int) {
		for i := range n {
			var err error
			if qos == 0 && i%64 == 63 {
				err = c.Publish(ctx, m)
			} else {
				_, err = c.PublishAsync(ctx, m)
			}
			if err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// BenchmarkReceive: messages from the server to one subscription handler.
func BenchmarkReceive(b *testing.B) { benchMessages(b, receiving) }

// BenchmarkPublishAsync: messages from one goroutine to the server.
func BenchmarkPublishAsync(b *testing.B) { benchMessages(b, publishing) }

// benchMessages runs b.N messages through what setup returns, at QoS 0
// and QoS 1.
func benchMessages(b *testing.B, setup func(testing.TB, packet.QoS) func(n int)) {
	for _, qos := range []packet.QoS{packet.QoS0, packet.QoS1} {
		b.Run(fmt.Sprintf("QoS%d", qos), func(b *testing.B) {
			run := setup(b, qos)
			b.ReportAllocs()
			b.ResetTimer()
			run(b.N)
		})
	}
}

// TestAllocsPerMessage pins the allocations per message of the paths the
// benchmarks measure. A received message costs its copy (topic, payload)
// and, at QoS 1 and 2, how to acknowledge it; a sent one, at QoS 1 and 2,
// what waits for its acknowledgement.
func TestAllocsPerMessage(t *testing.T) {
	const n = 2000
	for _, tc := range []struct {
		name string
		qos  packet.QoS
		run  func(testing.TB, packet.QoS) func(int)
		max  float64
	}{
		{"receive QoS 0", 0, receiving, 2},
		{"receive QoS 1", 1, receiving, 3},
		{"publish QoS 0", 0, publishing, 0},
		{"publish QoS 1", 1, publishing, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.run(t, tc.qos)
			f(n) // buffers grown, goroutines started
			// A margin for what the runtime and the loopback connection
			// allocate on their own.
			got := testing.AllocsPerRun(3, func() { f(n) }) / n
			t.Logf("%.2f allocations per message", got)
			if got > tc.max+0.1 {
				t.Errorf("%.2f allocations per message, want at most %v", got, tc.max)
			}
		})
	}
}
