package mqtttest_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/mqtttest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/mqttcore/mqtt/server"
)

const wait = 5 * time.Second

var bothVersions = []packet.Version{packet.V311, packet.V5}

// ---- the Peer as a client of package server --------------------------------

// sink is a server Handler that accepts every client with connack and
// counts the PUBLISH packets delivered to it.
type sink struct {
	connack   packet.Connack
	delivered atomic.Int32
}

func (s *sink) OnConnect(*server.Conn, *packet.Connect) packet.Connack { return s.connack }

func (s *sink) OnPacket(c *server.Conn, p packet.Packet) {
	switch p := p.(type) {
	case *packet.Publish:
		s.delivered.Add(1)
	case *packet.Subscribe:
		granted := make([]packet.ReasonCode, len(p.Subscriptions))
		if ack, err := p.Ack(c.Version(), granted...); err == nil {
			_ = c.Send(ack)
		}
	}
}

func (s *sink) OnClose(*server.Conn, error) {}

// serve starts a server with handler h and core configuration cfg, and
// returns a Peer connected to it over TCP that sent CONNECT (with Keep Alive
// keepAlive seconds) and received the CONNACK.
func serve(t *testing.T, v packet.Version, h server.Handler, cfg mqtt.Config, keepAlive uint16) *mqtttest.Peer {
	t.Helper()
	p := mqtttest.NewPeer(t, dialServer(t, h, cfg), v)
	p.Send(&packet.Connect{Version: v, ClientID: "peer", CleanStart: true, KeepAlive: keepAlive})
	p.Expect(mqtttest.Is("CONNACK 0", func(a *packet.Connack) bool { return a.Reason == 0 }), wait)
	return p
}

// dialServer starts a server with handler h and core configuration cfg
// on a loopback listener, and returns a connection to it.
func dialServer(t *testing.T, h server.Handler, cfg mqtt.Config) net.Conn {
	t.Helper()
	srv := server.New(server.Config{Handler: h, Conn: cfg})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestPeerServer(t *testing.T) {
	for _, v := range bothVersions {
		t.Run(v.String()+"/fragmented slow writes", func(t *testing.T) {
			h := &sink{}
			p := serve(t, v, h, mqtt.Config{}, 0)
			p.Fragment, p.Delay = 1, time.Millisecond
			p.Send(&packet.Subscribe{PacketID: 7, Subscriptions: []packet.Subscription{{Filter: "a/#"}}})
			p.Expect(mqtttest.Is("SUBACK 7", func(a *packet.Suback) bool { return a.PacketID == 7 }), wait)
			p.Send(&packet.Publish{Topic: "a/b", QoS: packet.QoS1, PacketID: 9, Payload: []byte("x")})
			p.Expect(mqtttest.Equal(&packet.Puback{PacketID: 9}), wait)
		})
		t.Run(v.String()+"/MQTT-4.3.3-10 QoS 2 duplicate delivered once", func(t *testing.T) {
			h := &sink{}
			p := serve(t, v, h, mqtt.Config{}, 0)
			pk := &packet.Publish{Topic: "a", QoS: packet.QoS2, PacketID: 3, Payload: []byte("once")}
			p.Send(pk)
			p.SendDuplicate(pk) // back to back
			pubrec := mqtttest.Equal(&packet.Pubrec{PacketID: 3})
			p.Expect(pubrec, wait)
			p.Expect(pubrec, wait)
			p.Send(&packet.Pubrel{PacketID: 3})
			p.Expect(mqtttest.Equal(&packet.Pubcomp{PacketID: 3}), wait)
			if n := h.delivered.Load(); n != 1 {
				t.Fatalf("delivered %d times, want once", n)
			}
		})
		t.Run(v.String()+"/MQTT-3.1.2-24 silence past Keep Alive", func(t *testing.T) {
			p := serve(t, v, &sink{}, mqtt.Config{}, 1)
			p.ExpectKeepAliveClose(time.Second, time.Second)
		})
		t.Run(v.String()+"/MQTT-3.2.2-15 oversize packet", func(t *testing.T) {
			h := &sink{}
			cfg := mqtt.Config{}
			if v == packet.V5 {
				h.connack.Props.MaximumPacketSize = 100
			} else {
				cfg.MaxPacketSize = 100 // 3.1.1 has no property to announce it
			}
			p := serve(t, v, h, cfg, 0)
			p.SendOversize("big", 101)
			p.ExpectRefused(packet.PacketTooLarge, wait)
		})
	}
	t.Run("5.0/MQTT-3.3.4-7 exceeding Receive Maximum", func(t *testing.T) {
		h := &sink{connack: packet.Connack{Props: property.Properties{ReceiveMaximum: 2}}}
		p := serve(t, packet.V5, h, mqtt.Config{}, 0)
		p.ExceedReceiveMaximum(2, "flood")
		p.Expect(mqtttest.Type(packet.TypePubrec), wait)
		p.Expect(mqtttest.Type(packet.TypePubrec), wait)
		p.ExpectRefused(packet.ReceiveMaximumExceeded, wait)
	})
	t.Run("5.0/unknown Topic Alias", func(t *testing.T) {
		h := &sink{connack: packet.Connack{Props: property.Properties{TopicAliasMaximum: 5}}}
		p := serve(t, packet.V5, h, mqtt.Config{}, 0)
		p.SendUnknownAlias(3)
		p.ExpectRefused(packet.ProtocolError, wait)
	})
	t.Run("5.0/MQTT-3.2.2-17 Topic Alias above the maximum", func(t *testing.T) {
		h := &sink{connack: packet.Connack{Props: property.Properties{TopicAliasMaximum: 5}}}
		p := serve(t, packet.V5, h, mqtt.Config{}, 0)
		pk := &packet.Publish{Topic: "a"}
		pk.Props.TopicAlias = 6
		p.Send(pk)
		p.ExpectRefused(packet.TopicAliasInvalid, wait)
	})
}

// TestPeerInvalidServer sends a few inputs of every rule Invalid breaks
// that a server receives to a live server, under the limits each
// Violation names, and expects the answer it says.
func TestPeerInvalidServer(t *testing.T) {
	for _, v := range bothVersions {
		for _, rule := range mqtttest.InvalidRules(v) {
			gen := mqtttest.InvalidRule[uint16](mqtttest.Options{Version: v, MaxPayload: 64}, rule)
			for i := range 3 {
				x := gen.Example(i)
				if x.To == mqtttest.ToClient {
					continue
				}
				t.Run(fmt.Sprintf("%s/%d", x, i), func(t *testing.T) {
					h := &sink{}
					if v == packet.V5 {
						h.connack.Props = property.Properties{MaximumPacketSize: x.Limits.MaximumPacketSize,
							ReceiveMaximum: x.Limits.ReceiveMaximum, TopicAliasMaximum: x.Limits.TopicAliasMaximum}
					}
					var p *mqtttest.Peer
					if x.First {
						p = mqtttest.NewPeer(t, dialServer(t, h, mqtt.Config{}), v)
					} else {
						p = serve(t, v, h, mqtt.Config{}, 0)
					}
					p.SendRaw(x.Wire)
					for x.Reason == packet.ReceiveMaximumExceeded && x.Limits.ReceiveMaximum > 0 {
						p.Expect(mqtttest.Type(packet.TypePubrec), wait)
						x.Limits.ReceiveMaximum--
					}
					p.ExpectRefused(x.Reason, wait)
				})
			}
		}
	}
}

// ---- the Peer as a broker for package client -------------------------------

// broker accepts one connection of a client.Client on a loopback listener
// and answers its CONNECT with connack; it returns the Peer, the CONNECT
// and the client.
func broker(t *testing.T, v packet.Version, connack *packet.Connack, cfg client.Config) (*mqtttest.Peer, *packet.Connect, *client.Client) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg.Servers, cfg.Version, cfg.NoReconnect = []string{"tcp://" + l.Addr().String()}, v, true
	if cfg.ClientID == "" {
		cfg.ClientID = "under-test"
	}
	type result struct {
		c   *client.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := client.Connect(context.Background(), cfg)
		done <- result{c, err}
	}()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	p := mqtttest.NewPeer(t, conn, 0)
	connect := p.Expect(mqtttest.Type(packet.TypeConnect), wait).(*packet.Connect).Clone()
	p.Send(connack)
	r := <-done
	if r.err != nil {
		t.Fatalf("client.Connect: %v", r.err)
	}
	t.Cleanup(func() { r.c.Close(context.Background()) })
	return p, connect, r.c
}

