package broker

import (
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// The publisher's side of flow control (the package documentation says
// why; outbox.go has the subscriber's side). The Connection leaves the
// PUBACK that ends a QoS 1 exchange and the PUBCOMP that ends a QoS 2 one
// to the broker (mqtt.Config.ManualPuback, ManualPubcomp): the PUBACK is
// sent once the message is routed, the PUBCOMP once the PUBREL has come
// (the Connection makes the PUBREC, written with the rest of the read's
// answers once its messages are routed), unless the connection waits for
// a full outbox, one a message of the client was routed to: then the
// acknowledgement is withheld, and so are those that follow, in order,
// until every full outbox the connection waits for has drained. A v5
// client stops once it has Config.ReceiveMaximum exchanges unfinished
// (MQTT-3.3.4-7), and goes on sending its other packets, acknowledgements
// of what it receives among them (MQTT-3.3.4-8); a 3.1.1 client, which
// cannot be told, is not read while it has that many unfinished and the
// broker waits for nothing from it (readPaused: settle pauses the reading
// with server.Conn.PauseReading).
//
// Withholding PUBCOMP rather than PUBREC keeps the QoS 2 exchange as the
// Connection runs it: a PUBLISH the client sends again before PUBREL is
// acknowledged again with PUBREC and not delivered twice (MQTT-4.3.3-10).

// heldAck is an acknowledgement the broker sends: PUBACK or PUBCOMP; or,
// in a cluster, a message of the client's that the cluster has yet to
// hold (wait, cluster.go): the acknowledgements after it wait for it.
type heldAck struct {
	id     uint16
	t      packet.Type       // packet.TypePuback or packet.TypePubcomp
	reason packet.ReasonCode // of a PUBACK: 0x87 for a message refused (publish.go)
	wait   *clusterWait      // not nil: no acknowledgement, a wait for the cluster
}

// recheckEvery is how often a connection with acknowledgements withheld
// looks again at the outboxes it waits for, besides being woken when one
// drains: messages in them may have expired.
const recheckEvery = time.Second

// keepAcks bounds the list of withheld acknowledgements a connection keeps
// once they have all been sent.
const keepAcks = 1024

// acknowledge sends a, or withholds it while the connection waits for a
// full outbox (route records those in c.blockers) or has withheld others,
// a wait for the cluster among them. Stats.Withheld counts what a full
// outbox holds up.
func (c *conn) acknowledge(a heldAck) {
	if a.wait != nil {
		x := c.extra()
		x.acks = append(x.acks, a)
		x.clusterWaits++
		return
	}
	if c.blocked() || c.withholds() {
		c.x.acks = append(c.x.acks, a)
		if c.blocked() || c.x.clusterWaits == 0 {
			c.b.withheld.Add(1)
		}
		return
	}
	c.ack(a)
}

// ack sends one acknowledgement.
func (c *conn) ack(a heldAck) {
	s := c.scratch()
	var p packet.Packet = &s.pubcomp
	if a.t == packet.TypePuback {
		s.puback.PacketID, s.puback.Reason = a.id, a.reason
		p = &s.puback
	} else {
		s.pubcomp.PacketID = a.id
	}
	err := c.mc().Send(p)
	// ErrIDUnknown: a QoS 1 PUBLISH the client sent again before its
	// PUBACK was routed again, and the first PUBACK answered both. A
	// connection that is closing sends nothing more.
	if err != nil && !errors.Is(err, mqtt.ErrIDUnknown) && c.mc().State() == mqtt.StateConnected {
		c.logAt(slog.LevelWarn, "acknowledgement not sent", "packet_id", a.id, "err", err)
	}
}

// waitsFor reports whether s is among the outboxes c waits for.
func (c *conn) waitsFor(s *session) bool {
	return c.x != nil && slices.Contains(c.x.blockers, s)
}

// block records that c waits for the outbox of s.
func (c *conn) block(s *session) {
	if !c.waitsFor(s) {
		x := c.extra()
		x.blockers = append(x.blockers, s)
	}
}

// wakeUnblocked tells c that an outbox it waits for has drained; any
// goroutine may call it, with the locks of sessions and of the broker
// held: the wake goes through a goroutine of its own, since OnWake may
// run at once on the goroutine that wakes, and take those locks (a
// session's outbox drains once per fill, so this is rare).
func (c *conn) wakeUnblocked() {
	c.why.Or(wakeUnblocked)
	if c.sc != nil {
		go c.sc.Wake()
	}
}

// stillHolding returns, in blockers' own array, the sessions whose full
// outboxes still hold w back (outbox.go: session.holds).
func stillHolding(blockers []*session, w waiter, b *Broker) []*session {
	now := time.Now()
	kept := blockers[:0]
	for _, s := range blockers {
		if s.holds(w, now, b) {
			kept = append(kept, s)
		}
	}
	clear(blockers[len(kept):])
	return kept
}

// release looks again at the outboxes c waits for, and sends the
// acknowledgements withheld once none is full.
func (c *conn) release() {
	x := c.x
	if x == nil {
		return
	}
	if len(x.blockers) > 0 {
		x.blockers = stillHolding(x.blockers, c, c.b)
		if len(x.blockers) > 0 {
			return
		}
	}
	acks := x.acks
	for i, a := range acks {
		if a.wait != nil {
			if !a.wait.done.Load() { // the cluster has yet to hold it
				n := copy(acks, acks[i:])
				clear(acks[n:])
				x.acks = acks[:n]
				return
			}
			x.clusterWaits--
			if err := a.wait.err; err != nil {
				// Not acknowledged: the client sends it again once it
				// has reconnected (at least once).
				c.logAt(slog.LevelWarn, "message not published to the cluster: connection closed", "err", err)
				c.sc.Close(packet.ServerBusy)
				break
			}
			continue
		}
		if c.mc().State() != mqtt.StateConnected {
			break
		}
		c.ack(a)
	}
	clear(acks)
	x.acks, x.clusterWaits = acks[:0], 0
	if cap(acks) > keepAcks {
		x.acks = nil
	}
}

// recvPiece is the most bytes the server hands the Connection in one
// call: PauseReading takes effect after such a piece of a read.
const recvPiece = 4 << 10

// minPublish is the size of the smallest QoS 1 PUBLISH of 3.1.1: fixed
// header, a topic of one byte, packet identifier.
const minPublish = 2 + 2 + 1 + 2

// publisherWindow is the most one publisher may add to a full outbox
// before it stops: a v5 client its Receive Maximum of messages
// (receiveMax); a 3.1.1 client as many, and the rest of the piece of a
// read being handled when the broker stops reading it (readPaused).
func publisherWindow(receiveMax int) int {
	return receiveMax + recvPiece/minPublish + 1
}

// readPaused reports whether the loop leaves the client's socket unread:
// a 3.1.1 client that waits for a full outbox with Config.ReceiveMaximum
// messages unacknowledged (acknowledgements withheld, QoS 2 messages not
// yet released), while the broker waits for no acknowledgement from it
// (so reading it cannot be what lets the outboxes drain: a client
// publishing to a topic it reads itself is read on). A v5 client keeps
// to the Receive Maximum itself.
func (c *conn) readPaused() bool {
	return c.version != packet.V5 && c.blocked() &&
		len(c.x.acks)+int(c.unreleased) >= c.b.cfg.ReceiveMaximum && c.inFlight() == 0
}

// unblockAll forgets the outboxes c waits for: the connection has ended.
func (c *conn) unblockAll() {
	if c.x == nil {
		return
	}
	for _, s := range c.x.blockers {
		s.unwait(c)
	}
	c.x.blockers = nil
}
