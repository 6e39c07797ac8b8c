package mqtt

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// QoS 0, 1 and 2 flows (section 4.3): what sender and receiver send and
// deliver at each step, in what order, with the acknowledgements left to
// the caller (Config.Manual*) or not, and under a hostile client's
// replays.

func TestHandshakeAndQoSFlows(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			p := newPair(t, Config{Version: v}, Config{})
			p.connect(&packet.Connect{ClientID: "c1", CleanStart: true, KeepAlive: 30}, &packet.Connack{})
			if p.server.Version() != v {
				t.Fatalf("server learned version %v, want %v", p.server.Version(), v)
			}
			for _, from := range []Role{RoleClient, RoleServer} {
				for qos := packet.QoS0; qos <= packet.QoS2; qos++ {
					pub := &packet.Publish{Topic: "a/b", QoS: qos, Payload: []byte{byte(qos)}}
					p.send(from, pub)
					to := peerOf(from)
					got := p.packets(to)
					var pubs []*packet.Publish
					for _, g := range got {
						if g, ok := g.(*packet.Publish); ok {
							pubs = append(pubs, g)
						}
					}
					if len(pubs) != 1 || pubs[0].Topic != "a/b" || pubs[0].QoS != qos {
						t.Fatalf("%v QoS %d: receiver got %v", from, qos, got)
					}
					if qos > 0 {
						if p.conn(from).ids.InUse() != 0 || p.conn(from).outbound.Len() != 0 || p.conn(to).inbound.Len() != 0 {
							t.Fatalf("%v QoS %d: exchange not finished: out %v in %v", from, qos,
								p.conn(from).outbound, p.conn(to).inbound)
						}
						released := false
						for _, e := range p.got[from] {
							released = released || e.Kind == EventIDReleased && e.PacketID == pub.PacketID
						}
						if !released {
							t.Fatalf("%v QoS %d: no EventIDReleased for %d: %v", from, qos, pub.PacketID, p.got[from])
						}
						p.got[from] = nil
					}
				}
			}
		})
	}
}

