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
	"github.com/mqttcore/mqtt/internal/timerqueue"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/mqttcore/mqtt/trace"
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
	in        inbox               // received messages, for the handlers (inbox.go)
	online    bool                // a connection is up: CONNACK received, transport open
	onWait    chan struct{}       // closed when a connection comes up (made on demand)
	closing   bool                // Close was called
	logged    int                 // bytes appended to the Store since its last Reset
	connected int                 // connections made
	connack   *packet.Connack     // the last connection's
	released  []uint16            // identifiers released in the current call (settleReleased)
	stats     Stats
	requests  requests      // request/response (request.go)
	reauth    chan error    // Reauthenticate's answer, while one is in progress (reauth.go)
	err       error         // why the Client ended (set with done)
	done      chan struct{} // closed when the Client has ended

	// The Connection's timers (driver.go), and where they are in the
	// queue.
	timers  timerqueue.Queue[*Client]
	timerAt timerqueue.Slots

	// scratch holds, under mu, packet values handed to the calls on mc
	// on the paths taken for every message: the Connection keeps none of
	// them past the call, so one of each serves every call.
	scratch struct {
		publish packet.Publish
		puback  packet.Puback
		pubrec  packet.Pubrec
	}
}

// route is one subscription: its filter, options, the properties it was
// made with (SubscribeWith) and handler (nil: Config.OnMessage).
type route struct {
	sub    packet.Subscription
	props  property.Properties
	handle func(Message)
}

// request is a call waiting for the server's answer to its packet.
type request struct {
	done     chan struct{}
	reasons  []packet.ReasonCode
	err      error
	qos      packet.QoS       // a QoS 1 or QoS 2 message, which a session carries over; 0 otherwise
	suback   *packet.Suback   // SubscribeWith's answer
	unsuback *packet.Unsuback // UnsubscribeWith's answer
	pending  Pending          // PublishAsync's answer, made with the request
}

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
		done: make(chan struct{}), in: inbox{wake: make(chan struct{}, 1)}}
	if c.dialer == nil {
		c.dialer = StandardDialer(cfg.TLSConfig, cfg.Proxy)
	}
	c.timers.Init(clientTimers, (*Client).timerFired)
	core := mqtt.Config{
		Version:        cfg.version(),
		ConnectTimeout: cfg.connectTimeout(),
		Clock:          time.Now,
		ManualPuback:   true, // after the handler returns
		ManualPubrec:   true,
		Journal:        cfg.Store != nil,
		TopicAliases:   topicAliases(cfg.TopicAliases),
	}
	if cfg.Trace != nil {
		core.Trace = trace.NewRecorder(cfg.Trace)
	}
	c.mc = mqtt.NewClient(core, c.event)
	if err := c.restore(); err != nil {
		return nil, err
	}
	clean, err := c.firstCleanStart(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.connectOnce(ctx, clean); err != nil {
		return nil, err
	}
	go c.dispatch()
	return c, nil
}

