package mqtt

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// TestRestartIsInvisible runs two clients in lockstep against one server:
// client A lives through every reconnection, client B is exported and
// imported into a new Connection (a process restart) each time. B must
// behave exactly as A, event for event and byte for byte, and the server
// must see every QoS 1 message at least once and every QoS 2 message
// exactly once (MQTT-4.4.0-1, MQTT-4.3.3-10). Each run draws the
// identifier width and where the clients' identifiers start, as the model
// tests do.
func TestRestartIsInvisible(t *testing.T) {
	checkWidths(t, runRestartIsInvisible[uint16], runRestartIsInvisible[uint32])
}

func runRestartIsInvisible[ID packetid.ID](t *rapid.T) {
	v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(t, "version")
	cfg := Config{Version: v}
	first := drawLastID[ID](t, "first id")
	a, b := newModelConn(RoleClient, cfg, first, nil), newModelConn(RoleClient, cfg, first, nil)
	server := newTestServer[ID](Config{ManualPuback: true, ManualPubrec: true, ManualPubcomp: true})
	delivered := map[string]int{} // payload -> deliveries at the server
	qos := map[string]packet.QoS{}
	owed := []packet.Packet{} // acknowledgements the server still owes

	// both runs the same call on A and B and checks they agree; it
	// returns A's outgoing bytes.
	both := func(call func(*tconn[ID]) []Event[ID]) []byte {
		ea, eb := call(a), call(b)
		if d := diffEvents(ea, eb); d != "" {
			t.Fatalf("restarted client differs: %s", d)
		}
		return sentBytes(ea)
	}
	// Events are valid until the next call on their Connection: each
	// side's events are gathered before the other side is called.
	var toClient func([]byte)
	toServer := func(wire []byte) {
		var reply []byte
		for _, e := range server.Recv(wire) {
			switch e.Kind {
			case EventSend:
				reply = append(reply, e.Bytes...)
			case EventPacket:
				switch p := e.Packet.(type) {
				case *packet.PublishOf[ID]:
					delivered[string(p.Payload)]++
					if p.QoS == 1 {
						owed = append(owed, &packet.PubackOf[ID]{PacketID: p.PacketID})
					} else {
						owed = append(owed, &packet.PubrecOf[ID]{PacketID: p.PacketID})
					}
				case *packet.PubrelOf[ID]:
					owed = append(owed, &packet.PubcompOf[ID]{PacketID: p.PacketID})
				}
			}
		}
		if len(reply) > 0 {
			toClient(reply)
		}
	}
	toClient = func(wire []byte) {
		if out := both(func(c *tconn[ID]) []Event[ID] { return c.Recv(wire) }); len(out) > 0 {
			toServer(out)
		}
	}
	fromServer := func(p packet.Packet) {
		evs, err := server.Send(p)
		if err != nil {
			return // an exchange that ended with its connection
		}
		toClient(sentBytes(evs))
	}
	// connect opens a network connection; the first starts the session
	// (v5 with a clean start, 3.1.1 with clean session 0 and nothing
	// to resume), later ones resume it.
	connect := func(first bool) {
		c := &packet.Connect{ClientID: "r", CleanStart: first && v == packet.V5}
		if v == packet.V5 {
			c.Props.SessionExpiry = 600
		}
		toServer(both(func(c2 *tconn[ID]) []Event[ID] {
			evs, err := c2.Send(c)
			if err != nil {
				t.Fatal(err)
			}
			return evs
		}))
		fromServer(&packet.Connack{SessionPresent: !first})
	}
	connect(true)
	n := 0
	t.Repeat(map[string]func(*rapid.T){
		"publish": func(t *rapid.T) {
			q := packet.QoS(rapid.IntRange(1, 2).Draw(t, "qos"))
			payload := fmt.Sprint(n)
			n++
			qos[payload] = q
			wire := both(func(c *tconn[ID]) []Event[ID] {
				evs, err := c.Send(&packet.PublishOf[ID]{Topic: "r/t", QoS: q, Payload: []byte(payload),
					Props: property.Properties{}})
				if err != nil {
					t.Fatal(err)
				}
				return evs
			})
			toServer(wire)
		},
		"ack": func(t *rapid.T) {
			if len(owed) == 0 || server.State() != StateConnected {
				t.Skip("nothing owed")
			}
			i := rapid.IntRange(0, len(owed)-1).Draw(t, "which")
			p := owed[i]
			owed = slices.Delete(owed, i, i+1)
			fromServer(p)
		},
		"reconnect": func(t *rapid.T) {
			both(func(c *tconn[ID]) []Event[ID] { return c.Closed() })
			server.Closed()
			owed = owed[:0]
			data := b.ExportSession()
			b = newTestClient[ID](cfg)
			if err := b.ImportSession(data); err != nil {
				t.Fatalf("import: %v", err)
			}
			if again := b.ExportSession(); !bytes.Equal(again, data) {
				t.Fatalf("export after import differs")
			}
			connect(false)
		},
	})
	// Drain: acknowledge everything until nothing is owed.
	for guard := 0; len(owed) > 0 && guard < 1000; guard++ {
		p := owed[0]
		owed = owed[1:]
		fromServer(p)
	}
	for payload, q := range qos {
		if d := delivered[payload]; d == 0 || q == 2 && d != 1 {
			t.Fatalf("message %s QoS %d delivered %d times", payload, q, d)
		}
	}
	if a.ids.InUse() != 0 || a.outbound.Len() != 0 {
		t.Fatalf("after draining: %d ids in use, outbound %v", a.ids.InUse(), a.outbound)
	}
}

// diffEvents describes the first difference between two event lists.
func diffEvents[ID packetid.ID](a, b []Event[ID]) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d events vs %d: %v / %v", len(a), len(b), a, b)
	}
	for i := range a {
		x, y := a[i], b[i]
		same := x.Kind == y.Kind && bytes.Equal(x.Bytes, y.Bytes) && x.PacketID == y.PacketID &&
			x.Timer == y.Timer && x.Duration == y.Duration && fmt.Sprint(x.Err) == fmt.Sprint(y.Err)
		if !same {
			return fmt.Sprintf("event %d: %v vs %v", i, x, y)
		}
	}
	return ""
}
