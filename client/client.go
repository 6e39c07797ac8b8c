package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Client is a connection to an MQTT server that reconnects when it is
// lost (unless Config.NoReconnect). Its methods are safe for concurrent
// use.
type Client struct {
	cfg    Config
	urls   []*url.URL
	dialer Dialer

	mu        sync.Mutex // serialises the calls on mc, and guards what follows
	mc        *mqtt.Connection[uint16]
	link      *link               // the current transport; nil between connections
	subs      []route             // subscription handlers, by filter
	waiting   map[uint16]*request // our exchanges awaiting an answer
	inbox     []Message           // messages of the current call, for the read loop
	timers    map[mqtt.TimerKind]*timer
	online    bool            // a connection is up: CONNACK received, transport open
	onWait    chan struct{}   // closed when a connection comes up (made on demand)
	closing   bool            // Close was called
	logged    int             // bytes appended to the Store since its last Reset
	connected int             // connections made
	connack   *packet.Connack // the last connection's
	released  []uint16        // identifiers released in the current call (settleReleased)
	through   bool            // the current call's bytes are for writeThrough: no poke
	// c.mc.InFlight() (which walks the exchanges) as of the last call on
	// mc that may have changed it other than send's own, which counts:
	// inFlightKnown is cleared after every Recv, TimerFired and Closed.
	inFlight      int
	inFlightKnown bool
	pub           packet.Publish // send's packet, reused: the Connection encodes it and keeps nothing of it
	stats         Stats
	requests      requests      // request/response (request.go)
	err           error         // why the Client ended (set with done)
	done          chan struct{} // closed when the Client has ended
}

// route is one subscription: its filter, options, the properties it was
// made with (SubscribeWith) and handler.
type route struct {
	sub    packet.Subscription
	props  property.Properties
	handle func(Message)
}

// request is a call waiting for the server's answer to its packet,
// guarded by Client.mu.
type request struct {
	answered bool
	done     chan struct{} // made on demand (doneSignal), closed when answered
	reasons  []packet.ReasonCode
	err      error
	qos      packet.QoS     // a QoS 1 or QoS 2 message, which a session carries over; 0 otherwise
	suback   *packet.Suback // SubscribeWith's answer
}

// doneSignal returns a channel closed once r is answered, with c.mu
// held. Only a caller that waits makes one: a message acknowledged before
// anyone waits for it costs no channel.
func (r *request) doneSignal() chan struct{} {
	if r.answered {
		return closedSignal
	}
	if r.done == nil {
		r.done = make(chan struct{})
	}
	return r.done
}

// closedSignal is the doneSignal of every answered request.
var closedSignal = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Connect dials the servers of cfg in order and returns a Client connected
// to the first that accepts the connection; after that, a lost connection
// is re-established in the background (Config.NoReconnect turns that off).
// A Config it cannot use gets an error matching ErrConfig before anything
// is dialled; a refusal is a *RefusedError.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	urls, err := cfg.check()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, urls: urls, dialer: cfg.Dialer, waiting: map[uint16]*request{},
		timers: map[mqtt.TimerKind]*timer{}, done: make(chan struct{})}
	if c.dialer == nil {
		c.dialer = StandardDialer(cfg.TLSConfig, cfg.Proxy)
	}
	c.mc = mqtt.NewClient(mqtt.Config{
		Version:        cfg.version(),
		ConnectTimeout: cfg.connectTimeout(),
		Clock:          time.Now,
		ManualPuback:   true, // after the handler returns
		ManualPubrec:   true,
		Journal:        cfg.Store != nil,
		TopicAliases:   topicAliases(cfg.TopicAliases),
	}, c.event)
	if err := c.restore(); err != nil {
		return nil, err
	}
	if _, err := c.connectOnce(ctx, cfg.CleanStart); err != nil {
		return nil, err
	}
	return c, nil
}

