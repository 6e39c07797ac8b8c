package mqtt

// Golden files of the session export format, version 1
// (testdata/session-v1, described in its README.md). They were written
// once by goldenSession (go test -run TestSessionGoldenV1 -update, which
// writes only the files missing) and are never regenerated: every later
// format version must still import them.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

var update = flag.Bool("update", false, "write the golden files of testdata/ that do not exist yet")

const goldenDir = "testdata/session-v1"

// goldenEpoch is the time of the side's clock when a golden session starts.
var goldenEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// goldenCase is one golden file: the side exported, its protocol version
// and identifier width, and whether it was exported while connected (live)
// or after Closed.
type goldenCase struct {
	role    Role
	version packet.Version
	wide    bool // uint32 identifiers
	closed  bool
}

func (g goldenCase) name() string {
	role, v, id, when := "client", "v5", "id16", "live"
	if g.role == RoleServer {
		role = "server"
	}
	if g.version == packet.V311 {
		v = "v311"
	}
	if g.wide {
		id = "id32"
	}
	if g.closed {
		when = "closed"
	}
	return fmt.Sprintf("%s-%s-%s-%s", role, v, id, when)
}

func goldenCases() []goldenCase {
	var cs []goldenCase
	for _, r := range []Role{RoleClient, RoleServer} {
		for _, v := range []packet.Version{packet.V5, packet.V311} {
			for _, wide := range []bool{false, true} {
				for _, closed := range []bool{false, true} {
					cs = append(cs, goldenCase{r, v, wide, closed})
				}
			}
		}
	}
	return cs
}

// TestSessionGoldenV1: every golden file of format 1 imports into a new
// Connection of its role and identifier width, exports again byte for
// byte, holds the exchanges it was written with at the steps of the
// format, and resumes after a reconnection with Session Present 1: the
// unfinished exchanges re-sent in their order with DUP (MQTT-4.4.0-1,
// MQTT-4.6.0-1), the Message Expiry Interval counted down by the time the
// message was stored (MQTT-3.3.2-6), a queued message that expired dropped
// (MQTT-3.3.2-5), and the peer's QoS 2 exchanges answered as their steps
// say (MQTT-4.3.3-10).
func TestSessionGoldenV1(t *testing.T) {
	cases := goldenCases()
	for _, g := range cases {
		t.Run(g.name(), func(t *testing.T) {
			if g.wide {
				checkGolden[uint32](t, g)
			} else {
				checkGolden[uint16](t, g)
			}
		})
	}
	t.Run("every file is a case and listed in the README", func(t *testing.T) {
		readme, err := os.ReadFile(filepath.Join(goldenDir, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(goldenDir, "*.bin"))
		if len(files) != len(cases) {
			t.Errorf("%d golden files, %d cases", len(files), len(cases))
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".bin")
			if !slices.ContainsFunc(cases, func(g goldenCase) bool { return g.name() == name }) {
				t.Errorf("%s is no case of the test", f)
			}
			if !bytes.Contains(readme, []byte("`"+name+".bin`")) {
				t.Errorf("README.md does not describe %s", f)
			}
		}
	})
}

