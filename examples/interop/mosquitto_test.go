package interop

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/testcert"
	"github.com/mqttcore/mqtt/examples/internal/transport"
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

// mosquittoBroker is a mosquitto process serving on loopback.
type mosquittoBroker struct {
	tcp     string // tcp:// URL
	tls     string // tls:// URL; empty unless started with TLS
	ws, wss string // ws:// and wss:// URLs; empty when noWS is set
	noWS    string // why mosquitto has no WebSocket listeners
	caFile  string // PEM file of the CA that signed the server's certificate
}

// startMosquitto runs a mosquitto broker on a free loopback port with a
// generated configuration and returns its address.
func startMosquitto(t *testing.T) string {
	t.Helper()
	bin := tool(t, "mosquitto")
	ports := freePorts(t, 1)
	conf := "listener " + ports[0] + " 127.0.0.1\n"
	if log, err := runMosquitto(t, bin, conf, ports); err != nil {
		t.Fatalf("mosquitto: %v\n%s", err, log)
	}
	return "127.0.0.1:" + ports[0]
}

// startMosquittoSecure runs a mosquitto broker with four loopback
// listeners: plain TCP, TLS, WebSocket and WebSocket over TLS. Its
// certificate, for 127.0.0.1, is signed by a CA made for the test. When
// this mosquitto cannot serve WebSocket (a build without it), it runs
// with TCP and TLS only and noWS tells why.
func startMosquittoSecure(t *testing.T) *mosquittoBroker {
	t.Helper()
	bin := tool(t, "mosquitto")
	dir := t.TempDir()
	b := &mosquittoBroker{}
	files, err := testcert.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	b.caFile = files.CA
	ports := freePorts(t, 4)
	tlsFiles := "certfile " + files.Cert + "\nkeyfile " + files.Key + "\n"
	base := "listener " + ports[0] + " 127.0.0.1\n" + // mosquitto 2.0 wants a listener that is not WebSocket
		"listener " + ports[1] + " 127.0.0.1\n" + tlsFiles
	ws := "listener " + ports[2] + " 127.0.0.1\nprotocol websockets\n" +
		"listener " + ports[3] + " 127.0.0.1\nprotocol websockets\n" + tlsFiles
	b.tcp, b.tls = "tcp://127.0.0.1:"+ports[0], "tls://127.0.0.1:"+ports[1]
	log, err := runMosquitto(t, bin, base+ws, ports)
	if err == nil {
		b.ws, b.wss = "ws://127.0.0.1:"+ports[2]+"/mqtt", "wss://127.0.0.1:"+ports[3]+"/mqtt"
		return b
	}
	if !strings.Contains(strings.ToLower(log), "websocket") {
		t.Fatalf("mosquitto: %v\n%s", err, log)
	}
	b.noWS = fmt.Sprintf("this mosquitto does not serve WebSocket (%v): %s", err, strings.TrimSpace(log))
	if log2, err := runMosquitto(t, bin, base, ports[:2]); err != nil {
		t.Fatalf("mosquitto without WebSocket listeners: %v\n%s", err, log2)
	}
	return b
}

// freePorts returns n distinct loopback ports that were free a moment
// ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, port)
	}
	return ports
}

