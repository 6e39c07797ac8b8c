// Command bench is a load generator for MQTT brokers, built on package
// client: publishers send timestamped messages on one topic as fast
// as the broker takes them (or at a set rate), subscribers receive them,
// and at the end it prints the publish rate, the delivery rate, latency
// percentiles, and the messages lost and duplicated.
//
//	go run ./examples/bench -url tcp://127.0.0.1:1883 -fanin 8 -q 1 -d 10s
//	go run ./examples/bench -url tcp://127.0.0.1:1883 -fanout 8 -q 0 -size 64
//	go run ./examples/bench -url tls://127.0.0.1:8883 -cafile ca.pem -q 1 -d 5s
//
// The broker address is a URL as the example client takes it: tcp://
// (mqtt://), tls:// (ssl://, mqtts://), ws:// or wss://. Over TLS the
// server's certificate is verified against the system's roots, or against
// -cafile; -insecure skips the verification, and -cert with -key present a
// client certificate.
//
// Every message carries its send time, its publisher and its sequence
// number in the first 20 bytes of the payload, so latency is measured
// from the publisher's send (just before it hands the message to its
// client, which may wait there for room in flight) to the subscriber's
// handler (one clock: the program runs both ends), and each subscriber
// tells which messages never arrived and which arrived twice. At QoS 1
// and QoS 2 a lost message, and at QoS 2 a duplicate, make the exit
// status 1; at QoS 0 losses are counted and reported only.
//
// Each client is a client.Client (package client; ws:// and wss://
// through client/websocket) with Keep Alive off (unless the broker sets
// one), a clean start, no reconnection, and one subscription
// (subscribers) at the chosen QoS. Publishers hand their messages to
// PublishAsync: at QoS 1 and 2 a publisher keeps at most -inflight
// messages unacknowledged (and never more than the broker's Receive
// Maximum); at QoS 0, where nothing is acknowledged, it waits for every
// 64th message to be written, so that at most 64 wait for the socket and
// the publish rate is what the connection takes. After the run,
// publishers wait for their acknowledgements and subscribers for the rest
// of the messages, for up to -drain.
//
// The delivery rate is the messages received by all subscribers divided
// by the time from the first publish to the last message received; the
// publish rate is the messages published divided by the publishing time.
//
// -sub-url connects the subscribers to another broker than the
// publishers (-url), with the same scheme: two nodes of a cluster
// (examples/cluster), for what the hop between them costs.
//
// -sub-rate makes each subscriber slow: its handler takes that many
// messages a second, and its client acknowledges each once the handler
// has returned, so the broker sees a subscriber that reads slowly. Then
// the brokers differ in what they do with the publishers' messages that
// the subscriber has not taken yet:
//
//	go run ./examples/bench -url tcp://127.0.0.1:1883 -fanin 8 -q 1 -n 25000 -sub-rate 20000 -drain 2m
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/client/websocket"
	"github.com/mqttcore/mqtt/examples/internal/transport"
	"github.com/mqttcore/mqtt/packet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ue usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line (exit status 2).
type usageError struct{ error }

// options is the parsed command line.
type options struct {
	url      string
	server   string // url with the scheme's default port (and WebSocket path) filled in
	subURL   string // -sub-url: the subscribers' broker; "" for url's
	subsAt   string // subURL as server is url
	version  packet.Version
	qos      packet.QoS
	pubs     int
	subs     int
	size     int
	duration time.Duration
	count    int
	rate     float64
	subRate  float64
	inflight int
	subKeep  time.Duration // subscribers' Session Expiry Interval (-sub-session)
	topic    string
	aliases  bool
	drain    time.Duration
	tls      transport.TLSFiles
	tlsCfg   *tls.Config   // for tls:// and wss:// URLs; nil otherwise
	dialer   client.Dialer // for ws:// and wss:// URLs; nil otherwise
}

// headerSize is the part of each payload the bench writes: send time
// (Unix nanoseconds), publisher index, sequence number.
const headerSize = 8 + 4 + 8

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: bench [flags]

Publishes timestamped messages to an MQTT broker on one topic and reports
publish and delivery rates, latency percentiles (p50, p90, p99, max) and
the messages lost or duplicated. Exit status 1 when a QoS 1 or 2 message
was lost or a QoS 2 message duplicated, or on error; 2 for a bad command
line.

