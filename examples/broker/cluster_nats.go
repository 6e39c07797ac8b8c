//go:build cluster

package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/mqttcore/mqtt/examples/cluster"
	"github.com/mqttcore/mqtt/examples/internal/broker"
)

// With the tag "cluster", -cluster joins a cluster over NATS (module
// examples/cluster, resolved through the repository's go.work).
func init() {
	joinCluster = func(ctx context.Context, node clusterNode, logger *slog.Logger) (broker.Cluster, io.Closer, error) {
		n, err := cluster.Dial(ctx, cluster.Config{URL: node.url, Replicas: node.replicas, NodeName: node.name,
			NodeTimeout: node.nodeTimeout, Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		return n, n, nil
	}
}
