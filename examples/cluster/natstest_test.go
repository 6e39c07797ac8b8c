package cluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS starts an embedded NATS cluster of n servers on loopback
// ports, with JetStream in a t.TempDir each, and returns their client
// URLs; the servers are shut down at the end of the test.
func startNATS(t testing.TB, n int) []string {
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
	var urls []string
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
		urls = append(urls, s.ClientURL())
	}
	// JetStream is ready once the servers have elected a meta leader.
	deadline := time.Now().Add(20 * time.Second)
	for n > 1 && !servers[0].JetStreamIsCurrent() {
		if time.Now().After(deadline) {
			t.Fatal("JetStream cluster formed no meta leader in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return urls
}

// dialNode makes a Node on NATS url, retrying while JetStream settles;
// it is closed at the end of the test (after the broker: t.Cleanup runs
// last-registered first).
func dialNode(t testing.TB, u string, replicas int) *Node {
	t.Helper()
	return dialNodeConfig(t, Config{URL: u, Replicas: replicas})
}

// dialNodeConfig is dialNode with the Config cfg.
func dialNodeConfig(t testing.TB, cfg Config) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		n, err := Dial(ctx, cfg)
		if err == nil {
			t.Cleanup(func() {
				if err := n.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			return n
		}
		if ctx.Err() != nil {
			t.Fatalf("dial %s: %v", cfg.URL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
