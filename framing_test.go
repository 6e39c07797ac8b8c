package mqtt

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Framing: a stream cut anywhere (one byte at a time, at random, while the
// CONNACK is pending) gives the same packets; fixed-header flags that are
// not the packet type's close the connection; a client that trickles a
// packet never finishes it and is closed by the keep-alive timer.

// trace describes events for comparison across fragmentations: timer
// resets are left out (one per call that received something), the rest
// is kept with the bytes sent and the packets received re-encoded.
func trace(tb testing.TB, v packet.Version, evs []Event[uint16]) []string {
	var out []string
	for _, e := range evs {
		switch e.Kind {
		case EventTimerReset:
			continue
		case EventSend:
			out = append(out, "send "+string(e.Bytes))
		case EventPacket:
			b, err := e.Packet.AppendTo(nil, v)
			if err != nil {
				tb.Fatalf("re-encode %v: %v", e.Packet.Type(), err)
			}
			out = append(out, "packet "+string(b))
		case EventError:
			out = append(out, "error "+e.Err.Error())
		default:
			out = append(out, e.String())
		}
	}
	return out
}

// feedSplit gives stream to c in chunks cut by cut, and returns the trace.
func feedSplit(tb testing.TB, v packet.Version, c *tconn[uint16], stream []byte, cut func(rest int) int) []string {
	var out []string
	for len(stream) > 0 {
		n := min(cut(len(stream)), len(stream))
		out = append(out, trace(tb, v, c.Recv(stream[:n]))...)
		stream = stream[n:]
	}
	return out
}

func TestRulesFraming(t *testing.T) {
	for _, v := range versions {
		props := property.Properties{ReceiveMaximum: 10, TopicAliasMaximum: 4}
		clientStream := []packet.Packet{
			&packet.Publish{Topic: "a/b", Payload: []byte("zero")},
			&packet.Publish{Topic: "a/b", QoS: 1, PacketID: 1, Payload: make([]byte, 300)}, // 2-byte Remaining Length
			&packet.Publish{Topic: "a/c", QoS: 2, PacketID: 2, Payload: []byte("two")},
			&packet.Pubrel{PacketID: 2},
			&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "x/+", QoS: 2}}},
			&packet.Pingreq{},
			&packet.Publish{Topic: "a/b", QoS: 1, PacketID: 4, Payload: make([]byte, 20000)}, // 3-byte Remaining Length
			&packet.Unsubscribe{PacketID: 5, Filters: []string{"x/+"}},
			&packet.Publish{Topic: "a/b", QoS: 1, PacketID: 1, Payload: []byte("again")},
			&packet.Disconnect{},
		}
		if v == packet.V5 {
			clientStream = slices.Insert(clientStream, 3,
				packet.Packet(&packet.Publish{Topic: "al/ias", Props: property.Properties{TopicAlias: 2}}),
				packet.Packet(&packet.Publish{QoS: 1, PacketID: 9, Props: property.Properties{TopicAlias: 2}}))
		}
		stream := wire(t, v, clientStream...)
		mk := func() *tconn[uint16] {
			return serverConn(t, v, Config{}, connectFor(v, 30, property.Properties{}), connackFor(v, props))
		}
		want := trace(t, v, mk().Recv(stream))
		if len(received(nil)) != 0 || len(want) < len(clientStream) {
			t.Fatalf("reference trace too short: %q", want)
		}
		t.Run(v.String()+"/one-byte-at-a-time", func(t *testing.T) {
			got := feedSplit(t, v, mk(), stream, func(int) int { return 1 })
			if !slices.Equal(got, want) {
				t.Fatalf("byte at a time:\n got %.300q\nwant %.300q", got, want)
			}
		})
		t.Run(v.String()+"/random-splits", func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(v)))
			for range 200 {
				got := feedSplit(t, v, mk(), stream, func(rest int) int { return r.IntN(min(rest, 400)) + 1 })
				if !slices.Equal(got, want) {
					t.Fatalf("random splits:\n got %.300q\nwant %.300q", got, want)
				}
			}
		})
		t.Run(v.String()+"/splits-while-CONNACK-pending", func(t *testing.T) {
			// CONNECT and what follows it in random chunks; the server holds
			// the rest until it sends CONNACK (MQTT-3.2.0-1).
			full := append(wire(t, v, connectFor(v, 30, property.Properties{})), stream[:len(stream)-2]...) // without DISCONNECT
			var ref []string
			r := rand.New(rand.NewPCG(2, uint64(v)))
			for i := range 50 {
				s := newTestServer[uint16](Config{})
				cut := func(rest int) int { return r.IntN(min(rest, 64)) + 1 }
				if i == 0 {
					cut = func(rest int) int { return rest }
				}
				got := feedSplit(t, v, s, full, cut)
				evs, err := s.Send(connackFor(v, props))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, trace(t, v, evs)...)
				if i == 0 {
					ref = got
					if len(ref) < 10 {
						t.Fatalf("reference %q", ref)
					}
				} else if !slices.Equal(got, ref) {
					t.Fatalf("split %d:\n got %.300q\nwant %.300q", i, got, ref)
				}
			}
		})
	}
	t.Run("client/random-splits", func(t *testing.T) {
		v := packet.V5
		mk := func() *tconn[uint16] {
			c, _ := clientConn(t, v, Config{}, connectFor(v, 30, property.Properties{TopicAliasMaximum: 3}), connackFor(v, property.Properties{}))
			for _, p := range []packet.Packet{&packet.Publish{Topic: "q", QoS: 1}, &packet.Publish{Topic: "q", QoS: 2},
				&packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "#"}}}} {
				if _, err := c.Send(p); err != nil {
					t.Fatal(err)
				}
			}
			return c
		}
		stream := wire(t, v, &packet.Puback{PacketID: 1}, &packet.Pubrec{PacketID: 2},
			&packet.Publish{Topic: "t", QoS: 2, PacketID: 1, Props: property.Properties{TopicAlias: 3}, Payload: []byte("p")},
			&packet.Pubcomp{PacketID: 2}, &packet.Suback{PacketID: 3, Reasons: []packet.ReasonCode{0}},
			&packet.Pubrel{PacketID: 1}, &packet.Publish{Props: property.Properties{TopicAlias: 3}}, &packet.Pingresp{})
		want := trace(t, v, mk().Recv(stream))
		r := rand.New(rand.NewPCG(3, 3))
		for range 200 {
			got := feedSplit(t, v, mk(), stream, func(rest int) int { return r.IntN(min(rest, 20)) + 1 })
			if !slices.Equal(got, want) {
				t.Fatalf("\n got %q\nwant %q", got, want)
			}
		}
	})
}

