package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/nats-io/nats-server/v2/server"
)

// startNATS starts an embedded NATS cluster of n servers on loopback
// ports, with JetStream in a t.TempDir each, and returns their client
// URLs; the servers are shut down at the end of the test.
func startNATS(t testing.TB, n int) []string {
	t.Helper()
	var urls []string
	for _, s := range startNATSServers(t, n) {
		urls = append(urls, s.ClientURL())
	}
	return urls
}

// startNATSServers is startNATS, returning the servers.
func startNATSServers(t testing.TB, n int) []*server.Server {
	t.Helper()
	// JetStream in a cluster wants every server to have its routes from
	// the start: the cluster ports are picked first (free ones, let go).
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var servers []*server.Server
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      os.Getenv("NATS_LOG") == "",
			NoSigs:     true,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "mqtt", Host: "127.0.0.1", Port: ports[i]}
			for j, p := range ports {
				if j != i {
					opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
				}
			}
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		if !opts.NoLog {
			s.ConfigureLogger()
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		servers = append(servers, s)
	}
	for i, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("NATS server %d not ready", i+1)
		}
	}
	// JetStream is ready once the servers have elected a meta leader.
	deadline := time.Now().Add(20 * time.Second)
	for n > 1 && !servers[0].JetStreamIsCurrent() {
		if time.Now().After(deadline) {
			t.Fatal("JetStream cluster formed no meta leader in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return servers
}

// dialNode makes a Node on NATS url, of a name of its own, retrying
// while JetStream settles; it is closed at the end of the test (after the
// broker: t.Cleanup runs last-registered first).
func dialNode(t testing.TB, u string, replicas int) *Node {
	t.Helper()
	return dialNodeConfig(t, Config{URL: u, Replicas: replicas})
}

// nodeNames numbers the nodes dialNode makes.
var nodeNames atomic.Int64

// dialNodeConfig is dialNode with a Config of the caller's; a node
// without a NodeName gets one of its own, and one without a Logger the
// test's, from warnings up.
func dialNodeConfig(t testing.TB, cfg Config) *Node {
	t.Helper()
	if cfg.NodeName == "" {
		cfg.NodeName = fmt.Sprintf("test-%d", nodeNames.Add(1))
	}
	if cfg.Logger == nil {
		cfg.Logger = brokertest.Logger(t, slog.LevelWarn)
	}
	n := dialSettled(t, cfg)
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

// dialSettled dials a Node with cfg, trying again while JetStream
// settles (a stream or bucket of three replicas just after the servers
// started, on a loaded machine): 10 s an attempt, 60 s in all.
func dialSettled(t testing.TB, cfg Config) *Node {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := Dial(ctx, cfg)
		cancel()
		if err == nil {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", cfg.URL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
