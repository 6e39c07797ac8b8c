package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// TestJournalCrash is a rapid model of a client and a server with a
// persistent session, each keeping a journal (Config.Journal) the way a
// program with a durable log does: it collects a call's batches, the
// messages it received and the bytes to write, and at the end of the call
// makes the batches and the messages durable together, then writes the
// bytes. Either side is killed at a random event of a random call, or
// between its commit and its writes (nothing collected survives the kill),
// and a new Connection is rebuilt by replaying the durable batches; the
// transport breaks, and the client connects again. Once the pipe is
// drained: every QoS 1 message whose Send returned nil in a call that
// completed was received, and every QoS 2 message exactly once; none was
// dropped. Both versions, both identifier widths.
func TestJournalCrash(t *testing.T) {
	var st journalStats
	t.Run("uint16", func(t *testing.T) { rapid.Check(t, func(rt *rapid.T) { checkJournal[uint16](rt, &st) }) })
	t.Run("uint32", func(t *testing.T) { rapid.Check(t, func(rt *rapid.T) { checkJournal[uint32](rt, &st) }) })
	t.Logf("%+v", st)
	if st.crashes == 0 || st.midCall == 0 || st.published == 0 || st.resumed == 0 {
		t.Fatalf("the runs did not crash sides with messages in flight: %+v", st)
	}
}

type journalStats struct {
	runs, published, delivered, crashes, midCall, resumed, batches int
}

// journalSide is one side: its Connection, its durable log and received
// messages, and what it staged since its last commit.
type journalSide[ID packetid.ID] struct {
	role      Role
	c         *Connection[ID]
	log       [][]byte
	got       map[string]int // durable: payload -> times received
	staged    [][]byte
	stagedGot []string
	writes    []byte // bytes of the current call, written after the commit
	out       []byte // bytes written, not yet read by the peer
	crashAt   int    // the event of the current call at which the process dies (0: none)
	events    int
	dead      bool
	sent      map[string]packet.QoS // messages whose Send returned nil in a completed call
}

func (s *journalSide[ID]) commit() {
	s.log = append(s.log, s.staged...)
	for _, p := range s.stagedGot {
		s.got[p]++
	}
	s.staged, s.stagedGot = nil, nil
}

