package mqtt

import (
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// pair joins a client and a server Connection: every EventSend of one is
// fed to the other, and everything else is recorded.
type pair struct {
	t              testing.TB
	client, server *Connection[uint16]
	got            map[Role][]Event[uint16] // non-send events, copied
	closed         map[Role]bool
}

func newPair(t testing.TB, ccfg, scfg Config) *pair {
	return &pair{t: t, client: NewClient[uint16](ccfg), server: NewServer[uint16](scfg),
		got: map[Role][]Event[uint16]{}, closed: map[Role]bool{}}
}

func (p *pair) conn(r Role) *Connection[uint16] {
	if r == RoleClient {
		return p.client
	}
	return p.server
}

// run carries out the events of side r, delivering sent bytes to the other
// side, until nothing more is sent.
func (p *pair) run(r Role, evs []Event[uint16]) {
	var wire []byte
	for _, e := range evs {
		switch e.Kind {
		case EventSend:
			wire = append(wire, e.Bytes...)
		case EventClose:
			p.closed[r] = true
			p.got[r] = append(p.got[r], e)
		case EventPacket:
			e.Packet = clonePacket(e.Packet)
			p.got[r] = append(p.got[r], e)
		default:
			p.got[r] = append(p.got[r], e)
		}
	}
	if len(wire) > 0 {
		other := p.peer(r)
		p.run(other, p.conn(other).Recv(wire))
	}
}

func (p *pair) peer(r Role) Role {
	if r == RoleClient {
		return RoleServer
	}
	return RoleClient
}

func (p *pair) send(r Role, pk packet.Packet) {
	p.t.Helper()
	evs, err := p.conn(r).Send(pk)
	if err != nil {
		p.t.Fatalf("%v Send(%v): %v", r, pk.Type(), err)
	}
	p.run(r, evs)
}

// packets returns the packets side r received, and forgets them.
func (p *pair) packets(r Role) []packet.Packet {
	var out []packet.Packet
	var rest []Event[uint16]
	for _, e := range p.got[r] {
		if e.Kind == EventPacket {
			out = append(out, e.Packet)
		} else {
			rest = append(rest, e)
		}
	}
	p.got[r] = rest
	return out
}

// connect performs the handshake.
func (p *pair) connect(c *packet.Connect, a *packet.Connack) {
	p.t.Helper()
	p.send(RoleClient, c)
	if got := p.packets(RoleServer); len(got) != 1 || got[0].Type() != packet.TypeConnect {
		p.t.Fatalf("server received %v, want CONNECT", got)
	}
	p.send(RoleServer, a)
	if p.client.State() != StateConnected || p.server.State() != StateConnected {
		p.t.Fatalf("states after handshake: client %v, server %v", p.client.State(), p.server.State())
	}
	p.packets(RoleClient)
}

func clonePacket(pk packet.Packet) packet.Packet {
	switch pk := pk.(type) {
	case *packet.Publish:
		return pk.Clone()
	case *packet.Connect:
		return pk.Clone()
	}
	b, err := pk.AppendTo(nil, packet.V5)
	if err != nil {
		b, _ = pk.AppendTo(nil, packet.V311)
	}
	q, _, _ := packet.Decode[uint16](packet.V5, b, 0)
	if q == nil {
		q, _, _ = packet.Decode[uint16](packet.V311, b, 0)
	}
	return q
}

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
					to := p.peer(from)
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
						if p.conn(from).ids.InUse() != 0 || len(p.conn(from).outbound) != 0 || len(p.conn(to).inbound) != 0 {
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

func TestByteAtATime(t *testing.T) {
	srv := NewServer[uint16](Config{})
	cl := NewClient[uint16](Config{})
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
