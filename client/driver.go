package client

import (
	"context"
	"errors"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// The driver: the Connection's handler records what its events ask for,
// under c.mu; a writer goroutine writes the bytes in order, the read loop
// feeds the Connection and hands messages to the subscription handlers,
// and the timers call TimerFired.

// driver is what the handler records, guarded by Client.mu.
type driver struct {
	out     []byte        // bytes to write, in order
	queued  uint64        // bytes ever handed to the writer
	written uint64        // bytes ever written
	wake    chan struct{} // the writer has bytes to write (capacity 1)
	hangUp  bool          // close the transport once out is written
	byUs    bool          // Close ended the connection

	// Signals made on demand: closed and let go of when what they wait for
	// happens, so that nothing is allocated when nobody waits.
	wrote chan struct{} // written grew
	room  chan struct{} // a packet identifier was released
}

func (d *driver) init() { d.wake = make(chan struct{}, 1) }

// roomSignal returns a channel closed when an identifier is released.
func (d *driver) roomSignal() chan struct{} {
	if d.room == nil {
		d.room = make(chan struct{})
	}
	return d.room
}

// writtenSignal returns a channel closed when more bytes are written.
func (d *driver) writtenSignal() chan struct{} {
	if d.wrote == nil {
		d.wrote = make(chan struct{})
	}
	return d.wrote
}

func signal(ch *chan struct{}) {
	if *ch != nil {
		close(*ch)
		*ch = nil
	}
}

// event is the Connection's handler. It runs under c.mu, inside the call
// that made the event, and only records what to do.
func (c *Client) event(e mqtt.Event[uint16]) {
	switch e.Kind {
	case mqtt.EventSend:
		c.out = append(c.out, e.Bytes...)
		c.queued += uint64(len(e.Bytes))
		select {
		case c.wake <- struct{}{}:
		default:
		}
	case mqtt.EventTimerReset:
		k := e.Timer
		if t, ok := c.timers[k]; ok {
			t.Reset(e.Duration)
		} else {
			c.timers[k] = time.AfterFunc(e.Duration, func() { c.timerFired(k) })
		}
	case mqtt.EventTimerCancel:
		if t, ok := c.timers[e.Timer]; ok {
			t.Stop()
		}
	case mqtt.EventPacket:
		c.packet(e.Packet)
	case mqtt.EventIDReleased:
		signal(&c.room)
	case mqtt.EventDropped:
		err := e.Err
		if errors.Is(err, mqtt.ErrSessionLost) { // the session ended with the connection
			err = &ConnectionLostError{Err: err}
		}
		c.answer(e.PacketID, nil, err)
	case mqtt.EventError:
		c.fail(&ConnectionLostError{Err: e.Err})
	case mqtt.EventClose:
		c.hangUp = true // after the bytes before it (a DISCONNECT) are written
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// packet acts on a packet from the server.
func (c *Client) packet(p packet.Packet) {
	switch p := p.(type) {
	case *packet.Connack:
		if p.Reason.IsError() {
			c.connack <- &RefusedError{Reason: p.Reason}
		} else {
			c.connack <- nil
		}
	case *packet.Publish:
		q := p.Clone() // p aliases the read buffer
		m := Message{Topic: q.Topic, Payload: q.Payload, QoS: q.QoS, Retain: q.Retain, Props: q.Props}
		c.inbox = append(c.inbox, received{msg: m, id: p.PacketID})
	case *packet.Puback:
		c.acked(p.PacketID, p.Reason)
	case *packet.Pubrec:
		if p.Reason.IsError() {
			c.acked(p.PacketID, p.Reason)
		}
	case *packet.Pubcomp:
		c.acked(p.PacketID, p.Reason)
	case *packet.Suback:
		c.answer(p.PacketID, p.Reasons, nil)
	case *packet.Unsuback:
		reasons := p.Reasons
		if len(reasons) == 0 { // 3.1.1: no reason codes
			reasons = []packet.ReasonCode{packet.Success}
		}
		c.answer(p.PacketID, reasons, nil)
	case *packet.Disconnect:
		c.fail(&ConnectionLostError{Reason: p.Reason})
	}
}

// acked completes a Publish with the reason code of its acknowledgement.
func (c *Client) acked(id uint16, r packet.ReasonCode) {
	var err error
	if r.IsError() {
		err = &AckError{Reason: r}
	}
	c.answer(id, nil, err)
}

// fail records why the connection ends (the first reason stands).
func (c *Client) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// timerFired runs on the timer's goroutine.
func (c *Client) timerFired(k mqtt.TimerKind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mc.TimerFired(k)
}

// writeLoop writes the recorded bytes, in order, until the connection
// ends.
func (c *Client) writeLoop() {
	var buf []byte
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.mu.Lock()
		buf, c.out = c.out, buf[:0]
		hangUp := c.hangUp
		c.mu.Unlock()
		var err error
		if len(buf) > 0 {
			_, err = c.conn.Write(buf)
			c.mu.Lock()
			c.written += uint64(len(buf))
			signal(&c.wrote)
			c.mu.Unlock()
		}
		if err != nil || hangUp {
			c.conn.Close() // the read loop sees the end and finishes
		}
	}
}

// readLoop feeds the Connection what the server sends, and hands the
// messages of each read to their handlers, then acknowledges them.
func (c *Client) readLoop() {
	buf := make([]byte, 32<<10)
	var inbox []received
	for {
		n, err := c.conn.Read(buf)
		c.mu.Lock()
		if err != nil {
			c.end(err)
			c.mu.Unlock()
			return
		}
		c.mc.Recv(buf[:n])
		inbox, c.inbox = c.inbox, inbox[:0]
		c.mu.Unlock()
		for i := range inbox {
			c.deliver(&inbox[i])
		}
		clear(inbox)
	}
}

// deliver hands a message to its handlers, then acknowledges it: at least
// once (QoS 1) and exactly once (QoS 2) to the handlers.
func (c *Client) deliver(r *received) {
	c.mu.Lock()
	var handlers []func(Message)
	for _, s := range c.subs {
		if matches(s.filter, r.msg.Topic) {
			handlers = append(handlers, s.handle)
		}
	}
	c.mu.Unlock()
	if len(handlers) == 0 && c.cfg.OnMessage != nil {
		handlers = append(handlers, c.cfg.OnMessage)
	}
	for _, h := range handlers {
		h(r.msg)
	}
	var ack packet.Packet
	switch r.msg.QoS {
	case packet.QoS1:
		ack = &packet.Puback{PacketID: r.id}
	case packet.QoS2:
		ack = &packet.Pubrec{PacketID: r.id}
	default:
		return
	}
	c.mu.Lock()
	_ = c.mc.Send(ack) // on a connection that ended, the server sends the message again
	c.mu.Unlock()
}

// end finishes the connection after the transport closed: every waiting
// call gets the reason.
func (c *Client) end(readErr error) {
	c.mc.Closed()
	for _, t := range c.timers {
		t.Stop()
	}
	if c.err == nil {
		if c.byUs {
			c.err = errClosedByUs
		} else {
			c.err = &ConnectionLostError{Err: readErr}
		}
	}
	select {
	case c.connack <- c.err:
	default:
	}
	for id := range c.waiting {
		c.answer(id, nil, c.err)
	}
	signal(&c.room)
	signal(&c.wrote)
	close(c.done)
}

// waitWritten waits until the bytes queued up to upTo are written.
func (c *Client) waitWritten(ctx context.Context, upTo uint64) error {
	for {
		c.mu.Lock()
		if c.written >= upTo {
			c.mu.Unlock()
			return nil
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return err
		}
		wrote := c.writtenSignal()
		c.mu.Unlock()
		select {
		case <-wrote:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// matches reports whether topic matches filter (wildcards, the $ rule,
// shared subscriptions).
func matches(filter, topic string) bool {
	if rest, ok := cutShare(filter); ok {
		filter = rest
	}
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		f, frest, fmore := cut(filter)
		t, trest, tmore := cut(topic)
		switch {
		case f == "#":
			return true
		case f != "+" && f != t:
			return false
		case !fmore && !tmore:
			return true
		case !tmore:
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

func cut(s string) (level, rest string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// cutShare returns the filter of a shared subscription $share/name/filter.
func cutShare(filter string) (string, bool) {
	const prefix = "$share/"
	if len(filter) <= len(prefix) || filter[:len(prefix)] != prefix {
		return "", false
	}
	_, rest, ok := cut(filter[len(prefix):])
	return rest, ok
}
