package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/examples/internal/client"
	"github.com/mqttcore/mqtt/packet"
)

const installHint = "mosquitto not installed: apt-get install mosquitto mosquitto-clients"

// tool finds a mosquitto program on PATH or in /usr/sbin (where Debian
// puts the broker), or skips the test.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/sbin", name); fileExists(p) {
		return p
	}
	t.Skip(installHint)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// mosquittoVersions are the -V values of mosquitto_pub and mosquitto_sub.
var mosquittoVersions = []struct {
	flag string
	v    packet.Version
}{{"mqttv311", packet.V311}, {"mqttv5", packet.V5}}

// mosquitto_pub publishes at QoS 0, 1 and 2 (retained) and mosquitto_sub
// receives them, through the example broker, in both protocol versions.
func TestMosquittoClientsAgainstBroker(t *testing.T) {
	t.Parallel()
	pub, sub := tool(t, "mosquitto_pub"), tool(t, "mosquitto_sub")
	addr := startBroker(t)
	host, port, _ := net.SplitHostPort(addr)
	for _, ver := range mosquittoVersions {
		t.Run(ver.flag, func(t *testing.T) {
			var want []string
			for qos := range 3 {
				topic := fmt.Sprintf("mq/%s/q%d", ver.flag, qos)
				payload := fmt.Sprintf("hello %d", qos)
				out, err := exec.CommandContext(testContext(t), pub, "-h", host, "-p", port, "-V", ver.flag,
					"-q", fmt.Sprint(qos), "-r", "-t", topic, "-m", payload).CombinedOutput()
				if err != nil {
					t.Fatalf("mosquitto_pub: %v: %s", err, out)
				}
				want = append(want, topic+" "+payload)
			}
			out, err := exec.CommandContext(testContext(t), sub, "-h", host, "-p", port, "-V", ver.flag,
				"-q", "2", "-t", "mq/"+ver.flag+"/#", "-v", "-C", "3", "-W", "3").CombinedOutput()
			if err != nil {
				t.Fatalf("mosquitto_sub: %v: %s", err, out)
			}
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("mosquitto_sub printed %q, want %q", got, want)
			}
		})
	}
}

// startMosquitto runs a mosquitto broker on a free loopback port with a
// generated configuration and returns its address.
func startMosquitto(t *testing.T) string {
	t.Helper()
	bin := tool(t, "mosquitto")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	text := "listener " + port + " 127.0.0.1\nallow_anonymous true\npersistence false\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", log.String())
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; {
		nc, err := net.Dial("tcp", addr)
		if err == nil {
			nc.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto does not listen on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dialMosquitto(t *testing.T, addr string, v packet.Version, cn *packet.Connect, session []byte) *client.Client {
	t.Helper()
	cfg := mqtt.Config{Version: v}
	var c *client.Client
	var err error
	if session != nil {
		c, err = client.Resume(testContext(t), addr, cn, cfg, session)
	} else {
		c, err = client.Dial(testContext(t), addr, cn, cfg)
	}
	if err != nil {
		t.Fatalf("connect %q to mosquitto: %v", cn.ClientID, err)
	}
	t.Cleanup(c.Close)
	return c
}

func received(t *testing.T, c *client.Client, topic, payload string, qos packet.QoS, retain bool) {
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

// The example client against a real mosquitto broker, in both versions:
// QoS 0, 1 and 2, retained messages, wills and session resume.
func TestClientAgainstMosquitto(t *testing.T) {
	t.Parallel()
	addr := startMosquitto(t)
	for _, ver := range mosquittoVersions {
		t.Run(ver.flag, func(t *testing.T) {
			v := ver.v
			id := func(s string) string { return s + "-" + ver.flag }
			conn := func(s string) *packet.Connect {
				return &packet.Connect{ClientID: id(s), CleanStart: true, KeepAlive: 30}
			}
			sub := dialMosquitto(t, addr, v, conn("sub"), nil)
			pub := dialMosquitto(t, addr, v, conn("pub"), nil)
			root := "x/" + ver.flag
			if _, err := sub.Subscribe(testContext(t), packet.Subscription{Filter: root + "/+/#", QoS: packet.QoS2}); err != nil {
				t.Fatal(err)
			}
			for qos := range packet.QoS(3) {
				topic := fmt.Sprintf("%s/q%d/t", root, qos)
				if err := pub.Publish(testContext(t), &packet.Publish{Topic: topic, QoS: qos, Payload: []byte("hi")}); err != nil {
					t.Fatal(err)
				}
				received(t, sub, topic, "hi", qos, false)
			}

			// Retained: stored by mosquitto, sent to a later subscriber.
			if err := pub.Publish(testContext(t), &packet.Publish{Topic: root + "r/a", QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
				t.Fatal(err)
			}
			late := dialMosquitto(t, addr, v, conn("late"), nil)
			if _, err := late.Subscribe(testContext(t), packet.Subscription{Filter: root + "r/#", QoS: packet.QoS1}); err != nil {
				t.Fatal(err)
			}
			received(t, late, root+"r/a", "kept", 1, true)

			// Will: published when the connection drops.
			wc := conn("will")
			wc.Will = packet.Will{Topic: root + "/will/x", QoS: 1, Payload: []byte("gone")}
			dialMosquitto(t, addr, v, wc, nil).Close()
			received(t, sub, root+"/will/x", "gone", 1, false)

			// Session resume: a QoS 1 message published while the client
			// is away arrives after it reconnects.
			pc := conn("persist")
			pc.CleanStart = false
			if v == packet.V5 {
				pc.Props.SessionExpiry = 60
			}
			p := dialMosquitto(t, addr, v, pc, nil)
			if _, err := p.Subscribe(testContext(t), packet.Subscription{Filter: root + "away/#", QoS: packet.QoS1}); err != nil {
				t.Fatal(err)
			}
			if err := p.Disconnect(testContext(t), packet.NormalDisconnection); err != nil {
				t.Fatal(err)
			}
			session := p.Session()
			if err := pub.Publish(testContext(t), &packet.Publish{Topic: root + "away/1", QoS: 1, Payload: []byte("queued")}); err != nil {
				t.Fatal(err)
			}
			p2 := dialMosquitto(t, addr, v, pc, session)
			if !p2.Connack().SessionPresent {
				t.Fatal("mosquitto did not resume the session")
			}
			received(t, p2, root+"away/1", "queued", 1, false)
		})
	}
}
