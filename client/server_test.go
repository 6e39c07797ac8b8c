package client

import (
	"context"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// testServer is a server Connection at the other end of a net.Pipe, for
// the tests that need a server to behave in a given way: onPacket runs in
// its handler for each packet received (and may Send), and every packet
// received is copied to got.
type testServer struct {
	t        *testing.T
	mu       sync.Mutex
	s        *mqtt.Connection[uint16]
	conn     net.Conn
	out      chan []byte // to the server's writer goroutine, in order
	onPacket func(ts *testServer, p packet.Packet)
	got      chan packet.Packet
	dials    int    // connections opened
	saved    []byte // the session of the last connection, when it persists
	// manualPubcomp leaves PUBCOMP to onPacket, which may hold a QoS 2
	// exchange past PUBREL.
	manualPubcomp bool
}

func newTestServer(t *testing.T, onPacket func(ts *testServer, p packet.Packet)) *testServer {
	return &testServer{t: t, onPacket: onPacket, got: make(chan packet.Packet, 1024)}
}

// Dial implements Dialer: each dial starts a new server Connection.
func (ts *testServer) Dial(ctx context.Context, _ *url.URL) (net.Conn, error) {
	client, server := net.Pipe()
	ts.mu.Lock()
	ts.dials++
	ts.conn = server
	// Each connection has its own Connection and writer: an old one may
	// still be ending while a new one starts.
	out := make(chan []byte, 1024)
	s := mqtt.NewServer(mqtt.Config{ManualPuback: true, ManualPubrec: true, ManualPubcomp: ts.manualPubcomp},
		func(e mqtt.Event[uint16]) { ts.event(out, e) })
	ts.out, ts.s = out, s
	ts.mu.Unlock()
	go ts.serve(server, s)
	go func() { // a pipe blocks: writes never happen under the lock
		for b := range out {
			if _, err := server.Write(b); err != nil {
				break
			}
		}
		server.Close()
	}()
	return client, nil
}

func (ts *testServer) event(out chan []byte, e mqtt.Event[uint16]) {
	switch e.Kind {
	case mqtt.EventSend:
		out <- append([]byte(nil), e.Bytes...)
	case mqtt.EventPacket:
		ts.got <- clonePacket(e.Packet)
		if ts.onPacket != nil {
			ts.onPacket(ts, e.Packet)
		}
	case mqtt.EventClose:
		close(out) // the writer writes what is before it, then closes
	}
}

func (ts *testServer) serve(conn net.Conn, s *mqtt.Connection[uint16]) {
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		ts.mu.Lock()
		if err != nil {
			s.Closed()
			if s.SessionPersists() {
				ts.saved = s.ExportSession()
			}
			ts.mu.Unlock()
			return
		}
		s.Recv(buf[:n])
		ts.mu.Unlock()
	}
}

// drop closes the server's end of the current connection, as a network
// failure would.
func (ts *testServer) drop() {
	ts.mu.Lock()
	conn := ts.conn
	ts.mu.Unlock()
	conn.Close()
}

// send sends a packet from the server, from outside its handler.
func (ts *testServer) send(p packet.Packet) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := ts.s.Send(p); err != nil {
		ts.t.Errorf("server Send(%v): %v", p.Type(), err)
	}
}

// accept answers CONNECT with a successful CONNACK, SUBSCRIBE with its
// grant, UNSUBSCRIBE with success, and acknowledges every message.
func accept(ts *testServer, p packet.Packet) {
	switch p := p.(type) {
	case *packet.Connect:
		present := !p.CleanStart && ts.saved != nil && ts.s.ImportSession(ts.saved) == nil
		_ = ts.s.Send(&packet.Connack{SessionPresent: present})
	case *packet.Subscribe:
		results := make([]packet.ReasonCode, len(p.Subscriptions))
		for i, s := range p.Subscriptions {
			results[i] = packet.ReasonCode(s.QoS)
		}
		ack, _ := p.Ack(ts.s.Version(), results...)
		_ = ts.s.Send(ack)
	case *packet.Unsubscribe:
		ack, _ := p.Ack(ts.s.Version(), make([]packet.ReasonCode, len(p.Filters))...)
		_ = ts.s.Send(ack)
	case *packet.Publish:
		ackPublish(ts, p, 0)
	}
}

// ackPublish acknowledges a message with reason code r.
func ackPublish(ts *testServer, p *packet.Publish, r packet.ReasonCode) {
	switch p.QoS {
	case packet.QoS1:
		_ = ts.s.Send(&packet.Puback{PacketID: p.PacketID, Reason: r})
	case packet.QoS2:
		_ = ts.s.Send(&packet.Pubrec{PacketID: p.PacketID, Reason: r})
	}
}

// next returns the next packet the server received of type t, skipping
// others.
func (ts *testServer) next(t packet.Type) packet.Packet {
	ts.t.Helper()
	for p := range ts.got {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

func clonePacket(p packet.Packet) packet.Packet {
	b, err := p.AppendTo(nil, packet.V5)
	if err != nil {
		return p
	}
	q, _, err := packet.Decode[uint16](packet.V5, b, 0)
	if err != nil {
		return p
	}
	return q
}

// pipeConfig is a Config that dials ts.
func pipeConfig(ts *testServer) Config {
	return Config{Servers: []string{"tcp://test.invalid"}, ClientID: "test", Dialer: ts}
}

func propsReceiveMaximum(n uint16) property.Properties {
	return property.Properties{ReceiveMaximum: n}
}
