package trace

import (
	"errors"
	"io"
	"sync"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packetid"
)

// Recorder records one Connection to a trace: set it as the Config's
// Trace before the Connection is made.
//
//	rec := trace.NewRecorder(w)
//	c := mqtt.NewClient[uint16](mqtt.Config{Trace: rec}, handle)
//
// It writes each record with one Write call as it happens, so a trace cut
// short by a crash keeps every record before the cut (Parse). A Write
// error stops the recording; Err returns it. Give a buffered writer
// (bufio.Writer, flushed at the end) where one Write per record costs too
// much. A Recorder serves one Connection; Err may be called from any
// goroutine.
type Recorder struct {
	w      io.Writer
	buf    []byte
	idSize int

	mu  sync.Mutex
	err error
}

// ErrTwoConnections is the error of a Recorder given to a second
// Connection: a trace is the trace of one.
var ErrTwoConnections = errors.New("trace: a Recorder records one Connection")

// NewRecorder returns a Recorder that writes to w.
func NewRecorder(w io.Writer) *Recorder { return &Recorder{w: w} }

// Err returns the error that stopped the recording, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Recorder) stop(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

func (r *Recorder) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil
}

// Start writes the file header and the start record (mqtt.Tracer).
func (r *Recorder) Start(role mqtt.Role, cfg *mqtt.Config, idSize int) {
	if r.idSize != 0 {
		r.stop(ErrTwoConnections)
		return
	}
	r.idSize = idSize
	if _, err := r.w.Write(append([]byte(magic), Version)); err != nil {
		r.stop(err)
		return
	}
	r.write(appendStart(r.buf[:0], role, cfg, idSize))
}

// Input records a call or what the Connection read (mqtt.Tracer).
func (r *Recorder) Input(in mqtt.Input) {
	if r.stopped() {
		return
	}
	if int(in.Kind) >= len(inputKinds) || inputKinds[in.Kind] == 0 {
		r.stop(errors.New("trace: an input kind this package does not know"))
		return
	}
	rec := Record{Kind: inputKinds[in.Kind], During: in.During, Bytes: in.Bytes, Timer: in.Timer,
		Time: in.Time, Text: in.ClientID}
	if in.Kind == mqtt.InputSend {
		rec.Packet = appendPacket(nil, in.Packet, r.idSize)
	}
	r.record(&rec)
}

// inputKinds maps the core's input kinds to the format's record kinds.
var inputKinds = [...]Kind{mqtt.InputRecv: KindRecv, mqtt.InputSend: KindSend,
	mqtt.InputTimerFired: KindTimerFired, mqtt.InputOpened: KindOpened, mqtt.InputClosed: KindClosed,
	mqtt.InputImportSession: KindImportSession, mqtt.InputReplay: KindReplay,
	mqtt.InputClock: KindClock, mqtt.InputClientID: KindClientID}

// Event records an event (mqtt.Tracer).
func (r *Recorder) Event(e mqtt.Event[uint32]) {
	if r.stopped() {
		return
	}
	r.record(&Record{Kind: KindEvent, Event: eventOf(e, r.idSize)})
}

// Return records what a call returned (mqtt.Tracer).
func (r *Recorder) Return(err error) {
	if r.stopped() {
		return
	}
	r.record(returnOf(err))
}

func (r *Recorder) record(rec *Record) { r.write(appendRecord(r.buf[:0], rec)) }

// write writes one record body behind its length.
func (r *Recorder) write(body []byte) {
	r.buf = body[:0]
	if _, err := r.w.Write(appendFramed(nil, body)); err != nil {
		r.stop(err)
	}
}

// eventOf is the trace's copy of e, for a Connection with identifiers
// of idSize bytes.
func eventOf[ID packetid.ID](e mqtt.Event[ID], idSize int) Event {
	out := Event{Kind: e.Kind, Timer: e.Timer, PacketID: uint32(e.PacketID), Duration: e.Duration}
	switch e.Kind {
	case mqtt.EventSend, mqtt.EventJournal:
		out.Bytes = e.Bytes
	case mqtt.EventPacket, mqtt.EventDropped:
		out.Packet = appendPacket(nil, e.Packet, idSize)
	}
	if e.Err != nil {
		out.Err = e.Err.Error()
	}
	return out
}

// returnOf is the record of a call that returned err.
func returnOf(err error) *Record {
	if err == nil {
		return &Record{Kind: KindReturn}
	}
	return &Record{Kind: KindReturn, Failed: true, Text: err.Error()}
}
