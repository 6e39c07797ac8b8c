// Package client is a small MQTT client over TCP built on the sans-I/O
// core, for the examples and the broker's tests: connect, subscribe,
// unsubscribe, publish at any QoS and wait for its acknowledgement,
// receive messages, disconnect cleanly or drop the connection.
//
// One goroutine owns the client's mqtt.Connection; the methods hand it
// work through a channel and wait for the answer, so they are safe for
// concurrent use.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/examples/internal/netio"
	"github.com/mqttcore/mqtt/packet"
)

// ErrClosed is returned by the methods of a Client whose connection has
// ended.
var ErrClosed = errors.New("client: connection closed")

// RefusedError is returned by Dial when the server refuses the CONNECT.
type RefusedError struct{ Reason packet.ReasonCode }

// Error gives the reason code, in hexadecimal and by name.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("client: connection refused: 0x%02X %v", byte(e.Reason), e.Reason)
}

// DisconnectError is the reason a connection ended when the server sent a
// DISCONNECT (v5).
type DisconnectError struct{ Reason packet.ReasonCode }

// Error gives the reason code, in hexadecimal and by name.
func (e *DisconnectError) Error() string {
	return fmt.Sprintf("client: disconnected by the server: 0x%02X %v", byte(e.Reason), e.Reason)
}

// AckError is returned by Publish when the server answers with a failure
// reason code.
type AckError struct{ Reason packet.ReasonCode }

// Error gives the reason code, in hexadecimal and by name.
func (e *AckError) Error() string {
	return fmt.Sprintf("client: publish refused: 0x%02X %v", byte(e.Reason), e.Reason)
}

// Client is a connected MQTT client.
type Client struct {
	nc      net.Conn
	connack *packet.Connack
	msgs    chan *packet.Publish
	reqs    chan func()
	stop    chan struct{} // closed when the connection has ended
	quit    chan struct{} // closed by Close
	quitOne sync.Once
	done    chan struct{}
	err     error  // why the connection ended; written before done closes
	session []byte // the exported session; written before done closes

	// Owned by the run goroutine.
	mc        *mqtt.Connection[uint16]
	reader    *netio.Reader
	timers    *netio.Timers
	wbuf      []byte // the bytes of the last call on mc, for finish to write
	closeNow  bool   // the last call on mc asked to close: for finish
	unpark    bool   // the last call on mc released an identifier: for finish
	closing   bool
	connected chan *packet.Connack
	pubs      map[uint16]chan error
	subs      map[uint16]chan result[*packet.Suback]
	unsubs    map[uint16]chan result[*packet.Unsuback]
	endErr    error
	inflight  map[uint16]struct{} // our QoS 1/2 exchanges not yet complete
	parked    []*parkedPublish    // publishes waiting for send quota, in order
	drains    []chan struct{}     // Drain calls waiting for inflight to empty
}

// Dial connects to addr over TCP, sends connect and waits for the CONNACK.
// cfg configures the core Connection (Version selects 3.1.1 or 5.0).
func Dial(ctx context.Context, addr string, connect *packet.Connect, cfg mqtt.Config) (*Client, error) {
	return Resume(ctx, addr, connect, cfg, nil)
}

// Resume is Dial for a client that continues a session: session is what
// Session returned at the end of the client's previous connection (nil for
// none). A client without session state must refuse a CONNACK with
// Session Present 1 (MQTT-3.2.2-4), so resuming needs it.
func Resume(ctx context.Context, addr string, connect *packet.Connect, cfg mqtt.Config, session []byte) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return Connect(ctx, nc, connect, cfg, session)
}

