package mqtt

import (
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// tconn is a Connection whose calls return the events they produced, so
// that a test can look at what one call did. The events stay valid until
// the next call on the Connection, as the Connection reuses its scratch
// no earlier. It keeps the Connection's flight state (flight.go) in place
// between calls, so that tests can read it.
type tconn[ID packetid.ID] struct {
	*Connection[ID]
	evs []Event[ID]
}

func newTestClient[ID packetid.ID](cfg Config) *tconn[ID] { return newTestConn[ID](RoleClient, cfg) }

func newTestServer[ID packetid.ID](cfg Config) *tconn[ID] { return newTestConn[ID](RoleServer, cfg) }

func newTestConn[ID packetid.ID](r Role, cfg Config) *tconn[ID] {
	t := &tconn[ID]{evs: make([]Event[ID], 0, 16)}
	t.Connection = newConnection(r, cfg, func(e Event[ID]) { t.evs = append(t.evs, e) })
	t.takeFlight()
	return t
}

// reset forgets the events of the previous call.
func (t *tconn[ID]) forget() {
	clear(t.evs)
	if cap(t.evs) > keepEvents {
		t.evs = nil
	}
	t.evs = t.evs[:0]
}

// Recv calls the Connection's Recv and returns its events.
func (t *tconn[ID]) Recv(chunk []byte) []Event[ID] {
	t.forget()
	t.Connection.Recv(chunk)
	t.takeFlight()
	return t.evs
}

// Send calls the Connection's Send and returns its events.
func (t *tconn[ID]) Send(p packet.Packet) ([]Event[ID], error) {
	t.forget()
	err := t.Connection.Send(p)
	t.takeFlight()
	if err != nil {
		return nil, err
	}
	return t.evs, nil
}

// TimerFired calls the Connection's TimerFired and returns its events.
func (t *tconn[ID]) TimerFired(k TimerKind) []Event[ID] {
	t.forget()
	t.Connection.TimerFired(k)
	t.takeFlight()
	return t.evs
}

// Closed calls the Connection's Closed and returns its events.
func (t *tconn[ID]) Closed() []Event[ID] {
	t.forget()
	t.Connection.Closed()
	t.takeFlight()
	return t.evs
}

// ImportSession calls the Connection's ImportSession.
func (t *tconn[ID]) ImportSession(data []byte) error {
	defer t.takeFlight()
	return t.Connection.ImportSession(data)
}

// ExportSession calls the Connection's ExportSession.
func (t *tconn[ID]) ExportSession() []byte {
	defer t.takeFlight()
	return t.Connection.ExportSession()
}

// capture runs a call of the Connection that has no wrapper here (Opened)
// and returns its events.
func (t *tconn[ID]) capture(call func()) []Event[ID] {
	t.forget()
	call()
	t.takeFlight()
	return t.evs
}