func TestRulesReceiverQoS(t *testing.T) {
	for _, v := range versions {
		srv := func(t *testing.T, cfg Config) *tconn[uint16] {
			return serverConn(t, v, cfg, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		}
		t.Run("MQTT-4.3.2-4/"+v.String()+"/PUBACK", func(t *testing.T) {
			s := srv(t, Config{})
			evs := s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 5}))
			ps := sent(t, v, evs)
			if len(received(evs)) != 1 || len(ps) != 1 || ps[0].(*packet.Puback).PacketID != 5 || s.inbound.Len() != 0 {
				t.Fatalf("%v", evs)
			}
		})
		t.Run("MQTT-4.3.2-5/"+v.String()+"/same-id-after-PUBACK-is-new", func(t *testing.T) {
			s := srv(t, Config{})
			for range 2 {
				evs := s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 5, Dup: true}))
				if len(received(evs)) != 1 || len(sent(t, v, evs)) != 1 {
					t.Fatalf("%v", evs)
				}
			}
		})
		t.Run("MQTT-4.3.3-10/"+v.String()+"/QoS2-duplicate-acknowledged-delivered-once", func(t *testing.T) {
			s := srv(t, Config{})
			pub := &packet.Publish{Topic: "a", QoS: 2, PacketID: 6, Payload: []byte("x")}
			evs := s.Recv(wire(t, v, pub))
			if len(received(evs)) != 1 || !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePubrec}) {
				t.Fatalf("first: %v", evs)
			}
			pub.Dup = true
			for range 3 {
				evs = s.Recv(wire(t, v, pub))
				ps := sent(t, v, evs)
				if len(received(evs)) != 0 || len(ps) != 1 || ps[0].(*packet.Pubrec).PacketID != 6 {
					t.Fatalf("duplicate: %v", evs)
				}
			}
			evs = s.Recv(wire(t, v, &packet.Pubrel{PacketID: 6}))
			ps := sent(t, v, evs)
			if len(ps) != 1 || ps[0].(*packet.Pubcomp).PacketID != 6 || ps[0].(*packet.Pubcomp).Reason != 0 || s.inbound.Len() != 0 {
				t.Fatalf("MQTT-4.3.3-11: %v", evs)
			}
			// MQTT-4.3.3-12: after PUBCOMP the id starts a new publication.
			if evs := s.Recv(wire(t, v, pub)); len(received(evs)) != 1 {
				t.Fatalf("MQTT-4.3.3-12: %v", evs)
			}
		})
		t.Run("MQTT-4.3.3-11/"+v.String()+"/repeated-PUBREL", func(t *testing.T) {
			s := srv(t, Config{})
			s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: 6}))
			s.Recv(wire(t, v, &packet.Pubrel{PacketID: 6}))
			ps := sent(t, v, s.Recv(wire(t, v, &packet.Pubrel{PacketID: 6})))
			want := packet.ReasonCode(0)
			if v == packet.V5 {
				want = packet.PacketIdentifierNotFound
			}
			if len(ps) != 1 || ps[0].(*packet.Pubcomp).PacketID != 6 || ps[0].(*packet.Pubcomp).Reason != want {
				t.Fatalf("%v", ps)
			}
		})
	}
	t.Run("MQTT-4.3.3-11/v5/PUBREL-unknown-id-PUBCOMP-0x92", func(t *testing.T) {
		v := packet.V5
		c, _ := clientConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
		evs := c.Recv(wire(t, v, &packet.Pubrel{PacketID: 77}))
		ps := sent(t, v, evs)
		if len(ps) != 1 || ps[0].(*packet.Pubcomp).PacketID != 77 || ps[0].(*packet.Pubcomp).Reason != packet.PacketIdentifierNotFound {
			t.Fatalf("%v", evs)
		}
		if evErr(evs) != nil || len(received(evs)) != 0 {
			t.Fatalf("%v", evs)
		}
	})
	t.Run("MQTT-4.3.3-9/v5/same-id-after-PUBREC-error-is-new", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{ManualPubrec: true}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: 1}))
		pub := &packet.Publish{Topic: "a", QoS: 2, PacketID: 3}
		if evs := s.Recv(wire(t, v, pub)); len(received(evs)) != 1 || len(sentTypes(evs)) != 0 {
			t.Fatalf("%v", evs)
		}
		if _, err := s.Send(&packet.Pubrec{PacketID: 3, Reason: packet.QuotaExceeded}); err != nil {
			t.Fatal(err)
		}
		if evs := s.Recv(wire(t, v, pub)); len(received(evs)) != 1 || evErr(evs) != nil {
			t.Fatalf("second PUBLISH 3: %v", evs)
		}
	})
}

// An acknowledgement the caller sends without properties (Manual*) goes
// through the codec's fast path (writeAck), pinned here to the plain
// encoder: the same bytes as AppendTo for every acknowledgement, version
// and reason code, valid (MQTT-3.4.2-1, MQTT-3.5.2-1, MQTT-3.6.2-1,
// MQTT-3.7.2-1) or not (the same error, nothing sent); with properties it
// is encoded as any packet.
func TestManualAckFastPath(t *testing.T) {
	for _, v := range versions {
		for _, typ := range []packet.Type{packet.TypePuback, packet.TypePubrec, packet.TypePubrel, packet.TypePubcomp} {
			t.Run(v.String()+"/"+typ.String(), func(t *testing.T) {
				s := serverConn(t, v, Config{ManualPuback: true, ManualPubrec: true, ManualPubcomp: true},
					connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
				c, _ := clientConn(t, v, Config{ManualPubrel: true}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
				// owed opens an exchange that owes an acknowledgement of
				// type typ and returns its conn and packet identifier.
				id := uint16(0)
				owed := func() (*tconn[uint16], uint16) {
					id++
					switch typ {
					case packet.TypePuback:
						s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: id}))
					case packet.TypePubrec:
						s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: id}))
					case packet.TypePubcomp:
						s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: id}))
						if _, err := s.Send(&packet.Pubrec{PacketID: id}); err != nil {
							t.Fatal(err)
						}
						s.Recv(wire(t, v, &packet.Pubrel{PacketID: id}))
					default:
						p := &packet.Publish{Topic: "a", QoS: 2}
						if _, err := c.Send(p); err != nil {
							t.Fatal(err)
						}
						c.Recv(wire(t, v, &packet.Pubrec{PacketID: p.PacketID}))
						return c, p.PacketID
					}
					return s, id
				}
				ack := func(id uint16, r packet.ReasonCode, props property.Properties) packet.Packet {
					switch typ {
					case packet.TypePuback:
						return &packet.Puback{PacketID: id, Reason: r, Props: props}
					case packet.TypePubrec:
						return &packet.Pubrec{PacketID: id, Reason: r, Props: props}
					case packet.TypePubrel:
						return &packet.Pubrel{PacketID: id, Reason: r, Props: props}
					}
					return &packet.Pubcomp{PacketID: id, Reason: r, Props: props}
				}
				var withProps property.Properties
				if v == packet.V5 {
					withProps.ReasonString = "why"
				}
				for r := range 256 {
					for _, props := range []property.Properties{{}, withProps} {
						conn, id := owed()
						p := ack(id, packet.ReasonCode(r), props)
						want, wantErr := p.(interface {
							AppendTo([]byte, packet.Version) ([]byte, error)
						}).AppendTo(nil, v)
						evs, err := conn.Send(p)
						var got []byte
						for _, e := range evs {
							if e.Kind == EventSend {
								got = append(got, e.Bytes...)
							}
						}
						if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() || !bytes.Equal(got, want) {
							t.Fatalf("reason 0x%02x, %d properties: sent %x (%v), want %x (%v)",
								r, len(props.ReasonString), got, err, want, wantErr)
						}
					}
				}
			})
		}
	}
}

