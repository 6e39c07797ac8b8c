package server_test

import (
	"bufio"
	"io"
	"net"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// writeModes runs a benchmark with the writer goroutine and with the read
// loop writing its own replies.
func writeModes(b *testing.B, fn func(b *testing.B)) {
	for _, inline := range []bool{false, true} {
		name := "writer"
		if inline {
			name = "inline"
		}
		b.Run(name, func(b *testing.B) {
			defer func(old bool) { *server.InlineWrites = old }(*server.InlineWrites)
			*server.InlineWrites = inline
			fn(b)
		})
	}
}

// benchConn connects a raw v5 client over loopback TCP.
func benchConn(b *testing.B, srv *server.Server, l net.Listener, id string) (net.Conn, *bufio.Reader) {
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	cb, _ := (&packet.Connect{ClientID: id, CleanStart: true}).AppendTo(nil, packet.V5)
	if _, err := nc.Write(cb); err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReaderSize(nc, 64<<10)
	if _, err := io.ReadFull(r, make([]byte, 2+3)); err != nil { // CONNACK of a v5 server: 5 bytes here
		b.Fatal(err)
	}
	return nc, r
}

func benchServer(b *testing.B, h server.Handler) (*server.Server, net.Listener) {
	srv := server.New(server.Config{Handler: h})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { l.Close() })
	return srv, l
}

// QoS 1 PUBLISH packets in windows of 100, each answered by PUBACK: the
// replies a connection's reads make it send.
func BenchmarkPuback(b *testing.B) {
	writeModes(b, func(b *testing.B) {
		srv, l := benchServer(b, nop{})
		nc, r := benchConn(b, srv, l, "pub")
		const window = 100
		var batch []byte
		for i := range window {
			batch, _ = (&packet.Publish{Topic: "t", QoS: packet.QoS1, PacketID: uint16(i + 1), Payload: make([]byte, 64)}).AppendTo(batch, packet.V5)
		}
		acks := make([]byte, 4*window) // PUBACK 0x00 without properties: 4 bytes
		b.SetBytes(int64(len(batch) / window))
		b.ResetTimer()
		for i := 0; i < b.N; i += window {
			if _, err := nc.Write(batch); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, acks); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// QoS 0 messages from one client to another through the example broker.
func BenchmarkFanout(b *testing.B) {
	writeModes(b, func(b *testing.B) {
		r := newRecorder()
		srv, l := benchServer(b, r)
		sub, sr := benchConn(b, srv, l, "sub")
		sb, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t"}}}).AppendTo(nil, packet.V5)
		if _, err := sub.Write(sb); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(sr, make([]byte, 6)); err != nil { // SUBACK
			b.Fatal(err)
		}
		pub, _ := benchConn(b, srv, l, "pub")
		const window = 100
		one, _ := (&packet.Publish{Topic: "t", Payload: make([]byte, 64)}).AppendTo(nil, packet.V5)
		var batch []byte
		for range window {
			batch = append(batch, one...)
		}
		got := make([]byte, len(batch))
		b.SetBytes(int64(len(one)))
		b.ResetTimer()
		for i := 0; i < b.N; i += window {
			if _, err := pub.Write(batch); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(sr, got); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Connections per second: dial, CONNECT, CONNACK, then a reset (linger
// 0, so that no port waits in TIME_WAIT), from many clients at once, on
// the event loop and with a goroutine per connection.
func BenchmarkAccept(b *testing.B) {
	for _, loop := range []bool{true, false} {
		name := "eventloop"
		if !loop {
			name = "goroutine"
		}
		b.Run(name, func(b *testing.B) {
			defer func(old bool) { *server.EventLoop = old }(*server.EventLoop)
			*server.EventLoop = loop
			_, l := benchServer(b, nop{})
			addr := l.Addr().String()
			cb, _ := (&packet.Connect{ClientID: "a", CleanStart: true}).AppendTo(nil, packet.V5)
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ack := make([]byte, 5) // CONNACK of a v5 server
				for pb.Next() {
					nc, err := net.Dial("tcp", addr)
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := nc.Write(cb); err != nil {
						b.Error(err)
					}
					if _, err := io.ReadFull(nc, ack); err != nil {
						b.Error(err)
					}
					_ = nc.(*net.TCPConn).SetLinger(0)
					nc.Close()
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "accepts/s")
		})
	}
}
