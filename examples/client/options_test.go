package main

import (
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// -url takes the schemes the client and client/websocket dial, with the
// defaults of before: tcp:// for a bare address, /mqtt for WebSocket.
func TestServerURL(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "127.0.0.1:1883", want: "tcp://127.0.0.1:1883"},
		{in: "mqtt://broker", want: "mqtt://broker"},
		{in: "MQTTS://broker:8883/", want: "mqtts://broker:8883"},
		{in: "ws://broker:8080", want: "ws://broker:8080/mqtt"},
		{in: "wss://broker/ws?x=1", want: "wss://broker/ws?x=1"},
		{in: "http://broker", err: "unknown scheme"},
		{in: "tcp://broker/path", err: "has no path"},
		{in: "tcp://:1883", err: "no host"},
	} {
		u, err := serverURL(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.err == "" && u.String() != tc.want:
			t.Errorf("%s: %s, want %s", tc.in, u, tc.want)
		}
	}
}

// The command line maps onto client.Config: keep-alive 0 is off (not
// the client's default), -c alone keeps the session forever in 5.0, -D
// goes into the CONNECT, and pub reconnects only where it loses nothing
// by it or runs for long.
func TestConfig(t *testing.T) {
	config := func(args ...string) *options {
		t.Helper()
		o, err := parse(args[0] == "pub", args[1:], io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := config("pub", "-t", "a", "-m", "x", "-k", "0", "-u", "me", "-P", "", "-D", "k=v",
		"--will-topic", "w", "--will-payload", "gone", "--will-qos", "1")
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KeepAlive >= 0 || cfg.SessionExpiry != 0 || !cfg.CleanStart || cfg.Username != "me" ||
		cfg.Password == nil || len(cfg.Password) != 0 || cfg.Will == nil || cfg.Will.QoS != 1 ||
		string(cfg.Will.Payload) != "gone" || !cfg.NoReconnect {
		t.Fatalf("config %+v", cfg)
	}
	var p packet.Connect
	cfg.EditConnect(&p)
	if len(p.Props.User) != 1 || p.Props.User[0] != (property.User{Key: "k", Value: "v"}) {
		t.Fatalf("CONNECT user properties %v", p.Props.User)
	}

	cfg, _ = config("sub", "-t", "a", "-c", "-i", "me", "-k", "30").config()
	if cfg.CleanStart || cfg.SessionExpiry != math.MaxUint32*time.Second || cfg.KeepAlive != 30*time.Second ||
		cfg.NoReconnect || cfg.MaxRetryDelay != 30*time.Second || cfg.EditConnect != nil {
		t.Fatalf("sub -c: %+v", cfg)
	}
	cfg, _ = config("sub", "-t", "a", "-c", "-i", "me", "-V", "3.1.1").config()
	if cfg.CleanStart || cfg.SessionExpiry != 0 || cfg.Version != packet.V311 {
		t.Fatalf("sub -c -V 3.1.1: %+v", cfg)
	}

	for _, tc := range []struct {
		args      []string
		reconnect bool
	}{
		{[]string{"pub", "-t", "a", "-m", "x"}, false},
		{[]string{"pub", "-t", "a", "-m", "x", "-x", "60"}, true},
		{[]string{"pub", "-t", "a", "-m", "x", "-c", "-i", "me", "-V", "3.1.1"}, true},
		{[]string{"pub", "-t", "a", "-l"}, true},
		{[]string{"pub", "-t", "a", "-l", "--retry-max", "0"}, false},
		{[]string{"sub", "-t", "a"}, true},
		{[]string{"sub", "-t", "a", "--retry-max", "0"}, false},
	} {
		if cfg, _ := config(tc.args...).config(); cfg.NoReconnect == tc.reconnect {
			t.Errorf("%q: NoReconnect %v", tc.args, cfg.NoReconnect)
		}
	}
}
