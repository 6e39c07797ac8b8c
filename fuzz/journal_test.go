package fuzz

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// FuzzReplay feeds arbitrary journal batches to Replay of a client and a
// server Connection, with two-byte and four-byte packet identifiers. The
// input is a log: batches, each behind a two-byte big-endian length.
//
// Invariants: no panic; a refused batch changes nothing (the export before
// and after it is the same); the session the accepted batches built
// exports to bytes that import into a new Connection, and its
// JournalSnapshot replays into a new Connection that exports the same
// bytes; and the Connection then connects and resumes the session.
//
// The seeds are real journals (the EventJournal batches of both roles and
// both versions with QoS 1 and QoS 2 exchanges in flight both ways) and
// the snapshots of the FuzzImportSession seeds.
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzReplay$' -fuzztime 3m
func FuzzReplay(f *testing.F) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, s := range journalSeeds[uint16](f, v) {
			f.Add(s)
		}
		for _, s := range journalSeeds[uint32](f, v) {
			f.Add(s)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0, 5, 0, 0, 0, 1, 'P'})
	f.Fuzz(func(t *testing.T, data []byte) {
		replayLog[uint16](t, mqtt.RoleClient, data)
		replayLog[uint16](t, mqtt.RoleServer, data)
		replayLog[uint32](t, mqtt.RoleClient, data)
		replayLog[uint32](t, mqtt.RoleServer, data)
	})
}

// TestReplaySeeds: the journal seeds replay without error into a
// Connection of their role and width, and rebuild a session with state.
func TestReplaySeeds(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for i, s := range journalSeeds[uint16](t, v) {
			for _, r := range []mqtt.Role{mqtt.RoleClient, mqtt.RoleServer} {
				c := newSessConn[uint16](r, mqtt.Config{})
				n, err := replayAll(c, s)
				if n > 0 && err == nil && c.ExportSession()[5] == byte(r) {
					continue
				}
				if r == mqtt.Role(journalRole(s)) {
					t.Errorf("%v seed %d (%v): %d batches replayed, %v", v, i, r, n, err)
				}
			}
		}
	}
}

// journalRole is the role named by the first record of a seed's first
// batch (a session record).
func journalRole(log []byte) byte {
	if len(log) < 8 {
		return 0
	}
	return log[2+4+1]
}

// replayAll replays the batches of a log and returns how many it accepted
// before the first refusal.
func replayAll[ID packetid.ID](c *recorder[ID], log []byte) (int, error) {
	n := 0
	for len(log) >= 2 {
		size := int(binary.BigEndian.Uint16(log))
		log = log[2:]
		if size > len(log) {
			size = len(log)
		}
		before := c.ExportSession()
		if err := c.Replay(log[:size]); err != nil {
			if after := c.ExportSession(); !bytes.Equal(before, after) {
				return n, errChanged
			}
			return n, err
		}
		n++
		log = log[size:]
	}
	return n, nil
}

// counters is the offset in an export of the message sequence number (8
// bytes) and the last identifier handed out (4 bytes).
const counters = 4 + 1 + 1 + 1 + 1 + 1 + 4

var errChanged = &changedError{}

type changedError struct{}

func (*changedError) Error() string { return "a refused batch changed the session" }

// replayLog checks one role and identifier width.
func replayLog[ID packetid.ID](t *testing.T, r mqtt.Role, data []byte) {
	c := newSessConn[ID](r, mqtt.Config{})
	if _, err := replayAll(c, data); err == errChanged {
		t.Fatalf("%v: %v", r, err)
	}
	exported := c.ExportSession()
	again := newSessConn[ID](r, mqtt.Config{})
	if err := again.ImportSession(exported); err != nil {
		t.Fatalf("%v: the replayed session's export does not import: %v\n%x", r, err, exported)
	}
	fromSnapshot := newSessConn[ID](r, mqtt.Config{})
	if err := fromSnapshot.Replay(c.JournalSnapshot()); err != nil {
		t.Fatalf("%v: the replayed session's snapshot does not replay: %v", r, err)
	}
	// The journal keeps neither the message sequence counter nor where the
	// identifier allocator stands (any later sequence number and any free
	// identifier are right): the exports may differ in those fields only.
	got, want := c.ExportSession(), fromSnapshot.ExportSession()
	if len(got) != len(want) || !bytes.Equal(got[:counters], want[:counters]) || !bytes.Equal(got[counters+12:], want[counters+12:]) {
		t.Fatalf("%v: snapshot replay exports\n%x\nwant\n%x", r, want, got)
	}
	sessResume(t, c, r, exported[6])
}

// journalSeeds are logs of real journals in version v: the batches a
// client and a server hand out while they exchange QoS 1 and QoS 2
// messages both ways (the session outlives the connection), cut where a
// side's journal ends, and the snapshots of the FuzzImportSession seeds.
func journalSeeds[ID packetid.ID](tb testing.TB, v packet.Version) [][]byte {
	var logs [2][]byte
	note := func(i int, evs []mqtt.Event[ID]) []byte {
		var out []byte
		for _, e := range evs {
			switch e.Kind {
			case mqtt.EventJournal:
				logs[i] = binary.BigEndian.AppendUint16(logs[i], uint16(len(e.Bytes)))
				logs[i] = append(logs[i], e.Bytes...)
			case mqtt.EventSend:
				out = append(out, e.Bytes...)
			}
		}
		return out
	}
	client := newRecorder[ID](mqtt.RoleClient, mqtt.Config{Version: v, Journal: true})
	server := newRecorder[ID](mqtt.RoleServer, mqtt.Config{Journal: true, ManualPubcomp: true})
	send := func(i int, c *recorder[ID], p packet.Packet) []byte {
		evs, err := c.Send(p)
		if err != nil {
			tb.Fatalf("seed: Send(%v): %v", p.Type(), err)
		}
		return note(i, evs)
	}
	connect := &packet.Connect{ClientID: "journal", KeepAlive: 30}
	if v == packet.V5 {
		connect.Props.SessionExpiry = 300
	}
	toServer := send(0, client, connect)
	note(1, server.Recv(toServer))
	toClient := send(1, server, &packet.Connack{})
	note(0, client.Recv(toClient))
	toServer = nil
	for i, qos := range []packet.QoS{1, 2, 2, 1} {
		toServer = append(toServer, send(0, client, &packet.PublishOf[ID]{Topic: "j/t", QoS: qos, Payload: []byte{byte(i)}})...)
	}
	toClient = send(1, server, &packet.PublishOf[ID]{Topic: "j/d", QoS: 2, Payload: []byte("down")})
	toClient = append(toClient, note(1, server.Recv(toServer))...) // PUBACK, PUBREC
	note(0, client.Recv(toClient))                                 // PUBREL out, PUBREC out
	seeds := [][]byte{bytes.Clone(logs[0]), bytes.Clone(logs[1])}
	for i, c := range []*recorder[ID]{client, server} {
		note(i, c.Closed())
	}
	seeds = append(seeds, logs[0], logs[1])
	for _, s := range sessSeeds[ID](tb, v) {
		c := newSessConn[ID](mqtt.Role(s[5]), mqtt.Config{})
		if err := c.ImportSession(s); err != nil {
			tb.Fatalf("seed import: %v", err)
		}
		snap := c.JournalSnapshot()
		seeds = append(seeds, append(binary.BigEndian.AppendUint16(nil, uint16(len(snap))), snap...))
	}
	return seeds
}