// restore rebuilds the session from the Store's journal, and starts the
// journal again from a snapshot of it.
func (c *Client) restore() error {
	if c.cfg.Store == nil {
		return nil
	}
	batches, err := c.cfg.Store.Load()
	if err != nil {
		return fmt.Errorf("client: loading the session: %w", err)
	}
	for i, b := range batches {
		if err := c.mc.Replay(b); err != nil {
			c.log(slog.LevelWarn, "journal batch refused: the session stops before it", "batch", i, "of", len(batches), "err", err)
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.Store.Reset(c.mc.JournalSnapshot())
}

// connectOnce tries each server once, and returns the CONNACK's Session
// Present of the first that accepts the connection.
func (c *Client) connectOnce(ctx context.Context, cleanStart bool) (bool, error) {
	var errs []error
	for _, u := range c.urls {
		present, err := c.connectTo(ctx, u, cleanStart)
		if err == nil {
			c.log(slog.LevelInfo, "connected", "server", u.Redacted(), "sessionPresent", present)
			return present, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", u.Redacted(), err))
		if ctx.Err() != nil {
			break
		}
	}
	return false, errors.Join(errs...)
}

// connectTo dials one server and performs the handshake.
func (c *Client) connectTo(ctx context.Context, u *url.URL, cleanStart bool) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.connectTimeout())
	defer cancel()
	conn, err := c.dialer.Dial(ctx, u)
	if err != nil {
		return false, err
	}
	connect, _ := c.cfg.connect() // checked in Connect
	connect.CleanStart = cleanStart
	if a := c.cfg.Auth; a != nil {
		data, err := a.Start()
		if err != nil {
			return false, fmt.Errorf("client: authentication: %w", err)
		}
		connect.Props.AuthData = data
	}
	l := newLink(conn)
	c.mu.Lock()
	c.link = l
	err = c.mc.Send(connect)
	c.mu.Unlock()
	if err != nil {
		conn.Close()
		return false, err
	}
	go c.writeLoop(l)
	go c.readLoop(l)
	select {
	case r := <-l.connack:
		if r.err == nil {
			return r.present, nil
		}
		err = r.err
	case <-l.ended:
		err = l.err
	case <-ctx.Done():
		err = ctx.Err()
	}
	conn.Close()
	<-l.ended
	return false, err
}

// ClientID returns the client identifier of the session: the Config's, or
// the one a v5 server assigned.
func (c *Client) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mc.ClientID()
}

// Connack returns the CONNACK of the current connection, or of the last
// one: Session Present, and in v5 the server's limits (Receive Maximum,
// Maximum QoS, Retain Available, Maximum Packet Size, ...), an Assigned
// Client Identifier, a Server Keep Alive. Do not modify it.
func (c *Client) Connack() *packet.Connack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connack
}

// Done returns a channel closed when the Client has ended: after Close, or
// when its connection is lost and it does not reconnect. Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the Client ended (ErrClosed after Close, a
// *ConnectionLostError otherwise), or nil while it lives.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Publish sends a message and returns when it is written (QoS 0) or
// acknowledged by the server (QoS 1: PUBACK; QoS 2: PUBCOMP). A failure
// reason code in the acknowledgement is an *AckError. While the server's
// Receive Maximum (or Config.MaxInFlight) of unacknowledged messages is
// reached, or while the Client reconnects, Publish waits. A QoS 1 or QoS
// 2 message of a session that outlives the connection (SessionExpiry, or
// CleanStart false in 3.1.1) survives a reconnection and is sent again. If
// ctx ends first, Publish returns its error; a message already sent stays
// in flight, and the server may still get it.
func (c *Client) Publish(ctx context.Context, m Message) error {
	if m.QoS == 0 {
		l, upTo, err := c.send(ctx, m, nil, true)
		if err != nil {
			return err
		}
		if err := l.waitWritten(ctx, &c.mu, upTo); err != nil {
			return err
		}
		c.mu.Lock()
		c.stats.Sent[0]++
		c.mu.Unlock()
		return nil
	}
	r := &request{qos: m.QoS}
	if _, _, err := c.send(ctx, m, r, false); err != nil {
		return err
	}
	_, err := c.await(ctx, r)
	return err
}

