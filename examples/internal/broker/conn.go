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
	batch   bool // in batched: write once at the end

	// What the handler (event) notes during a call on mc, for carryOut to
	// act on once the call has returned.
	todo     []any // copies of the packets received
	closeNow bool  // the Connection asked to close the socket
	events   int   // events handed to the handler since recv reset it
	packetIn bool  // a whole packet came since recv reset it: see event

	// Reused from message to message, so that the publish path allocates
	// nothing but the broker's copy of each message.
	router router         // route's scratch space
	taken  []delivery     // the batch flushPending takes from the outbox
	pub    packet.Publish // the PUBLISH deliver hands the Connection, which only encodes it

	// From the CONNECT.
	sess       *session
	clientID   string
	assigned   bool   // the broker chose clientID
	present    bool   // the session existed and is resumed
	prevState  []byte // the Connection state imported from the session
	cleanStart bool
	expiry     uint32 // v5 Session Expiry Interval
	will       *message
	willDelay  uint32 // v5 Will Delay Interval

	// A 3.1.1 client whose Keep Alive is 0 or above Config.MaxKeepAlive
	// is closed when no packet comes from it for idle (0: the Connection
	// watches the Keep Alive itself). heard is when one last came; the
	// timer, armed for idle, looks at it when it fires.
	idle      time.Duration
	heard     time.Time
	idleTimer *time.Timer

	// A read whose calls on the Connection made more than trimEvents
	// events arms quietTimer; if no read comes before it fires, the
	// Connection is told to let go of the values of that burst.
	peakEvents int
	quietTimer *time.Timer

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

// batchBytes is how much batched lets accumulate before it writes.
const batchBytes = 64 << 10

// recvPiece bounds the bytes handed to the Connection in one call. The
// Connection keeps 64 packet values of each type from call to call and
// allocates any more that one call needs: pieces of a 32 KiB read hold
// few enough PUBLISH packets of common sizes to need none.
const recvPiece = 4 << 10

// trimEvents is the number of events of one call on the Connection above
// which, once the client has gone quiet for trimQuiet, the connection calls
// Recv(nil): the Connection then lets go of the packet values and events
// it kept from its largest calls. Reads of common packets stay below it
// and cost nothing more; a flood of small packets that goes on is not
// trimmed between its reads.
const (
	trimEvents = 64
	trimQuiet  = 20 * time.Millisecond
)

// connQueueMax bounds the QoS 1 and QoS 2 PUBLISH packets a connection
// hands its Connection beyond the client's Receive Maximum; the rest wait
// in the session's outbox, where Config.MaxQueued bounds them.
const connQueueMax = 64

// run serves the connection from CONNECT to close.
func (c *conn) run() {
	defer close(c.done)
	defer c.teardown()
	c.reader = netio.NewReader(c.nc, c.stop)
	c.timers = netio.NewTimers(c.stop)
	c.mc = newServer(&c.b.cfg, c.event)
	// The CONNECT must come in time; once it is answered the Connection
	// watches the Keep Alive.
	deadline := time.NewTimer(c.b.cfg.ConnectTimeout)
	defer deadline.Stop()
	connectBy := deadline.C
	defer c.stopTimer(&c.idleTimer)
	defer c.stopTimer(&c.quietTimer)

	var wake chan struct{}
	var idle, quiet <-chan time.Time
	for !c.closing {
		if wake == nil && c.connected {
			wake, connectBy = c.sess.wake, nil
			if c.idleTimer != nil {
				idle = c.idleTimer.C
			}
		}
		select {
		case chunk, ok := <-c.reader.Chunks():
			if !ok {
				return
			}
			c.peakEvents = 0
			c.batched(func() {
				c.recv(chunk)
				c.reader.Release()
				c.flushPending() // acknowledgements may have freed send quota
			})
			if c.peakEvents > trimEvents && !c.closing {
				quiet = c.arm(&c.quietTimer, trimQuiet)
			}
		case <-quiet:
			quiet = nil
			c.trim() // the burst is over
		case <-idle:
			if since := time.Since(c.heard); since < c.idle {
				c.idleTimer.Reset(c.idle - since)
				break
			}
			c.logf("no packet for %v (Keep Alive above the maximum of %d s): closed", c.idle, c.b.cfg.MaxKeepAlive)
			c.close()
		case f := <-c.timers.C():
			if c.timers.Accept(f) {
				c.mc.TimerFired(f.Kind)
				c.carryOut()
			}
		case <-wake:
			c.flushPending()
		case <-connectBy:
			if !c.connected {
				c.logf("no CONNECT answered within %v", c.b.cfg.ConnectTimeout)
				return
			}
		case r := <-c.ctl:
			if r == ctlShutdown {
				c.shutdown = true
				c.disconnect(packet.ServerShuttingDown)
			} else {
				// What the client sent before it was taken over counts:
				// a DISCONNECT that deletes the will, say.
				c.drainRead()
				if !c.closing {
					c.disconnect(packet.SessionTakenOver) // MQTT-3.1.4-3
				}
			}
		}
	}
}