// runMosquitto starts mosquitto with the listeners of conf and waits until
// it accepts connections on every port. It returns mosquitto's log and an
// error when mosquitto exits or does not listen in time; otherwise the
// process runs until the end of the test.
func runMosquitto(t *testing.T, bin, listeners string, ports []string) (string, error) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	text := "allow_anonymous true\npersistence false\n" + listeners
	if u, err := user.Current(); err == nil {
		// Run as ourselves: started by root, mosquitto would otherwise
		// switch to the user "mosquitto", who cannot read the test's
		// certificate files.
		text = "user " + u.Username + "\n" + text
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	log := new(syncBuilder)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cancel()
		<-exited
	}
	for _, port := range ports {
		for deadline := time.Now().Add(5 * time.Second); ; {
			nc, err := net.Dial("tcp", "127.0.0.1:"+port)
			if err == nil {
				nc.Close()
				break
			}
			select {
			case err := <-exited:
				cancel()
				return log.String(), fmt.Errorf("mosquitto exited: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				stop()
				return log.String(), fmt.Errorf("mosquitto does not listen on port %s: %v", port, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", log.String())
		}
	})
	return log.String(), nil
}

// syncBuilder is a strings.Builder safe for concurrent writes and reads.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The example client against a real mosquitto broker over TCP, in both
// versions: QoS 0, 1 and 2, retained messages, wills and session resume.
func TestClientAgainstMosquitto(t *testing.T) {
	t.Parallel()
	addr := startMosquitto(t)
	clientScenario(t, urlDialer("tcp://"+addr, nil), "mosquitto")
}

// The example client against mosquitto over TLS, WebSocket and WebSocket
// over TLS, in both versions, with QoS 0, 1 and 2 round trips. Over TLS it
// trusts the test's CA as the client command's -cafile makes it do, and
// refuses the server's certificate without it.
func TestClientAgainstMosquittoTransports(t *testing.T) {
	t.Parallel()
	b := startMosquittoSecure(t)
	trusted, err := transport.TLSFiles{CAFile: b.caFile}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url string
		ws        bool
	}{{"tls", b.tls, false}, {"ws", b.ws, true}, {"wss", b.wss, true}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ws && b.noWS != "" {
				t.Skip(b.noWS)
			}
			var cfg *tls.Config
			if strings.HasPrefix(tc.url, "tls:") || strings.HasPrefix(tc.url, "wss:") {
				cfg = trusted
			}
			for _, v := range []packet.Version{packet.V311, packet.V5} {
				t.Run(versionName(v), func(t *testing.T) {
					roundTrips(t, urlDialer(tc.url, cfg), v, "tr/"+tc.name+"/"+versionName(v))
				})
			}
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		urls := []string{b.tls}
		if b.noWS == "" {
			urls = append(urls, b.wss)
		}
		for _, url := range urls {
			nc, err := transport.Dial(testContext(t), url, nil)
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				if nc != nil {
					nc.Close()
				}
				t.Errorf("%s with the system's roots: %v, want an unknown authority error", url, err)
			}
		}
	})
}

// The client command itself, built, publishes retained messages at QoS 0,
// 1 and 2 to mosquitto over TLS (and WebSocket over TLS) with -cafile and
// subscribes to get them back, in both versions; without -cafile it exits
// with status 1 and says why.
func TestClientCommandAgainstMosquittoTLS(t *testing.T) {
	t.Parallel()
	b := startMosquittoSecure(t)
	bin := buildClientCommand(t)
	for _, tc := range []struct{ name, url string }{{"tls", b.tls}, {"mqtts", "mqtts" + strings.TrimPrefix(b.tls, "tls")}, {"wss", b.wss}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "wss" && b.noWS != "" {
				t.Skip(b.noWS)
			}
			for _, ver := range mosquittoVersions {
				t.Run(versionName(ver.v), func(t *testing.T) {
					root := "cli/" + tc.name + "/" + versionName(ver.v)
					common := []string{"-url", tc.url, "-cafile", b.caFile, "-V", ver.flag, "--connect-timeout", "5s", "--retry-max", "0"}
					var want []string
					for qos := range 3 {
						topic := fmt.Sprintf("%s/q%d", root, qos)
						payload := fmt.Sprintf("over %s %d", tc.name, qos)
						args := append([]string{"pub"}, common...)
						args = append(args, "-q", fmt.Sprint(qos), "-r", "-t", topic, "-m", payload)
						if _, stderr, code := runCommand(t, bin, args...); code != 0 {
							t.Fatalf("client pub exit %d: %s", code, stderr)
						}
						want = append(want, topic+" "+payload)
					}
					args := append([]string{"sub"}, common...)
					args = append(args, "-q", "2", "-t", root+"/#", "-v", "-C", "3")
					out, stderr, code := runCommand(t, bin, args...)
					if code != 0 {
						t.Fatalf("client sub exit %d: %s", code, stderr)
					}
					got := strings.Split(strings.TrimSpace(out), "\n")
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Fatalf("client sub printed %q, want %q", got, want)
					}
				})
			}
			t.Run("without cafile", func(t *testing.T) {
				_, stderr, code := runCommand(t, bin, "pub", "-url", tc.url, "-t", "cli/x", "-m", "x", "--connect-timeout", "5s")
				if code != 1 || !strings.Contains(stderr, "certificate") {
					t.Fatalf("exit %d, stderr %q: want 1 and a certificate error", code, stderr)
				}
			})
		})
	}
}