// Connect is Resume over a connection the caller opened (TCP, TLS,
// WebSocket: see package transport). It owns nc from then on, and closes
// it on error.
func Connect(ctx context.Context, nc net.Conn, connect *packet.Connect, cfg mqtt.Config, session []byte) (*Client, error) {
	c := &Client{nc: nc, msgs: make(chan *packet.Publish, 1024), reqs: make(chan func()),
		stop: make(chan struct{}), quit: make(chan struct{}), done: make(chan struct{}),
		connected: make(chan *packet.Connack, 1), pubs: map[uint16]chan error{},
		subs: map[uint16]chan result[*packet.Suback]{}, unsubs: map[uint16]chan result[*packet.Unsuback]{},
		inflight: map[uint16]struct{}{}}
	c.mc = mqtt.NewClient[uint16](cfg, c.event)
	if session != nil {
		if err := c.mc.ImportSession(session); err != nil {
			nc.Close()
			return nil, err
		}
	}
	// The handler runs inside Send, here, before run takes the Connection
	// over: what it uses must exist already.
	c.timers = netio.NewTimers(c.stop)
	if err := c.mc.Send(connect); err != nil {
		nc.Close()
		return nil, err
	}
	c.reader = netio.NewReader(nc, c.stop)
	go c.run()
	var ack *packet.Connack
	select {
	case ack = <-c.connected:
	case <-c.done:
		select {
		case ack = <-c.connected:
		default:
			return nil, c.closedErr()
		}
	case <-ctx.Done():
		nc.Close()
		<-c.done
		return nil, ctx.Err()
	}
	if ack.Reason != packet.Success {
		<-c.done
		return nil, &RefusedError{Reason: ack.Reason}
	}
	c.connack = ack
	return c, nil
}

// Connack returns the server's CONNACK.
func (c *Client) Connack() *packet.Connack { return c.connack }

// Messages delivers the PUBLISH packets the server sends. It holds 1024;
// a client that does not read them stalls.
func (c *Client) Messages() <-chan *packet.Publish { return c.msgs }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, once Done is closed: nil after
// Disconnect, a *DisconnectError when the server sent DISCONNECT.
func (c *Client) Err() error { return c.err }

func (c *Client) run() {
	defer close(c.done)
	defer c.teardown()
	c.finish() // the CONNECT
	for !c.closing {
		select {
		case chunk, ok := <-c.reader.Chunks():
			if !ok {
				if c.endErr == nil {
					c.endErr = c.reader.Err()
				}
				return
			}
			c.mc.Recv(chunk)
			c.finish()
			c.reader.Release()
		case f := <-c.timers.C():
			if c.timers.Accept(f) {
				c.mc.TimerFired(f.Kind)
				c.finish()
			}
		case fn := <-c.reqs:
			fn()
		}
	}
}

func (c *Client) teardown() {
	c.closing = true
	c.nc.Close()
	close(c.stop)
	c.timers.StopAll()
	c.mc.Closed() // its events change nothing read from here on: no finish
	c.session = c.mc.ExportSession()
	c.err = c.endErr
	for id, ch := range c.pubs {
		ch <- ErrClosed // still in the session, if it persists
		delete(c.pubs, id)
	}
	for _, q := range c.parked {
		q.run(true) // sees c.closing and answers ErrClosed: never sent
	}
	c.parked = nil
}

// Session returns the client's session state once Done is closed, for
// Resume.
func (c *Client) Session() []byte {
	<-c.done
	return c.session
}

// event is the Connection's handler. It runs inside each call on the
// Connection, on the goroutine that owns it, and takes notes: the bytes to
// write, the identifiers in flight, the packets received (copied where
// they are kept). What waits for the end of the call is left to finish:
// one write, the close, waking Drain, sending the publishes parked for
// quota. Those are not sent from here as nested calls: an EventIDReleased
// comes before the acknowledgement that caused it, which settles its
// publish by identifier, so no new publish may take that identifier
// (possible when all the others are in use) until the packet has come.
func (c *Client) event(e mqtt.Event[uint16]) {
	switch e.Kind {
	case mqtt.EventSend:
		c.wbuf = append(c.wbuf, e.Bytes...)
		switch p := e.Packet.(type) {
		case *packet.Publish:
			if p.QoS > packet.QoS0 {
				c.inflight[p.PacketID] = struct{}{}
			}
		case *packet.Pubrel:
			c.inflight[p.PacketID] = struct{}{}
		}
	case mqtt.EventIDReleased:
		delete(c.inflight, e.PacketID)
		c.unpark = true
	case mqtt.EventTimerReset:
		c.timers.Reset(e.Timer, e.Duration)
	case mqtt.EventTimerCancel:
		c.timers.Stop(e.Timer)
	case mqtt.EventPacket:
		c.received(e.Packet)
	case mqtt.EventError:
		if c.endErr == nil {
			c.endErr = e.Err
		}
	case mqtt.EventClose:
		c.closeNow = true
	}
}

