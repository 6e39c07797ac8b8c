package broker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	bolt "go.etcd.io/bbolt"
)

// storeBroker is a broker on a store file, which the test stops and
// starts again.
type storeBroker struct {
	t      *testing.T
	path   string
	addr   string
	b      *broker.Broker
	st     *broker.Store
	served chan error
}

func startStoreBroker(t *testing.T, path string) *storeBroker {
	t.Helper()
	st, err := broker.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sb := &storeBroker{t: t, path: path, addr: l.Addr().String(), st: st, served: make(chan error, 1)}
	sb.b = broker.New(broker.Config{Logger: brokertest.Logger(t, slog.LevelInfo), Store: st})
	go func() { sb.served <- sb.b.Serve(l) }()
	t.Cleanup(sb.stop)
	return sb
}

// stop shuts the broker down and closes its store (once).
func (sb *storeBroker) stop() {
	if sb.b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sb.b.Shutdown(ctx); err != nil {
		sb.t.Errorf("Shutdown: %v", err)
	}
	if err := <-sb.served; !errors.Is(err, broker.ErrServerClosed) {
		sb.t.Errorf("Serve: %v", err)
	}
	if err := sb.st.Close(); err != nil {
		sb.t.Errorf("store Close: %v", err)
	}
	sb.b = nil
}

// restart stops the broker and starts another on the same store.
func (sb *storeBroker) restart() *storeBroker {
	sb.stop()
	return startStoreBroker(sb.t, sb.path)
}

func storeClient(t *testing.T, addr string, v packet.Version, id string, expiry uint32, store client.Store) *brokertest.Client {
	t.Helper()
	cn := &packet.Connect{ClientID: id}
	if v == packet.V5 {
		cn.Props.SessionExpiry = expiry
	}
	cfg := brokertest.Config("tcp://"+addr, v, cn)
	cfg.Store = store
	return brokertest.Dial(t, cfg)
}

// A persistent session outlives the broker on its store: its
// subscriptions, the QoS 1 and QoS 2 messages queued for it while it was
// away (MQTT-3.1.2-5 of 3.1.1 and MQTT-3.1.2-23 of 5.0: the session
// present), and the retained messages, which a new subscription gets
// (MQTT-3.3.1-5, MQTT-3.3.1-6); a retained message deleted stays deleted.
func TestStoreSessionSurvivesRestart(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			sb := startStoreBroker(t, filepath.Join(t.TempDir(), "broker.db"))
			sub := storeClient(t, sb.addr, v, "sub", 3600, nil)
			subscribe(t, sub, packet.Subscription{Filter: "t/#", QoS: packet.QoS2})
			sub.Drop()

			pub := dial(t, sb.addr, v, &packet.Connect{ClientID: "pub", CleanStart: true})
			publish(t, pub, "t/1", packet.QoS1, false, "one")
			publish(t, pub, "t/2", packet.QoS2, false, "two")
			publish(t, pub, "t/3", packet.QoS0, false, "zero") // not kept for an offline session
			publish(t, pub, "r/kept", packet.QoS1, true, "kept")
			publish(t, pub, "r/gone", packet.QoS1, true, "gone")
			publish(t, pub, "r/gone", packet.QoS1, true, "") // deleted
			pub.Drop()

			sb = sb.restart()
			sub = storeClient(t, sb.addr, v, "sub", 3600, sub.Store())
			if !sub.Connack().SessionPresent {
				t.Fatal("session not present after the restart")
			}
			for _, want := range []struct {
				topic string
				qos   packet.QoS
			}{{"t/1", packet.QoS1}, {"t/2", packet.QoS2}} {
				m := next(t, sub)
				if m.Topic != want.topic || m.QoS != want.qos {
					t.Fatalf("got %q at QoS %d, want %q at QoS %d", m.Topic, m.QoS, want.topic, want.qos)
				}
			}
			subscribe(t, sub, packet.Subscription{Filter: "r/#", QoS: packet.QoS1})
			if m := next(t, sub); m.Topic != "r/kept" || string(m.Payload) != "kept" || !m.Retain {
				t.Fatalf("retained: got %q %q retain %v", m.Topic, m.Payload, m.Retain)
			}
			// The subscription to t/# is still there: a new message arrives.
			pub = dial(t, sb.addr, v, &packet.Connect{ClientID: "pub2", CleanStart: true})
			publish(t, pub, "t/4", packet.QoS1, false, "four")
			if m := next(t, sub); m.Topic != "t/4" {
				t.Fatalf("got %q (%q), want t/4", m.Topic, m.Payload)
			}
		})
	}
}