func TestByteAtATime(t *testing.T) {
	srv := newTestServer[uint16](Config{})
	cl := newTestClient[uint16](Config{})
	evs, _ := cl.Send(&packet.Connect{ClientID: "x", KeepAlive: 10,
		Props: property.Properties{ReceiveMaximum: 5}})
	wire := append([]byte(nil), evs[0].Bytes...)
	var got []packet.Type
	for i := range wire {
		for _, e := range srv.Recv(wire[i : i+1]) {
			if e.Kind == EventPacket {
				got = append(got, e.Packet.Type())
				if c := e.Packet.(*packet.Connect); c.ClientID != "x" || c.Props.ReceiveMaximum != 5 {
					t.Fatalf("decoded %+v", c)
				}
			}
		}
	}
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
	evs, err := srv.Send(&packet.Connack{})
	if err != nil {
		t.Fatal(err)
	}
	var timer bool
	for _, e := range evs {
		timer = timer || e.Kind == EventTimerReset && e.Timer == TimerKeepAlive && e.Duration == 15*time.Second
	}
	if !timer {
		t.Fatalf("MQTT-3.1.2-24: no keep-alive timer of 1.5x: %v", evs)
	}
}

// virtualTimers runs a Connection's timers on a virtual clock.
type virtualTimers struct {
	now time.Duration
	due map[TimerKind]time.Duration
}

func (vt *virtualTimers) apply(evs []Event[uint16]) {
	if vt.due == nil {
		vt.due = make(map[TimerKind]time.Duration)
	}
	for _, e := range evs {
		switch e.Kind {
		case EventTimerReset:
			vt.due[e.Timer] = vt.now + e.Duration
		case EventTimerCancel:
			delete(vt.due, e.Timer)
		}
	}
}

// advance moves the clock on by d and fires the first timer that falls
// due, returning the events of TimerFired (nil when none is due).
func (vt *virtualTimers) advance(c *tconn[uint16], d time.Duration) []Event[uint16] {
	vt.now += d
	for k, at := range vt.due {
		if at <= vt.now {
			delete(vt.due, k)
			evs := c.TimerFired(k)
			vt.apply(evs)
			return evs
		}
	}
	return nil
}