func TestPeerClient(t *testing.T) {
	for _, v := range bothVersions {
		t.Run(v.String()+"/fragmented slow broker", func(t *testing.T) {
			got := make(chan client.Message, 1)
			p, _, _ := broker(t, v, &packet.Connack{}, client.Config{OnMessage: func(m client.Message) { got <- m }})
			p.Fragment, p.Delay = 3, time.Millisecond
			p.Send(&packet.Publish{Topic: "a/b", QoS: packet.QoS1, PacketID: 1, Payload: []byte("slow")})
			p.Expect(mqtttest.Equal(&packet.Puback{PacketID: 1}), wait)
			if m := <-got; m.Topic != "a/b" || string(m.Payload) != "slow" {
				t.Fatalf("got %+v", m)
			}
		})
		t.Run(v.String()+"/MQTT-4.3.3-10 QoS 2 duplicate delivered once", func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			p, _, _ := broker(t, v, &packet.Connack{}, client.Config{OnMessage: func(m client.Message) {
				mu.Lock()
				got = append(got, string(m.Payload))
				mu.Unlock()
			}})
			pk := &packet.Publish{Topic: "a", QoS: packet.QoS2, PacketID: 5, Payload: []byte("once")}
			p.Send(pk)
			pubrec := mqtttest.Equal(&packet.Pubrec{PacketID: 5})
			p.Expect(pubrec, wait)
			p.SendDuplicate(pk) // after the PUBREC, before the PUBREL
			p.Expect(pubrec, wait)
			p.Send(&packet.Pubrel{PacketID: 5})
			p.Expect(mqtttest.Equal(&packet.Pubcomp{PacketID: 5}), wait)
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(got, ",") != "once" {
				t.Fatalf("delivered %q, want once", got)
			}
		})
	}
	for _, aliases := range []bool{false, true} {
		t.Run(fmt.Sprintf("5.0/unknown Topic Alias, client aliases %v", aliases), func(t *testing.T) {
			p, connect, _ := broker(t, packet.V5, &packet.Connack{}, client.Config{TopicAliases: aliases})
			p.SendUnknownAlias(1)
			if connect.Props.TopicAliasMaximum == 0 {
				p.ExpectRefused(packet.TopicAliasInvalid, wait) // MQTT-3.1.2-30: no alias at all
			} else {
				p.ExpectRefused(packet.ProtocolError, wait)
			}
		})
	}
}
