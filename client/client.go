package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// Client is a connection to an MQTT server. Its methods are safe for
// concurrent use.
type Client struct {
	cfg  Config
	conn net.Conn

	mu sync.Mutex // serialises the calls on mc, and guards what follows
	mc *mqtt.Connection[uint16]
	driver
	subs    []route             // subscription handlers, by filter
	waiting map[uint16]*request // our exchanges awaiting an answer
	connack chan error          // the handshake's outcome (one value)
	done    chan struct{}       // closed when the connection has ended
	err     error               // why it ended
	inbox   []received          // messages of the current call, for the read loop
	timers  map[mqtt.TimerKind]*time.Timer
}

// route is one subscription's handler.
type route struct {
	filter string
	handle func(Message)
}

// request is a call waiting for the server's answer to its packet.
type request struct {
	done    chan struct{}
	reasons []packet.ReasonCode
	err     error
}

// received is a message handed to the handlers after the call that
// received it, then acknowledged.
type received struct {
	msg Message
	id  uint16
}

// Connect dials the servers of cfg in order and returns a Client connected
// to the first that accepts the connection. A Config it cannot use gets an
// error matching ErrConfig before anything is dialled; a refusal is a
// *RefusedError.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	urls, err := cfg.check()
	if err != nil {
		return nil, err
	}
	d := cfg.Dialer
	if d == nil {
		d = stdDialer{tls: cfg.TLSConfig}
	}
	var errs []error
	for _, u := range urls {
		c, err := connectTo(ctx, cfg, d, u)
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", u.Redacted(), err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// connectTo connects to one server.
func connectTo(ctx context.Context, cfg Config, d Dialer, u *url.URL) (*Client, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout())
	defer cancel()
	conn, err := d.Dial(ctx, u)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, conn: conn, waiting: map[uint16]*request{},
		connack: make(chan error, 1), done: make(chan struct{}), timers: map[mqtt.TimerKind]*time.Timer{}}
	c.driver.init()
	c.mc = mqtt.NewClient(mqtt.Config{
		Version:        cfg.version(),
		ConnectTimeout: cfg.connectTimeout(),
		Clock:          time.Now,
		ManualPuback:   true, // after the handler returns
		ManualPubrec:   true,
	}, c.event)
	connect, _ := cfg.connect() // checked in Connect
	c.mu.Lock()
	err = c.mc.Send(connect)
	c.mu.Unlock()
	if err != nil {
		conn.Close()
		return nil, err
	}
	go c.writeLoop()
	go c.readLoop()
	select {
	case err = <-c.connack:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		<-c.done
		return nil, err
	}
	return c, nil
}

// ClientID returns the client identifier of the session: the Config's, or
// the one a v5 server assigned.
func (c *Client) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mc.ClientID()
}

// Done returns a channel closed when the connection has ended; Err then
// says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (a *ConnectionLostError, or
// ErrClosed after Close), or nil while it lives.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Publish sends a message and returns when it is written (QoS 0) or
// acknowledged by the server (QoS 1: PUBACK; QoS 2: PUBCOMP). A failure
// reason code in the acknowledgement is an *AckError. While the server's
// Receive Maximum (or Config.MaxInFlight) of unacknowledged messages is
// reached, Publish waits for room. If ctx ends first, Publish returns its
// error; a message already sent stays in flight, and the server may still
// get it.
func (c *Client) Publish(ctx context.Context, m Message) error {
	p := &packet.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Props: m.Props}
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return err
		}
		if m.QoS > 0 && c.cfg.MaxInFlight > 0 && c.mc.InFlight() >= c.cfg.MaxInFlight {
			if err := c.waitForRoom(ctx); err != nil {
				return err
			}
			continue
		}
		err := c.mc.Send(p)
		if errors.Is(err, mqtt.ErrQuotaExceeded) {
			if err := c.waitForRoom(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			c.mu.Unlock()
			return err
		}
		if m.QoS == 0 {
			upTo := c.queued
			c.mu.Unlock()
			return c.waitWritten(ctx, upTo)
		}
		r := c.expect(p.PacketID)
		c.mu.Unlock()
		if _, err := c.await(ctx, r); err != nil {
			return err
		}
		return nil
	}
}

