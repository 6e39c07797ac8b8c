package broker_test

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// raw is a test client that writes bytes of its choosing and reads
// packets back, to play a misbehaving or slow peer.
type raw struct {
	t   *testing.T
	nc  net.Conn
	buf []byte
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc}
}

func (r *raw) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *raw) send(p interface {
	AppendTo([]byte, packet.Version) ([]byte, error)
}) {
	r.t.Helper()
	b, err := p.AppendTo(nil, packet.V5)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(b)
}

// read returns the next packet's type and body, or ok false when the
// broker closed the connection.
func (r *raw) read() (h packet.Header, body []byte, ok bool) {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	chunk := make([]byte, 4096)
	for {
		h, need, err := packet.Frame(r.buf, 1<<20)
		if err != nil {
			r.t.Fatalf("frame: %v", err)
		}
		if need == 0 && len(r.buf) > 0 {
			body = bytes.Clone(r.buf[h.Len:h.Size()])
			r.buf = r.buf[h.Size():]
			return h, body, true
		}
		n, err := r.nc.Read(chunk)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.t.Fatal("nothing from the broker within 3s")
			}
			return h, nil, false
		}
		r.buf = append(r.buf, chunk[:n]...)
	}
}

// connect sends a v5 CONNECT and checks the CONNACK.
func (r *raw) connect(p *packet.Connect) {
	r.t.Helper()
	p.Version = packet.V5
	r.send(p)
	h, body, ok := r.read()
	var ack packet.Connack
	if !ok || h.Type != packet.TypeConnack || ack.Decode(packet.V5, h.Flags, body) != nil || ack.Reason != 0 {
		r.t.Fatalf("no successful CONNACK: %v %x", h.Type, body)
	}
}

// expectDisconnect reads until a DISCONNECT (v5) and checks its reason,
// then checks that the connection closes.
func (r *raw) expectDisconnect(want packet.ReasonCode) {
	r.t.Helper()
	for {
		h, body, ok := r.read()
		if !ok {
			r.t.Fatalf("closed without DISCONNECT %v", want)
		}
		if h.Type != packet.TypeDisconnect {
			continue
		}
		var d packet.Disconnect
		if err := d.Decode(packet.V5, h.Flags, body); err != nil || d.Reason != want {
			r.t.Fatalf("DISCONNECT %v (%v), want %v", d.Reason, err, want)
		}
		r.expectClosed()
		return
	}
}

func (r *raw) expectClosed() {
	r.t.Helper()
	for {
		if _, _, ok := r.read(); !ok {
			return
		}
	}
}

// Shared subscriptions: each message goes to one member of the group, in
// turn, at the QoS that member was granted, while ordinary subscribers
// get every message.
func TestSharedSubscription_MQTT_4_8_2_3(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	a := dial(t, addr, packet.V5, connect("share-a"))
	if a.Connack().Props.Has(property.SharedSubscriptionAvailable) {
		t.Fatal("CONNACK announces Shared Subscription Available 0")
	}
	b := dial(t, addr, packet.V5, connect("share-b"))
	all := dial(t, addr, packet.V5, connect("share-all"))
	subscribe(t, a, packet.Subscription{Filter: "$share/g/jobs/+", QoS: packet.QoS1})
	solo := dial(t, addr, packet.V5, connect("share-solo"))
	subscribe(t, solo, packet.Subscription{Filter: "$share/g/jobs/#", QoS: packet.QoS1})
	subscribe(t, b, packet.Subscription{Filter: "$share/g/jobs/+", QoS: packet.QoS0})
	subscribe(t, all, packet.Subscription{Filter: "jobs/+", QoS: packet.QoS1})
	pub := dial(t, addr, packet.V5, connect("share-pub"))
	const n = 6
	for i := range n {
		publish(t, pub, "jobs/x", packet.QoS1, false, fmt.Sprint(i))
	}
	// Groups named g with different filters are different shared
	// subscriptions: solo, the only member of $share/g/jobs/#, gets every
	// message.
	for i := range n {
		expect(t, all, "jobs/x", fmt.Sprint(i), packet.QoS1)
		expect(t, solo, "jobs/x", fmt.Sprint(i), packet.QoS1)
	}
	gotA, gotB := 0, 0
	timeout := time.After(3 * time.Second)
	for gotA+gotB < n {
		select {
		case m := <-a.Messages():
			if m.QoS != packet.QoS1 {
				t.Errorf("member a got QoS %d, granted 1", m.QoS)
			}
			gotA++
		case m := <-b.Messages():
			if m.QoS != packet.QoS0 {
				t.Errorf("member b got QoS %d, granted 0 (MQTT-4.8.2-3)", m.QoS)
			}
			gotB++
		case <-timeout:
			t.Fatalf("a got %d, b got %d messages", gotA, gotB)
		}
	}
	if gotA != n/2 || gotB != n/2 {
		t.Errorf("a got %d, b got %d messages; want %d each", gotA, gotB, n/2)
	}
	quiet(t, a)
	quiet(t, b)

	t.Run("no retained messages for a shared subscription", func(t *testing.T) {
		publish(t, pub, "kept/x", packet.QoS1, true, "r")
		c := dial(t, addr, packet.V5, connect("share-c"))
		subscribe(t, c, packet.Subscription{Filter: "$share/h/kept/x", QoS: packet.QoS1})
		quiet(t, c)
	})

	t.Run("unsubscribe leaves the group", func(t *testing.T) {
		if err := a.Unsubscribe(testContext(t), "$share/g/jobs/+"); err != nil {
			t.Fatal(err)
		}
		publish(t, pub, "jobs/y", packet.QoS1, false, "1")
		publish(t, pub, "jobs/y", packet.QoS1, false, "2")
		expect(t, b, "jobs/y", "1", packet.QoS0)
		expect(t, b, "jobs/y", "2", packet.QoS0)
		quiet(t, a)
	})
}

