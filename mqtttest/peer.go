package mqtttest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mqttcore/mqtt/packet"
)

// Peer plays one side of an MQTT connection, client or broker, from a
// test: it sends what the test tells it, well-formed or not, and checks
// what arrives. It starts no goroutine: Expect reads the connection
// itself, in the test's goroutine, until a packet arrives or its time
// limit passes. Packet identifiers are two bytes (uint16).
//
// A Peer fails the test (t.Fatalf) when a write fails or an expectation
// is not met; call its methods from the test's goroutine only.
type Peer struct {
	t    TB
	conn net.Conn

	// Version is the protocol version the Peer encodes and decodes. A
	// Peer made with version 0 learns it from the first CONNECT it sends
	// or receives.
	Version packet.Version
	// Fragment, when positive, writes every packet in pieces of at most
	// Fragment bytes, each with its own Write.
	Fragment int
	// Delay is the pause between two pieces of a fragmented packet.
	Delay time.Duration
	// WriteTimeout bounds each Write (5 s when 0): over net.Pipe, which
	// has no buffer, a write to a side that is itself writing would
	// otherwise block for ever.
	WriteTimeout time.Duration

	buf      []byte    // bytes read and not yet taken as packets
	lastSend time.Time // when the last packet left
	closed   bool      // the other side closed the connection
}

// TB is the part of testing.TB a Peer uses: a *testing.T or *testing.B,
// or anything else that stops the goroutine in Fatalf.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewPeer returns a Peer that speaks version v (0: learn it from the first
// CONNECT) over conn, and closes conn when the test ends.
func NewPeer(t TB, conn net.Conn, v packet.Version) *Peer {
	t.Cleanup(func() { conn.Close() })
	return &Peer{t: t, conn: conn, Version: v}
}

// Pipe returns a Peer and the other end of an in-memory connection
// (net.Pipe) for the software under test. A net.Pipe has no buffer: each
// write waits for a read on the other end.
func Pipe(t TB, v packet.Version) (*Peer, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { b.Close() })
	return NewPeer(t, a, v), b
}

// Conn returns the Peer's connection.
func (p *Peer) Conn() net.Conn { return p.conn }

// Send encodes pk in the Peer's version and writes it.
func (p *Peer) Send(pk packet.Packet) {
	p.t.Helper()
	p.learn(pk)
	b, err := pk.AppendTo(nil, p.Version)
	if err != nil {
		p.t.Fatalf("mqtttest: encode %v: %v", pk.Type(), err)
	}
	p.SendRaw(b)
}

// SendRaw writes b as it is, in pieces of Fragment bytes when it is set.
func (p *Peer) SendRaw(b []byte) {
	p.t.Helper()
	step := len(b)
	if p.Fragment > 0 {
		step = p.Fragment
	}
	for i := 0; i < len(b); i += step {
		if i > 0 && p.Delay > 0 {
			time.Sleep(p.Delay)
		}
		timeout := p.WriteTimeout
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		p.conn.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := p.conn.Write(b[i:min(i+step, len(b))]); err != nil {
			p.t.Fatalf("mqtttest: write %d bytes at %d of % x: %v", min(step, len(b)-i), i, head(b), err)
		}
	}
	p.lastSend = time.Now()
}

func (p *Peer) learn(pk packet.Packet) {
	if c, ok := pk.(*packet.Connect); ok && p.Version == 0 {
		p.Version = c.Version
		if p.Version == 0 {
			p.Version = packet.V5
		}
	}
}

// A Matcher says whether a packet is the one expected.
type Matcher struct {
	What  string // what is expected, for failure messages
	Match func(packet.Packet) bool
}

// Type matches any packet of type t.
func Type(t packet.Type) Matcher {
	return Matcher{t.String(), func(p packet.Packet) bool { return p.Type() == t }}
}

// Is matches the packets of type P for which f, if not nil, returns true;
// what describes them.
func Is[P packet.Packet](what string, f func(P) bool) Matcher {
	return Matcher{what, func(p packet.Packet) bool {
		q, ok := p.(P)
		return ok && (f == nil || f(q))
	}}
}

// Equal matches a packet equal to want, field by field (nil and empty lists
// alike).
func Equal(want packet.Packet) Matcher {
	return Matcher{fmt.Sprintf("%v %+v", want.Type(), want), func(p packet.Packet) bool {
		return cmp.Equal(want, p, cmpopts.EquateEmpty())
	}}
}

// DisconnectWith matches a DISCONNECT with reason code r.
func DisconnectWith(r packet.ReasonCode) Matcher {
	return Is(fmt.Sprintf("DISCONNECT %v", r), func(d *packet.Disconnect) bool { return d.Reason == r })
}

// Expect reads the next packet, waiting up to timeout, and returns it if m
// matches it. It fails the test with what was expected and what came (the
// packet and its bytes, a decoding error, the end of the connection or
// nothing in time) otherwise.
func (p *Peer) Expect(m Matcher, timeout time.Duration) packet.Packet {
	p.t.Helper()
	pk, b, err := p.next(timeout)
	switch {
	case err != nil:
		p.t.Fatalf("mqtttest: expected %s within %v: %v", m.What, timeout, err)
	case !m.Match(pk):
		p.t.Fatalf("mqtttest: expected %s, got %v %+v\n% x", m.What, pk.Type(), pk, head(b))
	}
	return pk
}

