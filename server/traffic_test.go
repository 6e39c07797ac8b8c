package server_test

import (
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// Traffic counts the bytes of each packet read and written: a CONNECT in
// and its CONNACK out, then a PINGREQ in and its PINGRESP out.
func TestTraffic(t *testing.T) {
	srv, addr := start(t, server.Config{Handler: newRecorder()})
	if got := srv.Traffic(); got != (server.Traffic{}) {
		t.Fatalf("before any client: %+v", got)
	}
	connect := &packet.Connect{ClientID: "counted", CleanStart: true, KeepAlive: 60}
	in := size(t, connect, packet.V5)
	rc := handshake(t, dialRaw(t, addr), packet.V5, connect)
	out := size(t, &packet.Connack{}, packet.V5) // the recorder's CONNACK has no properties
	waitTraffic(t, srv, server.Traffic{BytesIn: uint64(in), BytesOut: uint64(out)})

	rc.send(t, &packet.Pingreq{})
	if p, ok := rc.next(t).(*packet.Pingresp); !ok {
		t.Fatalf("got %v, want PINGRESP", p)
	}
	waitTraffic(t, srv, server.Traffic{BytesIn: uint64(in + 2), BytesOut: uint64(out + 2)})
}

func size(t *testing.T, p packet.Packet, v packet.Version) int {
	t.Helper()
	b, err := p.AppendTo(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// waitTraffic waits for the server's counts to be want: a write is
// counted once it returns, which may be after the client has read it.
func waitTraffic(t *testing.T, srv *server.Server, want server.Traffic) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := srv.Traffic()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Traffic %+v, want %+v", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}
