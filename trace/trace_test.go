package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/mqtttest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"pgregory.net/rapid"
)

// TestKnownFault replays the client of a session that TestRandomSessions
// recorded with Config.OfflineQueue on (seed 24), which panicked in drain
// on the CONNACK: offline, the client queued PUBLISH packets that named
// their topic by a Topic Alias alone, and the queue kept them without an
// encoding. The file holds that run's calls, recorded again on the fixed
// Connection (the recording that panicked is in the history of this
// file): the replay gets through the CONNACK, and each of those PUBLISH
// packets is refused with ErrAliasUnmapped.
func TestKnownFault(t *testing.T) {
	b, err := os.ReadFile("testdata/offline-queue-panic.trace")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(tr); err != nil {
		t.Fatalf("the replay: %v", err)
	}
	var refused int
	connack := false
	for i, r := range tr.Records {
		switch {
		case r.Kind == KindReturn && r.Text == mqtt.ErrAliasUnmapped.Error() &&
			tr.Records[i-1].Kind == KindSend:
			refused++
		case r.Kind == KindEvent && r.Event.Kind == mqtt.EventPacket && packetName(r.Event.Packet) == "CONNACK":
			connack = true
		}
	}
	if refused != 2 || !connack {
		t.Fatalf("%d alias-only PUBLISH packets refused offline (want 2), CONNACK received %v", refused, connack)
	}
}

// TestPacketValues: every packet of package packet, valid or not (random
// fields, identifier 0, DUP on QoS 0), comes back from its packet value
// as the same Go value, for both identifier widths; a packet of the other
// width comes back as a stand-in of its type.
func TestPacketValues(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		if rapid.Bool().Draw(t, "wide") {
			packetValueRoundTrip[uint32](t)
		} else {
			packetValueRoundTrip[uint16](t)
		}
	})
}

func packetValueRoundTrip[ID packetid.ID](t *rapid.T) {
	v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(t, "version")
	p := mqtttest.Packet[ID](mqtttest.Options{Version: v}).Draw(t, "packet")
	if pub, ok := p.(*packet.PublishOf[ID]); ok {
		pub.PacketID = rapid.SampledFrom([]ID{0, pub.PacketID}).Draw(t, "id")
		pub.Dup = rapid.Bool().Draw(t, "dup")
		pub.QoS = packet.QoS(rapid.IntRange(0, 3).Draw(t, "qos"))
	}
	size := packetid.Size[ID]()
	b := appendPacket(nil, p, size)
	got, err := decodePacket[ID](b)
	if err != nil {
		t.Fatalf("%v: %v", p.Type(), err)
	}
	if !equalValues(got, p) {
		t.Fatalf("%v came back as %#v, not %#v", p.Type(), got, p)
	}
	other := 6 - size // the other width
	f, err := decodePacket[ID](appendPacket(nil, p, other))
	if err != nil || f.Type() != p.Type() {
		t.Fatalf("a packet of the other width: %v, %v", f, err)
	}
	if _, ok := f.(*foreign); !ok && packetType(p.Type(), 2) != packetType(p.Type(), 4) {
		t.Fatalf("a packet of the other width came back as %T", f)
	}
}

// equalValues compares two packets by their packet values, which hold
// every field.
func equalValues(a, b packet.Packet) bool {
	return bytes.Equal(appendPacket(nil, a, 2), appendPacket(nil, b, 2))
}

