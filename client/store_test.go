package client

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// TestFileStore: batches come back in order after reopening; a batch cut
// short or damaged by a crash ends the log there (and is cut off, so that
// later appends follow the good ones); Reset leaves the snapshot alone.
func TestFileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.log")
	s, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{[]byte("one"), {}, bytes.Repeat([]byte("x"), 5000)}
	for _, b := range want {
		if err := s.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	reopen := func() [][]byte {
		t.Helper()
		s, err := OpenFileStore(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		got, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(got, want [][]byte) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%d batches, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
	}
	check(reopen(), want)

	// A crash in the middle of the last write.
	info, _ := os.Stat(path)
	if err := os.Truncate(path, info.Size()-10); err != nil {
		t.Fatal(err)
	}
	check(reopen(), want[:2])
	s2, _ := OpenFileStore(path)
	if _, err := s2.Load(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Append([]byte("after")); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	check(reopen(), [][]byte{want[0], want[1], []byte("after")})

	// A damaged byte.
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 0xFF
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	check(reopen(), want[:2])

	s3, _ := OpenFileStore(path)
	if err := s3.Reset([]byte("snapshot")); err != nil {
		t.Fatal(err)
	}
	if err := s3.Append([]byte("next")); err != nil {
		t.Fatal(err)
	}
	s3.Close()
	check(reopen(), [][]byte{[]byte("snapshot"), []byte("next")})
}

// TestFileStoreResume: a Client whose connection ends for good with a
// QoS 1 message unacknowledged and a QoS 2 message past PUBREC leaves
// them in its FileStore, and a new Client on the same file (a new
// process, as examples/interop's TestCrashResume runs it under SIGKILL)
// sends the first again, with DUP and its packet identifier, and the
// second's PUBREL, not its PUBLISH; both complete.
func TestFileStoreResume(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		switch p := p.(type) {
		case *packet.Publish:
			if ts.dials == 1 { // PUBREC for the QoS 2 message, no PUBACK for the QoS 1 one
				if p.QoS == packet.QoS2 {
					ackPublish(ts, p, 0)
				}
				return
			}
		case *packet.Pubrel:
			if ts.dials > 1 { // no PUBCOMP on the first connection
				_ = ts.s.Send(&packet.Pubcomp{PacketID: p.PacketID})
			}
			return
		}
		accept(ts, p)
	})
	ts.manualPubcomp = true
	path := filepath.Join(t.TempDir(), "session.log")
	open := func(noReconnect bool) (*Client, *FileStore) {
		t.Helper()
		store, err := OpenFileStore(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg := pipeConfig(ts)
		cfg.SessionExpiry, cfg.Store, cfg.NoReconnect = time.Hour, store, noReconnect
		return connectForTest(t, cfg), store
	}
	c1, store1 := open(true)
	var ids [3]uint16 // by QoS
	for _, m := range []Message{{Topic: "q1", QoS: packet.QoS1}, {Topic: "q2", QoS: packet.QoS2}} {
		if _, err := c1.PublishAsync(ctx, m); err != nil {
			t.Fatal(err)
		}
		ids[m.QoS] = ts.next(packet.TypePublish).(*packet.Publish).PacketID
	}
	ts.next(packet.TypePubrel)
	ts.drop()
	<-c1.Done()
	store1.Close()

	c2, store2 := open(false)
	defer store2.Close()
	ts.next(packet.TypeConnect)
	for range 2 {
		var got packet.Packet
		select {
		case got = <-ts.got:
		case <-ctx.Done():
			t.Fatal("the new Client sent nothing again")
		}
		switch p := got.(type) {
		case *packet.Publish:
			if p.Topic != "q1" || !p.Dup || p.PacketID != ids[1] {
				t.Errorf("sent again: PUBLISH %q DUP %v id %d, want the QoS 1 message with DUP, id %d", p.Topic, p.Dup, p.PacketID, ids[1])
			}
		case *packet.Pubrel:
			if p.PacketID != ids[2] {
				t.Errorf("PUBREL id %d, want the QoS 2 message's %d", p.PacketID, ids[2])
			}
		default:
			t.Errorf("sent %v, want the QoS 1 PUBLISH again and the QoS 2 PUBREL", p.Type())
		}
	}
	if err := c2.Close(ctx); err != nil {
		t.Fatalf("Close with both exchanges to complete: %v", err)
	}
}

// TestStoreStartsClean: a Store that holds no session starts one with a
// clean start, whatever session the server kept for the ClientID
// (MQTT-3.2.2-4: the Client has no state to resume it with); in 3.1.1,
// where a clean session does not outlive its connection, a connection
// with a clean session discards the server's first. A Store that began a
// session with a clean start resumes it, even when the first connection
// ended before its CONNACK.
func TestStoreStartsClean(t *testing.T) {
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		t.Run(v.String(), func(t *testing.T) {
			ctx := testContext(t)
			ts := newTestServer(t, accept)
			ts.saved = []byte("a session the server kept") // ImportSession fails: present only if asked for
			cfg := pipeConfig(ts)
			cfg.Version, cfg.SessionExpiry, cfg.Store = v, time.Hour, &MemoryStore{}
			c := connectForTest(t, cfg)
			var cleans []bool
			for range ts.dials {
				cleans = append(cleans, ts.next(packet.TypeConnect).(*packet.Connect).CleanStart)
			}
			want := []bool{true}
			if v == packet.V311 {
				want = []bool{true, false}
			}
			if !slices.Equal(cleans, want) {
				t.Fatalf("CONNECTs with Clean Start %v, want %v", cleans, want)
			}
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("5.0/no-connack", func(t *testing.T) {
		ctx := testContext(t)
		ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
			if _, ok := p.(*packet.Connect); ok {
				if ts.dials > 1 { // the server kept the session the first CONNECT began
					_ = ts.s.Send(&packet.Connack{SessionPresent: true})
				}
				return // the first CONNECT gets no answer
			}
			accept(ts, p)
		})
		// The process dies once the CONNECT's batch is kept: what it
		// appends after is lost.
		store := &MemoryStore{}
		cfg := pipeConfig(ts)
		cfg.SessionExpiry, cfg.Store, cfg.ConnectTimeout = time.Hour, &diesAfter{Store: store, n: 1}, 50*time.Millisecond
		if _, err := Connect(ctx, cfg); err == nil {
			t.Fatal("connected without a CONNACK")
		}
		cfg.Store, cfg.ConnectTimeout = store, 0
		c := connectForTest(t, cfg)
		first, second := ts.next(packet.TypeConnect).(*packet.Connect), ts.next(packet.TypeConnect).(*packet.Connect)
		if !first.CleanStart || second.CleanStart || !c.Connack().SessionPresent {
			t.Fatalf("Clean Start %v then %v, Session Present %v; want a clean start, then the session resumed",
				first.CleanStart, second.CleanStart, c.Connack().SessionPresent)
		}
	})
}

// diesAfter is a Store whose process dies after n appends: it keeps no
// more.
type diesAfter struct {
	Store
	n int
}

func (s *diesAfter) Append(batch []byte) error {
	if s.n == 0 {
		return nil
	}
	s.n--
	return s.Store.Append(batch)
}
