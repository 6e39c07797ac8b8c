package server

import (
	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/trace"
)

// connTracer is a connection's mqtt.Tracer (Config.Trace): it asks the
// Config for the writer at the connection's first call, once the Conn
// knows its address, and records from its start on.
type connTracer struct {
	c     *Conn
	rec   *trace.Recorder // nil until the first call; then nil if Config.Trace gave no writer
	asked bool
	start func(*trace.Recorder)
}

func (t *connTracer) Start(r mqtt.Role, cfg *mqtt.Config, idSize int) {
	t.start = func(rec *trace.Recorder) { rec.Start(r, cfg, idSize) }
}

// recorder returns the Recorder, made at the first call.
func (t *connTracer) recorder() *trace.Recorder {
	if !t.asked {
		t.asked = true
		if w := t.c.srv.cfg.Trace(t.c); w != nil {
			t.rec = trace.NewRecorder(w)
			t.start(t.rec)
		}
	}
	return t.rec
}

func (t *connTracer) Input(in mqtt.Input) {
	if rec := t.recorder(); rec != nil {
		rec.Input(in)
	}
}

func (t *connTracer) Event(e mqtt.Event[uint32]) {
	if rec := t.recorder(); rec != nil {
		rec.Event(e)
	}
}

func (t *connTracer) Return(err error) {
	if rec := t.recorder(); rec != nil {
		rec.Return(err)
	}
}
