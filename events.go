package mqtt

import (
	"fmt"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// EventKind says what an Event asks of the caller or tells it.
type EventKind uint8

// The kinds of events a Connection returns.
const (
	// EventSend: write Bytes to the transport. Packet is the packet they
	// encode.
	EventSend EventKind = iota + 1
	// EventTimerReset: (re)arm the timer Timer to fire after Duration, then
	// call TimerFired(Timer).
	EventTimerReset
	// EventTimerCancel: stop the timer Timer.
	EventTimerCancel
	// EventPacket: Packet arrived from the peer, after the Connection did
	// what the protocol asks of it (acknowledgements, alias resolution).
	EventPacket
	// EventIDReleased: PacketID is free again: its exchange completed, or
	// it was handed out for a send that failed.
	EventIDReleased
	// EventError: the peer broke the protocol, or a timer expired. Err says
	// how: the codec's *packet.Error for bytes it refused, a *PeerError for
	// a rule the Connection found broken (both give the reason code to
	// packet.ReasonOf), or ErrPingTimeout. The Connection has already
	// queued the answer (a DISCONNECT or CONNACK with the reason code, where
	// the version has one) and an EventClose follows.
	EventError
	// EventDropped: a QoS 1 or QoS 2 PUBLISH will not be delivered: it was
	// queued and expired or no longer fits, or its session ended before the
	// peer acknowledged it. Err says why, PacketID names it, and Packet is
	// the message when the Connection kept a copy (a queued message, or a
	// session that outlives the connection). EventIDReleased follows.
	EventDropped
	// EventClose: close the transport now. Every call after it returns no
	// events until the Connection is reused with Closed and a new CONNECT.
	EventClose
	// EventJournal (with Config.Journal): Bytes is a batch of records of
	// the session state the call changed, handed over before the call's
	// other events; Replay rebuilds the session from the batches. Treat a
	// call as one unit: make its batches, and the messages it delivered,
	// durable together (one append and sync at the end of the call), then
	// write its bytes. Then a crash loses no QoS 1 message and neither
	// loses nor duplicates a QoS 2 message.
	EventJournal

	eventLast = EventJournal
)

var eventKindNames = [...]string{"", "send", "timer reset", "timer cancel", "packet",
	"id released", "error", "dropped", "close", "journal"}

// String returns the kind's name.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && k != 0 {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", byte(k))
}

// TimerKind names one of the timers a Connection asks the caller to run.
type TimerKind uint8

// The timers. The caller runs one timer of each kind at most, and the
// contract is the same for all:
//
//   - EventTimerReset(k, d): stop timer k if it runs, and start it for d.
//   - EventTimerCancel(k): stop timer k.
//   - When timer k expires, call TimerFired(k) (under whatever lock
//     serialises the calls on the Connection).
//
// One time.Timer per kind, created once and re-armed with Reset, is all a
// driver needs; see the Example of TimerKind. A firing that raced with a
// Reset or a cancel (the timer expired while the Connection was busy) is
// harmless: TimerFired ignores a timer it no longer expects, and with
// Config.Clock it also recognises one that fires before its deadline.
const (
	// TimerPing (client): when it fires, the Connection sends PINGREQ. It
	// is re-armed after every packet sent (MQTT-3.1.2-22).
	TimerPing TimerKind = iota + 1
	// TimerPingResponse (client): the wait for PINGRESP; when it fires the
	// client closes the connection.
	TimerPingResponse
	// TimerKeepAlive (server): one and a half times the client's Keep Alive
	// without a packet from it (MQTT-3.1.2-24); when it fires the server
	// disconnects the client.
	TimerKeepAlive
	// TimerConnect: Config.ConnectTimeout for the handshake. A client arms
	// it when it sends CONNECT and stops it when the CONNACK arrives,
	// however many AUTH round trips come between; a server arms it in
	// Opened and stops it when the CONNECT arrives. When it fires the
	// Connection reports ErrConnectTimeout and closes.
	TimerConnect

	timerLast = TimerConnect
)

// String returns the timer's name.
func (k TimerKind) String() string {
	switch k {
	case TimerPing:
		return "ping"
	case TimerPingResponse:
		return "ping response"
	case TimerKeepAlive:
		return "keep alive"
	case TimerConnect:
		return "connect"
	}
	return fmt.Sprintf("TimerKind(%d)", byte(k))
}

// Event is one thing the caller must do or learn, handed to the
// Connection's Handler. Its Bytes and Packet are valid until the next call
// on the Connection made from outside the handler (see Handler): copy
// (packet Clone methods) what must live longer.
type Event[ID packetid.ID] struct {
	Kind     EventKind
	Timer    TimerKind     // EventTimerReset, EventTimerCancel
	PacketID ID            // EventIDReleased, EventDropped
	Bytes    []byte        // EventSend
	Packet   packet.Packet // EventSend, EventPacket, EventDropped
	Duration time.Duration // EventTimerReset
	Err      error         // EventError, EventDropped
}

// String describes the event in one line, for logs and tests.
func (e Event[ID]) String() string {
	switch e.Kind {
	case EventSend, EventPacket, EventDropped:
		return fmt.Sprintf("%v %v", e.Kind, e.Packet.Type())
	case EventTimerReset:
		return fmt.Sprintf("%v %v %v", e.Kind, e.Timer, e.Duration)
	case EventTimerCancel:
		return fmt.Sprintf("%v %v", e.Kind, e.Timer)
	case EventIDReleased:
		return fmt.Sprintf("%v %d", e.Kind, e.PacketID)
	case EventError:
		return fmt.Sprintf("%v: %v", e.Kind, e.Err)
	}
	return e.Kind.String()
}
