package broker

import "github.com/prometheus/client_golang/prometheus"

// The Prometheus metrics of a Broker: the counts of Stats, read when
// Prometheus scrapes them (the publish path makes no call of
// package prometheus), under the names of metricDescs.

// metric is one metric: its description, its kind, and how to read it
// from Stats.
type metric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*Stats) float64
}

func counter(name, help string, value func(*Stats) float64) metric {
	return metric{prometheus.NewDesc("mqtt_broker_"+name, help, nil, nil), prometheus.CounterValue, value}
}

func gauge(name, help string, value func(*Stats) float64) metric {
	return metric{prometheus.NewDesc("mqtt_broker_"+name, help, nil, nil), prometheus.GaugeValue, value}
}

// metrics are the Broker's metrics, in the order they are collected.
var metrics = []metric{
	gauge("uptime_seconds", "Time since the broker started.",
		func(s *Stats) float64 { return s.Uptime.Seconds() }),
	gauge("clients_connected", "Clients connected now (CONNECT accepted).",
		func(s *Stats) float64 { return float64(s.Connected) }),
	gauge("clients_maximum", "Most clients connected at once.",
		func(s *Stats) float64 { return float64(s.MaxConnected) }),
	counter("connections_total", "CONNECT packets accepted.",
		func(s *Stats) float64 { return float64(s.Connections) }),
	gauge("network_connections", "Network connections served now.",
		func(s *Stats) float64 { return float64(s.Conns) }),
	gauge("sessions", "Sessions held, their clients connected or not.",
		func(s *Stats) float64 { return float64(s.Sessions) }),
	counter("sessions_expired_total", "Sessions discarded when their Session Expiry Interval passed.",
		func(s *Stats) float64 { return float64(s.Expired) }),
	counter("publish_received_total", "PUBLISH packets received from clients.",
		func(s *Stats) float64 { return float64(s.Received) }),
	counter("publish_sent_total", "PUBLISH packets sent to clients.",
		func(s *Stats) float64 { return float64(s.Sent) }),
	counter("publish_dropped_total", "QoS 0 deliveries dropped for a full outbox.",
		func(s *Stats) float64 { return float64(s.DroppedQoS0) }),
	counter("acks_withheld_total", "PUBACK and PUBREC packets withheld for a full outbox.",
		func(s *Stats) float64 { return float64(s.Withheld) }),
	counter("bytes_received_total", "Bytes read from the clients' transports.",
		func(s *Stats) float64 { return float64(s.BytesIn) }),
	counter("bytes_sent_total", "Bytes written to the clients' transports.",
		func(s *Stats) float64 { return float64(s.BytesOut) }),
	gauge("subscriptions", "Subscriptions of every session.",
		func(s *Stats) float64 { return float64(s.Subscriptions) }),
	gauge("retained_messages", "Retained messages.",
		func(s *Stats) float64 { return float64(s.Retained) }),
	gauge("queued_messages", "Deliveries waiting in every outbox.",
		func(s *Stats) float64 { return float64(s.Queued) }),
	gauge("queued_messages_peak", "Most deliveries one outbox has held.",
		func(s *Stats) float64 { return float64(s.PeakQueued) }),
}

// Collector returns a prometheus.Collector of the broker's counts, for a
// prometheus.Registry: each scrape reads Stats once.
func (b *Broker) Collector() prometheus.Collector { return (*collector)(b) }

type collector Broker

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := (*Broker)(c).Stats()
	for _, m := range metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&st))
	}
}
