package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/internal/timerqueue"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
	"github.com/mqttcore/mqtt/topic"
)

// The driver: the Connection's handler records what its events ask for,
// under Client.mu; per transport (link) a writer goroutine writes the
// bytes in order and a read loop feeds the Connection and hands messages
// to the subscription handlers; timers call TimerFired; a lost connection
// is re-established in the background.

// link is one transport and what its goroutines share, guarded by
// Client.mu.
type link struct {
	conn    net.Conn
	out     []byte        // bytes to write, in order
	queued  uint64        // bytes ever handed to the writer
	written uint64        // bytes ever written
	wake    chan struct{} // the writer has work (capacity 1)
	hangUp  bool          // close the transport once out is written
	up      bool          // the handshake succeeded on this link
	connack chan handshake
	err     error         // why the link ended, once ended is closed
	ended   chan struct{} // closed when the read loop has finished

	// Signals made on demand: closed and let go of when what they wait for
	// happens, so that nothing is allocated when nobody waits.
	wrote chan struct{} // written grew
	room  chan struct{} // a packet identifier was released
}

// handshake is the outcome of a CONNECT.
type handshake struct {
	present bool
	err     error
}

func newLink(conn net.Conn) *link {
	return &link{conn: conn, wake: make(chan struct{}, 1), connack: make(chan handshake, 1), ended: make(chan struct{})}
}

func (l *link) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// roomSignal returns a channel closed when an identifier is released.
func (l *link) roomSignal() chan struct{} {
	if l.room == nil {
		l.room = make(chan struct{})
	}
	return l.room
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
	l := c.link
	switch e.Kind {
	case mqtt.EventJournal:
		c.persist(l, e.Bytes)
	case mqtt.EventSend:
		l.out = append(l.out, e.Bytes...)
		l.queued += uint64(len(e.Bytes))
		l.poke()
	case mqtt.EventTimerReset:
		c.resetTimer(e.Timer, e.Duration)
	case mqtt.EventTimerCancel:
		c.timers.Stop(c, e.Timer)
	case mqtt.EventPacket:
		c.packet(l, e.Packet)
	case mqtt.EventIDReleased:
		if l != nil {
			signal(&l.room)
		}
		c.released = append(c.released, e.PacketID)
	case mqtt.EventDropped:
		c.answer(e.PacketID, nil, c.lostMessage(e.Err))
	case mqtt.EventError:
		if l != nil && l.err == nil {
			l.err = &ConnectionLostError{Err: e.Err}
		}
		c.log(slog.LevelWarn, "protocol error", "err", e.Err)
	case mqtt.EventClose:
		if l != nil {
			l.hangUp = true // after the bytes before it (a DISCONNECT) are written
			l.poke()
			signal(&c.in.room) // a stopped read loop sees the end
		}
	}
}

