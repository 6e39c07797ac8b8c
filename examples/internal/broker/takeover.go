package broker

import (
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// Takeover (MQTT-3.1.4-3): a CONNECT with the client identifier of a
// session that another connection has does not wait for that connection
// on the goroutine that read it (an event loop worker, which the old
// connection may need to end: see server.Conn.DeferConnack). The new
// connection defers its CONNACK and waits in Broker.takers; the old one
// is woken (askHandOver) and ends with CloseRead; its teardown wakes the
// new one (claimable), which claims the session again and sends its
// CONNACK (claimAgain). A later CONNECT of the same client closes a
// connection that is still waiting: the latest wins.

// takeoverWait bounds how long the old connection takes to end once asked
// to: then its transport is closed, however far it got.
const takeoverWait = 2 * time.Second

// takeoverGrace bounds how long a connection being taken over goes on
// reading, where the reading side of its transport cannot be shut down,
// while a DISCONNECT could still change how it ends: one its client sent
// before the new connection came may still be on its way.
const takeoverGrace = 50 * time.Millisecond

// askHandOver asks c, the connection of a session another connection
// claims, to hand it over; any goroutine may call it.
func (c *conn) askHandOver() { c.wake(wakeHandOver) }

// handOverNow ends the connection because another one takes its session
// over (OnWake): what the client sent before counts, then a v5 client
// still connected is sent DISCONNECT 0x8E Session taken over and the
// connection is closed (server.Conn.CloseRead).
//
// What the client sent before counts so that a DISCONNECT it sent first
// ends the connection as it says: the will deleted (MQTT-3.14.4-3), a v5
// session ended by a Session Expiry Interval of 0 (MQTT-4.1.0-2). A client
// that sends DISCONNECT, closes the socket and connects again at once has
// its new CONNECT read, often before the old connection has read the
// DISCONNECT. On Linux, over TCP and TLS, the reading side of the socket
// is shut down and what it received read to its end; elsewhere (a
// WebSocket, other systems), while a DISCONNECT would change how the
// connection ends (a will to publish or not, a v5 session to keep or
// not), it is read for takeoverGrace more.
func (c *conn) handOverNow() {
	var grace time.Duration
	if c.x != nil && c.x.will != nil || c.version == packet.V5 && c.mc().SessionPersists() {
		grace = takeoverGrace
	}
	c.sc.CloseRead(packet.SessionTakenOver, grace, takeoverWait)
}
