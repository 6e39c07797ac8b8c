package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/packet"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a Node.
type Config struct {
	// URL is the NATS server (or servers, comma-separated) to connect to:
	// "nats://127.0.0.1:4222".
	URL string
	// Prefix is the first token of every subject the cluster uses, so
	// that several clusters may share one NATS; "" means "mqtt".
	Prefix string
	// Stream is the JetStream stream that holds the QoS 1 and QoS 2
	// messages; "" means "MQTT". Replicas is its replication (1 to 5; 0
	// means 1); it keeps a message for MaxAge (0 means 10 minutes) and
	// at most MaxBytes in all (0 means 1 GiB), the oldest going first.
	// Nothing reads it yet: it is where the next phases replay from.
	Stream   string
	Replicas int
	MaxAge   time.Duration
	MaxBytes int64
	// PublishTimeout bounds the wait for JetStream to hold a QoS 1 or
	// QoS 2 message, and each write to the sessions bucket; 0 means 5
	// seconds.
	PublishTimeout time.Duration
	// SessionBucket is the JetStream key-value bucket of the sessions
	// (session.go): which node holds each client identifier's, and the
	// sessions handed over and saved; "" means "MQTT_SESSIONS". It is
	// replicated Replicas times.
	SessionBucket string
	// HandoverTimeout bounds how long a node that claims a session waits
	// for the node that held it, alive, to hand it over; then it resumes
	// what was saved last. 0 means 5 seconds.
	HandoverTimeout time.Duration
	// Logger receives the node's records; nil discards them.
	Logger *slog.Logger
	// Options are passed to nats.Connect after the node's own.
	Options []nats.Option
}

// Node is one broker's link to the cluster: a broker.Cluster over NATS.
// Dial makes it; broker.Config.Cluster takes it; Close ends it after the
// broker's Shutdown.
type Node struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	origin uint64 // this node, on every message it publishes

	// pubMu orders what the node publishes: the sequence numbers go out
	// on the connection in order, which lets receivers drop the second
	// copy of a message that several of their subscriptions match.
	pubMu sync.Mutex
	seq   uint64

	// subMu guards subs, the NATS subscriptions of each topic filter, and
	// groups, the share group of each queue subscription.
	subMu  sync.Mutex
	subs   map[filterKey][]*nats.Subscription
	groups map[*nats.Subscription]filterKey

	// in carries the messages of every subscription, in the order the
	// connection read them, to run (one goroutine).
	in     chan *nats.Msg
	b      *broker.Broker
	sess   *sessions     // the client identifiers this node holds (session.go)
	stop   chan struct{} // closed by Close, to end run and confirmAll
	done   chan struct{} // closed when run has returned
	closed chan struct{} // closed when the NATS connection is

	// slowMu guards the count of slow consumer errors since slowLogged,
	// when one was last logged (natsError).
	slowMu     sync.Mutex
	slow       int
	slowLogged time.Time

	// confirms carries the QoS 1 and QoS 2 messages published to
	// confirmAll, which calls their done once the stream holds them.
	confirms  chan confirm
	confirmed chan struct{} // closed when confirmAll has returned
}

// filterKey is a subscription of the broker's: ShareName ("" for none)
// and topic filter.
type filterKey struct{ share, filter string }

// headerLen is the size of what precedes the PUBLISH in a message's
// data: the origin node and its sequence number, big-endian.
const headerLen = 16

// inQueue is how many messages from the cluster may wait for the node's
// broker; NATS drops more (a slow consumer), QoS 1 and QoS 2 ones too, in
// this phase.
const inQueue = 1 << 16

// Dial connects to NATS, makes the stream of QoS 1 and QoS 2 messages if
// it is missing, and returns the Node.
func Dial(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "mqtt"
	}
	if cfg.Stream == "" {
		cfg.Stream = "MQTT"
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 10 * time.Minute
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 30
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.SessionBucket == "" {
		cfg.SessionBucket = "MQTT_SESSIONS"
	}
	if cfg.HandoverTimeout <= 0 {
		cfg.HandoverTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg:       cfg,
		log:       cfg.Logger,
		origin:    rand.Uint64(),
		subs:      make(map[filterKey][]*nats.Subscription),
		groups:    make(map[*nats.Subscription]filterKey),
		in:        make(chan *nats.Msg, inQueue),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		closed:    make(chan struct{}),
		confirms:  make(chan confirm, maxConfirms),
		confirmed: make(chan struct{}),
	}
	opts := append([]nats.Option{nats.Name("mqttcore broker"), nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(n.closed) }),
		nats.ErrorHandler(n.natsError)}, cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     cfg.Stream,
		Subjects: []string{cfg.Prefix + ".1.>"},
		Storage:  jetstream.FileStorage,
		Replicas: cfg.Replicas,
		MaxAge:   cfg.MaxAge,
		MaxBytes: cfg.MaxBytes,
		Discard:  jetstream.DiscardOld,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: stream %s: %w", cfg.Stream, err)
	}
	n.nc, n.js = nc, js
	if n.sess, err = openSessions(ctx, n); err != nil {
		nc.Close()
		return nil, err
	}
	go n.confirmAll()
	return n, nil
}