// packet acts on a packet from the server.
func (c *Client) packet(l *link, p packet.Packet) {
	switch p := p.(type) {
	case *packet.Connack:
		if p.Reason != packet.Success { // 3.1.1 refuses with return codes 1 to 5
			l.connack <- handshake{err: &RefusedError{Reason: p.Reason}}
			return
		}
		if c.mc.State() != mqtt.StateConnected {
			// The Connection refused the CONNACK (a session present that
			// the Client does not have, MQTT-3.2.2-4): the link ends with
			// the Connection's error.
			return
		}
		if a := c.cfg.Auth; a != nil {
			if err := a.Finish(p.Props.AuthData); err != nil {
				// The link ends once the DISCONNECT is written; Connect
				// then returns l.err.
				l.err = fmt.Errorf("client: authentication: %w", err)
				_ = c.mc.Send(&packet.Disconnect{Reason: packet.NotAuthorized})
				return
			}
		}
		l.up, c.online, c.connack = true, true, p.Clone()
		if c.connected++; c.connected > 1 {
			c.stats.Reconnects++
		}
		signal(&c.onWait)
		if !p.SessionPresent {
			// A new session: the subscriptions are made again (a nested
			// call; their answers go unheeded).
			for _, r := range c.subs {
				_ = c.mc.Send(&packet.Subscribe{Subscriptions: []packet.Subscription{r.sub}, Props: r.props})
			}
		}
		l.connack <- handshake{present: p.SessionPresent}
	case *packet.Publish:
		// p aliases the read buffer: the message gets copies of what it
		// keeps (not a copy of the whole packet, which it does not keep).
		m := Message{Topic: strings.Clone(p.Topic), Payload: bytes.Clone(p.Payload), QoS: p.QoS, Retain: p.Retain,
			Props: p.Props.Clone(), Dup: p.Dup}
		if m.QoS > 0 {
			m.delivery = &delivery{id: p.PacketID, qos: p.QoS, link: l}
		}
		c.push(m)
	case *packet.Puback:
		c.acked(p.PacketID, p.Reason)
	case *packet.Pubrec:
		if p.Reason.IsError() {
			c.acked(p.PacketID, p.Reason)
		}
	case *packet.Pubcomp:
		c.acked(p.PacketID, p.Reason)
	case *packet.Suback:
		if r, ok := c.waiting[p.PacketID]; ok {
			r.suback = p.Clone()
		}
		c.answer(p.PacketID, p.Reasons, nil)
	case *packet.Unsuback:
		if r, ok := c.waiting[p.PacketID]; ok {
			r.unsuback = p.Clone()
		}
		reasons := p.Reasons
		if len(reasons) == 0 { // 3.1.1: no reason codes
			reasons = []packet.ReasonCode{packet.Success}
		}
		c.answer(p.PacketID, reasons, nil)
	case *packet.Disconnect:
		if l.err == nil {
			l.err = &ConnectionLostError{Reason: p.Reason}
		}
	case *packet.Auth:
		if p.Reason == packet.Success {
			c.reauthenticated(l, p)
			return
		}
		c.authChallenge(l, p)
	}
}

// authChallenge answers the server's AUTH with the Authenticator's data
// (a nested call), or ends the connection when it has no answer.
func (c *Client) authChallenge(l *link, p *packet.Auth) {
	a := c.cfg.Auth
	if a == nil || p.Reason != packet.ContinueAuthentication {
		return // the Connection refuses what breaks the rules
	}
	data, err := a.Answer(p.Props.AuthData)
	if err == nil {
		err = c.mc.Send(&packet.Auth{Reason: packet.ContinueAuthentication,
			Props: property.Properties{AuthMethod: a.Method(), AuthData: data}})
	}
	if err != nil {
		if l.err == nil {
			l.err = &ConnectionLostError{Err: fmt.Errorf("client: authentication: %w", err)}
		}
		select {
		case l.connack <- handshake{err: l.err}:
		default:
		}
		l.conn.Close()
	}
}

// compactAt is how many bytes of batches the Store takes before the
// Client replaces them with a snapshot.
const compactAt = 1 << 20

// persist appends a journal batch to the Store, before the call's bytes
// are handed to the writer. A Store that fails ends the connection: what
// it could not keep must not go out.
func (c *Client) persist(l *link, batch []byte) {
	err := c.cfg.Store.Append(batch)
	if err == nil {
		c.logged += len(batch)
		if c.logged > compactAt {
			c.logged = 0
			err = c.cfg.Store.Reset(c.mc.JournalSnapshot())
		}
	}
	if err != nil {
		c.log(slog.LevelError, "store failed", "err", err)
		if l != nil {
			if l.err == nil {
				l.err = &ConnectionLostError{Err: err}
			}
			l.conn.Close()
		}
	}
}

// lostMessage is the error of a Publish whose message the session lost
// (the server did not keep it, or it ended with the connection): the
// connection's when the Client ends with it, else ErrSessionLost, for the
// caller to publish again.
func (c *Client) lostMessage(cause error) error {
	if !errors.Is(cause, mqtt.ErrSessionLost) {
		return cause
	}
	if c.closing || c.cfg.NoReconnect {
		return &ConnectionLostError{Err: cause}
	}
	return ErrSessionLost
}