// finish completes a call on the Connection once its events have been
// handed to event: the bytes are written in one write, the connection
// closed if asked, Drain woken, and parked publishes sent while there is
// quota (each such Send followed by a finish of its own).
func (c *Client) finish() {
	closeNow, unpark := c.closeNow, c.unpark
	c.closeNow, c.unpark = false, false
	if len(c.wbuf) > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.nc.Write(c.wbuf); err != nil && c.endErr == nil {
			c.endErr = err
			closeNow = true
		}
		c.wbuf = c.wbuf[:0]
	}
	if closeNow {
		c.closing = true
		c.nc.Close()
	}
	if len(c.inflight) == 0 && len(c.drains) > 0 {
		for _, ch := range c.drains {
			close(ch)
		}
		c.drains = nil
	}
	for unpark && !c.closing && len(c.parked) > 0 && c.mc.SendQuota() > 0 {
		q := c.parked[0]
		c.parked = c.parked[1:]
		q.run(true)
	}
}

// received acts on a packet from the server; it copies what it keeps.
func (c *Client) received(p packet.Packet) {
	switch p := p.(type) {
	case *packet.Connack:
		c.connected <- p.Clone()
	case *packet.Publish:
		select {
		case c.msgs <- p.Clone():
		case <-c.quit: // Close while nobody reads Messages
		}
	case *packet.Puback:
		c.settle(p.PacketID, p.Reason)
	case *packet.Pubrec:
		if p.Reason.IsError() {
			c.settle(p.PacketID, p.Reason)
		}
	case *packet.Pubcomp:
		c.settle(p.PacketID, p.Reason)
	case *packet.Suback:
		if ch := c.subs[p.PacketID]; ch != nil {
			delete(c.subs, p.PacketID)
			ch <- result[*packet.Suback]{ack: p.Clone()}
		}
	case *packet.Unsuback:
		if ch := c.unsubs[p.PacketID]; ch != nil {
			delete(c.unsubs, p.PacketID)
			ch <- result[*packet.Unsuback]{ack: p.Clone()}
		}
	case *packet.Disconnect:
		c.endErr = &DisconnectError{Reason: p.Reason}
	}
}

func (c *Client) settle(id uint16, r packet.ReasonCode) {
	ch := c.pubs[id]
	if ch == nil {
		return
	}
	delete(c.pubs, id)
	if r.IsError() {
		ch <- &AckError{Reason: r}
	} else {
		ch <- nil
	}
}

// exec runs fn on the owning goroutine.
func (c *Client) exec(ctx context.Context, fn func()) error {
	select {
	case c.reqs <- fn:
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait waits for the result of a request run by exec. A result that is
// ready wins over the end of the connection.
func wait[T any](ctx context.Context, c *Client, ch <-chan T) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-c.done:
		select {
		case v := <-ch:
			return v, nil
		default:
		}
		return zero, c.closedErr()
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

func (c *Client) closedErr() error {
	if c.err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, c.err)
	}
	return ErrClosed
}

// result is the answer to a request: an acknowledgement or an error.
type result[T any] struct {
	ack T
	err error
}

// Publish sends p (which it does not modify) and, for QoS 1 and QoS 2,
// waits until the exchange completes (PUBACK, or PUBCOMP).
func (c *Client) Publish(ctx context.Context, p *packet.Publish) error {
	acked, err := c.PublishAsync(ctx, p)
	if err != nil {
		return err
	}
	err, werr := wait(ctx, c, acked)
	return errors.Join(err, werr)
}

// PublishAsync hands p (which it does not modify) to the connection and
// returns once it is sent, without waiting for its acknowledgement: the
// channel returned receives nil when the exchange completes (at once for
// QoS 0), an *AckError when the server refuses the message, or ErrClosed
// when the connection ends first (the message then stays in the session
// if the session persists, and is re-sent after Resume).
//
// This is where backpressure comes from: while the server's Receive
// Maximum of unacknowledged QoS 1 and QoS 2 messages is used up,
// PublishAsync blocks until an acknowledgement frees a place. Nothing is
// queued beyond the callers that wait. An error (ErrClosed when the
// connection ended before p was sent) means p was not sent.
func (c *Client) PublishAsync(ctx context.Context, p *packet.Publish) (<-chan error, error) {
	acked := make(chan error, 1)
	sent := make(chan error, 1)
	me := new(parkedPublish)
	try := func(unparked bool) {
		if c.closing {
			sent <- ErrClosed
			return
		}
		// Wait for quota, and behind those already waiting: in order.
		if p.QoS > packet.QoS0 && (c.mc.SendQuota() == 0 || !unparked && len(c.parked) > 0) {
			c.parked = append(c.parked, me)
			return
		}
		q := *p
		if err := c.mc.Send(&q); err != nil {
			sent <- err
			return
		}
		if q.QoS == packet.QoS0 {
			acked <- nil
		} else {
			c.pubs[q.PacketID] = acked
		}
		sent <- nil
		c.finish()
	}
	me.run = try
	if err := c.exec(ctx, func() { try(false) }); err != nil {
		return nil, err
	}
	var err error
	select {
	case err = <-sent:
	case <-c.done: // teardown answered sent
		err = <-sent
	case <-ctx.Done():
		// Take p out of the queue unless it has gone already; either way
		// sent then holds the outcome.
		_ = c.exec(context.Background(), func() {
			for i, q := range c.parked {
				if q == me {
					c.parked = append(c.parked[:i], c.parked[i+1:]...)
					sent <- ctx.Err()
					return
				}
			}
		})
		err = <-sent
	}
	if err != nil {
		return nil, err
	}
	return acked, nil
}