// natsError logs an asynchronous error of the NATS connection. Slow
// consumer errors (the node's queue of messages from NATS, inQueue, was
// full: what came meanwhile was dropped) are logged at most once a
// second, with how many came since the last record.
func (n *Node) natsError(_ *nats.Conn, s *nats.Subscription, err error) {
	subject := ""
	if s != nil {
		subject = s.Subject
	}
	if !errors.Is(err, nats.ErrSlowConsumer) {
		n.log.Warn("cluster: nats", "subject", subject, "err", err)
		return
	}
	n.slowMu.Lock()
	n.slow++
	now := time.Now()
	if now.Sub(n.slowLogged) < time.Second {
		n.slowMu.Unlock()
		return
	}
	count := n.slow
	n.slow, n.slowLogged = 0, now
	n.slowMu.Unlock()
	n.log.Warn("cluster: messages from the other nodes dropped: this node's queue was full (NATS slow consumer)",
		"subject", subject, "times", count)
}

// Attach implements broker.Cluster: it starts delivering the messages of
// the other nodes to b.
func (n *Node) Attach(b *broker.Broker) {
	n.b = b
	go n.run()
}

// qosToken is the subject token after the prefix: "1" for the QoS 1 and
// QoS 2 messages, which the stream holds, "0" for the others.
func qosToken(q packet.QoS) string {
	if q == packet.QoS0 {
		return "0"
	}
	return "1"
}

// Publish implements broker.Cluster: a QoS 0 message is published as it
// is, a QoS 1 or QoS 2 one through JetStream, and done is called once the
// stream has stored it (or could not, or Config.PublishTimeout passed).
// While maxConfirms messages wait for the stream, Publish waits for room.
func (n *Node) Publish(p *packet.Publish, done func(error)) {
	f, err := n.publish(p)
	switch {
	case err != nil:
		done(err)
	case f == nil:
		done(nil)
	default:
		n.confirms <- confirm{f: f, done: done, deadline: time.Now().Add(n.cfg.PublishTimeout)}
	}
}

// publish sends the message and returns, for a QoS 1 or QoS 2 one, the
// future of its storage in the stream.
func (n *Node) publish(p *packet.Publish) (jetstream.PubAckFuture, error) {
	subj, err := TopicSubject(p.Topic)
	if err != nil {
		return nil, err
	}
	subj = n.cfg.Prefix + "." + qosToken(p.QoS) + "." + subj
	wire := *p
	if wire.QoS > packet.QoS0 {
		wire.PacketID = 1 // a PUBLISH of QoS 1 or 2 has one on the wire; ignored
	}
	data := make([]byte, headerLen, headerLen+wire.Size(packet.V5))
	if data, err = wire.AppendTo(data, packet.V5); err != nil {
		return nil, fmt.Errorf("cluster: encode: %w", err)
	}
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	n.seq++
	binary.BigEndian.PutUint64(data[0:], n.origin)
	binary.BigEndian.PutUint64(data[8:], n.seq)
	if p.QoS == packet.QoS0 {
		return nil, n.nc.Publish(subj, data)
	}
	f, err := n.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: data})
	if err != nil {
		return nil, fmt.Errorf("cluster: publish: %w", err)
	}
	return f, nil
}

// confirm is a QoS 1 or QoS 2 message published, whose storage in the
// stream its done waits for.
type confirm struct {
	f        jetstream.PubAckFuture
	done     func(error)
	deadline time.Time
}

// maxConfirms is how many messages may wait for their storage; Publish
// waits for room beyond it.
const maxConfirms = 4096

// confirmAll calls the done of each message published through JetStream
// once the stream has stored it, in the order they were published (the
// stream stores them in that order).
func (n *Node) confirmAll() {
	defer close(n.confirmed)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var c confirm
		select {
		case c = <-n.confirms:
		case <-n.stop:
			return
		}
		t.Reset(time.Until(c.deadline))
		select {
		case <-c.f.Ok():
			c.done(nil)
		case err := <-c.f.Err():
			c.done(fmt.Errorf("cluster: publish: %w", err))
		case <-t.C:
			c.done(fmt.Errorf("cluster: publish: %w", ErrTimeout))
		case <-n.stop:
			c.done(ErrClosed)
			return
		}
	}
}

// Errors of Publish.
var (
	// ErrTimeout: JetStream did not confirm a message within
	// Config.PublishTimeout.
	ErrTimeout = errors.New("cluster: no acknowledgement from JetStream in time")
	// ErrClosed: the Node was closed before JetStream confirmed a message.
	ErrClosed = errors.New("cluster: closed")
)

