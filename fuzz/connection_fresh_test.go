package fuzz

import (
	"testing"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// FuzzServerRecvFresh and FuzzClientRecvFresh drive Connection.Recv from
// the start of a connection: a new server given arbitrary bytes (it answers
// each CONNECT it delivers with a CONNACK, a refusal when bit 1 of mode is
// set, and each AUTH with an AUTH that continues), and a client that has
// sent its CONNECT (version and options from mode, an Authentication
// Method when bit 2 is set) given arbitrary bytes where its CONNACK should
// be. Chunks and invariants are those of FuzzServerRecv.
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzServerRecvFresh$' -fuzztime 2m
//	go test ./fuzz -run '^$' -fuzz '^FuzzClientRecvFresh$' -fuzztime 2m
func FuzzServerRecvFresh(f *testing.F) {
	for mode := range byte(4) {
		v := connVersion(mode)
		connect := &packet.Connect{ClientID: "f", KeepAlive: 30, CleanStart: true}
		if v == packet.V5 {
			connect.Props = property.Properties{ReceiveMaximum: 3, TopicAliasMaximum: 2}
		}
		hello := connEncode(f, v, connect)
		f.Add(mode, []byte{}, hello)
		f.Add(mode, []byte{1, 1, 3}, append(hello, connEncode(f, v, connServerSeed()...)...))
		f.Add(mode, []byte{}, connEncode(f, v, &packet.Connect{KeepAlive: 1}))
	}
	auth := &packet.Connect{ClientID: "a", CleanStart: true,
		Props: property.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("c")}}
	f.Add(byte(0), []byte{}, connEncode(f, packet.V5, auth, &packet.Auth{Reason: packet.ContinueAuthentication,
		Props: property.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("c2")}}))
	f.Add(byte(0), []byte{}, []byte{0x10, 0x00})                    // empty CONNECT
	f.Add(byte(0), []byte{2}, []byte{0x10, 0xff, 0xff, 0xff, 0x7f}) // oversize CONNECT
	f.Fuzz(func(t *testing.T, mode byte, cuts, data []byte) {
		h := &connHarness{t: t, c: newRecorder[uint16](mqtt.RoleServer, connConfig(mode&^1)), mode: mode}
		h.feed(cuts, data)
	})
}

func FuzzClientRecvFresh(f *testing.F) {
	for mode := range byte(8) {
		v := connVersion(mode)
		var connack packet.Packet = &packet.Connack{}
		if mode&2 != 0 {
			connack = &packet.Connack{Reason: packet.NotAuthorized}
			if v == packet.V311 {
				connack = &packet.Connack{Reason: packet.RefusedNotAuthorized}
			}
		}
		f.Add(mode, []byte{}, connEncode(f, v, connack))
		f.Add(mode, []byte{1, 2}, connEncode(f, v, append([]packet.Packet{connack}, connClientSeed(v)...)...))
	}
	f.Add(byte(4), []byte{}, connEncode(f, packet.V5,
		&packet.Auth{Reason: packet.ContinueAuthentication, Props: property.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("s")}},
		&packet.Connack{Props: property.Properties{AuthMethod: "SCRAM-SHA-1"}}))
	f.Add(byte(0), []byte{}, connEncode(f, packet.V5, &packet.Pingresp{})) // not a CONNACK
	f.Fuzz(func(t *testing.T, mode byte, cuts, data []byte) {
		v := connVersion(mode)
		cfg := connConfig(mode)
		cfg.Version = v
		h := &connHarness{t: t, c: newRecorder[uint16](mqtt.RoleClient, cfg), v: v, mode: mode}
		connect := &packet.Connect{ClientID: "f", KeepAlive: 30}
		if v == packet.V5 {
			connect.Props = property.Properties{ReceiveMaximum: 3, TopicAliasMaximum: 2, MaximumPacketSize: 4096}
			if mode&4 != 0 {
				connect.Props.AuthMethod, connect.Props.AuthData = "SCRAM-SHA-1", []byte("c")
			}
		}
		connPersist(mode, connect)
		h.send(connect)
		h.feed(cuts, data)
	})
}

// freshConnack is the fresh server's answer to a CONNECT: a success, or a
// refusal when bit 1 of mode is set.
func freshConnack(mode byte, c *packet.Connect) *packet.Connack {
	if mode&2 != 0 {
		if c.Version == packet.V5 {
			return &packet.Connack{Reason: packet.NotAuthorized}
		}
		return &packet.Connack{Reason: packet.RefusedNotAuthorized}
	}
	ack := &packet.Connack{}
	if c.Version == packet.V5 {
		if c.ClientID == "" {
			ack.Props.AssignedClientID = "assigned"
		}
		ack.Props.AuthMethod = c.Props.AuthMethod
	}
	return ack
}