func TestRulesManualAcks(t *testing.T) {
	for _, v := range versions {
		t.Run("MQTT-4.3.2-4/"+v.String()+"/ManualPuback", func(t *testing.T) {
			s := serverConn(t, v, Config{ManualPuback: true}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			evs := s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 4}))
			if len(received(evs)) != 1 || len(sentTypes(evs)) != 0 {
				t.Fatalf("%v", evs)
			}
			refused(t, s, &packet.Puback{PacketID: 5}, ErrIDUnknown)
			refused(t, s, &packet.Pubrec{PacketID: 4}, ErrIDUnknown)
			evs, err := s.Send(&packet.Puback{PacketID: 4})
			if err != nil || !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePuback}) {
				t.Fatalf("%v %v", evs, err)
			}
			if s.inbound.Len() != 0 || s.inflightIn != 0 {
				t.Fatalf("exchange left: %v %d", s.inbound, s.inflightIn)
			}
			refused(t, s, &packet.Puback{PacketID: 4}, ErrIDUnknown)
		})
		t.Run("MQTT-4.3.3-8/"+v.String()+"/ManualPubrec", func(t *testing.T) {
			s := serverConn(t, v, Config{ManualPubrec: true}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			pub := &packet.Publish{Topic: "a", QoS: 2, PacketID: 4}
			evs := s.Recv(wire(t, v, pub))
			if len(received(evs)) != 1 || len(sentTypes(evs)) != 0 {
				t.Fatalf("%v", evs)
			}
			pub.Dup = true // re-sent before we answered: neither delivered nor answered
			if evs := s.Recv(wire(t, v, pub)); len(evs) != 0 && (len(received(evs)) != 0 || len(sentTypes(evs)) != 0) {
				t.Fatalf("duplicate: %v", evs)
			}
			if _, err := s.Send(&packet.Pubrec{PacketID: 4}); err != nil {
				t.Fatal(err)
			}
			evs = s.Recv(wire(t, v, &packet.Pubrel{PacketID: 4}))
			if !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePubcomp}) || s.inbound.Len() != 0 {
				t.Fatalf("%v", evs)
			}
		})
		t.Run("MQTT-4.3.3-4/"+v.String()+"/ManualPubrel", func(t *testing.T) {
			c, _ := clientConn(t, v, Config{ManualPubrel: true}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			if _, err := c.Send(&packet.Publish{Topic: "a", QoS: 2}); err != nil {
				t.Fatal(err)
			}
			evs := c.Recv(wire(t, v, &packet.Pubrec{PacketID: 1}))
			if len(received(evs)) != 1 || len(sentTypes(evs)) != 0 || len(released(evs)) != 0 {
				t.Fatalf("%v", evs)
			}
			refused(t, c, &packet.Pubrel{PacketID: 2}, ErrIDUnknown)
			if _, err := c.Send(&packet.Pubrel{PacketID: 1}); err != nil {
				t.Fatal(err)
			}
			refused(t, c, &packet.Pubrel{PacketID: 1}, ErrIDUnknown)
			evs = c.Recv(wire(t, v, &packet.Pubcomp{PacketID: 1}))
			if r := released(evs); len(r) != 1 || c.ids.InUse() != 0 {
				t.Fatalf("%v", evs)
			}
		})
		t.Run("MQTT-4.3.3-11/"+v.String()+"/ManualPubcomp", func(t *testing.T) {
			s := serverConn(t, v, Config{ManualPubcomp: true}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 2, PacketID: 4}))
			evs := s.Recv(wire(t, v, &packet.Pubrel{PacketID: 4}))
			if len(received(evs)) != 1 || len(sentTypes(evs)) != 0 {
				t.Fatalf("%v", evs)
			}
			if evs := s.Recv(wire(t, v, &packet.Pubrel{PacketID: 4})); len(sentTypes(evs)) != 0 { // repeated PUBREL: still ours to answer
				t.Fatalf("%v", evs)
			}
			if _, err := s.Send(&packet.Pubcomp{PacketID: 4}); err != nil {
				t.Fatal(err)
			}
			if s.inbound.Len() != 0 || s.inflightIn != 0 {
				t.Fatalf("%v %d", s.inbound, s.inflightIn)
			}
		})
		t.Run("MQTT-3.8.4-1/"+v.String()+"/SUBACK-and-UNSUBACK-by-the-caller", func(t *testing.T) {
			s := serverConn(t, v, Config{}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{}))
			evs := s.Recv(wire(t, v, &packet.Subscribe{PacketID: 8, Subscriptions: []packet.Subscription{{Filter: "a"}}},
				&packet.Unsubscribe{PacketID: 9, Filters: []string{"a"}}))
			ps := received(evs)
			if len(ps) != 2 || len(sentTypes(evs)) != 0 {
				t.Fatalf("%v", evs)
			}
			// The acknowledgements built from the requests received, in
			// the connection's version (packet.SubscribeOf.Ack).
			suback, err := ps[0].(*packet.Subscribe).Ack(s.Version(), packet.GrantedQoS0)
			if err != nil {
				t.Fatal(err)
			}
			unsuback, err := ps[1].(*packet.Unsubscribe).Ack(s.Version(), packet.NoSubscriptionExisted)
			if err != nil {
				t.Fatal(err)
			}
			refused(t, s, &packet.Suback{PacketID: 9, Reasons: []packet.ReasonCode{0}}, ErrIDUnknown)
			var out []packet.Packet
			for _, p := range []packet.Packet{suback, unsuback} {
				evs, err := s.Send(p)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, sent(t, v, evs)...)
			}
			if len(out) != 2 || out[0].(*packet.Suback).PacketID != 8 || out[1].(*packet.Unsuback).PacketID != 9 ||
				v == packet.V5 && out[1].(*packet.Unsuback).Reasons[0] != packet.NoSubscriptionExisted {
				t.Fatalf("MQTT-3.8.4-2/MQTT-3.10.4-5: sent %v", out)
			}
			if s.inbound.Len() != 0 {
				t.Fatalf("%v", s.inbound)
			}
		})
	}
	t.Run("MQTT-3.3.4-7/manual-ack-holds-receive-maximum-slot", func(t *testing.T) {
		v := packet.V5
		s := serverConn(t, v, Config{ManualPuback: true}, connectFor(v, 0, property.Properties{}), connackFor(v, property.Properties{ReceiveMaximum: 1}))
		s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 1}))
		if _, err := s.Send(&packet.Puback{PacketID: 1}); err != nil {
			t.Fatal(err)
		}
		if evs := s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 2})); evErr(evs) != nil {
			t.Fatalf("slot not freed by the caller's PUBACK: %v", evs)
		}
		wantClose(t, v, s.Recv(wire(t, v, &packet.Publish{Topic: "a", QoS: 1, PacketID: 3})), packet.ReceiveMaximumExceeded)
	})
}