// PublishAsync sends a message as Publish does, waiting as it does for
// room under the server's Receive Maximum or for a connection, but returns
// once the message is handed to the connection: the Pending tells when
// the server has acknowledged it. A program that keeps many messages in
// flight from one goroutine uses it (a bridge, a load generator); a QoS 0
// message has no acknowledgement, and its Pending is done at once.
func (c *Client) PublishAsync(ctx context.Context, m Message) (*Pending, error) {
	if m.QoS == 0 {
		if _, _, err := c.send(ctx, m, nil, false); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.stats.Sent[0]++
		c.mu.Unlock()
		return sentPending, nil
	}
	p := &Pending{c: c, r: request{qos: m.QoS}}
	if _, _, err := c.send(ctx, m, &p.r, false); err != nil {
		return nil, err
	}
	return p, nil
}

// send hands a message to the Connection, once a connection is up and
// the flow control has room, and returns the link it went out on and how
// many bytes of it must be written for the message to be. r, for a QoS 1
// or QoS 2 message, then waits for its acknowledgement. With through (a
// QoS 0 Publish, which waits for the write) the caller writes the message
// itself when it can (writeThrough), rather than wait for the writer to
// write it and wake it. PublishAsync leaves it to the writer, which takes
// the messages of many calls at once; so does a QoS 1 or 2 Publish, which
// waits for the server anyway: writing itself cost it more CPU time and
// throughput than the hand-over (BenchmarkClientPublishSync).
func (c *Client) send(ctx context.Context, m Message, r *request, through bool) (*link, uint64, error) {
	for {
		c.mu.Lock()
		if err := c.ready(ctx); err != nil {
			return nil, 0, err
		}
		if m.QoS > 0 && c.cfg.MaxInFlight > 0 && c.inFlightNow() >= c.cfg.MaxInFlight {
			if err := c.waitForRoom(ctx); err != nil {
				return nil, 0, err
			}
			continue
		}
		c.pub = packet.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Props: m.Props}
		c.through = through
		err := c.mc.Send(&c.pub)
		c.through = false
		id := c.pub.PacketID
		c.pub = packet.Publish{} // holds nothing of the caller's
		if errors.Is(err, mqtt.ErrQuotaExceeded) {
			if err := c.waitForRoom(ctx); err != nil {
				return nil, 0, err
			}
			continue
		}
		if err != nil {
			c.mu.Unlock()
			return nil, 0, err
		}
		l, upTo := c.link, c.link.queued
		if m.QoS > 0 {
			c.expect(id, r)
			c.inFlight++ // one exchange more, and no other change
		}
		if through {
			c.writeThrough(l)
		}
		c.mu.Unlock()
		return l, upTo, nil
	}
}

// inFlightNow returns c.mc.InFlight(), with c.mu held, counting only
// when a call may have changed it since it last did.
func (c *Client) inFlightNow() int {
	if !c.inFlightKnown {
		c.inFlight, c.inFlightKnown = c.mc.InFlight(), true
	}
	return c.inFlight
}

// Pending is a message PublishAsync sent, until the server acknowledges
// it (QoS 1 and 2).
type Pending struct {
	c *Client // nil for a QoS 0 message: done from the start
	r request
}

// sentPending is the Pending of every QoS 0 message.
var sentPending = &Pending{}

// Done returns a channel closed when the exchange has ended: the server
// acknowledged the message, or the Client could not deliver it (Err).
func (p *Pending) Done() <-chan struct{} {
	if p.c == nil {
		return closedSignal
	}
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.r.doneSignal()
}

// Err returns, once Done is closed, what Publish would have: nil, an
// *AckError, ErrSessionLost, or why the Client ended. Before, it returns
// nil.
func (p *Pending) Err() error {
	if p.c == nil {
		return nil
	}
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.r.err // nil until answered
}

// Wait waits until the exchange has ended, and returns Err, or ctx's
// error if ctx ends first (the message stays in flight).
func (p *Pending) Wait(ctx context.Context) error {
	if p.c == nil {
		return nil
	}
	_, err := p.c.await(ctx, &p.r)
	return err
}

