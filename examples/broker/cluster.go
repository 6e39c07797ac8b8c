package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
)

// clusterFlags are the flags of a node of a cluster: -cluster joins one
// over NATS (module examples/cluster), which a build with the tag
// "cluster" has (cluster_nats.go).
type clusterFlags struct {
	url         string
	replicas    int
	node        string
	nodeTimeout time.Duration
	addr        string // -addr, for the default -cluster-node
}

func (f *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "cluster", "", "join a cluster over NATS at this `URL` (nats://host:4222; needs a build with -tags cluster; empty: a single node)")
	fs.IntVar(&f.replicas, "cluster-replicas", 1, "replicas of the JetStream stream of QoS 1 and 2 messages, when -cluster makes it (1 to 5)")
	fs.StringVar(&f.node, "cluster-node", "", "this node's `name` in the cluster: its durable JetStream consumer, which a node started again on the same name resumes; two nodes running at once must differ (empty: the host name and the -addr port)")
	fs.DurationVar(&f.nodeTimeout, "cluster-node-timeout", 5*time.Second, "how long another node may not answer before it is gone and a node keeps its sessions, whose expiry and wills then run there")
}

// clusterNode is what joinCluster makes a node of.
type clusterNode struct {
	url         string
	replicas    int
	name        string
	nodeTimeout time.Duration
}

// nodeName returns -cluster-node, or the host name and the -addr port.
func (f *clusterFlags) nodeName() string {
	if f.node != "" {
		return f.node
	}
	host, _ := os.Hostname()
	if _, port, err := net.SplitHostPort(f.addr); err == nil {
		return host + "-" + port
	}
	return host
}

// joinCluster links the broker to a cluster over NATS; nil in a build
// without the tag "cluster".
var joinCluster func(ctx context.Context, node clusterNode, logger *slog.Logger) (broker.Cluster, io.Closer, error)

// errNoCluster: -cluster given to a build without cluster support.
var errNoCluster = errors.New("-cluster: this broker is built without cluster support: build it with " +
	"go build -tags cluster ./examples/broker (in the repository's workspace: examples/cluster is a module of its own)")

// apply joins the cluster -cluster names, if any, into cfg; the Closer
// (nil for none) ends the link, after the broker's Shutdown.
func (f *clusterFlags) apply(ctx context.Context, cfg *broker.Config, logger *slog.Logger) (io.Closer, error) {
	switch {
	case f.url == "":
		return nil, nil
	case joinCluster == nil:
		return nil, errNoCluster
	case f.replicas < 1 || f.replicas > 5:
		return nil, fmt.Errorf("-cluster-replicas %d: want 1 to 5", f.replicas)
	case f.nodeTimeout <= 0:
		return nil, fmt.Errorf("-cluster-node-timeout %v: want more than 0", f.nodeTimeout)
	}
	c, closer, err := joinCluster(ctx, clusterNode{url: f.url, replicas: f.replicas, name: f.nodeName(), nodeTimeout: f.nodeTimeout}, logger)
	if err != nil {
		return nil, err
	}
	cfg.Cluster = c
	return closer, nil
}
