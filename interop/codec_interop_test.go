package interop

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	paho "github.com/eclipse/paho.golang/packets"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	mochi "github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqttcore/mqtt/packet"
)

// The interop tests run every case of interopCases (cases_test.go) against
// each peer that speaks it, in three subtests:
//
//   - bytes: our encoding equals the peer's, or, where the case says why
//     the peer legitimately differs (property order, non-shortest acks), it
//     does differ;
//   - <peer>-to-ours: the peer's bytes decode with ours into the packet the
//     case describes;
//   - ours-to-<peer>: our bytes decode with the peer into that packet.
//
// Known peer bugs are written into the case (encodeBug, decodeBug); the test
// then asserts that the bug still shows, so that every note stays true.

// peer is one peer's side of a case: its own struct for the packet, and
// notes on how it departs from ours.
type peer[P any] struct {
	pkt P
	// differs says why the peer's encoding legitimately differs from ours;
	// empty means the bytes must be equal.
	differs string
	// encodeBug says what the peer's encoder loses of what its struct holds.
	encodeBug string
	// decodeBug says how the peer misreads our valid encoding.
	decodeBug string
	// anyBytes leaves the bytes uncompared (random cases for a peer whose
	// property order is not ours).
	anyBytes bool
}

func (p *peer[P]) differ(why string) *peer[P]    { p.differs = why; return p }
func (p *peer[P]) badEncode(why string) *peer[P] { p.encodeBug = why; return p }
func (p *peer[P]) badDecode(why string) *peer[P] { p.decodeBug = why; return p }

func withPaho(p paho.Packet) *peer[paho.Packet]      { return &peer[paho.Packet]{pkt: p} }
func withMochi(p *mochi.Packet) *peer[*mochi.Packet] { return &peer[*mochi.Packet]{pkt: p} }

// interopCase is one packet as ours and as each peer able to express it
// builds it. A nil peer does not take part (paho.golang speaks only v5).
type interopCase struct {
	name  string
	v     packet.Version
	ours  packet.Packet
	paho  *peer[paho.Packet]
	mochi *peer[*mochi.Packet]
}

// codec is how the driver reaches one peer.
type codec[P any] struct {
	name      string
	encode    func(P) ([]byte, error)
	decode    func(v packet.Version, wire []byte) (packet.Packet, error) // decode with the peer, translate to ours
	translate func(P) packet.Packet
}

var pahoCodec = codec[paho.Packet]{
	name:   "paho",
	encode: pahoEncode,
	decode: func(_ packet.Version, wire []byte) (packet.Packet, error) {
		p, err := pahoDecode(wire)
		if err != nil {
			return nil, err
		}
		return fromPaho(p), nil
	},
	translate: fromPaho,
}

var mochiCodec = codec[*mochi.Packet]{
	name:   "mochi",
	encode: mochiEncode,
	decode: func(v packet.Version, wire []byte) (packet.Packet, error) {
		p, err := mochiDecode(v, wire)
		if err != nil {
			return nil, err
		}
		return fromMochi(p), nil
	},
	translate: fromMochi,
}

// eq compares packets: nil and empty slices are the same (each codec has
// its own habit for an absent list), and byte slices compare with
// bytes.Equal, which is fast on megabyte payloads and equates nil and empty
// as well.
var eq = cmp.Options{
	cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) }),
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().Type() != bytesType }, cmpopts.EquateEmpty()),
}

var bytesType = reflect.TypeOf([]byte(nil))

// decodeOurs decodes one whole packet of wire with our codec.
func decodeOurs(v packet.Version, wire []byte) (packet.Packet, error) {
	p, n, err := packet.Decode[uint16](v, wire, 0)
	if err == nil && n != len(wire) {
		return nil, fmt.Errorf("decoded %d of %d bytes", n, len(wire))
	}
	return p, err
}

func TestInteropPaho(t *testing.T) {
	for _, c := range interopCases() {
		if c.paho != nil {
			t.Run(c.name, func(t *testing.T) { runInterop(t, c, c.paho, pahoCodec) })
		}
	}
}

func TestInteropMochi(t *testing.T) {
	for _, c := range interopCases() {
		if c.mochi != nil {
			t.Run(c.name, func(t *testing.T) { runInterop(t, c, c.mochi, mochiCodec) })
		}
	}
}