// TestHostileQoS2Replay: a QoS 2 PUBLISH repeated with the same packet
// identifier before PUBREL is acknowledged each time and delivered once;
// after PUBREL and PUBCOMP the identifier starts a new message; a replayed
// PUBREL delivers nothing.
func TestHostileQoS2Replay(t *testing.T) {
	for _, v := range versions {
		t.Run("MQTT-4.3.3-10/"+v.String()+"/same-id-before-PUBREL-delivered-once", func(t *testing.T) {
			s := hostileServer(t, v)
			var in []packet.Packet
			for i := range 500 {
				in = append(in, &packet.Publish{Topic: "q2", QoS: 2, PacketID: 7, Dup: i%2 == 1, Payload: []byte(fmt.Sprint(i))})
			}
			evs := s.Recv(wire(t, v, in...))
			ps := received(evs)
			if evErr(evs) != nil || len(ps) != 1 || string(ps[0].(*packet.Publish).Payload) != "0" {
				t.Fatalf("%d packets delivered (%v), want the first one only", len(ps), evErr(evs))
			}
			out := sent(t, v, evs)
			if len(out) != 500 {
				t.Fatalf("%d packets sent, want 500 PUBREC", len(out))
			}
			for _, p := range out {
				if r, ok := p.(*packet.Pubrec); !ok || r.PacketID != 7 {
					t.Fatalf("sent %v, want PUBREC 7", p)
				}
			}
			if s.inbound.Len() != 1 || s.inflightIn != 1 {
				t.Fatalf("%d exchanges, %d counted; want 1", s.inbound.Len(), s.inflightIn)
			}
		})
		t.Run("MQTT-4.3.3-12/"+v.String()+"/same-id-after-PUBCOMP-is-new", func(t *testing.T) {
			s := hostileServer(t, v)
			q2 := func(payload string) *packet.Publish {
				return &packet.Publish{Topic: "q2", QoS: 2, PacketID: 7, Payload: []byte(payload)}
			}
			for _, payload := range []string{"one", "two", "three"} {
				evs := s.Recv(wire(t, v, q2(payload), &packet.Pubrel{PacketID: 7}))
				ps := received(evs)
				if evErr(evs) != nil || len(ps) != 2 || string(ps[0].(*packet.Publish).Payload) != payload {
					t.Fatalf("%q: %v", payload, evs)
				}
				if c, ok := sent(t, v, evs)[1].(*packet.Pubcomp); !ok || c.PacketID != 7 || c.Reason != 0 {
					t.Fatalf("%q: %v, want PUBCOMP 7", payload, sentTypes(evs))
				}
			}
		})
		t.Run("MQTT-4.3.3-11/"+v.String()+"/PUBREL-replayed-after-PUBCOMP", func(t *testing.T) {
			s := hostileServer(t, v)
			s.Recv(wire(t, v, &packet.Publish{Topic: "q2", QoS: 2, PacketID: 7}, &packet.Pubrel{PacketID: 7}))
			var in []packet.Packet
			for range 200 {
				in = append(in, &packet.Pubrel{PacketID: 7})
			}
			evs := s.Recv(wire(t, v, in...))
			want := packet.ReasonCode(0)
			if v == packet.V5 {
				want = packet.PacketIdentifierNotFound
			}
			for _, p := range received(evs) {
				if p.Type() == packet.TypePublish {
					t.Fatal("a replayed PUBREL delivered a message")
				}
			}
			out := sent(t, v, evs)
			if evErr(evs) != nil || len(out) != 200 {
				t.Fatalf("%v", evs)
			}
			for _, p := range out {
				if c, ok := p.(*packet.Pubcomp); !ok || c.PacketID != 7 || c.Reason != want {
					t.Fatalf("sent %v, want PUBCOMP 7 with %v", p, want)
				}
			}
			if s.inbound.Len() != 0 || s.inflightIn != 0 {
				t.Fatalf("%d exchanges left", s.inbound.Len())
			}
		})
	}
}

