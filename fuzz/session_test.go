package fuzz

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// FuzzImportSession feeds arbitrary bytes to ImportSession of a client and
// a server Connection, with two-byte and four-byte packet identifiers.
//
// Invariants: no panic; the memory an import allocates is bounded by a
// constant plus a multiple of the input's size (a hostile entry count
// allocates nothing); whatever imports exports to bytes that import again
// into a new Connection and export to the same bytes (export, import,
// export is stable); and the Connection that imported then connects and
// resumes the session (CONNECT, CONNACK with Session Present 1, and the
// peer's acknowledgements of everything re-sent) without panicking.
//
// The seeds are real exports of both roles and both versions with QoS 1
// and QoS 2 exchanges in flight in both directions, queued messages and
// inbound QoS 2 state, plus their regression inputs under
// testdata/fuzz/FuzzImportSession/.
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzImportSession$' -fuzztime 3m
func FuzzImportSession(f *testing.F) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, s := range sessSeeds[uint16](f, v) {
			f.Add(s)
		}
		for _, s := range sessSeeds[uint32](f, v) {
			f.Add(s)
		}
	}
	f.Add([]byte("MQCS\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sessImport[uint16](t, mqtt.RoleClient, data)
		sessImport[uint16](t, mqtt.RoleServer, data)
		sessImport[uint32](t, mqtt.RoleClient, data)
		sessImport[uint32](t, mqtt.RoleServer, data)
	})
}

// TestImportSessionSeeds: the seeds are sessions that import.
func TestImportSessionSeeds(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for i, s := range sessSeeds[uint16](t, v) {
			if err := newSessConn[uint16](mqtt.Role(s[5]), mqtt.Config{}).ImportSession(s); err != nil {
				t.Errorf("%v seed %d: %v", v, i, err)
			}
		}
		for i, s := range sessSeeds[uint32](t, v) {
			if err := newSessConn[uint32](mqtt.Role(s[5]), mqtt.Config{}).ImportSession(s); err != nil {
				t.Errorf("%v seed %d (uint32): %v", v, i, err)
			}
		}
	}
}

// TestImportSessionHugeCounts: entry counts far beyond what the input can
// hold are refused before anything is allocated for them.
func TestImportSessionHugeCounts(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, seed := range sessSeeds[uint16](t, v) {
			// The outbound count sits after the 32-byte header.
			data := bytes.Clone(seed)
			binary.BigEndian.PutUint32(data[32:], 0xFFFFFFFF)
			role := mqtt.Role(data[5])
			newConn := func() *recorder[uint16] {
				if role == mqtt.RoleClient {
					return newRecorder[uint16](mqtt.RoleClient, mqtt.Config{})
				}
				return newRecorder[uint16](mqtt.RoleServer, mqtt.Config{})
			}
			if err := newConn().ImportSession(data); err == nil {
				t.Fatalf("import with outbound count 2^32-1 of %d bytes succeeded", len(data))
			}
			allocs := testing.AllocsPerRun(20, func() { _ = newConn().ImportSession(data) })
			if allocs > 64 {
				t.Errorf("import with a huge count: %.0f allocations", allocs)
			}
		}
	}
}

func newSessConn[ID packetid.ID](r mqtt.Role, cfg mqtt.Config) *recorder[ID] {
	if r == mqtt.RoleClient {
		return newRecorder[ID](mqtt.RoleClient, cfg)
	}
	return newRecorder[ID](mqtt.RoleServer, cfg)
}

// sessImport checks one role and identifier width.
func sessImport[ID packetid.ID](t *testing.T, r mqtt.Role, data []byte) {
	c := newSessConn[ID](r, mqtt.Config{})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := c.ImportSession(data)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<16+16*uint64(len(data)) {
		t.Fatalf("%v import of %d bytes allocated %d bytes", r, len(data), n)
	}
	if err != nil {
		if c.State() != mqtt.StateDisconnected {
			t.Fatalf("failed import changed the state")
		}
		return
	}
	exported := c.ExportSession()
	again := newSessConn[ID](r, mqtt.Config{})
	if err := again.ImportSession(exported); err != nil {
		t.Fatalf("%v: re-import of an export failed: %v\ninput  %x\nexport %x", r, err, data, exported)
	}
	if e2 := again.ExportSession(); !bytes.Equal(e2, exported) {
		t.Fatalf("%v: export, import, export not stable:\n%x\n%x", r, exported, e2)
	}
	sessResume(t, c, r, data[6])
}