// firstCleanStart says whether the first connection asks for a clean
// start: when the Config does, or when the Store holds no session (a first
// run, or one that ended before its first CONNACK). The server may keep a
// session for the ClientID that the Store has no copy of, which the Client
// may not resume (MQTT-3.2.2-4): in v5 a clean start with a Session Expiry
// starts a new one at once; in 3.1.1, where a clean session ends with its
// connection, a connection with a clean session first discards the
// server's.
func (c *Client) firstCleanStart(ctx context.Context) (bool, error) {
	if c.cfg.CleanStart || c.cfg.Store == nil || c.mc.HoldsSession() {
		return c.cfg.CleanStart, nil
	}
	if c.cfg.version() == packet.V5 {
		return true, nil
	}
	once := c.cfg
	once.CleanStart, once.Store, once.Will, once.NoReconnect, once.Trace = true, nil, nil, true, nil
	once.OnConnectionLost, once.OnConnectionUp, once.OnMessage = nil, nil, nil
	d, err := Connect(ctx, once)
	if err != nil {
		return false, err
	}
	return false, d.Close(ctx)
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
	var r handshake
	select {
	case r = <-l.connack:
	case <-l.ended:
		select {
		case r = <-l.connack: // the CONNACK's answer says more than the end
		default:
			r.err = l.err
		}
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	if r.err == nil {
		return r.present, nil
	}
	err = r.err
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
		l, upTo, _, err := c.send(ctx, m)
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
	p, err := c.PublishAsync(ctx, m)
	if err != nil {
		return err
	}
	return p.Wait(ctx)
}

// PublishAsync sends a message as Publish does, waiting as it does for
// room under the server's Receive Maximum or for a connection, but returns
// once the message is handed to the connection: the Pending tells when
// the server has acknowledged it. A program that keeps many messages in
// flight from one goroutine uses it (a bridge, a load generator); a QoS 0
// message has no acknowledgement, and its Pending is done at once (but
// PublishAsync waits while more than 1 MiB of messages wait to be
// written).
func (c *Client) PublishAsync(ctx context.Context, m Message) (*Pending, error) {
	l, upTo, r, err := c.send(ctx, m)
	if err != nil {
		return nil, err
	}
	if r == nil { // QoS 0
		c.mu.Lock()
		c.stats.Sent[0]++
		c.mu.Unlock()
		if upTo > maxUnwritten {
			// The writer's backlog stays bounded: a QoS 0 message waits
			// until all but maxUnwritten bytes before it are written.
			if err := l.waitWritten(ctx, &c.mu, upTo-maxUnwritten); err != nil {
				return nil, err
			}
		}
		return donePending, nil
	}
	r.pending = Pending{c: c, r: r}
	return &r.pending, nil
}

// send hands a message to the Connection, once a connection is up and
// the flow control has room, and returns the link it went out on and how
// many bytes of it must be written for the message to be, and the request
// that waits for its acknowledgement (QoS 1 and 2).
func (c *Client) send(ctx context.Context, m Message) (*link, uint64, *request, error) {
	for {
		c.mu.Lock()
		if err := c.ready(ctx); err != nil {
			return nil, 0, nil, err
		}
		if m.QoS > 0 && c.cfg.MaxInFlight > 0 && c.mc.InFlight() >= c.cfg.MaxInFlight {
			if err := c.waitForRoom(ctx); err != nil {
				return nil, 0, nil, err
			}
			continue
		}
		p := &c.scratch.publish
		*p = packet.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Props: m.Props}
		err := c.mc.Send(p)
		if errors.Is(err, mqtt.ErrQuotaExceeded) {
			if err := c.waitForRoom(ctx); err != nil {
				return nil, 0, nil, err
			}
			continue
		}
		if err != nil {
			c.mu.Unlock()
			return nil, 0, nil, err
		}
		l, upTo := c.link, c.link.queued
		var r *request
		if m.QoS > 0 {
			r = c.expect(p.PacketID, m.QoS)
		}
		c.mu.Unlock()
		return l, upTo, r, nil
	}
}

// maxUnwritten bounds the bytes of QoS 0 messages PublishAsync leaves to
// the writer: past it, PublishAsync waits for the transport.
const maxUnwritten = 1 << 20

// Pending is a QoS 1 or QoS 2 message PublishAsync sent, until the server
// acknowledges it.
type Pending struct {
	c *Client
	r *request
}

// Done returns a channel closed when the exchange has ended: the server
// acknowledged the message, or the Client could not deliver it (Err).
func (p *Pending) Done() <-chan struct{} { return p.r.done }

// Err returns, once Done is closed, what Publish would have: nil, an
// *AckError, ErrSessionLost, or why the Client ended. Before, it returns
// nil.
func (p *Pending) Err() error {
	select {
	case <-p.r.done:
		return p.r.err
	default:
		return nil
	}
}

// Wait waits until the exchange has ended, and returns Err, or ctx's
// error if ctx ends first (the message stays in flight).
func (p *Pending) Wait(ctx context.Context) error {
	if p.c == nil { // QoS 0: done from the start
		return p.r.err
	}
	_, err := p.c.await(ctx, p.r)
	return err
}