// No Local on a shared subscription is a Protocol Error (MQTT-3.8.3-4).
func TestSharedNoLocal_MQTT_3_8_3_4(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	r := dialRaw(t, addr)
	r.connect(&packet.Connect{ClientID: "nolocal", CleanStart: true})
	// SUBSCRIBE id 1, no properties, "$share/g/x" with QoS 1 and No Local.
	sub := append([]byte{0x82, 16, 0, 1, 0, 0, 10}, "$share/g/x"...)
	r.write(append(sub, 0x05))
	r.expectDisconnect(packet.ProtocolError)
}

// A message handed to a member of a share group belongs to its session:
// when the session ends with the message unacknowledged, no other member
// gets it (MQTT-4.8.2-5).
func TestSharedInFlightLost_MQTT_4_8_2_5(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	r := dialRaw(t, addr)
	r.connect(&packet.Connect{ClientID: "member-raw", CleanStart: true})
	r.write(append([]byte{0x82, 16, 0, 1, 0, 0, 10}, "$share/g/w\x01"...)) // QoS 1
	if h, _, ok := r.read(); !ok || h.Type != packet.TypeSuback {
		t.Fatalf("no SUBACK: %v", h.Type)
	}
	other := dial(t, addr, packet.V5, connect("member-other"))
	subscribe(t, other, packet.Subscription{Filter: "$share/g/w", QoS: packet.QoS1})
	pub := dial(t, addr, packet.V5, connect("pub"))
	// The turn starts at the first member: the raw client gets "1" and
	// does not acknowledge it; then its connection, and session, end.
	publish(t, pub, "w", packet.QoS1, false, "1")
	if h, _, ok := r.read(); !ok || h.Type != packet.TypePublish {
		t.Fatalf("raw member got %v, want PUBLISH", h.Type)
	}
	r.nc.Close()
	quiet(t, other)
	publish(t, pub, "w", packet.QoS1, false, "2")
	expect(t, other, "w", "2", packet.QoS1)
}

func withWillDelay(id string, expiry, delay uint32) *packet.Connect {
	c := connect(id)
	c.Props.SessionExpiry = expiry
	c.Will = packet.Will{Topic: "wills/" + id, QoS: packet.QoS1, Payload: []byte(id)}
	c.Will.Props.WillDelay = delay
	return c
}

// A will with a Will Delay Interval is published when the delay passes
// (MQTT-3.1.2-8), not before; a reconnection before then cancels it
// (MQTT-3.1.2-26); a session that ends first publishes it then.
func TestWillDelay_MQTT_3_1_2_8(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	watcher := dial(t, addr, packet.V5, connect("delay-watcher"))
	subscribe(t, watcher, packet.Subscription{Filter: "wills/#", QoS: packet.QoS1})

	t.Run("after the delay", func(t *testing.T) {
		c := dial(t, addr, packet.V5, withWillDelay("delayed", 60, 1))
		start := time.Now()
		c.Drop()
		expect(t, watcher, "wills/delayed", "delayed", packet.QoS1)
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("will published after %v, before its 1s delay", d)
		}
	})

	t.Run("MQTT-3.1.2-26 cancelled by a reconnection", func(t *testing.T) {
		cn := withWillDelay("back", 60, 1)
		c := dial(t, addr, packet.V5, cn)
		c.Drop()
		time.Sleep(200 * time.Millisecond)
		again := *cn
		again.CleanStart = false
		again.Will = packet.Will{}
		c2 := resume(t, addr, packet.V5, &again, c)
		if !c2.Connack().SessionPresent {
			t.Fatal("session not present")
		}
		select {
		case m := <-watcher.Messages():
			t.Fatalf("will %q published after a reconnection", m.Topic)
		case <-time.After(1300 * time.Millisecond):
		}
	})

	t.Run("MQTT-3.1.2-8 at session end before the delay", func(t *testing.T) {
		c := dial(t, addr, packet.V5, withWillDelay("expires", 1, 60))
		start := time.Now()
		c.Drop()
		expect(t, watcher, "wills/expires", "expires", packet.QoS1)
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("will published after %v, before the session's 1s expiry", d)
		}
	})

	t.Run("at once when the session does not persist", func(t *testing.T) {
		c := dial(t, addr, packet.V5, withWillDelay("gone", 0, 60))
		c.Drop()
		expect(t, watcher, "wills/gone", "gone", packet.QoS1)
	})
}

