package broker

import (
	"log/slog"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// handler is the Broker as the Handler (and Waker) of its server: each
// call goes to the conn of the connection, made in OnConnect and kept
// with it (server.Conn.SetValue). The packets alias the server's read
// buffer: what the broker keeps of them it copies.
type handler Broker

func (h *handler) OnConnect(sc *server.Conn, p *packet.Connect) packet.Connack {
	c := newConn((*Broker)(h), sc)
	sc.SetValue(c)
	ack := c.onConnect(p)
	if ack.Reason.IsError() {
		c.logRefused(ack.Reason)
	}
	c.settle()
	return ack
}

func (h *handler) OnPacket(sc *server.Conn, p packet.Packet) {
	c := sc.Value().(*conn)
	c.heardOf()
	switch p := p.(type) {
	case *packet.Publish:
		c.onPublish(p)
	case *packet.Pubrel:
		c.onPubrel(p.PacketID)
	case *packet.Puback:
		// Send quota freed: the outbox may go on once the read is
		// handled.
		c.ackedByClient(packet.QoS1) // floor.go
		sc.Wake()
	case *packet.Pubrec:
		c.ackedByClient(packet.QoS2)
	case *packet.Pubcomp:
		c.ackedByClient(packet.QoS0)
		sc.Wake()
	case *packet.Subscribe:
		c.onSubscribe(p.Clone()) // the topic tree keeps its filters
	case *packet.Unsubscribe:
		c.onUnsubscribe(p.Clone())
	case *packet.Disconnect:
		c.onDisconnect(p)
	case *packet.Auth:
		c.onAuth(p) // auth.go
	}
	c.settle()
}

func (h *handler) OnClose(sc *server.Conn, err error) {
	c := sc.Value().(*conn)
	c.teardown(err)
	c.giveBack()
}

func (h *handler) OnWake(sc *server.Conn) {
	c := sc.Value().(*conn)
	c.onWake()
	c.settle()
}

// trimEvents is the number of packets from the client above which, once
// it has gone quiet for trimQuiet, the connection calls Recv(nil): the
// Connection then lets go of the packet values and events it kept from
// its largest calls. A flood of small packets that goes on is not
// trimmed while it lasts.
const (
	trimEvents = 64
	trimQuiet  = 20 * time.Millisecond
)

// heardOf notes a packet from the client: for the idle watch of a 3.1.1
// client, and to trim after a burst.
func (c *conn) heardOf() {
	if c.x != nil && c.x.idle > 0 {
		c.x.heard = time.Now()
	}
	c.events++
	if c.events == trimEvents+1 {
		c.quietMark = c.events
		c.after(&c.extra().quietTimer, wakeQuiet, trimQuiet)
	}
}

// onWake acts on what the connection was woken for, and sends what its
// session's outbox holds.
func (c *conn) onWake() {
	c.runProbe()
	c.wakeOthers()
	if c.woken(wakeHandOver) {
		c.handOverNow()
	}
	c.checkLate() // auth.go
	if c.woken(wakeAuthDone) {
		c.authenticated() // the password checked: auth.go
		return
	}
	if c.woken(wakeClaimable) && c.x != nil && c.x.waiting != nil {
		c.claimAgain()
		return // the CONNACK goes first: claimAgain wakes the connection again
	}
	if c.woken(wakeClusterClaimed) && c.x != nil && c.x.waiting != nil {
		c.clusterClaimed() // cluster_session.go
		return
	}
	if !c.connected || c.x != nil && c.x.waiting != nil {
		return
	}
	unblocked, recheck := c.woken(wakeUnblocked), c.woken(wakeRecheck)
	if recheck {
		c.recheckArmed = false
	}
	if unblocked || recheck {
		c.release()
	}
	if c.woken(wakeIdle) {
		c.checkIdle()
	}
	if c.woken(wakeQuiet) {
		c.checkQuiet()
	}
	c.flushPending()
}

// checkIdle closes a 3.1.1 client watched for its idle time (see
// conn.idle) that has sent nothing for that long.
func (c *conn) checkIdle() {
	x := c.x
	if since := time.Since(x.heard); since < x.idle {
		x.idleTimer.Reset(x.idle - since)
		return
	}
	c.logAt(slog.LevelInfo, "no packet within 1.5 times the maximum Keep Alive: closed", "idle", x.idle,
		"max_keepalive", c.b.cfg.MaxKeepAlive)
	c.sc.Close(packet.KeepAliveTimeout)
}

// checkQuiet trims once no packet has come since quietTimer was armed,
// and looks again later otherwise.
func (c *conn) checkQuiet() {
	if c.events != c.quietMark {
		c.quietMark = c.events
		c.after(&c.x.quietTimer, wakeQuiet, trimQuiet)
		return
	}
	c.mc().Recv(nil) // the burst is over
	c.events, c.quietMark = 0, 0
}

// settle, at the end of each Handler call, pauses or resumes reading the
// client as flow control says (flow.go), has the subscribers of what it
// routed woken (wakeLater), and the outboxes it waits for looked at
// again in a while.
func (c *conn) settle() {
	if p := c.readPaused(); p != c.paused {
		c.paused = p
		if p {
			c.sc.PauseReading()
		} else {
			c.sc.ResumeReading()
		}
	}
	if c.s != nil && len(c.s.toWake) > 0 && c.sc != nil {
		// The subscribers wakeLater listed are woken once what this
		// call and the rest of the read made the connection send is
		// written; at once if the client is slow to take its bytes, so
		// that it does not hold the others up.
		if c.sc.Backlog() >= flushResume {
			c.sc.Wake()
		} else {
			c.sc.WakeAtBacklog(1)
		}
	}
	if c.blocked() && !c.recheckArmed {
		c.recheckArmed = true
		c.after(&c.x.recheckTimer, wakeRecheck, recheckEvery)
	}
	c.giveBack()
}