// takeoverGrace bounds how long a connection being taken over, whose
// will is at stake, goes on reading: a DISCONNECT its client sent before
// the new connection came, which deletes the will, may still be on its
// way to the reader goroutine.
const takeoverGrace = 50 * time.Millisecond

// drainRead handles what the client sent before the take over: the
// chunks the reader has ready and, while there is a will to publish or
// not, those that come until the client closes its side (a client that
// reconnects), the connection ends (its DISCONNECT arrived) or
// takeoverGrace passes (a client still connected).
func (c *conn) drainRead() {
	var grace <-chan time.Time
	if c.will != nil {
		t := time.NewTimer(takeoverGrace)
		defer t.Stop()
		grace = t.C
	}
	for !c.closing {
		var chunk []byte
		var ok bool
		if grace == nil {
			select {
			case chunk, ok = <-c.reader.Chunks():
			default:
				return
			}
		} else {
			select {
			case chunk, ok = <-c.reader.Chunks():
			case <-grace:
				return
			}
		}
		if !ok {
			c.closing = true
			return
		}
		c.batched(func() {
			c.recv(chunk)
			c.reader.Release()
		})
	}
}

// trim lets go of what the connection and its Connection kept for the
// largest calls of a burst: the Connection's packet values and events
// beyond its minimum (Recv(nil)), the list of packets to act on and the
// write buffer.
func (c *conn) trim() {
	c.mc.Recv(nil)
	c.carryOut()
	if cap(c.todo) > trimEvents {
		c.todo = nil
	}
	if len(c.wbuf) == 0 && cap(c.wbuf) > recvPiece {
		c.wbuf = nil
	}
}

// arm starts *t, made on first use, to fire after d, and returns its
// channel.
func (c *conn) arm(t **time.Timer, d time.Duration) <-chan time.Time {
	if *t == nil {
		*t = time.NewTimer(d)
	} else {
		(*t).Reset(d)
	}
	return (*t).C
}

// stopTimer stops *t, if it was ever made.
func (c *conn) stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
	}
}

// newServer returns the server Connection of a new network connection,
// which hands its events to h.
func newServer(cfg *Config, h mqtt.Handler[uint16]) *mqtt.Connection[uint16] {
	return mqtt.NewServer(mqtt.Config{
		MaxPacketSize:           cfg.MaxPacketSize,
		QueueWhenQuotaExhausted: true,
		MaxQueued:               connQueueMax + cfg.MaxQueued, // room for retained messages on SUBSCRIBE
		Clock:                   time.Now,
	}, h)
}

// recv hands bytes read from the socket to the Connection, a piece at a
// time, and carries out the events. It notes the most events a piece
// made, and for a client watched by the idle timer whether a whole packet
// came.
func (c *conn) recv(chunk []byte) {
	for len(chunk) > 0 && !c.closing {
		n := min(len(chunk), recvPiece)
		c.events, c.packetIn = 0, false
		c.mc.Recv(chunk[:n])
		c.peakEvents = max(c.peakEvents, c.events)
		if c.idle > 0 && c.packetIn {
			c.heard = time.Now()
		}
		c.carryOut()
		chunk = chunk[n:]
	}
}

// batched runs fn with the bytes it has the Connection send held back
// until it returns (but for one write per batchBytes), and then written
// at once.
func (c *conn) batched(fn func()) {
	if c.batch {
		fn()
		return
	}
	c.batch = true
	fn()
	c.batch = false
	c.flush()
}