func checkJournal[ID packetid.ID](rt *rapid.T, st *journalStats) {
	st.runs++
	v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(rt, "version")
	recvMax := uint16(rapid.IntRange(1, 4).Draw(rt, "receive maximum"))
	queue := rapid.Bool().Draw(rt, "queue")
	sides := [2]*journalSide[ID]{{role: RoleClient}, {role: RoleServer}}
	cfg := func(r Role) Config {
		c := Config{Journal: true, QueueWhenQuotaExhausted: queue}
		if r == RoleClient {
			c.Version = v
		}
		return c
	}
	var handler func(i int) Handler[ID]
	handler = func(i int) Handler[ID] {
		return func(e Event[ID]) {
			s := sides[i]
			if s.dead {
				return
			}
			s.events++
			if journalDebug {
				rt.Logf("%v event %d: %v", s.role, s.events, e)
			}
			if s.events == s.crashAt {
				s.dead = true // killed before this event
				st.midCall++
				return
			}
			switch e.Kind {
			case EventJournal:
				s.staged = append(s.staged, slices.Clone(e.Bytes))
				st.batches++
			case EventSend:
				s.writes = append(s.writes, e.Bytes...)
			case EventPacket:
				switch p := e.Packet.(type) {
				case *packet.PublishOf[ID]:
					s.stagedGot = append(s.stagedGot, string(p.Payload))
				case *packet.Connect:
					ack := &packet.Connack{SessionPresent: len(s.log) > 0}
					if v == packet.V5 {
						ack.Props.ReceiveMaximum = recvMax
						ack.Props.SessionExpiry = 3600
					}
					if err := s.c.Send(ack); err != nil {
						rt.Fatalf("CONNACK: %v", err)
					}
				}
			case EventDropped:
				rt.Fatalf("%v dropped a message: %v", s.role, e.Err)
			case EventError:
				rt.Fatalf("%v: %v", s.role, e.Err)
			}
		}
	}
	newConn := func(i int) *Connection[ID] {
		if sides[i].role == RoleClient {
			return NewClient(cfg(RoleClient), handler(i))
		}
		return NewServer(cfg(RoleServer), handler(i))
	}
	for i, s := range sides {
		s.got, s.sent = map[string]int{}, map[string]packet.QoS{}
		s.c = newConn(i)
	}
	// call runs one top-level call on side i; a side killed during it is
	// rebuilt from its log, and the transport breaks.
	connected, broken := false, false
	call := func(i int, f func(c *Connection[ID]) error) error {
		s := sides[i]
		s.events = 0
		err := f(s.c)
		if !s.dead && s.crashAt == s.events+1 { // killed between the commit and the writes
			s.commit()
			s.dead = true
		}
		if s.dead {
			crash(rt, st, sides, i, newConn)
			broken = true
			return errCrashed
		}
		s.commit()
		s.out = append(s.out, s.writes...)
		s.writes = nil
		return err
	}
	connect := func(first bool) {
		connect := &packet.Connect{ClientID: "journal", CleanStart: first && v == packet.V5, KeepAlive: 0}
		if v == packet.V5 {
			connect.Props.SessionExpiry = 3600
			connect.Props.ReceiveMaximum = recvMax
		}
		if call(0, func(c *Connection[ID]) error { return c.Send(connect) }) != nil {
			return
		}
		connected = true
	}
	pump := func(i, n int) {
		s := sides[i]
		n = min(n, len(s.out))
		chunk := slices.Clone(s.out[:n])
		s.out = s.out[n:]
		call(1-i, func(c *Connection[ID]) error { c.Recv(chunk); return nil })
	}
	breakTransport := func() {
		for i := range sides {
			sides[i].out = nil
			call(i, func(c *Connection[ID]) error { c.Closed(); return nil })
		}
		connected, broken = false, false
	}
	connect(true)
	for range 4 { // finish the first handshake before anyone dies
		pump(0, 1<<20)
		pump(1, 1<<20)
	}
	n := 0
	for range rapid.IntRange(1, 60).Draw(rt, "steps") {
		if !connected {
			connect(false)
		}
		switch rapid.IntRange(0, 9).Draw(rt, "action") {
		case 0, 1, 2: // publish
			i := rapid.IntRange(0, 1).Draw(rt, "from")
			qos := packet.QoS(rapid.IntRange(1, 2).Draw(rt, "qos"))
			n++
			payload := fmt.Sprintf("%v-%d", sides[i].role, n)
			err := call(i, func(c *Connection[ID]) error {
				return c.Send(&packet.PublishOf[ID]{Topic: "j/t", QoS: qos, Payload: []byte(payload)})
			})
			if err == nil {
				sides[i].sent[payload] = qos
				st.published++
			}
		case 3, 4, 5, 6: // bytes arrive
			i := rapid.IntRange(0, 1).Draw(rt, "pipe")
			pump(i, rapid.IntRange(1, 200).Draw(rt, "bytes"))
		case 7, 8: // the next call of a side is its last
			i := rapid.IntRange(0, 1).Draw(rt, "victim")
			sides[i].crashAt = rapid.IntRange(1, 8).Draw(rt, "crash at event")
			if rapid.Bool().Draw(rt, "crash now") {
				sides[i].crashAt = 0
				sides[i].dead = true
				crash(rt, st, sides, i, newConn)
				breakTransport()
			}
		case 9: // the network breaks
			breakTransport()
		}
		if broken {
			breakTransport()
		}
	}
	// Drain: no more deaths; reconnect until everything is through.
	for _, s := range sides {
		s.crashAt = 0
	}
	for round := 0; round < 50; round++ {
		if !connected {
			connect(false)
		}
		for range 20 {
			pump(0, 1<<20)
			pump(1, 1<<20)
		}
		if broken {
			breakTransport()
			continue
		}
		if len(sides[0].out)+len(sides[1].out) == 0 &&
			sides[0].c.InFlight()+sides[1].c.InFlight()+sides[0].c.Queued()+sides[1].c.Queued() == 0 {
			break
		}
		breakTransport()
	}
	for i, s := range sides {
		peer := sides[1-i]
		for payload, qos := range s.sent {
			got := peer.got[payload]
			if got == 0 || qos == packet.QoS2 && got != 1 {
				rt.Fatalf("%v's QoS %d message %s received %d times (log of %d batches)", s.role, qos, payload, got, len(s.log))
			}
			st.delivered++
		}
	}
}

