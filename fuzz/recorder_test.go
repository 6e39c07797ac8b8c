package fuzz

import (
	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// recorder is a Connection whose calls return the events they produced,
// valid until the next call.
type recorder[ID packetid.ID] struct {
	*mqtt.Connection[ID]
	evs []mqtt.Event[ID]
}

func newRecorder[ID packetid.ID](r mqtt.Role, cfg mqtt.Config) *recorder[ID] {
	rec := &recorder[ID]{}
	add := func(e mqtt.Event[ID]) { rec.evs = append(rec.evs, e) }
	if r == mqtt.RoleClient {
		rec.Connection = mqtt.NewClient(cfg, add)
	} else {
		rec.Connection = mqtt.NewServer(cfg, add)
	}
	return rec
}

func (r *recorder[ID]) forget() {
	clear(r.evs)
	r.evs = r.evs[:0]
}

func (r *recorder[ID]) Recv(chunk []byte) []mqtt.Event[ID] {
	r.forget()
	r.Connection.Recv(chunk)
	return r.evs
}

func (r *recorder[ID]) Send(p packet.Packet) ([]mqtt.Event[ID], error) {
	r.forget()
	if err := r.Connection.Send(p); err != nil {
		return nil, err
	}
	return r.evs, nil
}

func (r *recorder[ID]) Closed() []mqtt.Event[ID] {
	r.forget()
	r.Connection.Closed()
	return r.evs
}
