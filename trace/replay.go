package trace

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// ErrDiverged: a replay did not follow the trace: the Connection read the
// clock or drew a Client Identifier where the trace has none, or the
// Handler would have made a call at an event the replay never reached.
// Check also returns it, in a *MismatchError, for an output that differs.
var ErrDiverged = errors.New("trace: the replay diverged from the trace")

// PanicError is the error of a replay in which the Connection panicked.
type PanicError struct {
	Input int // index in Trace.Records of the call that panicked
	Value any // what the panic was given
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("trace: the Connection panicked in record %d: %v\n%s", e.Input, e.Value, e.Stack)
}

// MismatchError is Check's error for the first output of the replay that
// differs from the trace's.
type MismatchError struct {
	Index              int     // among the outputs (KindEvent and KindReturn records)
	Recorded, Replayed *Record // nil where one has fewer outputs than the other
}

func (e *MismatchError) Error() string {
	describe := func(r *Record) string {
		if r == nil {
			return "nothing"
		}
		return r.String()
	}
	return fmt.Sprintf("trace: output %d differs: recorded %s, replayed %s",
		e.Index, describe(e.Recorded), describe(e.Replayed))
}

// Unwrap makes a MismatchError match ErrDiverged.
func (e *MismatchError) Unwrap() error { return ErrDiverged }

// Replay makes a new Connection from the trace's role, identifier width
// and Config, makes the recorded calls on it in order (those the Handler
// made, from the handler, at the event it made them at), gives it the
// recorded clock readings and Client Identifiers, and returns what it put
// out: records of kinds KindEvent and KindReturn, in order. The trace's
// own outputs are not consulted (Check compares them).
func Replay(t *Trace) ([]Record, error) {
	if t.IDSize == 4 {
		return replay[uint32](t)
	}
	return replay[uint16](t)
}

// Check replays t and compares what the Connection put out with what the
// trace recorded, byte for byte: nil when they are the same, else a
// *MismatchError for the first difference, or Replay's error.
func Check(t *Trace) error {
	got, err := Replay(t)
	if err != nil {
		return err
	}
	var want []Record
	for _, r := range t.Records {
		if r.Kind.output() {
			want = append(want, r)
		}
	}
	var a, b []byte
	for i := range max(len(got), len(want)) {
		m := &MismatchError{Index: i}
		if i < len(want) {
			m.Recorded = &want[i]
		}
		if i < len(got) {
			m.Replayed = &got[i]
		}
		if m.Recorded == nil || m.Replayed == nil {
			return m
		}
		a, b = appendRecord(a[:0], m.Recorded), appendRecord(b[:0], m.Replayed)
		if !bytes.Equal(a, b) {
			return m
		}
	}
	return nil
}

// player replays a trace into a Connection.
type player[ID packetid.ID] struct {
	t      *Trace
	c      *mqtt.Connection[ID]
	next   int // the next record to look at for an input
	event  int // the events dispatched by the call from outside under way
	call   int // the record of that call
	out    []Record
	idSize int
}

// divergence is the panic that ends a replay that left the trace.
type divergence struct{ err error }

func replay[ID packetid.ID](t *Trace) (out []Record, err error) {
	p := &player[ID]{t: t, idSize: packetid.Size[ID]()}
	cfg := t.Config
	cfg.Trace = nil
	cfg.AssignClientID = p.clientID
	if t.Clock {
		cfg.Clock = p.clock
	}
	if t.Role == mqtt.RoleServer {
		p.c = mqtt.NewServer(cfg, p.handle)
	} else {
		p.c = mqtt.NewClient(cfg, p.handle)
	}
	defer func() {
		if v := recover(); v != nil {
			if d, ok := v.(divergence); ok {
				out, err = p.out, d.err
				return
			}
			out, err = p.out, &PanicError{Input: p.call, Value: v, Stack: debug.Stack()}
		}
	}()
	for {
		i := p.input()
		if i < 0 {
			return p.out, nil
		}
		r := &t.Records[i]
		if !r.Kind.call() || r.During != 0 {
			return p.out, fmt.Errorf("%w: record %d (%v) comes after the calls that could take it",
				ErrDiverged, i, r)
		}
		p.event, p.call = 0, i
		p.next = i + 1
		p.do(r)
	}
}

// input returns the index of the next input record, or -1 at the end.
func (p *player[ID]) input() int {
	for p.next < len(p.t.Records) && p.t.Records[p.next].Kind.output() {
		p.next++
	}
	if p.next == len(p.t.Records) {
		return -1
	}
	return p.next
}

// take returns the next input record, which must be of kind k (the
// Connection is reading its clock or drawing an identifier).
func (p *player[ID]) take(k Kind) *Record {
	i := p.input()
	if i < 0 || p.t.Records[i].Kind != k {
		what := "the end of the trace"
		if i >= 0 {
			what = fmt.Sprintf("record %d (%v)", i, &p.t.Records[i])
		}
		panic(divergence{fmt.Errorf("%w: the Connection asks for a %v where the trace has %s", ErrDiverged, k, what)})
	}
	p.next++
	return &p.t.Records[i]
}

func (p *player[ID]) clock() time.Time { return p.take(KindClock).Time }

func (p *player[ID]) clientID() string { return p.take(KindClientID).Text }

// handle is the Connection's Handler: it keeps the event, then makes the
// calls the recorded Handler made while carrying it out.
func (p *player[ID]) handle(e mqtt.Event[ID]) {
	p.out = append(p.out, Record{Kind: KindEvent, Event: eventOf(e, p.idSize)})
	// The event's slices are valid until the next call from outside:
	// keep a copy.
	ev := &p.out[len(p.out)-1].Event
	ev.Bytes = bytes.Clone(ev.Bytes)
	p.event++
	for {
		i := p.input()
		if i < 0 {
			return
		}
		r := &p.t.Records[i]
		if !r.Kind.call() || r.During != p.event {
			return
		}
		p.next = i + 1
		p.do(r)
	}
}

// do makes the call r records.
func (p *player[ID]) do(r *Record) {
	var err error
	switch r.Kind {
	case KindRecv:
		p.c.Recv(r.Bytes)
		return
	case KindTimerFired:
		p.c.TimerFired(r.Timer)
		return
	case KindOpened:
		p.c.Opened()
		return
	case KindClosed:
		p.c.Closed()
		return
	case KindSend:
		var pk packet.Packet
		if pk, err = decodePacket[ID](r.Packet); err == nil {
			err = p.c.Send(pk)
		}
	case KindImportSession:
		err = p.c.ImportSession(r.Bytes)
	case KindReplay:
		err = p.c.Replay(r.Bytes)
	}
	p.out = append(p.out, *returnOf(err))
}
