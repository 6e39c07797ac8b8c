package broker_test

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// Stats counts clients, messages, bytes, subscriptions and retained
// messages as they come and go.
func TestStatsCounts(t *testing.T) {
	t.Parallel()
	b, addr := brokertest.Serve(t, broker.Config{Logger: brokertest.Logger(t, slog.LevelInfo)})
	sub := dial(t, addr, packet.V5, connect("counted-sub"))
	subscribe(t, sub, packet.Subscription{Filter: "count/#", QoS: packet.QoS1})
	pub := dial(t, addr, packet.V311, connect("counted-pub"))
	publish(t, pub, "elsewhere", packet.QoS0, false, "3") // routed before the PUBACKs that follow
	publish(t, pub, "count/a", packet.QoS1, true, "1")
	publish(t, pub, "count/b", packet.QoS1, false, "2")
	expect(t, sub, "count/a", "1", packet.QoS1)
	expect(t, sub, "count/b", "2", packet.QoS1)

	st := b.Stats()
	if st.Connected != 2 || st.MaxConnected != 2 || st.Connections != 2 || st.Sessions != 2 {
		t.Errorf("clients: connected %d, at most %d, %d CONNECTs, %d sessions; want 2 of each",
			st.Connected, st.MaxConnected, st.Connections, st.Sessions)
	}
	if st.Received != 3 || st.Sent != 2 {
		t.Errorf("PUBLISH received %d, sent %d; want 3 and 2", st.Received, st.Sent)
	}
	if st.Subscriptions != 1 || st.Retained != 1 {
		t.Errorf("%d subscriptions, %d retained; want 1 and 1", st.Subscriptions, st.Retained)
	}
	// At least the CONNECTs, SUBSCRIBE and PUBLISH packets in; CONNACKs,
	// SUBACK, PUBACKs and PUBLISH packets out.
	if st.BytesIn < 60 || st.BytesOut < 30 {
		t.Errorf("bytes in %d, out %d: too few", st.BytesIn, st.BytesOut)
	}
	if st.Uptime <= 0 {
		t.Errorf("uptime %v", st.Uptime)
	}

	pub.Drop()
	if err := sub.Unsubscribe(testContext(t), "count/#"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); ; {
		st = b.Stats()
		if st.Connected == 1 && st.Subscriptions == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a client left and the other unsubscribed: %d connected, %d subscriptions",
				st.Connected, st.Subscriptions)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st.MaxConnected != 2 {
		t.Errorf("at most %d connected, want 2", st.MaxConnected)
	}
}

// sysWatch collects the $SYS values a client receives, and whether each
// last came as a retained message.
type sysWatch struct {
	t        *testing.T
	c        *brokertest.Client
	vals     map[string]string
	retained map[string]bool
}

func watchSys(t *testing.T, c *brokertest.Client) *sysWatch {
	return &sysWatch{t: t, c: c, vals: map[string]string{}, retained: map[string]bool{}}
}

// until reads $SYS messages until ok holds of the values seen, or fails
// the test after a while.
func (w *sysWatch) until(what string, ok func(map[string]string) bool) {
	w.t.Helper()
	deadline := time.After(5 * time.Second)
	for !ok(w.vals) {
		select {
		case m := <-w.c.Messages():
			if !strings.HasPrefix(m.Topic, "$SYS/") || m.QoS != packet.QoS0 {
				w.t.Fatalf("got %q at QoS %d: want $SYS messages at QoS 0", m.Topic, m.QoS)
			}
			w.vals[m.Topic], w.retained[m.Topic] = string(m.Payload), m.Retain
		case <-deadline:
			w.t.Fatalf("%s: not seen in $SYS; values: %v", what, w.vals)
		}
	}
}

func number(vals map[string]string, topic string) int {
	n, err := strconv.Atoi(vals[topic])
	if err != nil {
		return -1
	}
	return n
}

// The broker publishes its $SYS topics every SysInterval, retained, and
// they follow what happens; wildcard filters at the first level do not
// match them (MQTT-4.7.2-1), and clients cannot publish to $SYS.
func TestSysTopics(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, broker.Config{SysInterval: 20 * time.Millisecond, Version: "test broker 1"})
	w := watchSys(t, dial(t, addr, packet.V5, connect("sys-watch")))
	subscribe(t, w.c, packet.Subscription{Filter: "$SYS/broker/#", QoS: packet.QoS1})
	w.until("version, uptime, one client", func(v map[string]string) bool {
		return v["$SYS/broker/version"] == "test broker 1" && strings.HasSuffix(v["$SYS/broker/uptime"], " seconds") &&
			number(v, "$SYS/broker/clients/connected") == 1
	})

	all := dial(t, addr, packet.V5, connect("sys-all"))
	subscribe(t, all, packet.Subscription{Filter: "#", QoS: packet.QoS1}, packet.Subscription{Filter: "+/broker/#", QoS: packet.QoS1})
	pub := dial(t, addr, packet.V5, connect("sys-pub"))
	for i := range 5 {
		publish(t, pub, "data/"+strconv.Itoa(i), packet.QoS1, i == 0, "x")
	}
	// A client's message to $SYS is dropped (acknowledged all the same).
	publish(t, pub, "$SYS/broker/version", packet.QoS1, true, "forged")
	w.until("3 clients, 5 messages in and out, 3 subscriptions, 1 retained", func(v map[string]string) bool {
		return number(v, "$SYS/broker/clients/connected") == 3 && number(v, "$SYS/broker/clients/maximum") == 3 &&
			number(v, "$SYS/broker/clients/total") == 3 && number(v, "$SYS/broker/publish/messages/received") == 6 &&
			number(v, "$SYS/broker/publish/messages/sent") >= 5 && number(v, "$SYS/broker/subscriptions/count") == 3 &&
			number(v, "$SYS/broker/bytes/received") > 0 && number(v, "$SYS/broker/bytes/sent") > 0 &&
			v["$SYS/broker/load/publish/received/1min"] != ""
	})
	if got := w.vals["$SYS/broker/version"]; got != "test broker 1" {
		t.Errorf("$SYS/broker/version %q after a client published to it", got)
	}
	for i := range 5 {
		expect(t, all, "data/"+strconv.Itoa(i), "x", packet.QoS1)
	}
	quiet(t, all) // MQTT-4.7.2-1: no $SYS message for "#" or "+/broker/#"

	// A late subscriber gets the values retained, the version first
	// published long ago among them.
	late := watchSys(t, dial(t, addr, packet.V311, connect("sys-late")))
	subscribe(t, late.c, packet.Subscription{Filter: "$SYS/broker/version", QoS: packet.QoS0})
	late.until("the version", func(v map[string]string) bool { return v["$SYS/broker/version"] == "test broker 1" })
	if !late.retained["$SYS/broker/version"] {
		t.Error("$SYS/broker/version not sent as a retained message")
	}
}

// A will on a $SYS topic is refused as a will the client may not publish:
// CONNACK 0x87 Not authorized (0x05 in 3.1.1).
func TestSysWillRefused(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	for _, tc := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V5, packet.NotAuthorized}, {packet.V311, packet.RefusedNotAuthorized}} {
		cn := connect("sys-will")
		cn.Will = packet.Will{Topic: "$SYS/broker/uptime", Payload: []byte("0 seconds")}
		refused(t, addr, tc.v, cn, tc.want)
	}
}