// prepare claims the session of the CONNECT the Connection accepted, and
// restores the Connection's state of it; it returns the CONNACK code to
// refuse the CONNECT with, or 0.
func (c *conn) prepare(p *packet.Connect) packet.ReasonCode {
	c.version, c.cleanStart, c.expiry = p.Version, p.CleanStart, p.Props.SessionExpiry
	if c.version != packet.V5 {
		c.expiry = neverExpires // a 3.1.1 session that persists does not expire
	}
	switch {
	case p.Version != packet.V5 && p.ClientID == "" && !p.CleanStart:
		return packet.RefusedIdentifierRejected // MQTT-3.1.3-8 of 3.1.1
	case p.Version == packet.V5 && p.Props.AuthMethod != "":
		return packet.BadAuthenticationMethod // no enhanced authentication here
	}
	c.clientID = p.ClientID
	if c.clientID == "" {
		c.clientID, c.assigned = newClientID(), true
	}
	if auth := c.b.cfg.Authenticate; auth != nil {
		if r := auth(p); r != 0 {
			return refusal(c.version, r)
		}
	}
	if p.HasWill() && !c.mayPublish(p.Will.Topic) {
		return refusal(c.version, packet.NotAuthorized)
	}
	s, present, state, err := c.b.claim(c, c.clientID, p.CleanStart)
	if err != nil {
		if c.version != packet.V5 {
			return packet.RefusedServerUnavailable
		}
		return packet.ServerUnavailable
	}
	c.sess, c.present, c.prevState = s, present, state
	if present && state != nil {
		// The Connection has the CONNECT and has not answered it: the
		// unfinished exchanges of the session go back in before CONNACK.
		if err := c.mc.ImportSession(state); err != nil {
			c.logf("session state not restored: %v", err)
		}
	}
	return 0
}

// mayPublish asks Config.MayPublish whether the client may publish on
// topic.
func (c *conn) mayPublish(topic string) bool {
	return c.b.cfg.MayPublish == nil || c.b.cfg.MayPublish(c.clientID, topic)
}

// refusal returns the CONNACK code that refuses a client of version v for
// the v5 reason r.
func refusal(v packet.Version, r packet.ReasonCode) packet.ReasonCode {
	if v == packet.V5 {
		return r
	}
	switch r {
	case packet.ClientIdentifierNotValid:
		return packet.RefusedIdentifierRejected
	case packet.ServerUnavailable, packet.ServerBusy:
		return packet.RefusedServerUnavailable
	case packet.BadUserNameOrPassword:
		return packet.RefusedBadUserNameOrPassword
	}
	return packet.RefusedNotAuthorized
}

// event is the Connection's handler. It runs inside each call on the
// Connection and takes notes: bytes to write, timers to arm, the packets
// that need the broker copied (the events are valid only during the call),
// the close. carryOut acts on them once the call has returned, so that
// each packet the broker sends in answer is a call of its own, whose
// bytes and packet values the Connection reuses for the next; as nested
// calls, a SUBSCRIBE matching many retained messages would have the
// Connection hold all of them until the end of the read.
//
// It also counts the events and notes whether a whole packet came, for
// recv: every packet the Connection accepts is either reported or answered
// (a repeated QoS 2 PUBLISH is only acknowledged again).
func (c *conn) event(e mqtt.Event[uint16]) {
	c.events++
	switch e.Kind {
	case mqtt.EventSend:
		c.packetIn = true
		c.wbuf = append(c.wbuf, e.Bytes...)
	case mqtt.EventTimerReset:
		c.timers.Reset(e.Timer, e.Duration)
	case mqtt.EventTimerCancel:
		c.timers.Stop(e.Timer)
	case mqtt.EventPacket:
		c.packetIn = true
		if x := c.copyIn(e.Packet); x != nil {
			c.todo = append(c.todo, x)
		}
	case mqtt.EventError:
		c.logf("%v", e.Err)
	case mqtt.EventDropped:
		if p, ok := e.Packet.(*packet.Publish); ok {
			c.logf("message on %q dropped: %v", p.Topic, e.Err)
		}
	case mqtt.EventClose:
		c.closeNow = true
	}
}

