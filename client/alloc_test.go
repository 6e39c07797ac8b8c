package client

import (
	"context"
	"io"
	"net"
	"net/url"
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// TestPublishAllocations pins the allocations of the publish path: none
// for a QoS 0 message, and for a QoS 1 message its Pending, plus the
// channel Wait makes when it comes before the acknowledgement (the
// packet is the Client's, reused).
func TestPublishAllocations(t *testing.T) {
	ctx := testContext(t)
	c := connectForTest(t, Config{Servers: []string{"tcp://sink"}, Dialer: sinkDialer{}, Version: packet.V311,
		ClientID: "allocs", CleanStart: true, KeepAlive: -1, NoReconnect: true})
	payload := make([]byte, 64)

	q0 := Message{Topic: "a/b", Payload: payload}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := c.PublishAsync(ctx, q0); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("PublishAsync at QoS 0: %v allocations, want 0", n)
	}

	q1 := Message{Topic: "a/b", Payload: payload, QoS: packet.QoS1}
	n := testing.AllocsPerRun(1000, func() {
		p, err := c.PublishAsync(ctx, q1)
		if err == nil {
			err = p.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("PublishAsync and Wait at QoS 1: %v allocations", n)
	if n > 2 {
		t.Errorf("PublishAsync and Wait at QoS 1: %v allocations, want at most 2", n)
	}
}

// sinkDialer connects to sinkServer over a net.Pipe.
type sinkDialer struct{}

func (sinkDialer) Dial(context.Context, *url.URL) (net.Conn, error) {
	c, s := net.Pipe()
	go sinkServer(s)
	return c, nil
}

// sinkServer is a 3.1.1 server that allocates nothing once started, so
// that an allocation count sees the Client's alone: it accepts the
// CONNECT, acknowledges each QoS 1 PUBLISH, and discards the rest.
func sinkServer(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 64<<10)
	connack := []byte{0x20, 2, 0, 0}
	puback := []byte{0x40, 2, 0, 0}
	for {
		if _, err := io.ReadFull(conn, buf[:1]); err != nil {
			return
		}
		first, n := buf[0], 0
		for shift := 0; ; shift += 7 {
			if _, err := io.ReadFull(conn, buf[:1]); err != nil {
				return
			}
			n |= int(buf[0]&0x7f) << shift
			if buf[0] < 0x80 {
				break
			}
		}
		body := buf[:n]
		if _, err := io.ReadFull(conn, body); err != nil {
			return
		}
		var err error
		switch packet.Type(first >> 4) {
		case packet.TypeConnect:
			_, err = conn.Write(connack)
		case packet.TypePublish:
			if packet.QoS(first>>1&3) == packet.QoS1 {
				at := 2 + (int(body[0])<<8 | int(body[1])) // the packet identifier, after the topic
				puback[2], puback[3] = body[at], body[at+1]
				_, err = conn.Write(puback)
			}
		case packet.TypeDisconnect:
			return
		}
		if err != nil {
			return
		}
	}
}