// sessResume connects the Connection that imported a session to a peer and
// acknowledges whatever it re-sends, for a few rounds.
func sessResume[ID packetid.ID](t *testing.T, c *recorder[ID], r mqtt.Role, level byte) {
	v := packet.Version(level)
	if !v.Valid() {
		v = packet.V5
	}
	connect := &packet.Connect{ClientID: "f", KeepAlive: 30}
	if v == packet.V5 {
		connect.Props.SessionExpiry = 60
	}
	peerRole := mqtt.RoleServer
	if r == mqtt.RoleServer {
		peerRole = mqtt.RoleClient
	}
	peer := newSessConn[ID](peerRole, mqtt.Config{Version: v})
	// pump carries bytes between c and peer until quiet.
	pump := func(fromC, fromPeer []byte) {
		for round := 0; round < 8 && len(fromC)+len(fromPeer) > 0; round++ {
			var nc, np []byte
			for _, e := range peer.Recv(fromC) {
				if e.Kind == mqtt.EventSend {
					np = append(np, e.Bytes...)
				}
			}
			for _, e := range c.Recv(fromPeer) {
				if e.Kind == mqtt.EventSend {
					nc = append(nc, e.Bytes...)
				}
			}
			fromC, fromPeer = nc, np
		}
	}
	sent := func(evs []mqtt.Event[ID], err error) []byte {
		var b []byte
		if err == nil {
			for _, e := range evs {
				if e.Kind == mqtt.EventSend {
					b = append(b, e.Bytes...)
				}
			}
		}
		return b
	}
	if r == mqtt.RoleClient {
		out := sent(c.Send(connect))
		pump(out, nil)
		if peer.State() == mqtt.StateConnecting {
			pump(nil, sent(peer.Send(&packet.Connack{SessionPresent: true})))
		}
	} else {
		out := sent(peer.Send(connect))
		pump(nil, out)
		if c.State() == mqtt.StateConnecting {
			pump(sent(c.Send(&packet.Connack{SessionPresent: true})), nil)
		}
	}
	c.Closed()
	_ = c.ExportSession()
}

// sessSeeds builds real exports in version v: a client and a server with
// QoS 1 and QoS 2 exchanges in flight both ways, queued messages and
// inbound QoS 2 state, and an offline client with only queued messages.
func sessSeeds[ID packetid.ID](tb testing.TB, v packet.Version) [][]byte {
	client := newRecorder[ID](mqtt.RoleClient, mqtt.Config{Version: v, QueueWhenQuotaExhausted: true, OfflineQueue: true})
	server := newRecorder[ID](mqtt.RoleServer, mqtt.Config{ManualPuback: true, ManualPubrec: true, ManualPubcomp: true,
		QueueWhenQuotaExhausted: true})
	var toServer, toClient []byte
	var owed []packet.Packet // the server's acknowledgements
	note := func(fromClient bool, evs []mqtt.Event[ID]) {
		for _, e := range evs {
			switch {
			case e.Kind == mqtt.EventSend && fromClient:
				toServer = append(toServer, e.Bytes...)
			case e.Kind == mqtt.EventSend:
				toClient = append(toClient, e.Bytes...)
			case e.Kind == mqtt.EventPacket && !fromClient:
				switch p := e.Packet.(type) {
				case *packet.PublishOf[ID]:
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
	}
	send := func(fromClient bool, p packet.Packet) {
		c := server
		if fromClient {
			c = client
		}
		evs, err := c.Send(p)
		if err != nil {
			tb.Fatalf("seed: Send(%v): %v", p.Type(), err)
		}
		note(fromClient, evs)
	}
	flush := func() {
		for len(toServer)+len(toClient) > 0 {
			in := toServer
			toServer = nil
			note(false, server.Recv(in))
			in = toClient
			toClient = nil
			note(true, client.Recv(in))
		}
	}
	var seeds [][]byte
	offline := newRecorder[ID](mqtt.RoleClient, mqtt.Config{Version: v, OfflineQueue: true})
	for qos := packet.QoS(1); qos <= 2; qos++ {
		if _, err := offline.Send(&packet.PublishOf[ID]{Topic: "o/q", QoS: qos, Payload: []byte("offline")}); err != nil {
			tb.Fatalf("seed: offline publish: %v", err)
		}
	}
	seeds = append(seeds, offline.ExportSession())

	connect := &packet.Connect{ClientID: "seed", CleanStart: v == packet.V5, KeepAlive: 30}
	connack := &packet.Connack{}
	if v == packet.V5 {
		connect.Props.SessionExpiry = 300
		connect.Props.ReceiveMaximum = 2
		connack.Props.ReceiveMaximum = 2
	}
	send(true, connect)
	flush()
	send(false, connack)
	flush()
	for i, qos := range []packet.QoS{1, 2, 2, 1, 2} {
		p := &packet.PublishOf[ID]{Topic: "s/t", QoS: qos, Payload: []byte{byte(i)}}
		if v == packet.V5 {
			p.Props.MessageExpiry = 100
			p.Props.ContentType = "text/plain"
		}
		send(true, p)
	}
	for _, qos := range []packet.QoS{2, 1, 2} {
		// The same identifiers as the client's: the two directions are
		// separate identifier spaces.
		send(false, &packet.PublishOf[ID]{Topic: "c/t", QoS: qos, Payload: []byte("down")})
	}
	flush()
	// The server answers the first QoS 2 only: the client's PUBREL comes
	// back and the server then owes PUBCOMP.
	for _, p := range owed {
		if p.Type() == packet.TypePubrec {
			send(false, p)
			break
		}
	}
	flush()
	for _, fromClient := range []bool{true, false} {
		c := server
		if fromClient {
			c = client
		}
		c.Closed()
		seeds = append(seeds, c.ExportSession())
	}
	return seeds
}
