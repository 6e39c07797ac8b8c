package mqtt

import (
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// Tracing: a Connection is a pure function of its inputs (the calls made
// on it, the clock it reads, the Client Identifiers it draws), so a
// Tracer told every input can have the run replayed exactly. Package
// trace records to a file and replays.

// A Tracer is told, in order, every input of a Connection and everything
// it puts out (Config.Trace). Its methods are called from within the
// Connection's calls and must not call the Connection; the slices and
// packets they are given are valid only during the method.
type Tracer interface {
	// Start: the Connection was made, with role r, configuration cfg and
	// packet identifiers of idSize bytes (2 or 4).
	Start(r Role, cfg *Config, idSize int)
	// Input: a call on the Connection begins (InputRecv to InputReplay),
	// or the Connection read Config.Clock or drew a Client Identifier.
	Input(in Input)
	// Event: the Connection hands e to its Handler (PacketID widened).
	Event(e Event[uint32])
	// Return: the call begun last that returns an error (Send,
	// ImportSession, Replay) returns err. Nested calls the handler makes
	// return before the call they were made in.
	Return(err error)
}

// InputKind says what an Input is.
type InputKind uint8

// The inputs of a Connection.
const (
	InputRecv          InputKind = iota + 1 // Recv(Bytes)
	InputSend                               // Send(Packet)
	InputTimerFired                         // TimerFired(Timer)
	InputOpened                             // Opened()
	InputClosed                             // Closed()
	InputImportSession                      // ImportSession(Bytes)
	InputReplay                             // Replay(Bytes)
	InputClock                              // Config.Clock returned Time
	InputClientID                           // a server assigned ClientID
)

// Input is one input of a Connection, as a Tracer sees it.
type Input struct {
	Kind InputKind
	// During is 0 for a call from outside the Handler, and n for one the
	// Handler made while it carried out the n-th event (from 1) of the
	// dispatch under way. Not set for InputClock and InputClientID.
	During   int
	Bytes    []byte        // InputRecv, InputImportSession, InputReplay
	Packet   packet.Packet // InputSend: as the caller passed it, before Send changes it
	Timer    TimerKind     // InputTimerFired
	Time     time.Time     // InputClock
	ClientID string        // InputClientID
}

// traceCall tells the Tracer that a call of kind in.Kind begins.
func (c *Connection[ID]) traceCall(in Input) {
	if c.scratch != nil && c.dispatching {
		in.During = c.at
	}
	c.cfg.Trace.Input(in)
}

// traceReturn tells the Tracer what the call begun last returns, and
// returns it.
func (c *Connection[ID]) traceReturn(err error) error {
	c.cfg.Trace.Return(err)
	return err
}

// dispatchTraced is dispatch's loop with a Tracer: it tells the Tracer of
// each event before the Handler gets it, and keeps the index of the event
// being carried out for the calls the Handler makes (Input.During).
func (c *Connection[ID]) dispatchTraced(s *scratch[ID]) {
	for i := 0; i < len(s.events); i++ {
		s.at = i + 1
		e := &s.events[i]
		c.cfg.Trace.Event(Event[uint32]{Kind: e.Kind, Timer: e.Timer, PacketID: uint32(e.PacketID),
			Bytes: e.Bytes, Packet: e.Packet, Duration: e.Duration, Err: e.Err})
		c.handler(s.events[i])
	}
}

// now reads Config.Clock. With a Tracer it keeps the wall clock reading
// only, so that a replay computes with the time exactly as the run did.
func (c *Connection[ID]) now() time.Time {
	t := c.cfg.Clock()
	if c.cfg.Trace != nil {
		t = t.Round(0)
		c.cfg.Trace.Input(Input{Kind: InputClock, Time: t})
	}
	return t
}