// Was: a PUBREL the caller sends itself (Config.ManualPubrel) with a
// failure reason code (0x92 Packet Identifier not found, the only one
// PUBREL has) ends the exchange through advance(), which deletes it from
// the outbound map but never releases the packet identifier, never gives
// the unit of send quota back and emits no EventIDReleased. The identifier
// and the quota are lost for the life of the connection: with Receive
// Maximum 1 the client can never publish at QoS > 0 again.
//
// Expected: either Send refuses the PUBREL with a failure code for an
// exchange awaiting it, or the exchange completes like PUBCOMP (identifier
// released with EventIDReleased, quota restored).
func TestRegressionManualPubrelWithErrorLeaksIDAndQuota(t *testing.T) {
	v := packet.V5
	c, _ := clientConn(t, v, Config{ManualPubrel: true}, connectFor(v, 0, property.Properties{}),
		connackFor(v, property.Properties{ReceiveMaximum: 1}))
	if _, err := c.Send(&packet.Publish{Topic: "a", QoS: 2}); err != nil {
		t.Fatal(err)
	}
	c.Recv(wire(t, v, &packet.Pubrec{PacketID: 1}))
	evs, err := c.Send(&packet.Pubrel{PacketID: 1, Reason: packet.PacketIdentifierNotFound})
	if err != nil {
		return // refused: fine
	}
	if r := released(evs); len(r) != 1 || c.ids.InUse() != 0 || c.SendQuota() != 1 {
		t.Fatalf("MQTT-4.3.3-5/MQTT-4.9.0-2: after PUBREL 0x92: released %v, ids in use %d, send quota %d (want 1), outbound %v",
			r, c.ids.InUse(), c.SendQuota(), c.outbound)
	}
}