// waitForRoom waits, with c.mu held and released, until an identifier is
// released or the connection ends; it returns with c.mu released.
func (c *Client) waitForRoom(ctx context.Context) error {
	room := c.roomSignal()
	c.mu.Unlock()
	select {
	case <-room:
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe subscribes to one topic filter and returns when the server has
// granted it; h then receives the messages that match it (nil: the
// Config's OnMessage). A refused filter is an *AckError.
func (c *Client) Subscribe(ctx context.Context, s packet.Subscription, h func(Message)) error {
	if h == nil {
		h = c.cfg.OnMessage
	}
	p := &packet.Subscribe{Subscriptions: []packet.Subscription{s}}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	// The handler is in place before the first message can arrive.
	prev := c.setRoute(s.Filter, h)
	if err := c.mc.Send(p); err != nil {
		c.restoreRoute(s.Filter, prev)
		c.mu.Unlock()
		return err
	}
	r := c.expect(p.PacketID)
	c.mu.Unlock()
	reasons, err := c.await(ctx, r)
	if err == nil && len(reasons) == 1 && reasons[0].IsError() {
		err = &AckError{Reason: reasons[0], Filter: s.Filter}
	}
	if err != nil && !errors.Is(err, ErrClosed) {
		c.mu.Lock()
		c.restoreRoute(s.Filter, prev)
		c.mu.Unlock()
	}
	return err
}

// Unsubscribe ends the subscription to a topic filter and returns when the
// server has answered; its handler receives nothing more.
func (c *Client) Unsubscribe(ctx context.Context, filter string) error {
	p := &packet.Unsubscribe{Filters: []string{filter}}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	if err := c.mc.Send(p); err != nil {
		c.mu.Unlock()
		return err
	}
	c.setRoute(filter, nil)
	r := c.expect(p.PacketID)
	c.mu.Unlock()
	reasons, err := c.await(ctx, r)
	if err == nil && len(reasons) == 1 && reasons[0].IsError() {
		err = &AckError{Reason: reasons[0], Filter: filter}
	}
	return err
}

// Close waits until the QoS 1 and QoS 2 messages in flight are
// acknowledged (or ctx ends), sends DISCONNECT and closes the connection.
// It returns ctx's error if ctx ended first, else the connection's if it
// had already ended for another reason, else nil.
func (c *Client) Close(ctx context.Context) error {
	var drained error
	c.mu.Lock()
	for c.err == nil && c.mc.InFlight() > 0 {
		if err := c.waitForRoom(ctx); err != nil {
			drained = err
			c.mu.Lock()
			break
		}
		c.mu.Lock()
	}
	ended := c.err
	if ended == nil {
		c.byUs = true
		if err := c.mc.Send(&packet.Disconnect{}); err != nil {
			c.conn.Close() // before CONNACK, say: nothing to say first
		}
	}
	c.mu.Unlock()
	<-c.done
	if drained != nil {
		return drained
	}
	if ended != nil && !errors.Is(ended, errClosedByUs) {
		return ended
	}
	return nil
}

// errClosedByUs is why a connection ended by Close ended.
var errClosedByUs = fmt.Errorf("%w by Close", ErrClosed)

// setRoute sets or, with h nil, removes the handler of filter, and returns
// the previous one.
func (c *Client) setRoute(filter string, h func(Message)) func(Message) {
	i := slices.IndexFunc(c.subs, func(r route) bool { return r.filter == filter })
	var prev func(Message)
	if i >= 0 {
		prev = c.subs[i].handle
		c.subs = slices.Delete(c.subs, i, i+1)
	}
	if h != nil {
		c.subs = append(c.subs, route{filter: filter, handle: h})
	}
	return prev
}

func (c *Client) restoreRoute(filter string, prev func(Message)) { c.setRoute(filter, prev) }

// expect registers a request for the answer to our packet id.
func (c *Client) expect(id uint16) *request {
	r := &request{done: make(chan struct{})}
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
	close(r.done)
}

// await waits for a request's answer.
func (c *Client) await(ctx context.Context, r *request) ([]packet.ReasonCode, error) {
	select {
	case <-r.done:
		return r.reasons, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
