package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
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
	// Each node reads it through a durable consumer of its own (see the
	// package documentation).
	Stream   string
	Replicas int
	MaxAge   time.Duration
	MaxBytes int64
	// PublishTimeout bounds the wait for JetStream to hold a QoS 1 or
	// QoS 2 message, and each write to the sessions bucket; 0 means 5
	// seconds.
	PublishTimeout time.Duration
	// Retained is the JetStream key-value bucket that holds the retained
	// messages (retained.go), replicated as the stream; "" means
	// "MQTT_RETAINED".
	Retained string
	// NodeName names the node in the cluster: its durable JetStream
	// consumer ("node-" and the name), which a node started again on the
	// same name resumes, and the origin of the messages it publishes.
	// Two nodes running at once must not share it. "" means the host
	// name.
	NodeName string
	// MaxInFlight bounds the QoS 1 and QoS 2 messages JetStream gives a
	// node's consumer that the node has not acknowledged yet (the
	// consumers' MaxAckPending); 0 means 4096. AckWait is how long
	// JetStream waits for an acknowledgement before it gives a message
	// again; 0 means 30 seconds.
	MaxInFlight int
	AckWait     time.Duration
	// SessionBucket is the JetStream key-value bucket of the sessions
	// (session.go): which node holds each client identifier's, and the
	// sessions handed over and saved; "" means "MQTT_SESSIONS". It is
	// replicated Replicas times.
	SessionBucket string
	// HandoverTimeout bounds how long a node that claims a session waits
	// for the node that held it, alive, to hand it over; then it resumes
	// what was saved last. 0 means 5 seconds.
	HandoverTimeout time.Duration
	// FloorInterval is how often the node saves the floors of the
	// sessions it holds whose floor moved (floor.go): the older the floor
	// a node that resumes a session after a crash finds, the more it
	// gives again. 0 means 1 second. MaxReplay bounds the messages a
	// node gives again to one session it resumes so (replay.go); 0 means
	// 100,000.
	FloorInterval time.Duration
	MaxReplay     int
	// NodeCheck is how often the node checks that the others answer;
	// NodeTimeout how long one may not answer before it is gone and
	// another node keeps its sessions (custody.go: their expiry and
	// wills run there). 0 means 1 second and 5 seconds.
	NodeCheck   time.Duration
	NodeTimeout time.Duration
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
	stream jetstream.Stream
	origin uint64 // this node (a hash of its name), on every message it publishes

	// ctx ends when Close begins: the consumers and update stop.
	ctx    context.Context
	cancel context.CancelFunc
	// own is the node's consumer of the QoS 1 and QoS 2 messages of its
	// ordinary subscriptions, interest its filters; update (interest.go)
	// closes updated when it returns.
	own      *durable
	interest *interest
	updated  chan struct{}

	// pubMu orders what the node publishes: the sequence numbers go out
	// on the connection in order, which lets receivers drop the second
	// copy of a message that several of their subscriptions match.
	pubMu sync.Mutex
	seq   uint64

	// subMu guards subs, the NATS subscriptions (QoS 0) of each topic
	// filter, groups, the share group of each queue subscription, shares,
	// the consumer of each share group (QoS 1 and QoS 2), and attached.
	subMu    sync.Mutex
	subs     map[filterKey][]*nats.Subscription
	groups   map[*nats.Subscription]filterKey
	shares   map[filterKey]*durable
	attached bool // Attach was called: the consumers run

	// in carries the QoS 0 messages of every subscription, in the order
	// the connection read them, to run (one goroutine).
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

	ret retainedState // retained.go
	fl  floors        // floor.go
	// dropAcks, for the tests, keeps the node from acknowledging what
	// its consumers give it, as a node that stopped before it could.
	dropAcks atomic.Bool
}

// filterKey is a subscription of the broker's: ShareName ("" for none)
// and topic filter.
type filterKey struct{ share, filter string }

// headerLen is the size of what precedes the PUBLISH in a message's
// data: the origin node and its sequence number, big-endian.
const headerLen = 16

// inQueue is how many QoS 0 messages from the cluster may wait for the
// node's broker; NATS drops more (a slow consumer). The QoS 1 and QoS 2
// ones come through the consumers, which wait for the broker.
const inQueue = 1 << 16