// TestHostileSlowloris: a client that trickles one byte per Keep Alive
// period never completes a Control Packet, so the server's keep-alive timer
// is never re-armed and closes the connection one and a half Keep Alive
// periods after the last whole packet (MQTT-3.1.2-24), with DISCONNECT 0x8D
// in v5. Meanwhile the server holds the partial packet: at most the maximum
// packet size.
func TestHostileSlowloris(t *testing.T) {
	period := hostileKeepAlive * time.Second
	const step = 500 * time.Millisecond
	for _, v := range versions {
		t.Run("MQTT-3.1.2-24/"+v.String()+"/one-byte-per-keep-alive-period", func(t *testing.T) {
			s := newTestServer[uint16](Config{MaxPacketSize: hostileMax})
			var vt virtualTimers
			vt.apply(s.Recv(wire(t, v, connectFor(v, hostileKeepAlive, property.Properties{}))))
			evs, err := s.Send(connackFor(v, property.Properties{}))
			if err != nil {
				t.Fatal(err)
			}
			vt.apply(evs)
			if d, ok := timer(evs, TimerKeepAlive); !ok || d != period*3/2 {
				t.Fatalf("keep-alive timer %v %v, want %v", d, ok, period*3/2)
			}
			// A well-behaved client sending a PINGREQ every period is kept
			// for ten periods: only silence closes.
			for range 10 {
				for range period / step {
					if evs := vt.advance(s, step); evs != nil {
						t.Fatalf("closed at %v despite a PINGREQ every period: %v", vt.now, evs)
					}
				}
				vt.apply(s.Recv(wire(t, v, &packet.Pingreq{})))
			}
			last := vt.now // the last whole packet
			stream := wire(t, v, &packet.Publish{Topic: "slow", Payload: make([]byte, 100)})
			for i := 0; ; i++ {
				if i == len(stream) {
					t.Fatal("the whole packet arrived one byte per period and the server never closed")
				}
				if i%int(period/step) == 0 {
					if evs := s.Recv(stream[i : i+1]); len(evs) != 0 {
						t.Fatalf("byte %d: %v, want nothing (a partial packet is no Control Packet)", i, evs)
					}
				}
				if evs := vt.advance(s, step); evs != nil {
					code := packet.ReasonCode(0)
					if v == packet.V5 {
						code = packet.KeepAliveTimeout
					}
					wantClose(t, v, evs, code)
					if !errors.Is(evErr(evs), ErrKeepAliveTimeout) || statement(evErr(evs)) != "MQTT-3.1.2-24" {
						t.Fatalf("error %v, want the keep-alive timeout (MQTT-3.1.2-24)", evErr(evs))
					}
					if d := vt.now - last; d != period*3/2 {
						t.Fatalf("closed %v after the last whole packet, want %v", d, period*3/2)
					}
					break
				}
			}
			if evs := s.Recv(stream); len(evs) != 0 {
				t.Fatalf("input handled after the close: %v", evs)
			}
		})
		t.Run(v.String()+"/memory", func(t *testing.T) {
			// Each connection's worst: all but the last byte of a packet of
			// the maximum size, sent one byte per call.
			p := &packet.Publish{Topic: "slow"}
			for len(wire(t, v, p)) < hostileMax {
				p.Payload = append(p.Payload, 0)
			}
			stream := wire(t, v, p)
			if len(stream) != hostileMax {
				t.Fatalf("packet of %d bytes, want %d", len(stream), hostileMax)
			}
			idle := idleServer(t, v)
			held := perConnection(hostileConns, func(int) any {
				s := hostileServer(t, v)
				for i := range len(stream) - 1 {
					if evs := s.Recv(stream[i : i+1]); len(evs) != 0 {
						t.Fatalf("byte %d: %v", i, evs)
					}
				}
				return s
			})
			checkHeld(t, v.String()+" partial packet of the maximum size, one byte per call", hostileConns, held, idle,
				idle+2*hostileMax+1<<10)
		})
	}
}

// TestFramingStatementsV311: the fixed-header flags of 3.1.1, under their
// 3.1.1 numbers.
func TestFramingStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-2.2.2-2 3.1.1/invalid flags close the connection", func(t *testing.T) {
		toServer := [][]byte{
			{0x60, 0x02, 0x00, 0x01},                        // PUBREL with flags 0000
			{0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}, // SUBSCRIBE with flags 0000
			{0xA3, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'},       // UNSUBSCRIBE with flags 0011
			{0xC8, 0x00}, // PINGREQ with flags 1000
			{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}, // PUBLISH with QoS 3
			{0x39, 0x03, 0x00, 0x01, 'a'},             // PUBLISH QoS 0 with DUP
			{0x42, 0x02, 0x00, 0x01},                  // PUBACK with flags 0010
			{0xE1, 0x00},                              // DISCONNECT with flags 0001
			{0x12, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00}, // a second CONNECT, flags 0010
		}
		for _, b := range toServer {
			p := pairFor(t, v, Config{}, Config{})
			wantClose(t, v, p.server.Recv(b), 0)
		}
		toClient := [][]byte{
			{0x91, 0x03, 0x00, 0x01, 0x00}, // SUBACK with flags 0001
			{0xD4, 0x00},                   // PINGRESP with flags 0100
			{0x72, 0x02, 0x00, 0x01},       // PUBCOMP with flags 0010
		}
		for _, b := range toClient {
			p := pairFor(t, v, Config{}, Config{})
			wantClose(t, v, p.client.Recv(b), 0)
		}
	})
}
