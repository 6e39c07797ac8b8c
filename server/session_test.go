package server_test

import (
	"bufio"
	"sync"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// keeper keeps the sessions that outlive their connection, through
// Conn.Core: exported in OnClose, imported in OnConnect.
type keeper struct {
	recorder
	mu    sync.Mutex
	saved map[string][]byte
}

func (k *keeper) OnConnect(c *server.Conn, p *packet.Connect) packet.Connack {
	k.recorder.OnConnect(c, p) // notes the connection
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.saved[c.ClientID()]
	if p.CleanStart || !ok {
		return packet.Connack{}
	}
	if err := c.Core().ImportSession(s); err != nil {
		return packet.Connack{Reason: packet.UnspecifiedError}
	}
	return packet.Connack{SessionPresent: true}
}

func (k *keeper) OnClose(c *server.Conn, err error) {
	k.mu.Lock()
	if c.Core().SessionPersists() {
		k.saved[c.ClientID()] = c.Core().ExportSession()
	}
	k.mu.Unlock()
	k.recorder.OnClose(c, err)
}

// A QoS 1 message the server sent to a client whose connection ended
// before it acknowledged it is sent again on the next connection.
func TestSessionResumed(t *testing.T) {
	k := &keeper{recorder: *newRecorder(), saved: map[string][]byte{}}
	_, addr := start(t, server.Config{Handler: k})
	connect := &packet.Connect{ClientID: "kept", CleanStart: true}
	connect.Props.SessionExpiry = 60
	rc := handshake(t, dialRaw(t, addr), packet.V5, connect)
	if err := k.conn("kept").Send(&packet.Publish{Topic: "t", QoS: packet.QoS1, Payload: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	if p, ok := rc.next(t).(*packet.Publish); !ok || p.Dup {
		t.Fatalf("got %v, want the PUBLISH", p)
	}
	rc.Close() // not acknowledged
	<-k.closed

	connect.CleanStart = false
	rc = &raw{Conn: dialRaw(t, addr), v: packet.V5}
	rc.r = bufio.NewReader(rc)
	rc.send(t, connect)
	if p, ok := rc.next(t).(*packet.Connack); !ok || !p.SessionPresent {
		t.Fatalf("got %v, want CONNACK with a session present", p)
	}
	if p, ok := rc.next(t).(*packet.Publish); !ok || !p.Dup || string(p.Payload) != "hello" {
		t.Fatalf("got %v, want the PUBLISH again, DUP", p)
	}
}
