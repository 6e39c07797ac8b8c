package client

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// mosquittoURL starts Debian's mosquitto on a free loopback port for the
// test, and returns its URL; the test skips when mosquitto is not
// installed (.ci/run installs it).
func mosquittoURL(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/mosquitto"); err2 != nil {
			t.Skip("mosquitto is not installed (apt-get install mosquitto)")
		}
		bin = "/usr/sbin/mosquitto"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n", port)
	if os.Geteuid() == 0 {
		text = "user root\n" + text
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if nc, err := net.Dial("tcp", addr); err == nil {
			nc.Close()
			return "tcp://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto does not listen on %s", addr)
		}
	}
}

// TestMosquitto: against a real broker, a client subscribes to a filter
// with a wildcard and publishes to it at every QoS; each message comes
// back once, to the subscription's handler, and nothing after
// Unsubscribe.
func TestMosquitto(t *testing.T) {
	url := mosquittoURL(t)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			ctx := testContext(t)
			c, err := Connect(ctx, Config{Servers: []string{url}, Version: v, ClientID: "mq-" + v.String(), CleanStart: true})
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan Message, 8)
			if err := c.Subscribe(ctx, packet.Subscription{Filter: "sensors/+/temp", QoS: packet.QoS2},
				func(m Message) { got <- m }); err != nil {
				t.Fatal(err)
			}
			for qos := packet.QoS0; qos <= packet.QoS2; qos++ {
				payload := fmt.Sprintf("%v-%d", v, qos)
				if err := c.Publish(ctx, Message{Topic: "sensors/7/temp", QoS: qos, Payload: []byte(payload)}); err != nil {
					t.Fatalf("QoS %d: %v", qos, err)
				}
				select {
				case m := <-got:
					if string(m.Payload) != payload || m.QoS != qos || m.Topic != "sensors/7/temp" {
						t.Fatalf("got %q QoS %d on %q, want %q QoS %d", m.Payload, m.QoS, m.Topic, payload, qos)
					}
				case <-ctx.Done():
					t.Fatalf("QoS %d message never came back", qos)
				}
			}
			if err := c.Unsubscribe(ctx, "sensors/+/temp"); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				t.Fatalf("a message came twice: %q", m.Payload)
			default:
			}
		})
	}
}