// The Session Expiry Interval counts the broker's downtime (MQTT-4.1.0-2
// across a restart): a session whose interval passed while the broker was
// down is gone when it starts again; one with time left is not.
func TestStoreSessionExpiryCountsDowntime_MQTT_4_1_0_2(t *testing.T) {
	sb := startStoreBroker(t, filepath.Join(t.TempDir(), "broker.db"))
	short := storeClient(t, sb.addr, packet.V5, "short", 1, nil)
	subscribe(t, short, packet.Subscription{Filter: "x", QoS: packet.QoS1})
	long := storeClient(t, sb.addr, packet.V5, "long", 3600, nil)
	subscribe(t, long, packet.Subscription{Filter: "x", QoS: packet.QoS1})
	short.Drop()
	long.Drop()
	sb.stop()
	time.Sleep(2500 * time.Millisecond) // well past the 1 s: the stop time is recorded to the second
	sb = startStoreBroker(t, sb.path)
	if c := storeClient(t, sb.addr, packet.V5, "short", 1, short.Store()); c.Connack().SessionPresent {
		t.Error("a session whose expiry passed during the downtime is present")
	}
	if c := storeClient(t, sb.addr, packet.V5, "long", 3600, long.Store()); !c.Connack().SessionPresent {
		t.Error("a session with time left is not present")
	}
}

// A will whose connection was live when the broker stopped is published
// when it starts again, after what is left of its Will Delay Interval
// (MQTT-3.1.2-8: the network connection closed without a DISCONNECT); a
// will its client deleted with DISCONNECT 0x00 is not (MQTT-3.1.2-10).
func TestStoreWillOfConnectionLiveAtStop_MQTT_3_1_2_8_MQTT_3_1_2_10(t *testing.T) {
	sb := startStoreBroker(t, filepath.Join(t.TempDir(), "broker.db"))
	for _, id := range []string{"dies", "leaves"} {
		cn := &packet.Connect{ClientID: id, CleanStart: true}
		cn.Will = packet.Will{Topic: "will/" + id, QoS: packet.QoS1, Payload: []byte("gone"), Retain: true}
		c := dial(t, sb.addr, packet.V5, cn)
		if id == "leaves" {
			if err := c.Close(testContext(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for sb.b.Stats().Conns > 1 { // the DISCONNECT handled
		time.Sleep(time.Millisecond)
	}
	sb = sb.restart()
	sub := dial(t, sb.addr, packet.V5, &packet.Connect{ClientID: "watcher", CleanStart: true})
	subscribe(t, sub, packet.Subscription{Filter: "will/#", QoS: packet.QoS1})
	m := next(t, sub)
	if m.Topic != "will/dies" || string(m.Payload) != "gone" {
		t.Fatalf("got %q %q, want the will of the client live at the stop", m.Topic, m.Payload)
	}
	select {
	case m := <-sub.Messages():
		t.Fatalf("unexpected %q %q", m.Topic, m.Payload)
	case <-time.After(100 * time.Millisecond):
	}
}

// A file that is not a store of this broker is refused: a bbolt file of
// another format with ErrStore, any other file with bbolt's error.
func TestOpenStoreRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("format"), []byte{9})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := broker.OpenStore(other); !errors.Is(err, broker.ErrStore) {
		t.Errorf("a store of format 9: %v, want ErrStore", err)
	}
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not bbolt "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.OpenStore(junk); err == nil {
		t.Error("a file of text opened as a store")
	}
	st, err := broker.OpenStore(filepath.Join(dir, "new.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