// carryOut finishes a call on the Connection once its events have been
// handed to event: the packets received are acted on, each of which may
// call the Connection again, and the bytes are written (at the end of the
// batch, if one is open) or the socket closed.
func (c *conn) carryOut() {
	// A call made while acting on a packet notes in a list of its own.
	todo, closeNow := c.todo, c.closeNow
	c.todo, c.closeNow = nil, false
	defer func() {
		clear(todo)
		c.todo = todo[:0]
	}()
	if !closeNow {
		// A message is routed (and a retained one stored) before its
		// PUBACK or PUBREC goes out, so that a client that publishes and
		// then subscribes never sees it twice.
		for _, x := range todo {
			c.act(x)
		}
		if !c.batch || len(c.wbuf) >= batchBytes {
			c.flush()
		}
		return
	}
	c.flush()
	c.close()
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
		return newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, c.sess)
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
		if c.mayPublish(x.topic) {
			c.b.route(x, &c.router)
		} else {
			c.logf("not authorized to publish on %q: message dropped", x.topic)
		}
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
	if err := c.mc.Send(p); err != nil {
		return err
	}
	c.carryOut()
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
	if refuse := c.prepare(p); refuse != 0 {
		if err := c.send(&packet.Connack{Reason: refuse}); err != nil {
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
		if c.b.cfg.ReceiveMaximum < 0xFFFF {
			// The Connection refuses one more open QoS 2 exchange with
			// DISCONNECT 0x93 Receive Maximum exceeded (section 3.3.4).
			ack.Props.ReceiveMaximum = uint16(c.b.cfg.ReceiveMaximum)
		}
		// Shared Subscription Available is left out: it means 1.
	}
	if limit := c.b.cfg.MaxKeepAlive; limit > 0 && (p.KeepAlive == 0 || int(p.KeepAlive) > limit) {
		if c.version == packet.V5 {
			// The client must use it (MQTT-3.2.2-21), and the
			// Connection watches it.
			ack.Props.ServerKeepAlive = uint16(limit)
		} else {
			// A 3.1.1 client cannot be told: the broker watches the
			// maximum itself, as the Connection would a Keep Alive.
			c.idle = time.Duration(limit) * time.Second * 3 / 2
		}
	}
	if p.HasWill() {
		w := &p.Will
		c.will = newMessage(w.Topic, w.Payload, w.QoS, w.Retain, &w.Props, c.sess)
		c.willDelay = w.Props.WillDelay
	}
	if err := c.mc.Send(ack); err != nil {
		c.logf("CONNACK not sent: %v", err)
		c.close()
		return
	}
	c.connected = true
	if c.idle > 0 {
		c.heard = time.Now()
		c.arm(&c.idleTimer, c.idle)
	}
	c.sess.mu.Lock()
	c.sess.live = true
	c.sess.persistent = c.mc.SessionPersists()
	c.sess.mu.Unlock()
	c.carryOut() // the CONNACK, re-sent messages, packets held since CONNECT
	c.flushPending()
}

// flushPending sends what the session's outbox holds (one batch of it, a
// lock of the outbox each): QoS 0 messages as they come, QoS 1 and QoS 2
// ones while the Connection holds fewer than connQueueMax waiting for the
// client's Receive Maximum. A client whose outbox overflowed is
// disconnected with 0x97 Quota exceeded.
//
// It then wakes its own connection for the next batch rather than take
// it, so that a client whose messages arrive faster than they can be sent
// still has its packets read, its timers and the broker's requests served
// in between.
func (c *conn) flushPending() {
	// The messages go out in one write (or one per batchBytes), not one
	// write each.
	c.batched(c.sendBatch)
}

// sendBatch takes one batch from the outbox and sends it.
func (c *conn) sendBatch() {
	if !c.connected || c.closing {
		return
	}
	// Each QoS 1 or QoS 2 message sent adds at most one to the
	// Connection's queue.
	batch, overflow := c.sess.take(c.taken, connQueueMax-c.mc.Queued())
	if overflow {
		c.logf("disconnected: too many messages unacknowledged or unread")
		c.disconnect(packet.QuotaExceeded)
		return
	}
	if len(batch) == 0 {
		c.taken = batch
		if cap(batch) > keepOutbox {
			c.taken = nil // a burst is over
		}
		return
	}
	now := time.Now()
	for i, d := range batch {
		if c.closing {
			// What the client was not sent stays in the session.
			c.sess.giveBack(batch[i:])
			break
		}
		c.deliver(d.msg, d.qos, d.retain, d.subIDs, now)
	}
	clear(batch)
	c.taken = batch[:0]
	c.sess.signal()
}

// deliver sends one message to the client.
func (c *conn) deliver(m *message, qos packet.QoS, retain bool, subIDs []uint32, now time.Time) {
	p := &c.pub
	if !m.fill(p, c.version, qos, retain, subIDs, now) {
		return // expired
	}
	if err := c.send(p); err != nil {
		// Too large for the client (MQTT-3.1.2-25) or the connection is
		// closing; the message is not delivered.
		c.logf("message on %q not delivered: %v", m.topic, err)
	}
}