// settleReleased answers the Publish calls whose identifier the call just
// made released without an acknowledgement: a QoS 2 exchange past PUBREC
// that ended with its session (the server may not have delivered it).
func (c *Client) settleReleased() {
	for _, id := range c.released {
		if r, ok := c.waiting[id]; ok && r.qos > 0 {
			c.answer(id, nil, c.lostMessage(mqtt.ErrSessionLost))
		}
	}
	c.released = c.released[:0]
}

// acked completes a Publish with the reason code of its acknowledgement.
func (c *Client) acked(id uint16, r packet.ReasonCode) {
	var err error
	if r.IsError() {
		err = &AckError{Reason: r}
	}
	c.answer(id, nil, err)
}

// clientTimers returns where c's timers are in c.timers.
func clientTimers(c *Client) *timerqueue.Slots { return &c.timerAt }

// resetTimer (re)arms the timer k for d, with c.mu held. The Connection
// re-arms the keep-alive timer with every packet it sends; a timer due no
// later is left running (internal/timerqueue): it fires early, and the
// Connection, which has the Client's clock (mqtt.Config.Clock), ignores
// the firing and asks for the time left.
func (c *Client) resetTimer(k mqtt.TimerKind, d time.Duration) { c.timers.Reset(c, k, d) }

// timerFired runs on the timer queue's goroutine.
func (c *Client) timerFired(k mqtt.TimerKind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link != nil {
		c.mc.TimerFired(k)
	}
}

// writeLoop writes the link's bytes, in order, until the link ends.
func (c *Client) writeLoop(l *link) {
	var buf []byte
	for {
		select {
		case <-l.wake:
		case <-l.ended:
			return
		}
		c.mu.Lock()
		buf, l.out = l.out, buf[:0]
		hangUp := l.hangUp
		c.mu.Unlock()
		var err error
		if len(buf) > 0 {
			_, err = l.conn.Write(buf)
			c.mu.Lock()
			l.written += uint64(len(buf))
			c.stats.BytesOut += uint64(len(buf))
			signal(&l.wrote)
			c.mu.Unlock()
		}
		if err != nil || hangUp {
			l.conn.Close() // the read loop sees the end and finishes
		}
	}
}

// recvPiece is the most bytes the read loop hands to the Connection in one
// call. The Connection keeps the packet values of a call for the next one
// (up to 256 of a type) and allocates those beyond: 4 KiB hold no more
// than that of messages of 16 bytes or more, and a steady flow of them
// allocates no packet values.
const recvPiece = 4 << 10

// readLoop feeds the Connection what the server sends; the messages go to
// the inbox (inbox.go).
func (c *Client) readLoop(l *link) {
	buf := make([]byte, 32<<10)
	for {
		n, err := l.conn.Read(buf)
		c.mu.Lock()
		if err != nil {
			c.lost(l, err)
			return // lost unlocked c.mu
		}
		c.stats.BytesIn += uint64(n)
		for b := buf[:n]; len(b) > 0; {
			k := min(len(b), recvPiece)
			c.mc.Recv(b[:k])
			b = b[k:]
		}
		c.settleReleased()
		c.waitForHandlers(l)
		c.mu.Unlock()
	}
}

// delivery is how a received QoS 1 or QoS 2 message is acknowledged: on
// the connection it came on, under its packet identifier, once.
type delivery struct {
	id    uint16
	qos   packet.QoS
	link  *link
	acked bool
}

// ErrAckStale is returned by Ack for a message that came on a connection
// that has ended: the server sends it again on the next one (a QoS 2
// message it had acknowledged is not delivered again).
var ErrAckStale = errors.New("client: the message came on a connection that has ended")

