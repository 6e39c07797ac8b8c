package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/quic"
)

// What the broker offers its operator: structured logs, a Prometheus
// endpoint, and the QUIC listener.

// newLogger returns the logger of -log-level and -log-format, writing to w.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// metricsPath is where the metrics endpoint serves.
const metricsPath = "/metrics"

// listenMetrics listens on addr for the metrics endpoint of b (its
// counts, and the Go runtime's and the process's), and returns the
// server to Serve the listener with.
func listenMetrics(addr string, b *broker.Broker) (net.Listener, *http.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle(metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	return l, &http.Server{Handler: mux}, nil
}

// serveMetrics serves the metrics endpoint until it is shut down.
func serveMetrics(l net.Listener, srv *http.Server, log *slog.Logger) {
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics endpoint failed", "err", err)
	}
}

// listenQUIC listens for MQTT over QUIC on the UDP address addr (ALPN
// "mqtt", one stream per connection: package quic).
func listenQUIC(addr string, tlsCfg *tls.Config) (net.Listener, error) {
	l, err := quic.Listen(addr, tlsCfg, nil)
	if err != nil {
		return nil, err
	}
	return l, nil
}