func runInterop[P any](t *testing.T, c interopCase, pc *peer[P], cd codec[P]) {
	if d := cmp.Diff(c.ours, cd.translate(pc.pkt), eq); d != "" {
		t.Fatalf("table: the %s packet says something else than ours (-ours +%s):\n%s", cd.name, cd.name, d)
	}
	ours, err := c.ours.AppendTo(nil, c.v)
	if err != nil {
		t.Fatalf("our encode: %v", err)
	}
	if n := c.ours.Size(c.v); n != len(ours) {
		t.Errorf("our Size = %d, AppendTo wrote %d bytes", n, len(ours))
	}
	theirs, err := cd.encode(pc.pkt)
	if err != nil {
		t.Fatalf("%s encode: %v", cd.name, err)
	}

	t.Run("bytes", func(t *testing.T) {
		if pc.anyBytes {
			t.Skip(pc.differs)
		}
		same := bytes.Equal(ours, theirs)
		switch {
		case pc.differs == "" && pc.encodeBug == "":
			if !same {
				t.Errorf("encodings differ\nours:  % x\n%-6s % x", ours, cd.name+":", theirs)
			}
		case same:
			t.Errorf("encodings are equal, but the case says they differ (%s%s): update the note\nbytes: % x",
				pc.differs, pc.encodeBug, ours)
		default:
			t.Logf("differ as expected: %s%s\nours:  % x\n%-6s % x", pc.differs, pc.encodeBug, ours, cd.name+":", theirs)
		}
	})

	t.Run(cd.name+"-to-ours", func(t *testing.T) {
		got, err := decodeOurs(c.v, theirs)
		if pc.encodeBug != "" {
			if err == nil && cmp.Diff(c.ours, got, eq) == "" {
				t.Errorf("known %s encoder bug no longer shows: %s", cd.name, pc.encodeBug)
			}
			return
		}
		if err != nil {
			t.Fatalf("our decode of % x: %v", theirs, err)
		}
		if d := cmp.Diff(c.ours, got, eq); d != "" {
			t.Errorf("our decode of % x (-want +got):\n%s", theirs, d)
		}
	})

	t.Run("ours-to-"+cd.name, func(t *testing.T) {
		got, err := cd.decode(c.v, ours)
		if pc.decodeBug != "" {
			if err == nil && cmp.Diff(c.ours, got, eq) == "" {
				t.Errorf("known %s decoder bug no longer shows: %s", cd.name, pc.decodeBug)
			} else {
				t.Logf("known %s decoder bug: %s (err=%v)", cd.name, pc.decodeBug, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s decode of % x: %v", cd.name, ours, err)
		}
		if d := cmp.Diff(c.ours, got, eq); d != "" {
			t.Errorf("%s decode of % x (-want +got):\n%s", cd.name, ours, d)
		}
	})
}

// TestInteropStream feeds every packet a peer encoded, concatenated into one
// stream per protocol version, through a single packet.Decoder, which
// decodes each packet into a value it reuses: a field left over from an
// earlier packet of the same type would show here.
func TestInteropStream(t *testing.T) {
	t.Run("paho", func(t *testing.T) {
		runStream(t, packet.V5, pahoCodec, func(c interopCase) *peer[paho.Packet] { return c.paho })
	})
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		t.Run("mochi/"+map[packet.Version]string{packet.V5: "v5", packet.V311: "v3.1.1"}[v], func(t *testing.T) {
			runStream(t, v, mochiCodec, func(c interopCase) *peer[*mochi.Packet] { return c.mochi })
		})
	}
}

func runStream[P any](t *testing.T, v packet.Version, cd codec[P], pick func(interopCase) *peer[P]) {
	var stream []byte
	var want []interopCase
	for _, c := range interopCases() {
		pc := pick(c)
		same := c.v == v || v == packet.V311 && c.v == packet.V31
		if pc == nil || !same || pc.encodeBug != "" {
			continue
		}
		b, err := cd.encode(pc.pkt)
		if err != nil {
			t.Fatalf("%s: %s encode: %v", c.name, cd.name, err)
		}
		stream = append(stream, b...)
		want = append(want, c)
	}
	if _, ok := want[0].ours.(*packet.Connect); !ok {
		t.Fatalf("the stream must open with a CONNECT, not %s", want[0].name)
	}
	var d packet.Decoder[uint16] // learns the version from the first CONNECT, as a server does
	for i, c := range want {
		p, n, err := d.Decode(stream)
		if err != nil || n == 0 {
			t.Fatalf("packet %d (%s): n=%d err=%v", i, c.name, n, err)
		}
		if diff := cmp.Diff(c.ours, p, eq); diff != "" {
			t.Errorf("packet %d (%s) (-want +got):\n%s", i, c.name, diff)
		}
		stream = stream[n:]
		if i == 0 && d.Version != c.v {
			t.Errorf("the decoder learnt version %v from %s, want %v", d.Version, c.name, c.v)
		}
	}
	if len(stream) != 0 {
		t.Errorf("%d bytes left over", len(stream))
	}
}