// goldenFile returns the golden file of g, writing it first when -update
// is set and it does not exist. An existing file is never rewritten.
func goldenFile[ID packetid.ID](t *testing.T, g goldenCase) []byte {
	t.Helper()
	path := filepath.Join(goldenDir, g.name()+".bin")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && *update {
		data = goldenSession[ID](t, g)
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func checkGolden[ID packetid.ID](t *testing.T, g goldenCase) {
	data := goldenFile[ID](t, g)
	v := g.version
	now := goldenEpoch.Add(40 * time.Second)
	cfg := goldenConfig(g, func() time.Time { return now })

	// Import, export again.
	c := newTestConn[ID](g.role, cfg)
	if err := c.ImportSession(data); err != nil {
		t.Fatalf("import: %v", err)
	}
	if again := c.ExportSession(); !bytes.Equal(again, data) {
		t.Fatalf("export after import differs:\n got % x\nwant % x", again, data)
	}

	// The steps of the format are the exchanges they name: outbound 1 to
	// 4, inbound 8 to 10 (Closed turns the steps the caller owed, 8 and
	// 10, into 9: the peer re-sends).
	wantOut := map[ID]exchange{1: awaitPuback, 2: awaitPubrec, 3: owePubrel, 5: awaitPubcomp}
	wantIn := map[ID]exchange{1: owePubrec, 2: awaitPubrel, 3: owePubcomp}
	if g.closed {
		wantIn = map[ID]exchange{1: awaitPubrel, 2: awaitPubrel, 3: awaitPubrel}
	}
	if got := exchanges(&c.outbound); !mapsEqual(got, wantOut) {
		t.Errorf("outbound exchanges %v, want %v", got, wantOut)
	}
	if got := exchanges(&c.inbound); !mapsEqual(got, wantIn) {
		t.Errorf("inbound exchanges %v, want %v", got, wantIn)
	}

	// Resume on a new Connection, as after a process restart: for a
	// server, imported once the CONNECT asks to resume, as a broker does.
	c = newTestConn[ID](g.role, cfg)
	connect := &packet.Connect{ClientID: "golden"}
	connack := &packet.Connack{SessionPresent: true}
	if v == packet.V5 {
		connect.Props = property.Properties{SessionExpiry: 600, ReceiveMaximum: 10}
		connack.Props = property.Properties{ReceiveMaximum: 10}
	}
	var evs []Event[ID]
	var err error
	if g.role == RoleClient {
		if err = c.ImportSession(data); err == nil {
			_, err = c.Send(connect)
		}
		evs = c.Recv(wire(t, v, connack))
	} else {
		c.Recv(wire(t, v, connect))
		if err = c.ImportSession(data); err == nil {
			evs, err = c.Send(connack)
		}
	}
	if err != nil || c.State() != StateConnected {
		t.Fatalf("resume: %v, %v, %v", err, c.State(), evs)
	}
	resent, dropped := goldenOut(t, v, evs)
	var want, wantDropped []string
	if v == packet.V5 {
		// m1 went out again on the second connection: sent as it was
		// stored. m2, stored 30 s ago, has 30 of its 60 s left. m6,
		// queued 20 s ago for 10 s, has expired; m7 was never sent.
		want = []string{"PUBLISH 1 q1 m1 dup exp100", "PUBLISH 2 q2 m2 dup exp30", "PUBREL 3", "PUBREL 5", "PUBLISH 7 q2 m7"}
		wantDropped = []string{"6 " + ErrExpired.Error()}
		if g.closed && g.role == RoleClient {
			want = append(want, "PUBLISH 8 q1 m8")
		}
	} else {
		want = []string{"PUBLISH 1 q1 m1 dup", "PUBLISH 2 q2 m2 dup", "PUBREL 3", "PUBREL 5"}
		if g.closed && g.role == RoleClient {
			want = append(want, "PUBLISH 6 q1 m8")
		}
	}
	if g.role == RoleServer {
		want = append([]string{"CONNACK"}, want...)
	}
	if !slices.Equal(resent, want) || !slices.Equal(dropped, wantDropped) {
		t.Errorf("MQTT-4.4.0-1/MQTT-3.3.2-6: after the CONNACK sent %q, dropped %q;\nwant %q, dropped %q",
			resent, dropped, want, wantDropped)
	}

	// The peer re-sends its QoS 2 PUBLISH packets 1 and 2 and its PUBREL 3.
	evs = c.Recv(wire(t, v,
		&packet.PublishOf[ID]{Topic: "golden/p1", QoS: 2, PacketID: 1, Dup: true, Payload: []byte("p1")},
		&packet.PublishOf[ID]{Topic: "golden/p2", QoS: 2, PacketID: 2, Dup: true, Payload: []byte("p2")},
		&packet.PubrelOf[ID]{PacketID: 3}))
	answers, _ := goldenOut(t, v, evs)
	var delivered []string
	for _, e := range evs {
		if e.Kind == EventPacket {
			delivered = append(delivered, e.Packet.Type().String())
		}
	}
	// Live: 1 awaits the caller's PUBREC, 2 our PUBREC again, 3 the
	// caller's PUBCOMP. After Closed all three await PUBREL: 3's is
	// delivered again.
	wantAnswers, wantDelivered := []string{"PUBREC 2"}, []string(nil)
	if g.closed {
		wantAnswers, wantDelivered = []string{"PUBREC 1", "PUBREC 2"}, []string{"PUBREL"}
	}
	if !slices.Equal(answers, wantAnswers) || !slices.Equal(delivered, wantDelivered) {
		t.Errorf("MQTT-4.3.3-10: the peer's re-sent exchanges answered %q, delivered %q; want %q, %q",
			answers, delivered, wantAnswers, wantDelivered)
	}
	if _, err := c.Send(&packet.PubcompOf[ID]{PacketID: 3}); err != nil {
		t.Errorf("PUBCOMP 3 by the caller: %v", err)
	}
	_, err = c.Send(&packet.PubrecOf[ID]{PacketID: 1})
	if g.closed != errors.Is(err, ErrIDUnknown) || !g.closed && err != nil {
		t.Errorf("PUBREC 1 by the caller: %v", err)
	}
}

// goldenConfig is the Config of the side a golden file was exported from:
// it acknowledges by hand what the scenario holds at each step, and
// queues.
func goldenConfig(g goldenCase, clock func() time.Time) Config {
	cfg := Config{ManualPubrel: true, ManualPubrec: true, ManualPubcomp: true,
		QueueWhenQuotaExhausted: true, Clock: clock}
	if g.role == RoleClient {
		cfg.Version, cfg.OfflineQueue = g.version, true
	}
	return cfg
}

// goldenOut describes the packets sent in evs and the messages dropped.
func goldenOut[ID packetid.ID](tb testing.TB, v packet.Version, evs []Event[ID]) (sent, dropped []string) {
	tb.Helper()
	for _, e := range evs {
		switch e.Kind {
		case EventSend:
			p, n, err := packet.Decode[ID](v, e.Bytes, 0)
			if err != nil || n != len(e.Bytes) {
				tb.Fatalf("EventSend % x: %v", e.Bytes, err)
			}
			sent = append(sent, goldenDescribe[ID](p))
		case EventDropped:
			dropped = append(dropped, fmt.Sprintf("%d %v", e.PacketID, e.Err))
		}
	}
	return sent, dropped
}

func goldenDescribe[ID packetid.ID](p packet.Packet) string {
	switch p := p.(type) {
	case *packet.PublishOf[ID]:
		s := fmt.Sprintf("PUBLISH %d q%d %s", p.PacketID, p.QoS, p.Payload)
		if p.Dup {
			s += " dup"
		}
		if p.Props.Has(property.MessageExpiryInterval) {
			s += fmt.Sprintf(" exp%d", p.Props.MessageExpiry)
		}
		return s
	case *packet.PubrelOf[ID]:
		return fmt.Sprintf("PUBREL %d", p.PacketID)
	case *packet.PubrecOf[ID]:
		return fmt.Sprintf("PUBREC %d", p.PacketID)
	case *packet.PubcompOf[ID]:
		return fmt.Sprintf("PUBCOMP %d", p.PacketID)
	case *packet.PubackOf[ID]:
		return fmt.Sprintf("PUBACK %d", p.PacketID)
	}
	return p.Type().String()
}

func exchanges[ID packetid.ID](m *packetid.Map[ID, exchange]) map[ID]exchange {
	out := map[ID]exchange{}
	for id, x := range m.All() {
		out[id] = x.step()
	}
	return out
}

// goldenSession plays the scenario of the golden files (see
// testdata/session-v1/README.md) between the side g and a peer, and
// returns the side's export.
func goldenSession[ID packetid.ID](t *testing.T, g goldenCase) []byte {
	t.Helper()
	v := g.version
	now := goldenEpoch
	a := newTestConn[ID](g.role, goldenConfig(g, func() time.Time { return now }))
	pcfg := Config{ManualPuback: true, ManualPubrec: true, ManualPubrel: true, ManualPubcomp: true}
	if g.role == RoleServer {
		pcfg.Version = v
	}
	peer := newTestConn[ID](a.peerRole(), pcfg)
	client, server := a, peer
	if g.role == RoleServer {
		client, server = peer, a
	}
	l := &link[ID]{client: client, server: server}
	// send has from send p, and delivers what it sent to the other side,
	// and the answers, until neither sends anything.
	send := func(from *tconn[ID], p packet.Packet) {
		t.Helper()
		evs, err := from.Send(p)
		if err != nil {
			t.Fatalf("%v Send(%v): %v", from.role, p.Type(), err)
		}
		l.take(sideOf(from.role), evs)
		l.flush()
	}
	connect := func(first bool, receiveMax uint16) {
		c := &packet.Connect{ClientID: "golden", CleanStart: first && v == packet.V5}
		ack := &packet.Connack{SessionPresent: !first}
		if v == packet.V5 {
			c.Props.SessionExpiry = 600
			if g.role == RoleServer {
				c.Props.ReceiveMaximum = receiveMax
			} else {
				ack.Props.ReceiveMaximum = receiveMax
			}
		}
		send(client, c)
		send(server, ack)
	}
	closed := func() {
		a.Closed()
		peer.Closed()
	}
	pub := func(n int, qos packet.QoS, expiry uint32) *packet.PublishOf[ID] {
		p := &packet.PublishOf[ID]{Topic: fmt.Sprintf("golden/%d", n), QoS: qos, Payload: []byte(fmt.Sprintf("m%d", n))}
		if v == packet.V5 && expiry > 0 {
			p.Props.MessageExpiry = expiry
		}
		return p
	}

	// First connection: m1 (QoS 1) goes unacknowledged.
	connect(true, 0)
	send(a, pub(1, 1, 100))
	closed()

	// Second connection, 10 s later: m1 is re-sent, then m2 stays at
	// step 1, m3 at step 3, m4 completes, m5 at step 4.
	now = now.Add(10 * time.Second)
	connect(false, 4)
	send(a, pub(2, 2, 60))
	send(a, pub(3, 2, 0))
	send(peer, &packet.PubrecOf[ID]{PacketID: 3})
	send(a, pub(4, 1, 0))
	send(peer, &packet.PubackOf[ID]{PacketID: 4})
	send(a, pub(5, 2, 0))
	send(peer, &packet.PubrecOf[ID]{PacketID: 5})
	send(a, &packet.PubrelOf[ID]{PacketID: 5})
	// 10 s later, v5: the peer's Receive Maximum of 4 is used up, m6 and
	// m7 wait in the queue.
	now = now.Add(10 * time.Second)
	if v == packet.V5 {
		send(a, pub(6, 1, 10))
		send(a, pub(7, 2, 0))
	}
	// The peer's QoS 2 PUBLISH packets: 1 at step 8, 2 at step 9, 3 at
	// step 10.
	for i := 1; i <= 3; i++ {
		send(peer, &packet.PublishOf[ID]{Topic: fmt.Sprintf("golden/p%d", i), QoS: 2, Payload: []byte(fmt.Sprintf("p%d", i))})
	}
	send(a, &packet.PubrecOf[ID]{PacketID: 2})
	send(a, &packet.PubrecOf[ID]{PacketID: 3})
	send(peer, &packet.PubrelOf[ID]{PacketID: 3})
	if g.closed {
		// 5 s later the connection is lost; a client publishes m8 offline.
		now = now.Add(5 * time.Second)
		closed()
		if g.role == RoleClient {
			send(a, pub(8, 1, 0))
		}
	}
	return a.ExportSession()
}
