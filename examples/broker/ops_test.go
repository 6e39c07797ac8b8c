package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/cmdtest"
	"github.com/mqttcore/mqtt/examples/internal/testcert"
	"github.com/mqttcore/mqtt/examples/internal/transport"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/quic"
)

// started is a run of the command: its announced addresses, the other
// lines of its standard output, and its standard error.
type started struct {
	mqtt   []string // the addresses of "mqtt broker listening on"
	other  []string // the lines after them
	stderr *cmdtest.Buffer
	stop   func() error
}

// startRun runs the command with args until the test ends, and reads the
// n lines that announce its MQTT listeners and the extra lines after them.
func startRun(t *testing.T, n, extra int, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &started{stderr: &cmdtest.Buffer{}}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, pw, s.stderr)
		pw.Close()
	}()
	var once sync.Once
	var err error
	s.stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { s.stop() })
	br := bufio.NewReader(pr)
	for i := range n + extra {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the startup lines: %v (stderr: %s)", err, s.stderr)
		}
		line = strings.TrimSpace(line)
		if i >= n {
			s.other = append(s.other, line)
			continue
		}
		addr, ok := strings.CutPrefix(line, "mqtt broker listening on ")
		if !ok {
			t.Fatalf("startup line %q", line)
		}
		s.mqtt = append(s.mqtt, addr)
	}
	go io.Copy(io.Discard, pr)
	return s
}

// scrape reads the metrics endpoint at url and returns the value of each
// sample without labels.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			vals[name] = v
		}
	}
	return vals
}

// -metrics-addr serves the broker's counts to Prometheus, and they move
// as clients connect and publish.
func TestMetricsEndpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := startRun(t, 1, 1, "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-quiet")
	url, ok := strings.CutPrefix(s.other[0], "metrics listening on ")
	if !ok || !strings.HasSuffix(url, "/metrics") {
		t.Fatalf("metrics line %q", s.other[0])
	}
	before := scrape(t, url)
	for _, name := range []string{"mqtt_broker_clients_connected", "mqtt_broker_publish_received_total",
		"mqtt_broker_bytes_received_total", "go_goroutines"} {
		if _, ok := before[name]; !ok {
			t.Errorf("no %s among the metrics", name)
		}
	}
	if before["mqtt_broker_clients_connected"] != 0 || before["mqtt_broker_publish_received_total"] != 0 {
		t.Errorf("before any client: %v connected, %v received", before["mqtt_broker_clients_connected"],
			before["mqtt_broker_publish_received_total"])
	}

	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + s.mqtt[0]}, ClientID: "metered",
		CleanStart: true, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "m/#", QoS: packet.QoS1}, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.Publish(ctx, client.Message{Topic: "m/x", QoS: packet.QoS1, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	after := scrape(t, url)
	for name, want := range map[string]float64{"mqtt_broker_clients_connected": 1, "mqtt_broker_connections_total": 1,
		"mqtt_broker_publish_received_total": 3, "mqtt_broker_subscriptions": 1} {
		if got := after[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if after["mqtt_broker_bytes_received_total"] <= before["mqtt_broker_bytes_received_total"] ||
		after["mqtt_broker_bytes_sent_total"] <= before["mqtt_broker_bytes_sent_total"] {
		t.Errorf("bytes did not move: %v", after)
	}
}

// logRecord is a JSON log record of the broker.
type logRecord struct {
	Level, Msg, Client, Reason string
}

// -log-format json logs a record a line, with the client's identifier
// on the connection's records; -log-level cuts the levels below it.
func TestStructuredLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := startRun(t, 1, 0, "-addr", "127.0.0.1:0", "-log-format", "json", "-sys-interval", "0")
	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + s.mqtt[0]}, ClientID: "logged",
		CleanStart: true, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The DISCONNECT is read after Close returns: the broker is stopped
	// once it is.
	for !strings.Contains(s.stderr.String(), `"msg":"client gone"`) {
		if ctx.Err() != nil {
			t.Fatalf("the end of the connection not logged: %s", s.stderr)
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	var seen []string
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if r.Client == "logged" {
			seen = append(seen, r.Level+" "+r.Msg+" "+r.Reason)
		}
	}
	want := []string{"INFO client connected ", "INFO client gone client disconnected"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("records of the client: %q, want %q", seen, want)
	}

	s = startRun(t, 1, 0, "-addr", "127.0.0.1:0", "-log-level", "warn")
	c, err = client.Connect(ctx, client.Config{Servers: []string{"tcp://" + s.mqtt[0]}, ClientID: "unlogged",
		CleanStart: true, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	if err := s.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if out := s.stderr.String(); out != "" {
		t.Errorf("-log-level warn logged %q", out)
	}

	for _, bad := range [][]string{{"-log-level", "loud"}, {"-log-format", "xml"}, {"-sys-interval", "-1"}} {
		if err := run(ctx, append([]string{"-addr", "127.0.0.1:0"}, bad...), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v, want an error naming the flag", bad, err)
		}
	}
}

// -quic-addr serves MQTT over QUIC, which the importable client dials
// with quic.Dialer; the QUIC client and a TCP one share the broker.
func TestQUICListener(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	files, err := testcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := startRun(t, 2, 0, "-addr", "127.0.0.1:0", "-quic-addr", "127.0.0.1:0", "-tls-cert", files.Cert,
		"-tls-key", files.Key, "-quiet")
	if !strings.HasPrefix(s.mqtt[1], "quic://127.0.0.1:") {
		t.Fatalf("QUIC listener announced as %q", s.mqtt[1])
	}
	cliTLS, err := transport.TLSFiles{CAFile: files.CA}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	qc, err := client.Connect(ctx, client.Config{Servers: []string{s.mqtt[1]}, ClientID: "over-quic",
		CleanStart: true, NoReconnect: true, Dialer: &quic.Dialer{TLSConfig: cliTLS}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan client.Message, 1)
	if err := qc.Subscribe(ctx, packet.Subscription{Filter: "q/#", QoS: packet.QoS2}, func(m client.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	tc, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://" + s.mqtt[0]}, ClientID: "over-tcp",
		CleanStart: true, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Publish(ctx, client.Message{Topic: "q/1", QoS: packet.QoS2, Payload: []byte("across")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic != "q/1" || string(m.Payload) != "across" || m.QoS != packet.QoS2 {
			t.Fatalf("received %q %q at QoS %d", m.Topic, m.Payload, m.QoS)
		}
	case <-ctx.Done():
		t.Fatal("no message over QUIC")
	}
	if err := qc.Close(ctx); err != nil {
		t.Errorf("closing the QUIC client: %v", err)
	}
	tc.Close(ctx)

	if err := run(ctx, []string{"-quic-addr", "127.0.0.1:0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("-quic-addr without a certificate: %v", err)
	}
}
