package broker

import (
	"net"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/examples/internal/netio"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// ctl is a request another goroutine makes of a connection's owner.
type ctl uint8

const (
	ctlTakeover ctl = iota + 1 // another connection claims the client identifier
	ctlShutdown                // the broker is shutting down
)

// takeoverWait bounds how long a connection taking a session over waits
// for the old connection to hand it back before closing its socket.
const takeoverWait = 2 * time.Second

// writeTimeout bounds a write to a client that does not read.
const writeTimeout = 10 * time.Second

// conn is one network connection. Its run goroutine owns mc: every call
// on it, and every field below that is not marked otherwise, belongs to
// that goroutine.
type conn struct {
	b  *Broker
	nc net.Conn // Close may be called from any goroutine

	ctl  chan ctl      // requests from other goroutines
	stop chan struct{} // closed when the connection ends: stops the helpers
	done chan struct{} // closed when run has returned the session

	mc      *mqtt.Connection[uint16]
	reader  *netio.Reader
	timers  *netio.Timers
	version packet.Version
	wbuf    []byte

	// From the CONNECT, read before the Connection exists.
	sess       *session
	clientID   string
	assigned   bool   // the broker chose clientID
	present    bool   // the session existed and is resumed
	prevState  []byte // the Connection state imported from the session
	cleanStart bool
	expiry     uint32 // v5 Session Expiry Interval
	will       *message
	refuse     packet.ReasonCode // the CONNACK code to refuse the CONNECT with; 0 to accept

	connected bool // a successful CONNACK was sent
	closing   bool // the socket is closed or closing: leave the loop
	normal    bool // a DISCONNECT with reason 0x00 arrived: no will (MQTT-3.14.4-3)
	shutdown  bool // closed by Shutdown: no will
}

func newConn(b *Broker, nc net.Conn) *conn {
	return &conn{b: b, nc: nc, ctl: make(chan ctl, 2),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// post asks the owner to act; it never blocks.
func (c *conn) post(r ctl) {
	select {
	case c.ctl <- r:
	default:
	}
}

// takeOver makes the connection hand its session over: it asks, waits a
// while, then closes the socket (which ends a blocked write) and waits for
// the owner to finish.
func (c *conn) takeOver() {
	c.post(ctlTakeover)
	select {
	case <-c.done:
		return
	case <-time.After(takeoverWait):
	}
	c.nc.Close()
	<-c.done
}

func (c *conn) logf(format string, args ...any) {
	c.b.logf("broker: %s: "+format, append([]any{c.name()}, args...)...)
}

func (c *conn) name() string {
	if c.clientID != "" {
		return "client " + c.clientID
	}
	return c.nc.RemoteAddr().String()
}

// run serves the connection from CONNECT to close.
func (c *conn) run() {
	defer close(c.done)
	defer c.teardown()
	c.reader = netio.NewReader(c.nc, c.stop)
	c.timers = netio.NewTimers(c.stop)

	// The Connection can import a session only before it sees CONNECT, and
	// which session is known only from the CONNECT: read it first.
	first, connect := c.readConnect()
	if first == nil {
		return
	}
	if connect != nil {
		c.prepare(connect)
	}
	c.mc = mqtt.NewServer[uint16](mqtt.Config{
		MaxPacketSize:           c.b.cfg.MaxPacketSize,
		QueueWhenQuotaExhausted: true,
		Clock:                   time.Now,
	})
	if c.prevState != nil {
		if err := c.mc.ImportSession(c.prevState); err != nil {
			c.logf("session state not restored: %v", err)
		}
	}
	c.handle(c.mc.Recv(first))

	var wake chan struct{}
	if c.sess != nil {
		wake = c.sess.wake
	}
	for !c.closing {
		select {
		case chunk, ok := <-c.reader.Chunks():
			if !ok {
				return
			}
			c.handle(c.mc.Recv(chunk))
			c.reader.Release()
		case f := <-c.timers.C():
			if c.timers.Accept(f) {
				c.handle(c.mc.TimerFired(f.Kind))
			}
		case <-wake:
			c.flushPending()
		case r := <-c.ctl:
			if r == ctlShutdown {
				c.shutdown = true
				c.disconnect(packet.ServerShuttingDown)
			} else {
				c.disconnect(packet.SessionTakenOver) // MQTT-3.1.4-3
			}
		}
	}
}

// readConnect reads until the first packet is whole. It returns the bytes
// read (nil when the connection ended first) and the CONNECT decoded from
// them, or nil when they do not start with a valid CONNECT: the
// Connection then answers as the protocol requires.
func (c *conn) readConnect() ([]byte, *packet.Connect) {
	deadline := time.NewTimer(c.b.cfg.ConnectTimeout)
	defer deadline.Stop()
	var buf []byte
	for {
		select {
		case chunk, ok := <-c.reader.Chunks():
			if !ok {
				return nil, nil
			}
			buf = append(buf, chunk...)
			c.reader.Release()
		case <-deadline.C:
			c.logf("no CONNECT within %v", c.b.cfg.ConnectTimeout)
			return nil, nil
		case <-c.ctl:
			return nil, nil
		}
		h, need, err := packet.Frame(buf, c.b.cfg.MaxPacketSize)
		switch {
		case err != nil || need == 0 && h.Type != packet.TypeConnect:
			return buf, nil
		case need > 0:
			continue
		}
		p := new(packet.Connect)
		if p.Decode(0, h.Flags, buf[h.Len:h.Size()]) != nil {
			return buf, nil
		}
		return buf, p.Clone()
	}
}

// prepare applies a CONNECT read ahead of the Connection: it claims the
// client's session and notes what CONNACK will say.
func (c *conn) prepare(p *packet.Connect) {
	c.version, c.cleanStart, c.expiry = p.Version, p.CleanStart, p.Props.SessionExpiry
	switch {
	case p.Version != packet.V5 && p.ClientID == "" && !p.CleanStart:
		return // the Connection refuses it (MQTT-3.1.3-8 of 3.1.1)
	case p.Version == packet.V5 && p.Props.AuthMethod != "":
		c.refuse = packet.BadAuthenticationMethod // no enhanced authentication here
		return
	}
	c.clientID = p.ClientID
	if c.clientID == "" {
		c.clientID, c.assigned = newClientID(), true
	}
	s, present, state, err := c.b.claim(c, c.clientID, p.CleanStart)
	if err != nil {
		c.refuse = packet.ServerUnavailable
		if c.version != packet.V5 {
			c.refuse = packet.RefusedServerUnavailable
		}
		return
	}
	c.sess, c.present, c.prevState = s, present, state
}

// handle carries out the events of one call on the Connection: bytes are
// written, timers armed, and the packets that need the broker copied (the
// events are valid only until the next call) and then acted on, each of
// which may call the Connection again.
func (c *conn) handle(evs []mqtt.Event[uint16]) {
	var todo []any
	closeNow := false
	for _, e := range evs {
		switch e.Kind {
		case mqtt.EventSend:
			c.wbuf = append(c.wbuf, e.Bytes...)
		case mqtt.EventTimerReset:
			c.timers.Reset(e.Timer, e.Duration)
		case mqtt.EventTimerCancel:
			c.timers.Stop(e.Timer)
		case mqtt.EventPacket:
			if x := c.copyIn(e.Packet); x != nil {
				todo = append(todo, x)
			}
		case mqtt.EventError:
			c.logf("%v", e.Err)
		case mqtt.EventDropped:
			if p, ok := e.Packet.(*packet.Publish); ok {
				c.logf("message on %q dropped: %v", p.Topic, e.Err)
			}
		case mqtt.EventClose:
			closeNow = true
		}
	}
	c.flush()
	if closeNow {
		c.close()
	}
	for _, x := range todo {
		c.act(x)
	}
}

// copyIn copies what the broker needs of a received packet.
func (c *conn) copyIn(p packet.Packet) any {
	switch p := p.(type) {
	case *packet.Connect:
		return p.Clone()
	case *packet.Publish:
		return newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, c.sess, time.Now())
	case *packet.Subscribe:
		return p.Clone()
	case *packet.Unsubscribe:
		return p.Clone()
	case *packet.Disconnect:
		return &packet.Disconnect{Reason: p.Reason, Props: property.Properties{
			Zero: p.Props.Zero, SessionExpiry: p.Props.SessionExpiry}}
	}
	return nil
}

func (c *conn) act(x any) {
	switch x := x.(type) {
	case *packet.Connect:
		c.onConnect(x)
	case *message:
		c.b.route(x)
	case *packet.Subscribe:
		c.onSubscribe(x)
	case *packet.Unsubscribe:
		c.onUnsubscribe(x)
	case *packet.Disconnect:
		c.onDisconnect(x)
	}
}

// send sends a packet the broker built and carries out the events.
func (c *conn) send(p packet.Packet) error {
	evs, err := c.mc.Send(p)
	if err != nil {
		return err
	}
	c.handle(evs)
	return nil
}

// flush writes what the Connection asked to send.
func (c *conn) flush() {
	if len(c.wbuf) == 0 {
		return
	}
	if !c.closing {
		_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.nc.Write(c.wbuf); err != nil {
			c.close()
		}
	}
	c.wbuf = c.wbuf[:0]
}

// close closes the socket; the loop ends and teardown follows.
func (c *conn) close() {
	c.closing = true
	c.nc.Close()
}

// disconnect ends the connection from the broker's side: a v5 client is
// told why (section 4.13).
func (c *conn) disconnect(reason packet.ReasonCode) {
	if c.mc != nil && c.connected && c.version == packet.V5 && c.mc.State() == mqtt.StateConnected {
		if err := c.send(&packet.Disconnect{Reason: reason}); err != nil {
			c.logf("DISCONNECT not sent: %v", err)
		}
	}
	c.close()
}

// onConnect answers the CONNECT the Connection accepted.
func (c *conn) onConnect(p *packet.Connect) {
	if c.sess == nil && c.refuse == 0 {
		c.refuse = packet.UnspecifiedError // not read ahead: cannot happen with a valid CONNECT
		if c.version != packet.V5 {
			c.refuse = packet.RefusedServerUnavailable
		}
	}
	if c.refuse != 0 {
		if err := c.send(&packet.Connack{Reason: c.refuse}); err != nil {
			c.logf("CONNACK not sent: %v", err)
			c.close()
		}
		return
	}
	ack := &packet.Connack{SessionPresent: c.present && c.version != packet.V31} // MQTT-3.2.2-3
	if c.version == packet.V5 {
		if c.assigned {
			ack.Props.AssignedClientID = c.clientID // MQTT-3.2.2-16
		}
		ack.Props.MaximumPacketSize = uint32(c.b.cfg.MaxPacketSize)
		ack.Props.TopicAliasMaximum = 16
		ack.Props.Zero.Add(property.SharedSubscriptionAvailable) // not yet
	}
	if p.HasWill() {
		w := &p.Will
		c.will = newMessage(w.Topic, w.Payload, w.QoS, w.Retain, &w.Props, c.sess, time.Now())
	}
	evs, err := c.mc.Send(ack)
	if err != nil {
		c.logf("CONNACK not sent: %v", err)
		c.close()
		return
	}
	c.connected = true
	c.sess.mu.Lock()
	c.sess.live = true
	c.sess.persistent = c.persists()
	c.sess.mu.Unlock()
	c.handle(evs) // the CONNACK, re-sent messages, packets held since CONNECT
	c.flushPending()
}

// persists reports whether the session outlives this connection.
func (c *conn) persists() bool {
	if c.version == packet.V5 {
		return c.expiry > 0 // MQTT-3.1.2-23 (absent means 0)
	}
	return !c.cleanStart
}

// flushPending sends the session's outbox.
func (c *conn) flushPending() {
	if !c.connected || c.closing {
		return
	}
	ds := c.sess.take()
	for i, d := range ds {
		if c.closing {
			c.sess.putBack(ds[i:])
			return
		}
		c.deliver(d.msg, d.qos, d.retain, d.subIDs)
	}
}

// deliver sends one message to the client.
func (c *conn) deliver(m *message, qos packet.QoS, retain bool, subIDs []uint32) {
	p, ok := m.publish(c.version, qos, retain, subIDs, time.Now())
	if !ok {
		return // expired
	}
	if err := c.send(&p); err != nil {
		// Too large for the client (MQTT-3.1.2-25) or the connection is
		// closing; the message is not delivered.
		c.logf("message on %q not delivered: %v", m.topic, err)
	}
}

func (c *conn) onSubscribe(p *packet.Subscribe) {
	ack := &packet.Suback{PacketID: p.PacketID, Reasons: make([]packet.ReasonCode, len(p.Subscriptions))}
	var subID uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		subID = p.Props.SubscriptionIDs[0]
	}
	existed := make([]bool, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		existed[i] = c.b.tree.subscribe(s.Filter, c.sess, subscription{qos: s.QoS,
			noLocal: s.NoLocal, retainAsPublished: s.RetainAsPublished, id: subID})
		c.sess.mu.Lock()
		c.sess.filters[s.Filter] = struct{}{}
		c.sess.mu.Unlock()
		ack.Reasons[i] = packet.ReasonCode(s.QoS) // granted as asked: MQTT-3.8.4-7
	}
	if err := c.send(ack); err != nil {
		c.logf("SUBACK not sent: %v", err)
		return
	}
	// Retained messages, after the SUBACK, as Retain Handling asks
	// (MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.3.1-11); they carry the retain
	// flag.
	for i, s := range p.Subscriptions {
		if s.RetainHandling == 2 || s.RetainHandling == 1 && existed[i] {
			continue
		}
		var ids []uint32
		if subID != 0 {
			ids = []uint32{subID}
		}
		for _, m := range c.b.retained.matching(s.Filter) {
			c.deliver(m, min(m.qos, s.QoS), true, ids)
		}
	}
}

func (c *conn) onUnsubscribe(p *packet.Unsubscribe) {
	ack := &packet.Unsuback{PacketID: p.PacketID}
	for _, f := range p.Filters {
		existed := c.b.tree.unsubscribe(f, c.sess)
		c.sess.mu.Lock()
		delete(c.sess.filters, f)
		c.sess.mu.Unlock()
		if c.version == packet.V5 {
			r := packet.Success
			if !existed {
				r = packet.NoSubscriptionExisted
			}
			ack.Reasons = append(ack.Reasons, r)
		}
	}
	if err := c.send(ack); err != nil {
		c.logf("UNSUBACK not sent: %v", err)
	}
}

func (c *conn) onDisconnect(p *packet.Disconnect) {
	// Only reason 0x00 discards the will; 0x04 and the error codes
	// publish it (MQTT-3.14.4-3).
	c.normal = p.Reason == packet.NormalDisconnection
	if p.Props.Has(property.SessionExpiryInterval) {
		c.expiry = p.Props.SessionExpiry // the Connection checked MQTT-3.14.2-2
	}
}

// teardown ends the connection: the Connection learns that the transport
// is gone, the session is kept (with the Connection's exported state) or
// discarded, and the will is published.
func (c *conn) teardown() {
	c.nc.Close()
	close(c.stop)
	c.timers.StopAll()
	if c.mc != nil {
		for _, e := range c.mc.Closed() {
			if e.Kind == mqtt.EventDropped {
				if p, ok := e.Packet.(*packet.Publish); ok {
					c.logf("message on %q dropped: %v", p.Topic, e.Err)
				}
			}
		}
	}
	if s := c.sess; s != nil {
		b := c.b
		b.mu.Lock()
		switch {
		case !c.connected && c.present:
			// The CONNECT was refused after all: the session is as it was.
			s.state = c.prevState
		case c.connected && c.persists():
			s.goOffline(true)
			s.state = c.mc.ExportSession()
		default:
			s.goOffline(false)
			b.discardLocked(s)
		}
		s.owner = nil
		b.mu.Unlock()
	}
	if c.will != nil && c.connected && !c.normal && !c.shutdown {
		// MQTT-3.1.2-8; with a Will Delay Interval of 0, at once.
		c.b.route(c.will)
	}
}
