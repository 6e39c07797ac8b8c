package mqtttest_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/mqtttest"
	"github.com/mqttcore/mqtt/packet"
)

func TestMatchers(t *testing.T) {
	puback := &packet.Puback{PacketID: 4}
	cases := []struct {
		m    mqtttest.Matcher
		p    packet.Packet
		want bool
	}{
		{mqtttest.Type(packet.TypePuback), puback, true},
		{mqtttest.Type(packet.TypePubrec), puback, false},
		{mqtttest.Is[*packet.Puback]("any PUBACK", nil), puback, true},
		{mqtttest.Is("PUBACK 4", func(a *packet.Puback) bool { return a.PacketID == 4 }), puback, true},
		{mqtttest.Is("PUBACK 5", func(a *packet.Puback) bool { return a.PacketID == 5 }), puback, false},
		{mqtttest.Is[*packet.Pubrec]("any PUBREC", nil), puback, false},
		{mqtttest.Equal(&packet.Puback{PacketID: 4}), puback, true},
		{mqtttest.Equal(&packet.Puback{PacketID: 4, Reason: packet.NoMatchingSubscribers}), puback, false},
		{mqtttest.Equal(&packet.Pubrec{PacketID: 4}), puback, false},
		{mqtttest.DisconnectWith(packet.ProtocolError), &packet.Disconnect{Reason: packet.ProtocolError}, true},
		{mqtttest.DisconnectWith(packet.ProtocolError), &packet.Disconnect{Reason: packet.MalformedPacket}, false},
		{mqtttest.DisconnectWith(packet.ProtocolError), puback, false},
	}
	for _, c := range cases {
		if got := c.m.Match(c.p); got != c.want {
			t.Errorf("%s on %+v: %v, want %v", c.m.What, c.p, got, c.want)
		}
	}
}

// fatalTB records the first failure of a test and ends its goroutine, as
// testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()        {}
func (f *fatalTB) Cleanup(func()) {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// expectFailure runs fn with a Peer over a pipe whose other end wrote
// wire then closed (or stayed open if keep), and returns the failure fn
// met, or "".
func expectFailure(wire []byte, keep bool, fn func(*mqtttest.Peer)) string {
	f := &fatalTB{}
	p, other := mqtttest.Pipe(f, packet.V5)
	go func() {
		other.Write(wire)
		if !keep {
			other.Close()
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(p)
	}()
	<-done
	other.Close()
	return f.msg
}

func TestExpectFails(t *testing.T) {
	puback := []byte{0x40, 0x02, 0x00, 0x04}
	cases := []struct {
		name  string
		wire  []byte
		keep  bool
		fn    func(*mqtttest.Peer)
		wants []string // in the failure; none: no failure
	}{
		{"match", puback, false, func(p *mqtttest.Peer) { p.Expect(mqtttest.Type(packet.TypePuback), time.Second) }, nil},
		{"wrong packet", puback, false, func(p *mqtttest.Peer) { p.Expect(mqtttest.Type(packet.TypePubrec), time.Second) },
			[]string{"expected PUBREC", "got PUBACK", "40 02 00 04"}},
		{"closed", nil, false, func(p *mqtttest.Peer) { p.Expect(mqtttest.Type(packet.TypePuback), time.Second) },
			[]string{"expected PUBACK", "closed"}},
		{"nothing in time", nil, true, func(p *mqtttest.Peer) { p.Expect(mqtttest.Type(packet.TypePuback), 50*time.Millisecond) },
			[]string{"expected PUBACK within 50ms", "nothing came"}},
		{"malformed", []byte{0x40, 0x02, 0x00, 0x00}, false, func(p *mqtttest.Peer) { p.Expect(mqtttest.Type(packet.TypePuback), time.Second) },
			[]string{"does not decode", "40 02 00 00"}},
		{"close expected, packet came", puback, false, func(p *mqtttest.Peer) { p.ExpectClose(time.Second) },
			[]string{"expected the connection closed", "got PUBACK"}},
		{"close", nil, false, func(p *mqtttest.Peer) { p.ExpectClose(time.Second) }, nil},
		{"refused", []byte{0xE0, 0x01, 0x82}, false, func(p *mqtttest.Peer) { p.ExpectRefused(packet.ProtocolError, time.Second) }, nil},
		{"refused with another code", []byte{0xE0, 0x01, 0x81}, false, func(p *mqtttest.Peer) { p.ExpectRefused(packet.ProtocolError, time.Second) },
			[]string{"expected DISCONNECT Protocol Error", "got DISCONNECT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := expectFailure(c.wire, c.keep, c.fn)
			if len(c.wants) == 0 && msg != "" {
				t.Fatalf("failed: %s", msg)
			}
			for _, w := range c.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("failure %q does not say %q", msg, w)
				}
			}
		})
	}
}

// TestSendFragments checks that Fragment splits every packet into writes
// of that many bytes.
func TestSendFragments(t *testing.T) {
	p, other := mqtttest.Pipe(t, packet.V5)
	p.Fragment = 3
	wire := []byte{0x30, 0x08, 0x00, 0x01, 'a', 0x00, 'p', 'a', 'y', '!'}
	go p.SendRaw(wire)
	var sizes []int
	for total := 0; total < len(wire); {
		b := make([]byte, 64)
		n, err := other.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, n)
		total += n
	}
	if fmt.Sprint(sizes) != "[3 3 3 1]" {
		t.Fatalf("writes of %v bytes, want [3 3 3 1]", sizes)
	}
}