// TestPacketLayout pins the layout of the packet structs that packet
// values follow (testdata/packet-layout.txt): a change to a struct of
// package packet changes what a trace of this format's version means, and
// must come with a new Version.
func TestPacketLayout(t *testing.T) {
	var b strings.Builder
	seen := map[reflect.Type]bool{}
	for ty := packet.TypeConnect; ty <= packet.TypeAuth; ty++ {
		for _, size := range []int{2, 4} {
			elem := packetType(ty, size).Elem()
			b.WriteString(elem.String() + " ")
			describe(&b, elem, seen)
			b.WriteByte('\n')
			// Every kind of field has an encoding and a decoding.
			if size == 2 {
				if _, err := decodePacket[uint16](appendPacket(nil, packet.New[uint16](ty), 2)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	want, err := os.ReadFile("testdata/packet-layout.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Fatalf("the packet structs changed: a new trace format Version is due "+
			"(then write this layout to testdata/packet-layout.txt):\n%s", got)
	}
}

// describe writes the fields of type ty, a struct's once.
func describe(b *strings.Builder, ty reflect.Type, seen map[reflect.Type]bool) {
	switch ty.Kind() {
	case reflect.Struct:
		if seen[ty] {
			b.WriteString(ty.Name())
			return
		}
		seen[ty] = true
		b.WriteString(ty.Name() + "{")
		for i := range ty.NumField() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ty.Field(i).Name + " ")
			describe(b, ty.Field(i).Type, seen)
		}
		b.WriteString("}")
	case reflect.Slice:
		b.WriteString("[]")
		describe(b, ty.Elem(), seen)
	default:
		b.WriteString(ty.Kind().String())
	}
}

// TestConfigRecorded: the start record holds every field of mqtt.Config
// (the functions as whether they are set; Trace is the recorder itself).
// A new field fails this test until the format records it.
func TestConfigRecorded(t *testing.T) {
	recorded := map[string]bool{"Version": true, "MaxPacketSize": true, "ConnectTimeout": true,
		"PingInterval": true, "PingTimeout": true, "QueueWhenQuotaExhausted": true, "MaxQueued": true,
		"OfflineQueue": true, "Journal": true, "Clock": true, "AssignClientID": true, "TopicAliases": true, "MaxOutgoingAliases": true,
		"ManualPuback": true, "ManualPubrec": true, "ManualPubrel": true, "ManualPubcomp": true,
		"ManualPingresp": true, "Trace": true}
	ty := reflect.TypeOf(mqtt.Config{})
	for i := range ty.NumField() {
		if !recorded[ty.Field(i).Name] {
			t.Errorf("mqtt.Config.%s is not in the start record", ty.Field(i).Name)
		}
	}
	cfg := mqtt.Config{Version: packet.V311, MaxPacketSize: -1, ConnectTimeout: 3, PingInterval: 4,
		PingTimeout: 5, QueueWhenQuotaExhausted: true, MaxQueued: 6, OfflineQueue: true, Journal: true,
		TopicAliases: mqtt.AliasAuto, MaxOutgoingAliases: 7, ManualPuback: true, ManualPubrec: true, ManualPubrel: true,
		ManualPubcomp: true, ManualPingresp: true}
	var b bytes.Buffer
	rec := NewRecorder(&b)
	rec.Start(mqtt.RoleServer, &cfg, 4)
	tr, err := Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Role != mqtt.RoleServer || tr.IDSize != 4 || tr.Clock || tr.AssignClientID ||
		fmt.Sprintf("%+v", tr.Config) != fmt.Sprintf("%+v", cfg) {
		t.Fatalf("came back as %v %d %+v", tr.Role, tr.IDSize, tr.Config)
	}
}

// TestOutOfRangeConfig: a start record whose outgoing topic alias maximum
// does not fit the field's 16 bits is refused with ErrFormat (FuzzTrace
// found it parsing to a value that encoded to other bytes).
func TestOutOfRangeConfig(t *testing.T) {
	for _, aliases := range []int64{-25, 1 << 16} {
		cfg := mqtt.Config{Version: packet.V5}
		b := appendStart(nil, mqtt.RoleClient, &cfg, 2)[1:] // no kind byte
		b = append(b[:len(b)-2], binary.AppendVarint(nil, aliases)...)
		b = append(b, 0)
		if _, err := parseStart(b); !errors.Is(err, ErrFormat) {
			t.Errorf("aliases %d: error %v, not ErrFormat", aliases, err)
		}
	}
	cfg := mqtt.Config{Version: packet.V5, MaxOutgoingAliases: 65535}
	if tr, err := parseStart(appendStart(nil, mqtt.RoleClient, &cfg, 2)[1:]); err != nil || tr.Config.MaxOutgoingAliases != 65535 {
		t.Fatalf("65535 came back as %v, %v", tr, err)
	}
}