// donePending is the Pending of every QoS 0 message: done from the start.
var donePending = func() *Pending {
	r := &request{done: make(chan struct{})}
	close(r.done)
	return &Pending{r: r}
}()

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
	c.countWaiter(1)
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
	c.countWaiter(-1)
	c.mu.Unlock()
	return err
}

// Subscribe subscribes to one topic filter and returns when the server has
// granted it; h then receives the messages that match it (nil: the
// Config's OnMessage). A refused filter is an *AckError. The subscription
// is made again on every new connection whose session the server did not
// keep.
//
// Handlers run one at a time, in the order the messages arrived, on a
// goroutine of the Client's; the Client reads on meanwhile, so a handler
// may wait for the server (Publish at QoS 1 or 2, Subscribe, Request). A
// slow handler slows the server down: past 1,024 messages waiting for
// the handlers, the Client stops reading until they catch up.
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
	r := c.expect(p.PacketID, 0)
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
	ack, err := c.UnsubscribeWith(ctx, &packet.Unsubscribe{Filters: []string{filter}})
	if err == nil && len(ack.Reasons) == 1 && ack.Reasons[0].IsError() {
		err = &AckError{Reason: ack.Reasons[0], Filter: filter}
	}
	return err
}

// UnsubscribeWith sends an UNSUBSCRIBE of the caller's (several filters,
// v5 User Properties) and returns the server's UNSUBACK, whose v5 reason
// codes say, filter by filter, whether there was a subscription
// (NoSubscriptionExisted when not) or why the server refused (3.1.1 has
// none). The handlers of the filters receive nothing more. The Client
// sets the packet identifier.
func (c *Client) UnsubscribeWith(ctx context.Context, p *packet.Unsubscribe) (*packet.Unsuback, error) {
	p = p.Clone()
	c.mu.Lock()
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	if err := c.mc.Send(p); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	for _, f := range p.Filters {
		c.removeRoute(f)
	}
	r := c.expect(p.PacketID, 0)
	c.mu.Unlock()
	if _, err := c.await(ctx, r); err != nil {
		return nil, err
	}
	return r.unsuback, nil
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
	signal(&c.in.room)
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

// setRoute sets the subscription of s.Filter, with handler h (nil:
// Config.OnMessage), and returns the previous one.
func (c *Client) setRoute(s packet.Subscription, props property.Properties, h func(Message)) (prev route, had bool) {
	prev, had = c.removeRoute(s.Filter)
	c.subs = append(c.subs, route{sub: s, props: props, handle: h})
	return prev, had
}

// removeRoute removes the subscription of filter, and returns it.
func (c *Client) removeRoute(filter string) (prev route, had bool) {
	i := slices.IndexFunc(c.subs, func(r route) bool { return r.sub.Filter == filter })
	if i < 0 {
		return route{}, false
	}
	prev = c.subs[i]
	c.subs = slices.Delete(c.subs, i, i+1)
	return prev, true
}

func (c *Client) restoreRoute(s packet.Subscription, prev route, had bool) {
	if had {
		c.setRoute(prev.sub, prev.props, prev.handle)
	} else {
		c.removeRoute(s.Filter)
	}
}

// expect registers a request for the answer to our packet id.
func (c *Client) expect(id uint16, qos packet.QoS) *request {
	r := &request{done: make(chan struct{}), qos: qos}
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
	r.reasons, r.err = slices.Clone(reasons), err
	if r.qos > 0 && err == nil {
		c.stats.Sent[r.qos]++
	}
	close(r.done)
}

// await waits for a request's answer.
func (c *Client) await(ctx context.Context, r *request) ([]packet.ReasonCode, error) {
	select {
	case <-r.done:
		return r.reasons, r.err
	default:
	}
	c.mu.Lock()
	c.countWaiter(1)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.countWaiter(-1)
		c.mu.Unlock()
	}()
	select {
	case <-r.done:
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
