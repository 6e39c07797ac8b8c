package fuzz

import (
	"testing"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
)

// FuzzServerRecvFresh and FuzzClientRecvFresh drive Connection.Recv from
// the start of a connection: a new server given arbitrary bytes (it answers
// each CONNECT it delivers with a CONNACK, a refusal when bit 1 of mode is
// set, and each AUTH with an AUTH that continues), and a client that has
// sent its CONNECT (version and options from mode, an Authentication
// Method when bit 2 is set) given arbitrary bytes where its CONNACK should
// be. The identifier width (ids), the chunks and the invariants are those
// of FuzzServerRecv.
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzServerRecvFresh$' -fuzztime 2m
//	go test ./fuzz -run '^$' -fuzz '^FuzzClientRecvFresh$' -fuzztime 2m
func FuzzServerRecvFresh(f *testing.F) {
	addServerRecvFreshSeeds[uint16](f)
	addServerRecvFreshSeeds[uint32](f)
	auth := &packet.Connect{ClientID: "a", CleanStart: true,
		Props: property.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("c")}}
	f.Add(byte(0), byte(0), []byte{}, connEncode(f, packet.V5, auth, &packet.Auth{Reason: packet.ContinueAuthentication,
		Props: property.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("c2")}}))
	f.Add(byte(0), byte(0), []byte{}, []byte{0x10, 0x00})                    // empty CONNECT
	f.Add(byte(0), byte(0), []byte{2}, []byte{0x10, 0xff, 0xff, 0xff, 0x7f}) // oversize CONNECT
	f.Fuzz(func(t *testing.T, mode, ids byte, cuts, data []byte) {
		connFeed(t, mode, ids, cuts, data, freshServer[uint16], freshServer[uint32])
	})
}

func addServerRecvFreshSeeds[ID packetid.ID](f *testing.F) {
	ids := connIDs[ID]()
	for mode := range byte(4) {
		v := connVersion(mode)
		connect := &packet.Connect{ClientID: "f", KeepAlive: 30, CleanStart: true}
		if v == packet.V5 {
			connect.Props = property.Properties{ReceiveMaximum: 3, TopicAliasMaximum: 2}
		}
		hello := connEncode(f, v, connect)
		f.Add(mode, ids, []byte{}, hello)
		f.Add(mode, ids, []byte{1, 1, 3}, append(hello, connEncode(f, v, connServerSeed[ID]()...)...))
		f.Add(mode, ids, []byte{}, connEncode(f, v, &packet.Connect{KeepAlive: 1}))
	}
}

func freshServer[ID packetid.ID](t *testing.T, mode byte) *connHarness[ID] {
	return &connHarness[ID]{t: t, c: newRecorder[ID](mqtt.RoleServer, connConfig(mode&^1)), mode: mode}
}

func FuzzClientRecvFresh(f *testing.F) {
	addClientRecvFreshSeeds[uint16](f)
	addClientRecvFreshSeeds[uint32](f)
	f.Add(byte(4), byte(0), []byte{}, connEncode(f, packet.V5,
		&packet.Auth{Reason: packet.ContinueAuthentication, Props: property.Properties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("s")}},
		&packet.Connack{Props: property.Properties{AuthMethod: "SCRAM-SHA-1"}}))
	f.Add(byte(0), byte(0), []byte{}, connEncode(f, packet.V5, &packet.Pingresp{})) // not a CONNACK
	f.Fuzz(func(t *testing.T, mode, ids byte, cuts, data []byte) {
		connFeed(t, mode, ids, cuts, data, freshClient[uint16], freshClient[uint32])
	})
}

func addClientRecvFreshSeeds[ID packetid.ID](f *testing.F) {
	ids := connIDs[ID]()
	for mode := range byte(8) {
		v := connVersion(mode)
		var connack packet.Packet = &packet.Connack{}
		if mode&2 != 0 {
			connack = &packet.Connack{Reason: packet.NotAuthorized}
			if v == packet.V311 {
				connack = &packet.Connack{Reason: packet.RefusedNotAuthorized}
			}
		}
		f.Add(mode, ids, []byte{}, connEncode(f, v, connack))
		f.Add(mode, ids, []byte{1, 2}, connEncode(f, v, append([]packet.Packet{connack}, connClientSeed[ID](v)...)...))
	}
}

// freshClient is a client that has sent its CONNECT, with an
// Authentication Method when bit 2 of mode is set.
func freshClient[ID packetid.ID](t *testing.T, mode byte) *connHarness[ID] {
	return connConnecting[ID](t, mode, mode&4 != 0)
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