// A persistent session whose client stays away longer than its Session
// Expiry Interval is discarded (MQTT-4.1.0-2), with its queued messages;
// one resumed in time is present.
func TestSessionExpiry_MQTT_4_1_0_2(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	pub := dial(t, addr, packet.V5, connect("expiry-pub"))
	for _, tc := range []struct {
		id      string
		wait    time.Duration
		present bool
	}{
		{"resumed-in-time", 100 * time.Millisecond, true},
		{"expired", 1500 * time.Millisecond, false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			cn := connect(tc.id)
			cn.Props.SessionExpiry = 1
			c := dial(t, addr, packet.V5, cn)
			subscribe(t, c, packet.Subscription{Filter: "exp/" + tc.id, QoS: packet.QoS1})
			c.Drop()
			time.Sleep(50 * time.Millisecond)
			publish(t, pub, "exp/"+tc.id, packet.QoS1, false, "while away")
			time.Sleep(tc.wait)
			again := *cn
			again.CleanStart = false
			c2 := resume(t, addr, packet.V5, &again, c)
			if got := c2.Connack().SessionPresent; got != tc.present {
				t.Fatalf("session present %v, want %v", got, tc.present)
			}
			if tc.present {
				expect(t, c2, "exp/"+tc.id, "while away", packet.QoS1)
			} else {
				quiet(t, c2)
			}
		})
	}
}

// Clients that send garbage are disconnected with the reason the protocol
// gives, and a well-behaved client sharing the broker does not notice.
func TestBadClientsIsolated(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	good := dial(t, addr, packet.V5, connect("good"))
	subscribe(t, good, packet.Subscription{Filter: "ok/#", QoS: packet.QoS1})
	n := 0
	check := func(t *testing.T) {
		t.Helper()
		n++
		publish(t, good, "ok/x", packet.QoS1, false, fmt.Sprint(n))
		expect(t, good, "ok/x", fmt.Sprint(n), packet.QoS1)
	}
	cases := []struct {
		name string
		run  func(t *testing.T, r *raw)
	}{
		{"garbage instead of CONNECT", func(t *testing.T, r *raw) {
			r.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			r.expectClosed()
		}},
		{"MQTT-3.1.2-2 unsupported protocol level", func(t *testing.T, r *raw) {
			r.write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 9, 2, 0, 30, 0, 1, 'x'})
			h, body, ok := r.read()
			if !ok || h.Type != packet.TypeConnack || len(body) < 2 || body[1] != byte(packet.RefusedUnacceptableVersion) {
				t.Fatalf("got %v %x, want CONNACK 0x01", h.Type, body)
			}
			r.expectClosed()
		}},
		{"MQTT-1.5.5-1 malformed variable byte integer", func(t *testing.T, r *raw) {
			r.connect(&packet.Connect{ClientID: "bad-vbi", CleanStart: true})
			r.write([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01})
			r.expectDisconnect(packet.MalformedPacket)
		}},
		{"MQTT-2.1.3-1 reserved flags", func(t *testing.T, r *raw) {
			r.connect(&packet.Connect{ClientID: "bad-flags", CleanStart: true})
			r.write([]byte{0xc3, 0}) // PINGREQ with flags 3
			r.expectDisconnect(packet.MalformedPacket)
		}},
		{"MQTT-3.1.0-2 second CONNECT", func(t *testing.T, r *raw) {
			cn := &packet.Connect{ClientID: "twice", CleanStart: true}
			r.connect(cn)
			r.send(cn)
			r.expectDisconnect(packet.ProtocolError)
		}},
		{"packet over the maximum size", func(t *testing.T, r *raw) {
			r.connect(&packet.Connect{ClientID: "huge", CleanStart: true})
			r.write([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
			r.expectDisconnect(packet.PacketTooLarge)
		}},
		{"MQTT-3.3.2-2 wildcard in a topic name", func(t *testing.T, r *raw) {
			r.connect(&packet.Connect{ClientID: "wild", CleanStart: true})
			r.write(append([]byte{0x30, 6, 0, 3}, "a/#\x00"...))
			r.expectDisconnect(packet.MalformedPacket)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check(t)
			tc.run(t, dialRaw(t, addr))
			check(t)
		})
	}
}