func TestInFlightCountsUnfinishedPublishes(t *testing.T) {
	p := newPair(t, Config{}, Config{ManualPuback: true, ManualPubrec: true})
	p.connect(&packet.Connect{ClientID: "f", CleanStart: true}, &packet.Connack{})
	p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 1})
	p.send(RoleClient, &packet.Publish{Topic: "t", QoS: 2})
	p.send(RoleClient, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "t"}}})
	if n := p.client.InFlight(); n != 2 {
		t.Fatalf("InFlight = %d, want 2 (a SUBSCRIBE is not a PUBLISH)", n)
	}
	p.send(RoleServer, &packet.Puback{PacketID: 1})
	if n := p.client.InFlight(); n != 1 {
		t.Fatalf("InFlight after PUBACK = %d, want 1", n)
	}
}

// acksInArrivalOrder checks that the client acknowledges every PUBLISH,
// QoS 1 with PUBACK and QoS 2 with PUBREC, in the order they arrived,
// whether or not the application does anything with them.
func acksInArrivalOrder(t *testing.T, v packet.Version) {
	t.Helper()
	p := pairFor(t, v, Config{}, Config{})
	ids := []uint16{9, 2, 7, 3, 8, 1}
	var chunk []byte
	for i, id := range ids {
		chunk = append(chunk, wire(t, v, &packet.Publish{Topic: "t", QoS: packet.QoS(1 + i%2), PacketID: id})...)
	}
	evs := p.client.Recv(chunk)
	var got []uint16
	for _, a := range sent(t, v, evs) {
		switch a := a.(type) {
		case *packet.Puback:
			got = append(got, a.PacketID)
		case *packet.Pubrec:
			got = append(got, a.PacketID)
		}
	}
	types := sentTypes(evs)
	if !slices.Equal(got, ids) || len(types) != len(ids) || types[0] != packet.TypePuback || types[1] != packet.TypePubrec {
		t.Fatalf("acknowledged %v %v, want %v alternating PUBACK and PUBREC", types, got, ids)
	}
}

