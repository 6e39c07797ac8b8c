package client

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// mosquitto is Debian's mosquitto run for a test on a loopback port.
type mosquitto struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
}

// startMosquitto starts mosquitto on a free loopback port for the test;
// the test skips when mosquitto is not installed (.ci/run installs it).
func startMosquitto(t *testing.T) *mosquitto {
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
	m := &mosquitto{t: t, bin: bin, addr: addr, conf: filepath.Join(t.TempDir(), "mosquitto.conf")}
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n", port)
	if os.Geteuid() == 0 {
		text = "user root\n" + text
	}
	if err := os.WriteFile(m.conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.kill)
	return m
}

func (m *mosquitto) url() string { return "tcp://" + m.addr }

// start runs mosquitto and waits until it listens.
func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if nc, err := net.Dial("tcp", m.addr); err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto does not listen on %s", m.addr)
		}
	}
}

// kill stops mosquitto with SIGKILL.
func (m *mosquitto) kill() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		m.cmd = nil
	}
}

// TestMosquitto: against a real broker, a client subscribes to a filter
// with a wildcard and publishes to it at every QoS; each message comes
// back once, to the subscription's handler, and nothing after
// Unsubscribe.
func TestMosquitto(t *testing.T) {
	url := startMosquitto(t).url()
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

// TestMosquittoRestart: the broker is killed (SIGKILL) and started again
// on the same port; the Client reconnects, subscribes again (the broker
// lost the session) and messages flow as before.
func TestMosquittoRestart(t *testing.T) {
	m := startMosquitto(t)
	ctx := testContext(t)
	up := make(chan bool, 4)
	c, err := Connect(ctx, Config{Servers: []string{m.url()}, ClientID: "restart", SessionExpiry: time.Hour,
		MinRetryDelay: 20 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond,
		OnConnectionUp: func(present bool) { up <- present }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	got := make(chan string, 8)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "cmd/#", QoS: packet.QoS1},
		func(m Message) { got <- string(m.Payload) }); err != nil {
		t.Fatal(err)
	}
	roundTrip := func(payload string) {
		t.Helper()
		if err := c.Publish(ctx, Message{Topic: "cmd/led", QoS: packet.QoS1, Payload: []byte(payload)}); err != nil {
			t.Fatalf("Publish %s: %v", payload, err)
		}
		select {
		case p := <-got:
			if p != payload {
				t.Fatalf("got %q, want %q", p, payload)
			}
		case <-ctx.Done():
			t.Fatalf("%s never came back", payload)
		}
	}
	roundTrip("before")
	m.kill()
	m.start()
	select {
	case present := <-up:
		if present {
			t.Fatal("Session Present from a broker that lost everything")
		}
	case <-ctx.Done():
		t.Fatal("no reconnection")
	}
	roundTrip("after")
}
