package interop

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
)

// startAuthBroker serves the example broker with authConfig.
func startAuthBroker(t *testing.T) (host, port string) {
	t.Helper()
	addr := brokertest.Start(t, authConfig(t))
	host, port, _ = net.SplitHostPort(addr)
	return host, port
}

// authConfig configures the example broker with a password file of alice
// (password wonderland) and bob (builder), and an ACL: alice may read and
// write alice/#, bob write alice/inbox; nobody else anything.
func authConfig(t *testing.T) broker.Config {
	t.Helper()
	var file strings.Builder
	for _, u := range [][2]string{{"alice", "wonderland"}, {"bob", "builder"}} {
		line, _, err := broker.PasswordEntry(u[0], u[1], 4) // bcrypt's least cost: the tests' speed
		if err != nil {
			t.Fatal(err)
		}
		file.WriteString(line + "\n")
	}
	pw, err := broker.ParsePasswords(strings.NewReader(file.String()), "passwords")
	if err != nil {
		t.Fatal(err)
	}
	acl, err := broker.ParseACL(strings.NewReader("user alice\ntopic alice/#\nuser bob\ntopic write alice/inbox\n"), "acl")
	if err != nil {
		t.Fatal(err)
	}
	return broker.Config{Logger: brokertest.Logger(t, slog.LevelInfo), Passwords: pw, ACL: acl, AuthDelay: 10 * time.Millisecond}
}

// mosquitto_pub and mosquitto_sub with -u and -P against the example
// broker's password file and ACL, in both versions.
func TestMosquittoClientsAuth(t *testing.T) {
	t.Parallel()
	pub, sub := tool(t, "mosquitto_pub"), tool(t, "mosquitto_sub")
	host, port := startAuthBroker(t)
	mosq := func(bin, ver string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port, "-V", ver}, args...)...).CombinedOutput()
		return string(out), err
	}
	for _, ver := range mosquittoVersions {
		t.Run(ver.flag, func(t *testing.T) {
			topic := "alice/" + ver.flag
			// A retained message that bob may write and alice read;
			// mosquitto_sub gets it on subscribing.
			if out, err := mosq(pub, ver.flag, "-u", "bob", "-P", "builder", "-q", "1", "-r", "-t", "alice/inbox", "-m", "from bob "+ver.flag); err != nil {
				t.Fatalf("mosquitto_pub as bob: %v: %s", err, out)
			}
			out, err := mosq(sub, ver.flag, "-u", "alice", "-P", "wonderland", "-q", "1", "-t", "alice/#", "-C", "1", "-W", "5", "-v")
			if err != nil || strings.TrimSpace(out) != "alice/inbox from bob "+ver.flag {
				t.Fatalf("mosquitto_sub as alice: %v: %q", err, out)
			}
			if out, err := mosq(pub, ver.flag, "-u", "alice", "-P", "wonderland", "-q", "2", "-t", topic, "-m", "x"); err != nil {
				t.Fatalf("mosquitto_pub as alice: %v: %s", err, out)
			}
			// Refusals: wrong password, unknown user, no user name.
			for _, args := range [][]string{{"-u", "alice", "-P", "Wonderland"}, {"-u", "carol", "-P", "x"}} {
				out, err := mosq(pub, ver.flag, append(args, "-t", topic, "-m", "x")...)
				if err == nil || !strings.Contains(strings.ToLower(out), "bad user name or password") {
					t.Errorf("mosquitto_pub %v: %v: %q, want refused for bad credentials", args, err, out)
				}
			}
			out, err = mosq(pub, ver.flag, "-t", topic, "-m", "x")
			if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
				t.Errorf("mosquitto_pub without a user name: %v: %q, want not authorised", err, out)
			}
		})
	}
	t.Run("v5 publish refused by the ACL", func(t *testing.T) {
		out, err := mosq(pub, "mqttv5", "-u", "bob", "-P", "builder", "-q", "1", "-t", "alice/diary", "-m", "x")
		// mosquitto_pub says "Warning: Publish 1 failed: Not authorized."
		if !strings.Contains(strings.ToLower(out), "not authori") {
			t.Errorf("mosquitto_pub to a topic bob may not write: %v: %q", err, out)
		}
	})
	t.Run("v5 subscribe refused by the ACL", func(t *testing.T) {
		out, err := mosq(sub, "mqttv5", "-u", "bob", "-P", "builder", "-t", "alice/#", "-C", "1", "-W", "2")
		if !strings.Contains(out, "All subscription requests were denied") {
			t.Errorf("mosquitto_sub to a filter bob may not read: %v: %q", err, out)
		}
	})
}

// paho.golang (v5) with a user name and password: accepted, refused with
// 0x86, and its PUBACK 0x87 for a topic the ACL refuses.
func TestPahoAuth(t *testing.T) {
	t.Parallel()
	host, port := startAuthBroker(t)
	addr := net.JoinHostPort(host, port)
	c, _, _ := pahoClient(t, addr, &paho.Connect{ClientID: "paho-alice", CleanStart: true,
		Username: "alice", UsernameFlag: true, Password: []byte("wonderland"), PasswordFlag: true})
	pahoSubscribe(t, c, "alice/#", 1)
	resp, err := c.Publish(testContext(t), &paho.Publish{Topic: "bob/x", QoS: 1, Payload: []byte("x")})
	if err == nil && (resp == nil || resp.ReasonCode != 0x87) {
		t.Errorf("publish refused by the ACL: %v, %+v, want PUBACK 0x87", err, resp)
	}

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bad := paho.NewClient(paho.ClientConfig{Conn: nc})
	ack, err := bad.Connect(testContext(t), &paho.Connect{ClientID: "paho-guess", CleanStart: true, KeepAlive: 30,
		Username: "alice", UsernameFlag: true, Password: []byte("guess"), PasswordFlag: true})
	if err == nil || ack == nil || ack.ReasonCode != 0x86 {
		t.Errorf("wrong password: %v, CONNACK %+v, want 0x86", err, ack)
	}
}