// parkedPublish is a PublishAsync waiting for send quota.
type parkedPublish struct{ run func(unparked bool) }

// Drain waits until every QoS 1 and QoS 2 message sent on this
// connection (or re-sent from the resumed session) has completed its
// exchange, the connection ends, or ctx is done.
func (c *Client) Drain(ctx context.Context) error {
	ch := make(chan struct{})
	err := c.exec(ctx, func() {
		if len(c.inflight) == 0 {
			close(ch)
			return
		}
		c.drains = append(c.drains, ch)
	})
	if err != nil {
		return err
	}
	_, err = wait(ctx, c, ch)
	return err
}

// InFlight returns the number of QoS 1 and QoS 2 exchanges of ours not yet
// complete.
func (c *Client) InFlight(ctx context.Context) (int, error) {
	res := make(chan int, 1)
	if err := c.exec(ctx, func() { res <- len(c.inflight) }); err != nil {
		return 0, err
	}
	return wait(ctx, c, res)
}

// Subscribe sends a SUBSCRIBE with subs and waits for the SUBACK.
func (c *Client) Subscribe(ctx context.Context, subs ...packet.Subscription) (*packet.Suback, error) {
	return c.SubscribeWith(ctx, &packet.Subscribe{Subscriptions: subs})
}

// SubscribeWith sends p (with its properties) and waits for the SUBACK.
func (c *Client) SubscribeWith(ctx context.Context, p *packet.Subscribe) (*packet.Suback, error) {
	res := make(chan result[*packet.Suback], 1)
	err := c.exec(ctx, func() {
		q := *p
		if err := c.mc.Send(&q); err != nil {
			res <- result[*packet.Suback]{err: err}
			return
		}
		c.subs[q.PacketID] = res
		c.finish()
	})
	if err != nil {
		return nil, err
	}
	r, err := wait(ctx, c, res)
	return r.ack, errors.Join(r.err, err)
}

// Unsubscribe sends an UNSUBSCRIBE and waits for the UNSUBACK.
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) (*packet.Unsuback, error) {
	res := make(chan result[*packet.Unsuback], 1)
	err := c.exec(ctx, func() {
		q := &packet.Unsubscribe{Filters: filters}
		if err := c.mc.Send(q); err != nil {
			res <- result[*packet.Unsuback]{err: err}
			return
		}
		c.unsubs[q.PacketID] = res
		c.finish()
	})
	if err != nil {
		return nil, err
	}
	r, err := wait(ctx, c, res)
	return r.ack, errors.Join(r.err, err)
}

// Disconnect sends DISCONNECT with reason (v5; 0 is a normal
// disconnection, 0x04 asks the server to publish the will) and waits for
// the connection to close.
func (c *Client) Disconnect(ctx context.Context, reason packet.ReasonCode) error {
	errc := make(chan error, 1)
	err := c.exec(ctx, func() {
		err := c.mc.Send(&packet.Disconnect{Reason: reason})
		errc <- err
		if err == nil {
			c.finish()
		}
	})
	if err != nil {
		return err
	}
	if err, werr := wait(ctx, c, errc); err != nil || werr != nil {
		return errors.Join(err, werr)
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close drops the connection without DISCONNECT, as a crash or a network
// failure would, and waits for the client to stop.
func (c *Client) Close() {
	c.quitOne.Do(func() { close(c.quit) })
	c.nc.Close()
	<-c.done
}
