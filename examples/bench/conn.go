package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/examples/internal/transport"
	"github.com/mqttcore/mqtt/packet"
)

// benchConn is a lean MQTT client for load generation: one core client
// Connection over one net.Conn, shared under a mutex by the goroutine that
// publishes and the goroutine that reads the socket. Every call on the
// Connection is made with the mutex held, so its handler runs with it held
// too, and the bytes the Connection asks to send are written before the
// mutex is let go of: writes stay in order. It sends Keep Alive 0, so the
// Connection arms no timers.
type benchConn struct {
	nc net.Conn

	mu        sync.Mutex
	cond      *sync.Cond // signalled when a packet identifier is released or the connection ends
	mc        *mqtt.Connection[uint16]
	wbuf      []byte        // the bytes of the last call on mc, for flushLocked to write
	closeNow  bool          // the last call on mc asked to close, for flushLocked
	now       time.Time     // when the bytes handed to Recv were read
	ended     bool          // Closed is called: its events are not carried out
	inflight  int           // our QoS 1 and QoS 2 exchanges not yet complete
	ours      [1 << 16]bool // the packet identifiers of those exchanges
	closed    bool
	err       error
	connack   chan *packet.Connack
	suback    chan *packet.Suback
	onPublish func(p *packet.Publish, now time.Time) // called with mu held, from the reading goroutine
	done      chan struct{}                          // closed when reading has ended
}

// dial connects to url (over TLS with tlsCfg for tls:// and wss://; nil
// means the system's roots) and completes the MQTT handshake as clientID.
// onPublish, if not nil, receives every PUBLISH (aliasing the read buffer).
func dial(ctx context.Context, url string, tlsCfg *tls.Config, v packet.Version, clientID string,
	onPublish func(*packet.Publish, time.Time)) (*benchConn, error) {
	nc, err := transport.Dial(ctx, url, tlsCfg)
	if err != nil {
		return nil, err
	}
	c := &benchConn{nc: nc, connack: make(chan *packet.Connack, 1), suback: make(chan *packet.Suback, 1),
		onPublish: onPublish, done: make(chan struct{})}
	c.mc = mqtt.NewClient(mqtt.Config{Version: v}, c.eventLocked)
	c.cond = sync.NewCond(&c.mu)
	c.mu.Lock()
	err = c.sendLocked(&packet.Connect{ClientID: clientID, CleanStart: true})
	c.mu.Unlock()
	if err != nil {
		nc.Close()
		return nil, err
	}
	go c.read()
	select {
	case ack := <-c.connack:
		if ack.Reason != packet.Success {
			c.Close()
			return nil, fmt.Errorf("%s: connection refused: 0x%02X %v", clientID, byte(ack.Reason), ack.Reason)
		}
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("%s: connection closed during handshake: %w", clientID, c.Err())
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
}

// read feeds the socket to the Connection until it fails.
func (c *benchConn) read() {
	defer close(c.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := c.nc.Read(buf)
		now := time.Now()
		c.mu.Lock()
		if n > 0 {
			c.now = now
			c.mc.Recv(buf[:n])
			c.flushLocked()
		}
		if err != nil {
			if c.err == nil && !c.closed {
				c.err = err
			}
			// The identifiers Closed releases are those of messages
			// lost: drain counts them.
			c.ended = true
			c.mc.Closed()
			c.closed = true
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// sendLocked hands p to the Connection and writes what it produces.
func (c *benchConn) sendLocked(p packet.Packet) error {
	if c.closed {
		return c.errLocked()
	}
	if err := c.mc.Send(p); err != nil {
		return err
	}
	c.flushLocked()
	if c.closed {
		return c.errLocked()
	}
	return nil
}

// eventLocked is the Connection's handler; it runs inside the calls on
// the Connection, with the mutex held. The bytes wait for flushLocked, so
// that each call is written at once.
func (c *benchConn) eventLocked(e mqtt.Event[uint16]) {
	if c.ended {
		return
	}
	switch e.Kind {
	case mqtt.EventSend:
		c.wbuf = append(c.wbuf, e.Bytes...)
		if p, ok := e.Packet.(*packet.Publish); ok && p.QoS > packet.QoS0 && !c.ours[p.PacketID] {
			c.ours[p.PacketID] = true
			c.inflight++
		}
	case mqtt.EventIDReleased:
		if c.ours[e.PacketID] {
			c.ours[e.PacketID] = false
			c.inflight--
			c.cond.Broadcast()
		}
	case mqtt.EventPacket:
		switch p := e.Packet.(type) {
		case *packet.Connack:
			c.connack <- p.Clone()
		case *packet.Suback:
			c.suback <- p.Clone()
		case *packet.Publish:
			if c.onPublish != nil {
				c.onPublish(p, c.now)
			}
		case *packet.Disconnect:
			if c.err == nil {
				c.err = fmt.Errorf("disconnected by the broker: 0x%02X %v", byte(p.Reason), p.Reason)
			}
		}
	case mqtt.EventError:
		if c.err == nil {
			c.err = e.Err
		}
	case mqtt.EventClose:
		c.closeNow = true
	}
}

// flushLocked finishes a call on the Connection: it writes the bytes the
// call produced and closes the connection if it asked to.
func (c *benchConn) flushLocked() {
	closeNow := c.closeNow
	c.closeNow = false
	if len(c.wbuf) > 0 && !c.closed {
		if _, err := c.nc.Write(c.wbuf); err != nil {
			if c.err == nil {
				c.err = err
			}
			closeNow = true
		}
	}
	c.wbuf = c.wbuf[:0]
	if closeNow {
		c.closed = true
		c.nc.Close()
		c.cond.Broadcast()
	}
}

func (c *benchConn) errLocked() error {
	if c.err != nil {
		return c.err
	}
	return errors.New("connection closed")
}

// Err returns why the connection ended.
func (c *benchConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errLocked()
}

// subscribe subscribes to filter at qos and waits for the SUBACK.
func (c *benchConn) subscribe(ctx context.Context, filter string, qos packet.QoS) error {
	c.mu.Lock()
	err := c.sendLocked(&packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case ack := <-c.suback:
		if len(ack.Reasons) != 1 || ack.Reasons[0].IsError() {
			return fmt.Errorf("subscription to %q refused: %v", filter, ack.Reasons)
		}
		if packet.QoS(ack.Reasons[0]) < qos {
			return fmt.Errorf("subscription to %q granted at QoS %d only", filter, ack.Reasons[0])
		}
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publish sends one message; at QoS 1 and 2 it first waits while window
// exchanges (or the broker's Receive Maximum) are in flight.
func (c *benchConn) publish(p *packet.Publish, window int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.QoS > packet.QoS0 {
		for !c.closed && (c.inflight >= window || c.mc.SendQuota() == 0) {
			c.cond.Wait()
		}
	}
	return c.sendLocked(p)
}

// drain waits until no exchange of ours is in flight, or until the
// deadline passes or the connection ends.
func (c *benchConn) drain(deadline time.Time) int {
	t := time.AfterFunc(time.Until(deadline), func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer t.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closed && c.inflight > 0 && time.Now().Before(deadline) {
		c.cond.Wait()
	}
	return c.inflight
}

// disconnect sends DISCONNECT and closes the connection.
func (c *benchConn) disconnect() {
	c.mu.Lock()
	if !c.closed {
		_ = c.sendLocked(&packet.Disconnect{})
	}
	c.mu.Unlock()
	c.Close()
}

// Close closes the socket and waits for the reader to stop.
func (c *benchConn) Close() {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.nc.Close()
	<-c.done
}