// Dial connects to NATS, makes the stream of QoS 1 and QoS 2 messages if
// it is missing, finds the node's consumer of it or makes it, and returns
// the Node.
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
	if cfg.Retained == "" {
		cfg.Retained = "MQTT_RETAINED"
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
	if cfg.NodeName == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cluster: no NodeName, and no host name: %w", err)
		}
		cfg.NodeName = host
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4096
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.FloorInterval <= 0 {
		cfg.FloorInterval = time.Second
	}
	if cfg.MaxReplay <= 0 {
		cfg.MaxReplay = 100_000
	}
	if cfg.NodeCheck <= 0 {
		cfg.NodeCheck = time.Second
	}
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = 5 * time.Second
	}
	h := fnv.New64a()
	h.Write([]byte(cfg.NodeName))
	n := &Node{
		cfg:    cfg,
		log:    cfg.Logger,
		origin: h.Sum64(),
		// A sequence above any the node had before it was started again
		// (one a nanosecond at most), for the receivers' duplicate check.
		seq:       uint64(time.Now().UnixNano()),
		subs:      make(map[filterKey][]*nats.Subscription),
		groups:    make(map[*nats.Subscription]filterKey),
		shares:    make(map[filterKey]*durable),
		updated:   make(chan struct{}),
		in:        make(chan *nats.Msg, inQueue),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		closed:    make(chan struct{}),
		confirms:  make(chan confirm, maxConfirms),
		fl:        floors{done: make(chan struct{})},
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
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
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
	n.nc, n.js, n.stream = nc, js, stream
	if err := n.openRetained(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	cons, inherited, err := n.findOwn(ctx)
	if err != nil {
		nc.Close()
		return nil, err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.interest = newInterest(inherited)
	n.own = n.newDurable(ownConsumerName(cfg.NodeName), filterKey{}, "cluster/"+cfg.Stream+"/"+ownConsumerName(cfg.NodeName), n.ensureOwn)
	n.own.cons = cons
	if n.sess, err = openSessions(ctx, n); err != nil {
		nc.Close()
		return nil, err
	}
	go n.confirmAll()
	return n, nil
}

// findOwn returns the node's consumer, made if it is missing (taking
// nothing: the idle filter), and the filters it had.
func (n *Node) findOwn(ctx context.Context) (jetstream.Consumer, []string, error) {
	name := ownConsumerName(n.cfg.NodeName)
	cons, err := n.js.Consumer(ctx, n.cfg.Stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = n.js.CreateConsumer(ctx, n.cfg.Stream, n.consumerConfig(name, []string{n.idleSubject()}, n.cfg.MaxAge))
		if err != nil {
			return nil, nil, fmt.Errorf("cluster: consumer %s: %w", name, err)
		}
		return cons, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: consumer %s: %w", name, err)
	}
	c := cons.CachedInfo().Config
	inherited := c.FilterSubjects
	if c.FilterSubject != "" {
		inherited = append(inherited, c.FilterSubject)
	}
	return cons, inherited, nil
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
// the other nodes to b. The subscriptions the broker has now are those
// of the sessions its Store restored: if the node's consumer had their
// subjects, it delivers what was published since it last took a message
// (the broker's Store recorded which).
func (n *Node) Attach(b *broker.Broker) {
	n.b = b
	n.attachRetained(b) // before New returns: before the first SUBSCRIBE
	n.own.pos.firm = b.ClusterMark(n.own.mark)
	n.fl.routed.Store(n.own.pos.firm)
	n.interest.attach()
	n.subMu.Lock()
	n.attached = true
	go n.own.run()
	for _, d := range n.shares {
		go d.run()
	}
	n.subMu.Unlock()
	go n.update()
	n.interest.poke()
	go n.run()
	go n.saveFloors()
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
// A retained one is written to the bucket of retained messages too, and
// done waits for that as well (retained.go).
// While maxConfirms messages wait for the stream, Publish waits for room.
func (n *Node) Publish(p *packet.Publish, done func(error)) {
	done = n.retainThen(p, done) // retained.go
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
	// The message ID lets the stream drop a copy the client sends again
	// (when a stream leader is being elected: no responders).
	id := strconv.FormatUint(n.origin, 36) + "-" + strconv.FormatUint(n.seq, 36)
	f, err := n.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: data}, jetstream.WithMsgID(id),
		jetstream.WithRetryAttempts(retryAttempts(n.cfg.PublishTimeout)))
	if err != nil {
		return nil, fmt.Errorf("cluster: publish: %w", err)
	}
	return f, nil
}

// retryAttempts is how many times a message is sent again to a stream
// with no responders, a quarter second apart (the client's wait), within
// d.
func retryAttempts(d time.Duration) int { return max(2, int(d/(250*time.Millisecond))) }

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
		case ack := <-c.f.Ok():
			n.fl.observe(ack.Sequence)
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

// Subscribe implements broker.Cluster: the node subscribes to the QoS 0
// subjects of the filter, and adds its QoS 1 subjects to the filters of
// its consumer (interest.go); a shared subscription's in a queue group
// named after its ShareName and filter, and through the group's
// consumer, so that NATS gives each message to one node of those with
// members.
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
		subj := n.cfg.Prefix + ".0." + s
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
	defer n.subMu.Unlock()
	n.subs[k] = subs
	if share == "" {
		n.interest.add(n.durableSubjects(subjs))
		return
	}
	for _, sub := range subs {
		n.groups[sub] = k
	}
	d := n.shareDurable(k, subjs)
	n.shares[k] = d
	if n.attached {
		go d.run()
	}
}

// durableSubjects returns the subjects of the QoS 1 and QoS 2 messages
// of a filter's subjects.
func (n *Node) durableSubjects(subjs []string) []string {
	out := make([]string, len(subjs))
	for i, s := range subjs {
		out[i] = n.cfg.Prefix + ".1." + s
	}
	return out
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
	subs, ok := n.subs[k]
	delete(n.subs, k)
	for _, sub := range subs {
		delete(n.groups, sub)
	}
	if d := n.shares[k]; d != nil {
		d.stop() // the consumer stays for the other nodes' members
		delete(n.shares, k)
	}
	n.subMu.Unlock()
	if ok && share == "" {
		subjs, _ := FilterSubjects(filter)
		n.interest.remove(n.durableSubjects(subjs))
	}
	for _, s := range subs {
		if err := s.Unsubscribe(); err != nil {
			n.log.Warn("cluster: unsubscribe", "subject", s.Subject, "err", err)
		}
	}
}

// run delivers the QoS 0 messages of the subscriptions to the broker. Of the
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
		origin, seq, ok := n.decode(m.Subject, m.Data, &p)
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

// decode reads a message of the cluster, its subject and data, into p,
// which aliases the data.
func (n *Node) decode(subject string, d []byte, p *packet.Publish) (origin, seq uint64, ok bool) {
	if len(d) < headerLen {
		n.log.Warn("cluster: message too short", "subject", subject, "bytes", len(d))
		return 0, 0, false
	}
	origin, seq = binary.BigEndian.Uint64(d), binary.BigEndian.Uint64(d[8:])
	pk, _, err := packet.Decode[uint16](packet.V5, d[headerLen:], 0)
	pub, isPub := pk.(*packet.Publish)
	if err != nil || !isPub {
		n.log.Warn("cluster: not a PUBLISH", "subject", subject, "err", err)
		return 0, 0, false
	}
	*p = *pub
	return origin, seq, true
}

// Close stops pulling from the consumers (which stay, for a node started
// again on the same name, and the share groups' for the other nodes),
// unsubscribes, drains the connection to NATS (what was published goes
// out, the acknowledgements of what the broker took too) and closes it,
// and stops delivering to the broker; the writes of sessions queued
// (the broker's Shutdown saved its sessions) are made first. Call it
// after the broker's Shutdown.
func (n *Node) Close() error {
	n.sess.close(true)
	n.cancel()
	n.subMu.Lock()
	ds := []*durable{n.own}
	for k, d := range n.shares {
		ds = append(ds, d)
		delete(n.shares, k)
	}
	attached := n.attached
	n.subMu.Unlock()
	for _, d := range ds {
		d.stop()
	}
	if attached {
		for _, d := range ds {
			<-d.done
		}
		<-n.updated
		<-n.fl.done
	}
	n.subMu.Lock()
	for k, subs := range n.subs {
		for _, s := range subs {
			_ = s.Unsubscribe()
			delete(n.groups, s)
		}
		delete(n.subs, k)
	}
	n.subMu.Unlock()
	n.drainRetained()
	err := n.nc.Drain()
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil // closed already
	}
	if err != nil {
		n.nc.Close()
	}
	<-n.closed
	<-n.ret.done
	close(n.stop)
	<-n.confirmed
	if n.b != nil {
		<-n.done
	}
	return err
}