// pubrelInPubrecOrder checks that the client sends its PUBRELs in the
// order the PUBRECs arrived.
func pubrelInPubrecOrder(t *testing.T, v packet.Version) {
	t.Helper()
	p := pairFor(t, v, Config{}, Config{ManualPubrec: true})
	var ids []uint16
	for range 4 {
		pub := &packet.Publish{Topic: "t", QoS: 2}
		p.send(RoleClient, pub)
		ids = append(ids, pub.PacketID)
	}
	var got, want []uint16
	var pubrecs []byte
	for _, i := range []int{2, 0, 3, 1} {
		pubrecs = append(pubrecs, wire(t, v, &packet.Pubrec{PacketID: ids[i]})...)
		want = append(want, ids[i])
	}
	for _, r := range sentOf[*packet.Pubrel](t, v, p.client.Recv(pubrecs)) {
		got = append(got, r.PacketID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("PUBREL for %v, want %v", got, want)
	}
}

// TestQoSStatements: the QoS statements, checked between a client and a
// server.
func TestQoSStatements(t *testing.T) {
	v5 := packet.V5
	basic := func(t *testing.T) *pair { return pairFor(t, v5, Config{}, Config{}) }

	t.Run("MQTT-4.3.1-1/MQTT-4.3.2-2/MQTT-4.3.3-2/a new PUBLISH goes out with DUP 0", func(t *testing.T) {
		p := basic(t)
		for q := packet.QoS0; q <= packet.QoS2; q++ {
			evs, err := p.client.Send(&packet.Publish{Topic: "t", QoS: q, Dup: q > 0})
			if err != nil {
				t.Fatal(err)
			}
			if got := sentPublish(t, evs); got.Dup || got.QoS != q {
				t.Fatalf("QoS %d: sent DUP %v QoS %d", q, got.Dup, got.QoS)
			}
		}
	})

	t.Run("MQTT-3.3.4-1/the receiver answers a PUBLISH as its QoS requires", func(t *testing.T) {
		p := basic(t)
		for _, side := range []*tconn[uint16]{p.server, p.client} {
			evs := side.Recv(wire(t, v5, &packet.Publish{Topic: "t"}, &packet.Publish{Topic: "t", QoS: 1, PacketID: 3},
				&packet.Publish{Topic: "t", QoS: 2, PacketID: 4}))
			acks := sent(t, v5, evs)
			if len(received(evs)) != 3 || len(acks) != 2 || acks[0].(*packet.Puback).PacketID != 3 || acks[1].(*packet.Pubrec).PacketID != 4 {
				t.Fatalf("%v answered %v", side.Role(), acks)
			}
		}
	})

	t.Run("MQTT-4.3.3-3/a QoS 2 PUBLISH stays unacknowledged until PUBREC", func(t *testing.T) {
		p := newPair(t, Config{}, Config{ManualPubrec: true})
		p.connect(&packet.Connect{ClientID: "u", CleanStart: true, Props: property.Properties{SessionExpiry: 60}},
			&packet.Connack{Props: property.Properties{ReceiveMaximum: 5}})
		pub := &packet.Publish{Topic: "t", QoS: 2}
		p.send(RoleClient, pub)
		id := pub.PacketID
		if p.client.InFlight() != 1 || p.client.SendQuota() != 4 {
			t.Fatalf("in flight %d, quota %d", p.client.InFlight(), p.client.SendQuota())
		}
		// A PUBCOMP out of turn does not end it.
		if evs := p.client.Recv(wire(t, v5, &packet.Pubcomp{PacketID: id})); len(released(evs)) != 0 || len(sentTypes(evs)) != 0 {
			t.Fatalf("PUBCOMP before PUBREC: %v", evs)
		}
		// Across a reconnection it is the PUBLISH that is re-sent.
		p.run(RoleClient, p.client.Closed())
		p.server = newTestServer[uint16](Config{ManualPubrec: true})
		p.send(RoleClient, &packet.Connect{ClientID: "u", Props: property.Properties{SessionExpiry: 60}})
		p.packets(RoleServer)
		p.send(RoleServer, &packet.Connack{SessionPresent: true})
		got := p.packets(RoleServer)
		if len(got) != 1 || got[0].(*packet.Publish).PacketID != id || !got[0].(*packet.Publish).Dup || p.client.InFlight() != 1 {
			t.Fatalf("after reconnecting the server got %v", got)
		}
		// PUBREC acknowledges it: PUBREL follows.
		evs, err := p.server.Send(&packet.Pubrec{PacketID: id})
		if err != nil {
			t.Fatal(err)
		}
		p.run(RoleServer, evs)
		if got := p.packets(RoleServer); len(got) != 1 || got[0].(*packet.Pubrel).PacketID != id {
			t.Fatalf("after PUBREC the server got %v", got)
		}
	})

	t.Run("MQTT-4.3.3-13/the QoS 2 acknowledgements continue after the message expired", func(t *testing.T) {
		now := time.Unix(1_000_000, 0)
		clock := func() time.Time { return now }
		p := newPair(t, Config{ManualPubrel: true, Clock: clock}, Config{Clock: clock})
		p.connect(&packet.Connect{ClientID: "x", CleanStart: true}, &packet.Connack{})
		pub := &packet.Publish{Topic: "t", QoS: 2, Props: property.Properties{MessageExpiry: 1}}
		p.send(RoleClient, pub)
		if got := p.packets(RoleClient); len(got) != 1 || got[0].Type() != packet.TypePubrec {
			t.Fatalf("client got %v", got)
		}
		now = now.Add(time.Hour) // long past the Message Expiry Interval
		dup := *pub
		dup.Dup = true
		evs := p.server.Recv(wire(t, v5, &dup))
		if len(received(evs)) != 0 || !slices.Equal(sentTypes(evs), []packet.Type{packet.TypePubrec}) {
			t.Fatalf("expired duplicate: %v", evs)
		}
		p.send(RoleClient, &packet.Pubrel{PacketID: pub.PacketID})
		if got := p.packets(RoleClient); len(got) != 1 || got[0].Type() != packet.TypePubcomp || p.client.ids.InUse() != 0 {
			t.Fatalf("after PUBREL the client got %v", got)
		}
	})

	t.Run("MQTT-4.5.0-2/MQTT-4.6.0-2/MQTT-4.6.0-3/acknowledgements in arrival order", func(t *testing.T) {
		p := basic(t)
		var chunk []byte
		want := []uint16{5, 3, 9, 4}
		for i, id := range want {
			chunk = append(chunk, wire(t, packet.V5, &packet.Publish{Topic: "t", QoS: packet.QoS(1 + i%2), PacketID: id})...)
		}
		var got []uint16
		for _, e := range p.client.Recv(chunk) {
			if e.Kind == EventSend {
				switch a := e.Packet.(type) {
				case *packet.Puback:
					got = append(got, a.PacketID)
				case *packet.Pubrec:
					got = append(got, a.PacketID)
				}
			}
		}
		if len(got) != len(want) {
			t.Fatalf("acknowledged %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("acknowledged %v, want %v in that order", got, want)
			}
		}
	})

	t.Run("MQTT-4.6.0-4/PUBREL in the order the PUBRECs arrived", func(t *testing.T) {
		pubrelInPubrecOrder(t, v5)
	})
}

// TestQoSStatementsV311: the QoS statements of 3.1.1, under their 3.1.1
// numbers.
func TestQoSStatementsV311(t *testing.T) {
	v := packet.V311

	t.Run("MQTT-3.3.4-1 MQTT-4.3.2-2 MQTT-4.3.3-2 MQTT-2.3.1-6 in 3.1.1/acknowledgements carry the PUBLISH's identifier", func(t *testing.T) {
		p := pairFor(t, v, Config{}, Config{})
		evs := p.server.Recv(append(wire(t, v, &packet.Publish{Topic: "t", QoS: 1, PacketID: 7}),
			wire(t, v, &packet.Publish{Topic: "t", QoS: 2, PacketID: 8})...))
		var acks []packet.Packet
		for _, e := range evs {
			if e.Kind == EventSend {
				acks = append(acks, e.Packet)
			}
		}
		if len(acks) != 2 || acks[0].(*packet.Puback).PacketID != 7 || acks[1].(*packet.Pubrec).PacketID != 8 {
			t.Fatalf("server answered %v", acks)
		}
	})
	t.Run("MQTT-4.5.0-2 MQTT-4.6.0-2 MQTT-4.6.0-3 3.1.1/every PUBLISH acknowledged, in arrival order", func(t *testing.T) {
		acksInArrivalOrder(t, v)
	})
	t.Run("MQTT-4.6.0-4 3.1.1/PUBREL in the order the PUBRECs arrived", func(t *testing.T) {
		pubrelInPubrecOrder(t, v)
	})
}