flags:
`)
		fs.PrintDefaults()
	}
	o := &options{}
	fs.StringVar(&o.subURL, "sub-url", "", "the subscribers' broker `URL`, of the same scheme as -url: another node of a cluster (default: -url)")
	fs.StringVar(&o.url, "url", "tcp://127.0.0.1:1883", "broker `URL`: tcp://HOST:PORT (mqtt://), tls://HOST:PORT (ssl://, mqtts://), ws://HOST:PORT/PATH or wss://HOST:PORT/PATH")
	v := fs.String("V", "5", "protocol version: 5 or 3.1.1")
	qos := fs.Int("q", 0, "QoS of the messages and of the subscriptions: 0, 1 or 2")
	fs.IntVar(&o.pubs, "pubs", 1, "number of publishers")
	fs.IntVar(&o.subs, "subs", 1, "number of subscribers (each receives every message)")
	fanin := fs.Int("fanin", 0, "fan-in: N publishers, 1 subscriber (sets -pubs N -subs 1)")
	fanout := fs.Int("fanout", 0, "fan-out: 1 publisher, M subscribers (sets -pubs 1 -subs M)")
	fs.IntVar(&o.size, "size", 64, fmt.Sprintf("payload size in bytes (at least %d)", headerSize))
	fs.DurationVar(&o.duration, "d", 10*time.Second, "how long to publish (unless -n is given)")
	fs.IntVar(&o.count, "n", 0, "messages per publisher (0: publish for -d instead)")
	fs.Float64Var(&o.rate, "rate", 0, "messages per second per publisher (0: as fast as the broker takes them)")
	fs.Float64Var(&o.subRate, "sub-rate", 0, "messages per second each subscriber takes (0: as fast as they come)")
	fs.IntVar(&o.inflight, "inflight", 64, "QoS 1 and 2: most messages a publisher leaves unacknowledged")
	fs.DurationVar(&o.subKeep, "sub-session", 0, "subscribers keep a persistent session: this Session Expiry Interval in 5.0, Clean Session 0 in 3.1.1 (0: clean sessions)")
	fs.StringVar(&o.topic, "topic", "", "topic to publish on (default: bench/ and a random suffix)")
	fs.BoolVar(&o.aliases, "aliases", false, "v5: clients announce a Topic Alias Maximum and send topics as Topic Aliases")
	fs.DurationVar(&o.drain, "drain", 10*time.Second, "at the end, how long to wait for acknowledgements and deliveries")
	fs.StringVar(&o.tls.CAFile, "cafile", "", "tls:// and wss://: PEM `file` of the CA certificates to trust (default: the system's roots)")
	fs.BoolVar(&o.tls.Insecure, "insecure", false, "tls:// and wss://: do not verify the server's certificate")
	fs.StringVar(&o.tls.CertFile, "cert", "", "tls:// and wss://: PEM client certificate `file` (with -key)")
	fs.StringVar(&o.tls.KeyFile, "key", "", "tls:// and wss://: PEM private key `file` of -cert")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	bad := func(format string, args ...any) (*options, error) {
		return nil, usageError{fmt.Errorf(format, args...)}
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	switch *v {
	case "5", "5.0":
		o.version = packet.V5
	case "3.1.1", "4":
		o.version = packet.V311
	default:
		return bad("-V %q: want 5 or 3.1.1", *v)
	}
	if *qos < 0 || *qos > 2 {
		return bad("-q %d: want 0, 1 or 2", *qos)
	}
	o.qos = packet.QoS(*qos)
	switch {
	case *fanin > 0 && *fanout > 0:
		return bad("-fanin and -fanout exclude each other")
	case *fanin > 0:
		o.pubs, o.subs = *fanin, 1
	case *fanout > 0:
		o.pubs, o.subs = 1, *fanout
	}
	switch {
	case o.pubs < 1 || o.subs < 0:
		return bad("need at least one publisher and no negative number of subscribers")
	case o.size < headerSize || o.size > 1<<20:
		return bad("-size %d: want %d to %d bytes", o.size, headerSize, 1<<20)
	case o.count < 0 || o.count == 0 && o.duration <= 0:
		return bad("give a positive -d or -n")
	case o.inflight < 1 || o.inflight > 65535:
		return bad("-inflight %d: want 1 to 65535", o.inflight)
	case o.rate < 0 || o.subRate < 0:
		return bad("-rate and -sub-rate must not be negative")
	}
	a, err := transport.Parse(o.url)
	if err != nil {
		return bad("-url: %v", err)
	}
	if (o.tls.CertFile == "") != (o.tls.KeyFile == "") {
		return bad("-cert and -key go together")
	}
	if a.Scheme.Secure() {
		cfg, err := o.tls.ClientConfig()
		if err != nil {
			return nil, err // an unreadable file: not a usage error
		}
		o.tlsCfg = cfg
	} else if o.tls != (transport.TLSFiles{}) {
		return bad("-cafile, -insecure, -cert and -key need a tls://, ssl://, mqtts:// or wss:// URL")
	}
	o.server, o.subsAt = a.String(), a.String()
	if o.subURL != "" {
		b, err := transport.Parse(o.subURL)
		if err != nil {
			return bad("-sub-url: %v", err)
		}
		if b.Scheme != a.Scheme {
			return bad("-sub-url %s: not the scheme of -url %s", o.subURL, o.url)
		}
		o.subsAt = b.String()
	}
	if a.Scheme == transport.WS || a.Scheme == transport.WSS {
		o.dialer = &websocket.Dialer{TLSConfig: o.tlsCfg}
	}
	if o.topic == "" {
		var r [6]byte
		_, _ = rand.Read(r[:])
		o.topic = "bench/" + hex.EncodeToString(r[:])
	}
	return o, nil
}

// result is what a run measured.
type result struct {
	Published   int64         // messages sent by all publishers
	PublishTime time.Duration // from the first publish to the last
	Expected    int64         // Published × subscribers
	Delivered   int64         // messages received by all subscribers, duplicates included
	DeliverTime time.Duration // from the first publish to the last message received
	Lost        int64         // expected messages that never arrived
	Duplicated  int64         // messages received more than once
	Unacked     int64         // QoS 1 and 2 messages still unacknowledged at the end
	Latency     histogram
}

// PublishRate returns messages published per second.
func (r *result) PublishRate() float64 { return rate(r.Published, r.PublishTime) }

// DeliveryRate returns messages delivered per second, over all subscribers.
func (r *result) DeliveryRate() float64 { return rate(r.Delivered, r.DeliverTime) }

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// subscriber is one receiving client and what it counted. Its fields are
// written by its handler, on the client's read loop, with mu held.
type subscriber struct {
	mu        sync.Mutex
	rate      float64   // -sub-rate
	start     time.Time // from when it takes rate messages a second
	seen      []seqSet  // by publisher
	received  int64
	distinct  int64
	dups      int64
	foreign   int64 // messages not from this run
	last      time.Time
	latencies histogram
}

// onMessage is the subscription's handler. With a rate, it returns when
// the subscriber is due to take the next message.
func (s *subscriber) onMessage(m client.Message) {
	now := time.Now()
	s.mu.Lock()
	s.count(m, now)
	var due time.Time
	if s.rate > 0 {
		due = s.start.Add(time.Duration(float64(s.received) / s.rate * float64(time.Second)))
	}
	s.mu.Unlock()
	if d := due.Sub(now); d > 0 {
		time.Sleep(d)
	}
}

// count counts a message received at now.
func (s *subscriber) count(m client.Message, now time.Time) {
	if len(m.Payload) < headerSize {
		s.foreign++
		return
	}
	sent := int64(binary.BigEndian.Uint64(m.Payload))
	pub := binary.BigEndian.Uint32(m.Payload[8:])
	seq := binary.BigEndian.Uint64(m.Payload[12:])
	if int(pub) >= len(s.seen) {
		s.foreign++
		return
	}
	s.received++
	s.last = now
	s.latencies.add(now.Sub(time.Unix(0, sent)))
	if s.seen[pub].add(seq) {
		s.distinct++
	} else {
		s.dups++
	}
}

// run parses args, runs the benchmark and prints its report on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*result, error) {
	o, err := parse(args, stderr)
	if err != nil {
		return nil, err
	}
	where := o.url
	if o.subURL != "" {
		where += " -> " + o.subURL
	}
	fmt.Fprintf(stdout, "%s  MQTT %v  QoS %d  %d publisher(s) -> %d subscriber(s)  %d-byte payloads  %s\n",
		where, o.version, o.qos, o.pubs, o.subs, o.size, o.span())
	r, err := bench(ctx, o)
	if r != nil {
		report(stdout, o, r)
	}
	if err != nil {
		return r, err
	}
	if o.qos > packet.QoS0 && r.Lost > 0 {
		return r, fmt.Errorf("%d messages lost at QoS %d", r.Lost, o.qos)
	}
	if o.qos == packet.QoS2 && r.Duplicated > 0 {
		return r, fmt.Errorf("%d messages duplicated at QoS 2", r.Duplicated)
	}
	return r, nil
}

func (o *options) span() string {
	if o.count > 0 {
		return fmt.Sprintf("%d messages per publisher", o.count)
	}
	return o.duration.String()
}

// bench connects the clients, publishes, waits for the deliveries and
// counts.
func bench(ctx context.Context, o *options) (*result, error) {
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	id := "bench-" + hex.EncodeToString(tag[:])

	var clients []*client.Client
	defer func() {
		// DISCONNECT at once: what is still in flight is counted already.
		cctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, c := range clients {
			_ = c.Close(cctx)
		}
	}()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	subs := make([]*subscriber, o.subs)
	for i := range subs {
		c, err := connect(dctx, o, o.subsAt, fmt.Sprintf("%s-sub-%d", id, i), o.subKeep)
		if err != nil {
			return nil, err
		}
		clients = append(clients, c)
		s := &subscriber{seen: make([]seqSet, o.pubs), rate: o.subRate}
		if err := subscribe(dctx, c, o.topic, o.qos, s.onMessage); err != nil {
			return nil, err
		}
		subs[i] = s
	}
	pubs := make([]*client.Client, o.pubs)
	for i := range pubs {
		c, err := connect(dctx, o, o.server, fmt.Sprintf("%s-pub-%d", id, i), 0)
		if err != nil {
			return nil, err
		}
		clients = append(clients, c)
		pubs[i] = c
	}

	// Publish.
	var stop atomic.Bool
	sent := make([]int64, o.pubs)
	errs := make([]error, o.pubs)
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range subs {
		s.mu.Lock()
		s.start = start
		s.mu.Unlock()
	}
	if o.count == 0 {
		t := time.AfterFunc(o.duration, func() { stop.Store(true) })
		defer t.Stop()
	}
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			stop.Store(true)
		case <-finished:
		}
	}()
	for i, c := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent[i], errs[i] = publish(ctx, c, o, uint32(i), start, &stop)
		}()
	}
	wg.Wait()
	pubEnd := time.Now()
	r := &result{PublishTime: pubEnd.Sub(start)}
	for _, n := range sent {
		r.Published += n
	}
	r.Expected = r.Published * int64(o.subs)
	if err := errors.Join(errs...); err != nil {
		return r, err
	}

	// Wait for the acknowledgements, then for the deliveries.
	deadline := pubEnd.Add(o.drain)
	for _, c := range pubs {
		r.Unacked += int64(unacked(ctx, c, deadline))
	}
	lastProgress, lastCount := time.Now(), int64(-1)
	for {
		var distinct int64
		for _, s := range subs {
			s.mu.Lock()
			distinct += s.distinct
			s.mu.Unlock()
		}
		now := time.Now()
		if distinct != lastCount {
			lastProgress, lastCount = now, distinct
		}
		if distinct >= r.Expected || now.After(deadline) || ctx.Err() != nil ||
			o.qos == packet.QoS0 && now.Sub(lastProgress) > time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	var last time.Time
	for _, s := range subs {
		s.mu.Lock()
		r.Delivered += s.received
		r.Duplicated += s.dups
		r.Lost += r.Published - s.distinct
		r.Latency.merge(&s.latencies)
		if s.last.After(last) {
			last = s.last
		}
		s.mu.Unlock()
	}
	if !last.IsZero() {
		r.DeliverTime = last.Sub(start)
	}
	for _, c := range clients {
		select {
		case <-c.Done():
			return r, fmt.Errorf("a connection ended during the run: %w", c.Err())
		default:
		}
	}
	return r, ctx.Err()
}

// connect opens one client of the run to server: Keep Alive off, a clean start (a
// new client identifier each run) and, with keep above 0, a session that
// outlives the connection (Session Expiry keep in 5.0, Clean Session 0 in
// 3.1.1), no reconnection (a lost connection ends the run), at most
// -inflight QoS 1 and QoS 2 messages unacknowledged.
func connect(ctx context.Context, o *options, server, clientID string, keep time.Duration) (*client.Client, error) {
	return client.Connect(ctx, client.Config{
		Servers:       []string{server},
		Version:       o.version,
		ClientID:      clientID,
		KeepAlive:     -1,
		CleanStart:    keep <= 0 || o.version == packet.V5,
		SessionExpiry: keep,
		TLSConfig:     o.tlsCfg,
		Dialer:        o.dialer,
		NoReconnect:   true,
		MaxInFlight:   o.inflight,
		// A Topic Alias Maximum in the CONNECT, and aliases on the
		// PUBLISH packets sent.
		TopicAliases: o.aliases,
	})
}

// subscribe subscribes c to filter at qos, and fails unless the broker
// grants that QoS.
func subscribe(ctx context.Context, c *client.Client, filter string, qos packet.QoS, h func(client.Message)) error {
	ack, err := c.SubscribeWith(ctx, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}, h)
	if err != nil {
		return err
	}
	if len(ack.Reasons) != 1 || ack.Reasons[0].IsError() {
		return fmt.Errorf("subscription to %q refused: %v", filter, ack.Reasons)
	}
	if packet.QoS(ack.Reasons[0]) < qos {
		return fmt.Errorf("subscription to %q granted at QoS %d only", filter, ack.Reasons[0])
	}
	return nil
}

// qos0Window is how many QoS 0 messages a publisher hands to its client
// before it waits for them to be written: the client queues QoS 0
// messages without limit, and the bench measures what the connection
// takes, not what memory holds.
const qos0Window = 64

// publish sends messages on c until stop is set (or ctx ends) or o.count
// are sent, and returns how many it sent.
func publish(ctx context.Context, c *client.Client, o *options, index uint32, start time.Time, stop *atomic.Bool) (int64, error) {
	payload := make([]byte, o.size)
	binary.BigEndian.PutUint32(payload[8:], index)
	m := client.Message{Topic: o.topic, QoS: o.qos, Payload: payload}
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	var n int64
	for !stop.Load() && (o.count == 0 || n < int64(o.count)) {
		if interval > 0 {
			if wait := time.Until(start.Add(time.Duration(n) * interval)); wait > 0 {
				time.Sleep(wait)
			}
		}
		// The client encodes the message before PublishAsync returns: the
		// payload is free to change for the next one.
		binary.BigEndian.PutUint64(payload[12:], uint64(n))
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		var err error
		if o.qos == packet.QoS0 && (n+1)%qos0Window == 0 {
			err = c.Publish(ctx, m) // returns once this message, and so those before it, is written
		} else {
			_, err = c.PublishAsync(ctx, m) // the acknowledgement is awaited by unacked
		}
		if err != nil {
			if ctx.Err() != nil {
				return n, nil // interrupted: bench reports what was sent
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// unacked waits until c has no QoS 1 or QoS 2 message in flight, or until
// the deadline passes, ctx ends or the connection ends, and returns how
// many are still in flight.
func unacked(ctx context.Context, c *client.Client, deadline time.Time) int {
	for {
		n := c.Stats().InFlight
		if n == 0 || !time.Now().Before(deadline) {
			return n
		}
		select {
		case <-time.After(min(5*time.Millisecond, time.Until(deadline))):
		case <-c.Done():
			return n
		case <-ctx.Done():
			return n
		}
	}
}

func report(w io.Writer, o *options, r *result) {
	fmt.Fprintf(w, "published   %10d msgs  %10.0f msg/s  (%v)\n", r.Published, r.PublishRate(), r.PublishTime.Round(time.Millisecond))
	fmt.Fprintf(w, "delivered   %10d msgs  %10.0f msg/s  (%v, %d subscriber(s))\n", r.Delivered, r.DeliveryRate(), r.DeliverTime.Round(time.Millisecond), o.subs)
	h := &r.Latency
	fmt.Fprintf(w, "latency     p50 %v  p90 %v  p99 %v  max %v\n",
		short(h.quantile(0.50)), short(h.quantile(0.90)), short(h.quantile(0.99)), short(h.max))
	fmt.Fprintf(w, "lost        %10d of %d expected\n", r.Lost, r.Expected)
	fmt.Fprintf(w, "duplicated  %10d\n", r.Duplicated)
	if r.Unacked > 0 {
		fmt.Fprintf(w, "unacked     %10d (QoS %d messages without acknowledgement after -drain)\n", r.Unacked, o.qos)
	}
}

// short rounds d to three significant digits or so.
func short(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	}
	return d
}