// ExpectClose waits up to timeout for the other side to close the
// connection without sending anything more.
func (p *Peer) ExpectClose(timeout time.Duration) {
	p.t.Helper()
	pk, b, err := p.next(timeout)
	switch {
	case err == nil:
		p.t.Fatalf("mqtttest: expected the connection closed, got %v %+v\n% x", pk.Type(), pk, head(b))
	case !p.closed:
		p.t.Fatalf("mqtttest: expected the connection closed within %v: %v", timeout, err)
	}
}

// ExpectRefused waits up to timeout for the answer a protocol violation
// gets: in MQTT 5.0 a DISCONNECT with reason code r, then the end of the
// connection; in 3.1.1, or with r 0, the end of the connection alone.
func (p *Peer) ExpectRefused(r packet.ReasonCode, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	if p.Version == packet.V5 && r != 0 {
		p.Expect(DisconnectWith(r), timeout)
	}
	p.ExpectClose(time.Until(deadline))
}

// errClosed is the end of the connection, as Expect reports it.
var errClosed = errors.New("the connection was closed")

// next returns the next packet and its bytes.
func (p *Peer) next(timeout time.Duration) (packet.Packet, []byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		if h, need, err := packet.Frame(p.buf, 0); err != nil {
			return nil, nil, fmt.Errorf("bytes that frame no packet: %v\n% x", err, head(p.buf))
		} else if need == 0 {
			b := p.buf[:h.Size()]
			p.buf = p.buf[h.Size():]
			v := p.Version
			if v == 0 && h.Type == packet.TypeConnect {
				if v, err = packet.ProtocolVersion(b[h.Len:]); err != nil {
					return nil, b, fmt.Errorf("a CONNECT that does not decode: %v\n% x", err, head(b))
				}
			}
			pk, _, err := packet.Decode[uint16](max(v, packet.V311), b, 0)
			if err != nil {
				return nil, b, fmt.Errorf("a %v that does not decode: %v\n% x", h.Type, err, head(b))
			}
			p.learn(pk)
			return pk, b, nil
		}
		if p.closed {
			return nil, nil, errClosed
		}
		p.conn.SetReadDeadline(deadline)
		var chunk [4096]byte
		n, err := p.conn.Read(chunk[:])
		p.buf = append(p.buf, chunk[:n]...)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, nil, errors.New("nothing came")
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed):
			p.closed = true
		case err != nil:
			p.closed = true // a reset: the other side is gone
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 64)] }

// ---- misbehaviours --------------------------------------------------------

// ExceedReceiveMaximum sends max+1 QoS 2 PUBLISH packets on topic at
// once, with packet identifiers 1 to max+1, to a side that announced
// Receive Maximum max: the last one is over it (MQTT-3.3.4-7 to a server,
// MQTT-3.3.4-9 to a client). The other side answers each but the last with
// PUBREC, then refuses the connection with 0x93.
func (p *Peer) ExceedReceiveMaximum(max uint16, topic string) {
	p.t.Helper()
	for id := uint16(1); id <= max+1; id++ {
		p.Send(&packet.Publish{Topic: topic, QoS: packet.QoS2, PacketID: id, Payload: []byte("over")})
	}
}

// SendUnknownAlias sends a v5 PUBLISH that names its topic by Topic Alias
// alias alone, an alias the connection never set: a Protocol Error.
func (p *Peer) SendUnknownAlias(alias uint16) {
	p.t.Helper()
	pk := &packet.Publish{Payload: []byte("which topic?")}
	pk.Props.TopicAlias = alias
	p.Send(pk)
}

// SendDuplicate sends the QoS 1 or QoS 2 PUBLISH pk again, with DUP set:
// sent before the PUBREL of a QoS 2 exchange, the other side must
// acknowledge it with PUBREC again and not deliver the message a second
// time (MQTT-4.3.3-10).
func (p *Peer) SendDuplicate(pk *packet.Publish) {
	p.t.Helper()
	dup := *pk
	dup.Dup = true
	p.Send(&dup)
}

// SendOversize sends a QoS 0 PUBLISH on topic whose encoding is exactly
// size bytes (at least the PUBLISH's header and topic), to exceed the
// Maximum Packet Size the other side announced.
func (p *Peer) SendOversize(topic string, size int) {
	p.t.Helper()
	pk := &packet.Publish{Topic: topic}
	base := pk.Size(p.Version)
	pk.Payload = make([]byte, max(size-base, 0))
	for pk.Size(p.Version) > size && len(pk.Payload) > 0 { // a longer Remaining Length
		pk.Payload = pk.Payload[:len(pk.Payload)-1]
	}
	if pk.Size(p.Version) != size {
		p.t.Fatalf("mqtttest: no PUBLISH on %q is %d bytes", topic, size)
	}
	p.Send(pk)
}

// ExpectKeepAliveClose stays silent and waits for the other side, a server
// given Keep Alive keepAlive, to end the connection: not before one and a
// half times keepAlive after the Peer's last packet, and not much later
// (MQTT-3.1.2-24); in v5 with DISCONNECT 0x8D (Keep Alive timeout) first.
// slack is the lateness allowed.
func (p *Peer) ExpectKeepAliveClose(keepAlive, slack time.Duration) {
	p.t.Helper()
	due := p.lastSend.Add(keepAlive * 3 / 2)
	p.ExpectRefused(packet.KeepAliveTimeout, time.Until(due)+slack)
	if early := time.Until(due); early > 10*time.Millisecond {
		p.t.Fatalf("mqtttest: the connection ended %v before one and a half times the Keep Alive of %v", early, keepAlive)
	}
}