// ready waits, with c.mu held, until a connection is up; it returns with
// c.mu held and nil, or released and why the Client cannot go on.
func (c *Client) ready(ctx context.Context) error {
	for !c.online || c.err != nil {
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return err
		}
		up := c.onlineSignal()
		c.stats.Waiting++
		c.mu.Unlock()
		var err error
		select {
		case <-up:
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		c.mu.Lock()
		c.stats.Waiting--
		if err != nil {
			c.mu.Unlock()
			return err
		}
	}
	return nil
}

// waitForRoom waits, with c.mu held and released, until an identifier is
// released, the connection changes or the Client ends; it returns with
// c.mu released.
func (c *Client) waitForRoom(ctx context.Context) error {
	room := c.link.roomSignal()
	ended := c.link.ended
	c.stats.Waiting++
	c.mu.Unlock()
	var err error
	select {
	case <-room:
	case <-ended: // Publish waits for the next connection
	case <-c.done:
		err = c.Err()
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.mu.Lock()
	c.stats.Waiting--
	c.mu.Unlock()
	return err
}

// Subscribe subscribes to one topic filter and returns when the server has
// granted it; h then receives the messages that match it (nil: the
// Config's OnMessage). A refused filter is an *AckError. The subscription
// is made again on every new connection whose session the server did not
// keep.
//
// Handlers run one at a time on the goroutine that reads from the server,
// in the order the messages arrived: a handler that waits for the server
// (Publish at QoS 1 or 2, Subscribe, Request) would wait for itself, and
// must hand that work to another goroutine.
func (c *Client) Subscribe(ctx context.Context, s packet.Subscription, h func(Message)) error {
	ack, err := c.SubscribeWith(ctx, &packet.Subscribe{Subscriptions: []packet.Subscription{s}}, h)
	if err == nil && ack.Reasons[0].IsError() {
		err = &AckError{Reason: ack.Reasons[0], Filter: s.Filter}
	}
	return err
}

// SubscribeWith sends a SUBSCRIBE of the caller's (several filters, v5
// properties such as a Subscription Identifier or User Properties) and
// returns the server's SUBACK, whose reason codes say, filter by filter,
// what it granted; h receives the messages of the filters granted. The
// Client sets the packet identifier. A subscription is made again, with
// its properties, on every new connection whose session the server did
// not keep.
func (c *Client) SubscribeWith(ctx context.Context, p *packet.Subscribe, h func(Message)) (*packet.Suback, error) {
	if h == nil {
		h = c.cfg.OnMessage
	}
	p = p.Clone()
	c.mu.Lock()
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	// The handlers are in place before the first message can arrive.
	prev := make([]route, len(p.Subscriptions))
	had := make([]bool, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		prev[i], had[i] = c.setRoute(s, p.Props, h)
	}
	undo := func(granted []packet.ReasonCode) {
		for i, s := range slices.Backward(p.Subscriptions) {
			if granted == nil || i >= len(granted) || granted[i].IsError() {
				c.restoreRoute(s, prev[i], had[i])
			}
		}
	}
	if err := c.mc.Send(p); err != nil {
		undo(nil)
		c.mu.Unlock()
		return nil, err
	}
	r := c.expect(p.PacketID, &request{})
	c.mu.Unlock()
	_, err := c.await(ctx, r)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	undo(r.suback.Reasons)
	c.mu.Unlock()
	return r.suback, nil
}

// Unsubscribe ends the subscription to a topic filter and returns when the
// server has answered; its handler receives nothing more.
func (c *Client) Unsubscribe(ctx context.Context, filter string) error {
	p := &packet.Unsubscribe{Filters: []string{filter}}
	c.mu.Lock()
	if err := c.ready(ctx); err != nil {
		return err
	}
	if err := c.mc.Send(p); err != nil {
		c.mu.Unlock()
		return err
	}
	c.setRoute(packet.Subscription{Filter: filter}, property.Properties{}, nil)
	r := c.expect(p.PacketID, &request{})
	c.mu.Unlock()
	reasons, err := c.await(ctx, r)
	if err == nil && len(reasons) == 1 && reasons[0].IsError() {
		err = &AckError{Reason: reasons[0], Filter: filter}
	}
	return err
}

// Close waits until the QoS 1 and QoS 2 messages in flight are
// acknowledged (or ctx ends), sends DISCONNECT, closes the connection and
// stops reconnecting. It returns ctx's error if ctx ended first, else the
// Client's if it had already ended for another reason, else nil.
func (c *Client) Close(ctx context.Context) error {
	return c.Disconnect(ctx, &packet.Disconnect{})
}

// Disconnect is Close with a DISCONNECT of the caller's (v5): a reason
// code (DisconnectWithWillMessage has the server publish the will), a
// Session Expiry Interval, a Reason String. A packet the connection may
// not send (a reason code in 3.1.1, a Session Expiry Interval set when
// the CONNECT's was 0) gets an error, and the Client goes on.
func (c *Client) Disconnect(ctx context.Context, d *packet.Disconnect) error {
	if d == nil {
		d = &packet.Disconnect{}
	}
	if _, err := d.AppendTo(nil, c.cfg.version()); err != nil {
		return err
	}
	if cn, _ := c.cfg.connect(); d.Props.SessionExpiry != 0 && cn.Props.SessionExpiry == 0 {
		return mqtt.ErrSessionExpiry
	}
	var drained error
	c.mu.Lock()
	c.closing = true
	for c.err == nil && c.online && c.mc.InFlight() > 0 {
		if err := c.waitForRoom(ctx); err != nil {
			drained = err
			c.mu.Lock()
			break
		}
		c.mu.Lock()
	}
	ended := c.err
	if l := c.link; ended == nil && l != nil {
		if err := c.mc.Send(d); err != nil {
			l.conn.Close() // not connected: nothing to say first
		}
	}
	if ended == nil && c.link == nil {
		c.finish(ErrClosed) // between connections
	}
	c.mu.Unlock()
	<-c.done
	if drained != nil {
		return drained
	}
	if ended != nil && ended != ErrClosed {
		return ended
	}
	return nil
}

// setRoute sets or, with h nil, removes the handler of s.Filter, and
// returns the previous one.
func (c *Client) setRoute(s packet.Subscription, props property.Properties, h func(Message)) (prev route, had bool) {
	i := slices.IndexFunc(c.subs, func(r route) bool { return r.sub.Filter == s.Filter })
	if i >= 0 {
		prev, had = c.subs[i], true
		c.subs = slices.Delete(c.subs, i, i+1)
	}
	if h != nil {
		c.subs = append(c.subs, route{sub: s, props: props, handle: h})
	}
	return prev, had
}

func (c *Client) restoreRoute(s packet.Subscription, prev route, had bool) {
	if had {
		c.setRoute(prev.sub, prev.props, prev.handle)
	} else {
		c.setRoute(s, property.Properties{}, nil)
	}
}

// expect registers r for the answer to our packet id.
func (c *Client) expect(id uint16, r *request) *request {
	c.waiting[id] = r
	return r
}

// answer completes the request of packet id, if one waits.
func (c *Client) answer(id uint16, reasons []packet.ReasonCode, err error) {
	r, ok := c.waiting[id]
	if !ok {
		return
	}
	delete(c.waiting, id)
	r.reasons, r.err, r.answered = slices.Clone(reasons), err, true
	if r.qos > 0 && err == nil {
		c.stats.Sent[r.qos]++
	}
	signal(&r.done)
}

// await waits for a request's answer.
func (c *Client) await(ctx context.Context, r *request) ([]packet.ReasonCode, error) {
	c.mu.Lock()
	done := r.doneSignal()
	c.mu.Unlock()
	select {
	case <-done:
		return r.reasons, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// onlineSignal returns a channel closed when a connection comes up.
func (c *Client) onlineSignal() chan struct{} {
	if c.onWait == nil {
		c.onWait = make(chan struct{})
	}
	return c.onWait
}

func topicAliases(on bool) mqtt.AliasMode {
	if on {
		return mqtt.AliasAuto
	}
	return mqtt.AliasOff
}