// onSubscribe subscribes the session to each filter of p, up to
// Config.MaxSubscriptions, answers with the SUBACK, and then sends the
// retained messages of the filters granted.
func (c *conn) onSubscribe(p *packet.Subscribe) {
	ack := &packet.Suback{PacketID: p.PacketID, Reasons: make([]packet.ReasonCode, len(p.Subscriptions))}
	var subID uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		subID = p.Props.SubscriptionIDs[0]
	}
	existed := make([]bool, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		if !c.mayAdd(s.Filter) {
			ack.Reasons[i] = c.quotaExceeded()
			continue
		}
		// The Connection refused No Local on a shared subscription
		// (MQTT-3.8.3-4) with DISCONNECT 0x82.
		k := parseFilter(s.Filter, c.version)
		existed[i] = c.b.tree.subscribe(k, c.sess, subscription{qos: s.QoS,
			noLocal: s.NoLocal, retainAsPublished: s.RetainAsPublished, ids: subscriptionIDs(subID)})
		c.sess.mu.Lock()
		c.sess.filters[s.Filter] = k
		c.sess.mu.Unlock()
		ack.Reasons[i] = packet.ReasonCode(s.QoS) // granted as asked: MQTT-3.8.4-7
	}
	if err := c.send(ack); err != nil {
		c.logf("SUBACK not sent: %v", err)
		return
	}
	// Retained messages, after the SUBACK, as Retain Handling asks
	// (MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.3.1-11); they carry the retain
	// flag. A shared subscription gets none (section 4.8.2), nor does a
	// filter refused.
	for i, s := range p.Subscriptions {
		if ack.Reasons[i].IsError() || s.RetainHandling == 2 || s.RetainHandling == 1 && existed[i] ||
			parseFilter(s.Filter, c.version).share != "" {
			continue
		}
		ids := subscriptionIDs(subID)
		for _, m := range c.b.retained.matching(s.Filter) {
			c.deliver(m, min(m.qos, s.QoS), true, ids, time.Now())
		}
	}
}

// mayAdd reports whether the session may subscribe to filter: it has it
// already (subscribing again replaces the subscription, MQTT-3.8.4-3), or
// has fewer than Config.MaxSubscriptions.
func (c *conn) mayAdd(filter string) bool {
	limit := c.b.cfg.MaxSubscriptions
	if limit < 0 {
		return true
	}
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	_, ok := c.sess.filters[filter]
	return ok || len(c.sess.filters) < limit
}

// quotaExceeded is the SUBACK code of a filter refused for the
// subscription limit: 0x97 Quota exceeded, or 0x80 Failure in 3.1.1
// (MQTT-3.9.3-2 of 3.1.1).
func (c *conn) quotaExceeded() packet.ReasonCode {
	if c.version == packet.V5 {
		return packet.QuotaExceeded
	}
	return packet.SubscribeFailure
}

func (c *conn) onUnsubscribe(p *packet.Unsubscribe) {
	ack := &packet.Unsuback{PacketID: p.PacketID}
	for _, f := range p.Filters {
		existed := c.b.tree.unsubscribe(parseFilter(f, c.version), c.sess)
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
		c.mc.Closed() // event logs the messages dropped; nothing else is left to do
	}
	// MQTT-3.1.2-8: the will is published unless a DISCONNECT 0x00
	// deleted it, and not on shutdown.
	will := c.will
	if !c.connected || c.normal || c.shutdown {
		will = nil
	}
	if s := c.sess; s != nil {
		b := c.b
		b.mu.Lock()
		switch {
		case !c.connected && c.present:
			// The CONNECT was refused after all: the session is as it was.
			s.state = c.prevState
			b.keepLocked(s, c.expiry, nil, 0)
		case c.connected && c.mc.SessionPersists():
			s.goOffline(true)
			s.state = c.mc.ExportSession()
			will = b.keepLocked(s, c.expiry, will, c.willDelay)
		default:
			// The session ends with the connection, and a delayed will
			// with it.
			s.goOffline(false)
			b.discardLocked(s)
		}
		s.owner = nil
		b.mu.Unlock()
	}
	if will != nil {
		c.b.route(will, &c.router)
	}
}