// Subscribe implements broker.Cluster: the node subscribes to the
// subjects of the filter, both QoS tokens; a shared subscription's in a
// queue group named after its ShareName and filter, so that NATS gives
// each message to one node of those with members.
func (n *Node) Subscribe(share, filter string) {
	subjs, err := FilterSubjects(filter)
	if err != nil {
		n.log.Warn("cluster: filter not subscribed to: its messages stay on their nodes", "filter", filter, "err", err)
		return
	}
	k := filterKey{share, filter}
	var subs []*nats.Subscription
	for _, s := range subjs {
		var sub *nats.Subscription
		subj := n.cfg.Prefix + ".*." + s
		if share == "" {
			sub, err = n.nc.ChanSubscribe(subj, n.in)
		} else {
			sub, err = n.nc.ChanQueueSubscribe(subj, queueName(share, subjs[0]), n.in)
		}
		if err != nil {
			n.log.Warn("cluster: subscribe", "subject", subj, "err", err)
			continue
		}
		subs = append(subs, sub)
	}
	n.subMu.Lock()
	n.subs[k] = subs
	if share != "" {
		for _, sub := range subs {
			n.groups[sub] = k
		}
	}
	n.subMu.Unlock()
}

// group returns the share group of a queue subscription, if it has not
// gone.
func (n *Node) group(sub *nats.Subscription) (filterKey, bool) {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	k, ok := n.groups[sub]
	return k, ok
}

// queueName is the NATS queue group of a share group: its ShareName,
// escaped as a topic level, and the first subject of its filter.
func queueName(share, subj string) string {
	return string(appendLevel(nil, share)) + "|" + subj
}

// Unsubscribe implements broker.Cluster.
func (n *Node) Unsubscribe(share, filter string) {
	k := filterKey{share, filter}
	n.subMu.Lock()
	subs := n.subs[k]
	delete(n.subs, k)
	for _, sub := range subs {
		delete(n.groups, sub)
	}
	n.subMu.Unlock()
	for _, s := range subs {
		if err := s.Unsubscribe(); err != nil {
			n.log.Warn("cluster: unsubscribe", "subject", s.Subject, "err", err)
		}
	}
}

// run delivers the messages of the subscriptions to the broker. Of the
// ordinary subscriptions', not those this node published (the broker
// delivered them here), and each once however many subscriptions matched
// it (the copies arrive one after the other: a later sequence number of
// the same origin comes after them). A queue subscription's message goes
// to its share group, whichever node published it.
func (n *Node) run() {
	defer close(n.done)
	last := make(map[uint64]uint64) // the latest sequence number of each origin
	var p packet.Publish
	for {
		var m *nats.Msg
		select {
		case m = <-n.in:
		case <-n.stop:
			return
		}
		origin, seq, ok := n.decode(m, &p)
		switch {
		case !ok:
		case m.Sub != nil && m.Sub.Queue != "":
			if k, ok := n.group(m.Sub); ok {
				n.b.DeliverShared(k.share, k.filter, &p)
			}
		case origin != n.origin && seq > last[origin]:
			last[origin] = seq
			n.b.Deliver(&p)
		}
	}
}

// decode reads a message of the cluster into p, which aliases its data.
func (n *Node) decode(m *nats.Msg, p *packet.Publish) (origin, seq uint64, ok bool) {
	d := m.Data
	if len(d) < headerLen {
		n.log.Warn("cluster: message too short", "subject", m.Subject, "bytes", len(d))
		return 0, 0, false
	}
	origin, seq = binary.BigEndian.Uint64(d), binary.BigEndian.Uint64(d[8:])
	pk, _, err := packet.Decode[uint16](packet.V5, d[headerLen:], 0)
	pub, isPub := pk.(*packet.Publish)
	if err != nil || !isPub {
		n.log.Warn("cluster: not a PUBLISH", "subject", m.Subject, "err", err)
		return 0, 0, false
	}
	*p = *pub
	return origin, seq, true
}

// Close unsubscribes, makes the writes of sessions queued (the broker's
// Shutdown saved its sessions), drains the connection to NATS (what was
// published goes out) and closes it, and stops delivering to the broker.
// Call it after the broker's Shutdown.
func (n *Node) Close() error {
	n.sess.close(true)
	n.subMu.Lock()
	for k, subs := range n.subs {
		for _, s := range subs {
			_ = s.Unsubscribe()
			delete(n.groups, s)
		}
		delete(n.subs, k)
	}
	n.subMu.Unlock()
	err := n.nc.Drain()
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil // closed already
	}
	if err != nil {
		n.nc.Close()
	}
	<-n.closed
	close(n.stop)
	<-n.confirmed
	if n.b != nil {
		<-n.done
	}
	return err
}
