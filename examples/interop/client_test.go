package interop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// This file drives the client (package client, through the adapter of
// package brokertest) against a broker under test, in process or over a
// transport URL, and the built examples/client command.

// dialer is how a client reaches the broker under test: a transport URL
// (tcp://, tls://, ws://, wss://) and, for tls:// and wss://, the TLS
// configuration.
type dialer struct {
	url string
	tls *tls.Config
}

func urlDialer(url string, tlsCfg *tls.Config) dialer { return dialer{url: url, tls: tlsCfg} }

// connectClient connects a client of version v through d with cn,
// resuming the session of prev, an earlier client, when it is not nil,
// and drops the connection at the end of the test.
func connectClient(t *testing.T, d dialer, v packet.Version, cn *packet.Connect, prev *brokertest.Client) *brokertest.Client {
	t.Helper()
	cfg := brokertest.Config(d.url, v, cn)
	cfg.Dialer = brokertest.Transport(d.tls)
	if prev != nil {
		cfg.Store = prev.Store()
	}
	return brokertest.Dial(t, cfg)
}

// received checks that the next message c receives is the one described.
func received(t *testing.T, c *brokertest.Client, topic, payload string, qos packet.QoS, retain bool) {
	t.Helper()
	select {
	case m := <-c.Messages():
		if m.Topic != topic || string(m.Payload) != payload || m.QoS != qos || m.Retain != retain {
			t.Fatalf("received %q %q qos=%d retain=%v, want %q %q qos=%d retain=%v",
				m.Topic, m.Payload, m.QoS, m.Retain, topic, payload, qos, retain)
		}
	case <-c.Done():
		t.Fatalf("connection ended: %v", c.Err())
	case <-time.After(3 * time.Second):
		t.Fatalf("no message on %q within 3s", topic)
	}
}

// versionName is the name of v in subtests and client ids.
func versionName(v packet.Version) string {
	if v == packet.V311 {
		return "v311"
	}
	return "v5"
}

// roundTrips connects a subscriber and a publisher in version v and sends
// a message at QoS 0, 1 and 2 from one to the other through the broker,
// under topics below root. It returns both clients, still connected.
func roundTrips(t *testing.T, d dialer, v packet.Version, root string) (sub, pub *brokertest.Client) {
	t.Helper()
	id := strings.ReplaceAll(root, "/", "-")
	sub = connectClient(t, d, v, &packet.Connect{ClientID: id + "-sub", CleanStart: true, KeepAlive: 30}, nil)
	pub = connectClient(t, d, v, &packet.Connect{ClientID: id + "-pub", CleanStart: true, KeepAlive: 30}, nil)
	ack, err := sub.SubscribeWith(testContext(t), &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: root + "/+/#", QoS: packet.QoS2}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ack.Reasons) != 1 || ack.Reasons[0] != packet.GrantedQoS2 {
		t.Fatalf("SUBACK %v, want QoS 2 granted", ack.Reasons)
	}
	for qos := range packet.QoS(3) {
		topic := fmt.Sprintf("%s/q%d/t", root, qos)
		payload := fmt.Sprintf("hi %d", qos)
		if err := pub.Publish(testContext(t), client.Message{Topic: topic, QoS: qos, Payload: []byte(payload)}); err != nil {
			t.Fatalf("publish at QoS %d: %v", qos, err)
		}
		received(t, sub, topic, payload, qos, false)
	}
	return sub, pub
}

// clientScenario runs the client against a broker in both
// versions: QoS 0, 1 and 2 round trips, a retained message, a will
// published when a client drops without DISCONNECT, and a persistent
// session that gets the QoS 1 message published while its client was
// offline once the client reconnects.
func clientScenario(t *testing.T, d dialer, name string) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			root := name + "/" + versionName(v)
			id := func(s string) string { return name + "-" + s + "-" + versionName(v) }
			conn := func(s string) *packet.Connect {
				return &packet.Connect{ClientID: id(s), CleanStart: true, KeepAlive: 30}
			}
			sub, pub := roundTrips(t, d, v, root)

			// Retained: stored by the broker, sent to a later subscriber
			// with the RETAIN flag.
			if err := pub.Publish(testContext(t), client.Message{Topic: root + "/retained/a", QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
				t.Fatal(err)
			}
			received(t, sub, root+"/retained/a", "kept", 1, false)
			late := connectClient(t, d, v, conn("late"), nil)
			if err := late.Subscribe(testContext(t), packet.Subscription{Filter: root + "/retained/#", QoS: packet.QoS1}, nil); err != nil {
				t.Fatal(err)
			}
			received(t, late, root+"/retained/a", "kept", 1, true)

			// Will: published when the connection drops without
			// DISCONNECT.
			wc := conn("will")
			wc.Will = packet.Will{Topic: root + "/will/x", QoS: 1, Payload: []byte("gone")}
			connectClient(t, d, v, wc, nil).Drop()
			received(t, sub, root+"/will/x", "gone", 1, false)

			// And not published after a normal DISCONNECT.
			nw := conn("nowill")
			nw.Will = packet.Will{Topic: root + "/will/y", QoS: 1, Payload: []byte("wrong")}
			if err := connectClient(t, d, v, nw, nil).Disconnect(testContext(t), &packet.Disconnect{Reason: packet.NormalDisconnection}); err != nil {
				t.Fatal(err)
			}

			// Session resume: a QoS 1 message published while the client
			// is offline arrives after it reconnects.
			pc := conn("persist")
			pc.CleanStart = false
			if v == packet.V5 {
				pc.Props.SessionExpiry = 60
			}
			p := connectClient(t, d, v, pc, nil)
			if err := p.Subscribe(testContext(t), packet.Subscription{Filter: root + "/away/#", QoS: packet.QoS1}, nil); err != nil {
				t.Fatal(err)
			}
			if err := p.Disconnect(testContext(t), &packet.Disconnect{Reason: packet.NormalDisconnection}); err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(testContext(t), client.Message{Topic: root + "/away/1", QoS: 1, Payload: []byte("queued")}); err != nil {
				t.Fatal(err)
			}
			// A marker after the queued message: the will of "nowill",
			// had it been sent, would arrive before it.
			if err := pub.Publish(testContext(t), client.Message{Topic: root + "/marker/m", QoS: 1, Payload: []byte("end")}); err != nil {
				t.Fatal(err)
			}
			received(t, sub, root+"/away/1", "queued", 1, false)
			received(t, sub, root+"/marker/m", "end", 1, false)
			p2 := connectClient(t, d, v, pc, p)
			if !p2.Connack().SessionPresent {
				t.Fatal("the broker did not resume the session")
			}
			received(t, p2, root+"/away/1", "queued", 1, false)
		})
	}
}

// buildClientCommand builds examples/client into a directory of the test
// and returns the program's path.
func buildClientCommand(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "client")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/mqttcore/mqtt/examples/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go build examples/client: %v\n%s", err, out)
	}
	return bin
}

// runCommand runs the built client with args and returns its standard
// output, its standard error and its exit code.
func runCommand(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
		code = exit.ExitCode()
	default:
		t.Fatalf("client %q: %v\nstderr: %s", args, err, e.String())
	}
	return o.String(), e.String(), code
}