// Ack acknowledges a received QoS 1 or QoS 2 message (PUBACK, or PUBREC
// then the rest of the QoS 2 exchange); with Config.ManualAck the
// handlers call it, otherwise the Client does once they have returned. A
// QoS 0 message, or one acknowledged already, needs nothing: Ack returns
// nil.
func (c *Client) Ack(m Message) error {
	d := m.delivery
	if d == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.acked {
		return nil
	}
	if c.link != d.link {
		return ErrAckStale
	}
	d.acked = true
	if d.qos == packet.QoS1 {
		c.scratch.puback = packet.Puback{PacketID: d.id}
		return c.mc.Send(&c.scratch.puback)
	}
	c.scratch.pubrec = packet.Pubrec{PacketID: d.id}
	return c.mc.Send(&c.scratch.pubrec)
}

// lost finishes a link whose transport closed, with c.mu held, and
// releases c.mu. The session's messages in flight wait for the next
// connection; the requests that end with the connection get its error.
// A link that was up is then re-established in the background, unless
// Close was called or reconnection is off: then the Client ends.
func (c *Client) lost(l *link, readErr error) {
	if l.err == nil {
		l.err = &ConnectionLostError{Err: readErr}
	}
	c.mc.Closed()
	c.settleReleased()
	c.timers.StopAll(c)
	c.link, c.online = nil, false
	for id, r := range c.waiting {
		if r.qos == 0 {
			c.answer(id, nil, l.err) // SUBSCRIBE, UNSUBSCRIBE: ended with the connection
		}
	}
	signal(&l.room)
	signal(&l.wrote)
	close(l.ended)
	up, err, closing := l.up, l.err, c.closing
	switch {
	case c.closing:
		c.finish(ErrClosed)
	case up && c.cfg.NoReconnect:
		c.finish(err)
	case up:
		go c.reconnect()
	}
	c.mu.Unlock()
	if up && !closing {
		c.log(slog.LevelInfo, "connection lost", "err", err)
		if c.cfg.OnConnectionLost != nil {
			c.cfg.OnConnectionLost(err)
		}
	}
}

// log writes to Config.Logger, if any.
func (c *Client) log(level slog.Level, msg string, args ...any) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Log(context.Background(), level, "mqtt client: "+msg, args...)
	}
}

// finish ends the Client, with c.mu held: every waiting call gets err.
func (c *Client) finish(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	for id := range c.waiting {
		c.answer(id, nil, err)
	}
	signal(&c.onWait)
	close(c.done)
}

// reconnect connects again, with exponential backoff and jitter, until it
// succeeds or the Client ends.
func (c *Client) reconnect() {
	delay := c.cfg.minRetryDelay()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		c.mu.Lock()
		closing := c.closing
		if closing {
			c.finish(ErrClosed)
		}
		c.mu.Unlock()
		if closing {
			return
		}
		c.log(slog.LevelInfo, "reconnecting", "after", wait)
		present, err := c.connectOnce(ctx, false)
		if err == nil {
			if c.cfg.OnConnectionUp != nil {
				c.cfg.OnConnectionUp(present)
			}
			return
		}
		c.log(slog.LevelInfo, "reconnection failed", "err", err)
		delay = min(2*delay, c.cfg.maxRetryDelay())
	}
}

// waitWritten waits until the link's bytes up to upTo are written, or the
// link ends.
func (l *link) waitWritten(ctx context.Context, mu *sync.Mutex, upTo uint64) error {
	for {
		mu.Lock()
		if l.written >= upTo {
			mu.Unlock()
			return nil
		}
		select {
		case <-l.ended:
			err := l.err
			mu.Unlock()
			return err
		default:
		}
		if l.wrote == nil {
			l.wrote = make(chan struct{})
		}
		wrote := l.wrote
		mu.Unlock()
		select {
		case <-wrote:
		case <-l.ended:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// matches reports whether a message's topic matches a subscription's
// filter; a shared subscription (v5) matches by its filter.
func matches(filter, name string, v packet.Version) bool {
	if v == packet.V5 {
		if _, f, err := topic.SplitShared(filter); err == nil {
			filter = f
		}
	}
	return topic.Match(filter, name)
}