var journalDebug = false

// errCrashed: the side making the call died during it.
var errCrashed = fmt.Errorf("crashed")

// crash replaces side i by a new Connection rebuilt from its log.
func crash[ID packetid.ID](rt *rapid.T, st *journalStats, sides [2]*journalSide[ID], i int, newConn func(int) *Connection[ID]) {
	s := sides[i]
	s.staged, s.stagedGot, s.out, s.writes = nil, nil, nil, nil
	s.dead, s.crashAt = false, 0
	s.c = newConn(i)
	for _, batch := range s.log {
		if err := s.c.Replay(batch); err != nil {
			rt.Fatalf("%v: replay: %v", s.role, err)
		}
	}
	st.crashes++
	if s.c.InFlight()+s.c.Queued() > 0 {
		st.resumed++
	}
}

// TestJournalReplay: a snapshot batch rebuilds the session ExportSession
// describes; a batch cut short, or one of another role or identifier
// width, is refused whole and changes nothing; Replay refuses a connected
// Connection.
func TestJournalReplay(t *testing.T) {
	p := newPair(t, Config{Journal: true}, Config{ManualPuback: true, ManualPubrec: true})
	p.connect(&packet.Connect{ClientID: "j", Props: property.Properties{SessionExpiry: 60}}, &packet.Connack{})
	for _, qos := range []packet.QoS{1, 2, 1} {
		p.send(RoleClient, &packet.Publish{Topic: "j", QoS: qos, Payload: []byte{byte(qos)}})
	}
	snapshot := p.client.JournalSnapshot()
	want := p.client.ExportSession()
	if p.client.InFlight() != 3 {
		t.Fatalf("%d in flight", p.client.InFlight())
	}
	rebuilt := newTestClient[uint16](Config{})
	if err := rebuilt.Replay(snapshot); err != nil {
		t.Fatal(err)
	}
	if got := rebuilt.ExportSession(); !bytes.Equal(got, want) {
		t.Fatalf("replayed snapshot exports\n%x\nwant\n%x", got, want)
	}
	for _, bad := range []struct {
		name  string
		conn  *tconn[uint16]
		batch []byte
	}{
		{"cut-short", newTestClient[uint16](Config{}), snapshot[:len(snapshot)-3]},
		{"another-role", newTestServer[uint16](Config{}), snapshot},
		{"garbage", newTestClient[uint16](Config{}), []byte{0, 0, 0, 2, 'Z', 0}},
		{"connected", p.client, snapshot},
	} {
		before := bad.conn.ExportSession()
		err := bad.conn.Replay(bad.batch)
		if err == nil || !errors.Is(err, ErrJournal) && !errors.Is(err, ErrState) {
			t.Fatalf("%s: Replay returned %v", bad.name, err)
		}
		if after := bad.conn.ExportSession(); !bytes.Equal(before, after) {
			t.Fatalf("%s: a refused batch changed the session", bad.name)
		}
	}
	wide := newTestClient[uint32](Config{})
	if err := wide.Replay(snapshot); !errors.Is(err, ErrJournal) {
		t.Fatalf("uint32 Connection replaying a uint16 journal: %v", err)
	}
}
