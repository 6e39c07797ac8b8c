package client

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// daemon is a proxy program run for a test, with its output.
type daemon struct {
	addr string
	mu   sync.Mutex
	out  bytes.Buffer
}

func (d *daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.Write(p)
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// startDaemon runs a Debian program (skipping the test when it is not
// installed; .ci/run installs it) with a configuration made for a free
// loopback port, and waits until it listens.
func startDaemon(t *testing.T, name, debianPackage string, conf func(port string) string, args func(path string) []string) *daemon {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				bin = filepath.Join(dir, name)
			}
		}
		if bin == "" {
			t.Skipf("%s is not installed (apt-get install %s)", name, debianPackage)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{addr: l.Addr().String()}
	l.Close()
	_, port, _ := net.SplitHostPort(d.addr)
	path := filepath.Join(t.TempDir(), name+".conf")
	if err := os.WriteFile(path, []byte(conf(port)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args(path)...)
	cmd.Stdout, cmd.Stderr = d, d
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if nc, err := net.Dial("tcp", d.addr); err == nil {
			nc.Close()
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s:\n%s", name, d.addr, d.log())
		}
	}
}

// roundTripVia connects to mosquitto through proxy, and sends itself a
// QoS 1 message.
func roundTripVia(t *testing.T, broker string, proxy *url.URL) {
	t.Helper()
	ctx := testContext(t)
	c, err := Connect(ctx, Config{Servers: []string{broker}, ClientID: "proxied", CleanStart: true, NoReconnect: true,
		Proxy: func(*url.URL) (*url.URL, error) { return proxy, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	got := make(chan string, 1)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "px", QoS: 1}, func(m Message) { got <- string(m.Payload) }); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, Message{Topic: "px", QoS: 1, Payload: []byte("through " + proxy.Scheme)}); err != nil {
		t.Fatal(err)
	}
	if p := <-got; p != "through "+proxy.Scheme {
		t.Fatalf("got %q", p)
	}
}

// TestProxyHTTPConnect: through Debian's tinyproxy (HTTP CONNECT), a
// client reaches mosquitto; the proxy's log shows the tunnel.
func TestProxyHTTPConnect(t *testing.T) {
	m := startMosquitto(t)
	tp := startDaemon(t, "tinyproxy", "tinyproxy", func(port string) string {
		return fmt.Sprintf("Port %s\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\nLogLevel Info\nMaxClients 20\n", port)
	}, func(path string) []string { return []string{"-d", "-c", path} })
	roundTripVia(t, m.url(), &url.URL{Scheme: "http", Host: tp.addr})
	if log := tp.log(); !strings.Contains(log, "CONNECT") || !strings.Contains(log, m.addr[strings.LastIndex(m.addr, ":")+1:]) {
		t.Fatalf("tinyproxy's log shows no CONNECT to mosquitto:\n%s", log)
	}
}

// TestProxySOCKS5: through Debian's Dante server (SOCKS5), a client
// reaches mosquitto; the proxy's log shows the connection.
func TestProxySOCKS5(t *testing.T) {
	m := startMosquitto(t)
	user := "root"
	if os.Geteuid() != 0 {
		user = "nobody"
	}
	dd := startDaemon(t, "danted", "dante-server", func(port string) string {
		return "logoutput: stderr\ninternal: 127.0.0.1 port = " + port + "\nexternal: 127.0.0.1\n" +
			"socksmethod: none\nclientmethod: none\nuser.privileged: " + user + "\nuser.unprivileged: " + user + "\n" +
			"client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n" +
			"socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect }\n"
	}, func(path string) []string { return []string{"-f", path, "-N", "1"} })
	roundTripVia(t, m.url(), &url.URL{Scheme: "socks5", Host: dd.addr})
	if log := dd.log(); !strings.Contains(log, m.addr[strings.LastIndex(m.addr, ":")+1:]) {
		t.Fatalf("danted's log shows no connection to mosquitto:\n%s", log)
	}
}

// TestProxyFromEnvironment: HTTP_PROXY for tcp://, HTTPS_PROXY for
// tls://, NO_PROXY honoured, as net/http reads them (once per process:
// this test sets them first).
func TestProxyFromEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://plain-proxy:3128")
	t.Setenv("HTTPS_PROXY", "socks5://secure-proxy:1080")
	t.Setenv("NO_PROXY", "direct.example")
	for _, c := range []struct{ server, want string }{
		{"tcp://broker.example:1883", "http://plain-proxy:3128"},
		{"mqtts://broker.example", "socks5://secure-proxy:1080"},
		{"tcp://direct.example:1883", ""},
	} {
		u, _ := url.Parse(c.server)
		p, err := ProxyFromEnvironment(u)
		got := ""
		if p != nil {
			got = p.String()
		}
		if err != nil || got != c.want {
			t.Errorf("%s: proxy %q (%v), want %q", c.server, got, err, c.want)
		}
	}
}
