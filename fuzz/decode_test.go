package fuzz

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// exactBytes compares byte slices in one call, nil and empty apart.
var exactBytes = cmp.Comparer(func(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
})

// reusedLists equates nil and empty lists, but not byte slices, where the
// codec tells nil (absent) from empty (present).
var reusedLists = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().Type() != reflect.TypeFor[[]byte]()
}, cmpopts.EquateEmpty())

// diff returns "" when a and b are equal, else cmp's report of how they
// differ. reflect.DeepEqual settles the common case cheaply: it tells nil
// from empty as exactBytes does, so when it says equal cmp would too.
func diff(a, b any, opts ...cmp.Option) string {
	if reflect.DeepEqual(a, b) {
		return ""
	}
	return cmp.Diff(a, b, append(opts, exactBytes)...)
}

func FuzzDecodeV5(f *testing.F) {
	addSeeds(f, packet.V5, false)
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode[uint16](t, packet.V5, data) })
}

func FuzzDecodeV311(f *testing.F) {
	addSeeds(f, packet.V311, false)
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode[uint16](t, packet.V311, data) })
}

func FuzzDecodeID32(f *testing.F) {
	addSeeds(f, packet.V5, true)
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode[uint32](t, packet.V5, data) })
}

// FuzzFrame frames a stream with the size limit max (any int: 0 and
// negative values mean the protocol's limit) and decodes it with a Decoder
// whose version is chosen by mode: learned from CONNECT, 3.1.1 or 5.0.
func FuzzFrame(f *testing.F) {
	for i, s := range streamSeeds() {
		for _, max := range []int{0, -1, 2, 5, 64, 300, len(s), len(s) - 1, packet.MaxPacketSize + 1} {
			if i%3 == 0 || max == 0 || max == len(s) {
				f.Add(s, max, byte(i))
			}
		}
	}
	f.Fuzz(checkStream)
}

// checkDecode decodes one packet of version v with identifiers of type ID
// and checks the invariants of the package documentation on it.
func checkDecode[ID packetid.ID](t *testing.T, v packet.Version, data []byte) {
	buf := append([]byte(nil), data...) // ours to spoil, below
	p, n, err := packet.Decode[ID](v, buf, 0)
	if !bytes.Equal(buf, data) {
		t.Fatalf("Decode modified its input")
	}
	if err != nil {
		checkError(t, err)
		return
	}
	h, need, ferr := packet.Frame(data, 0)
	if n == 0 {
		if p != nil || ferr != nil || need <= 0 {
			t.Fatalf("Decode wants more bytes, Frame says need %d, %v", need, ferr)
		}
		return
	}
	if ferr != nil || need != 0 || h.Size() != n || h.Type != p.Type() {
		t.Fatalf("Decode took %d bytes of a %v, Frame says %+v, need %d, %v", n, p.Type(), h, need, ferr)
	}

	// The stream Decoder agrees with Decode.
	dec := packet.Decoder[ID]{Version: v}
	dp, dn, derr := dec.Decode(data)
	if derr != nil || dn != n {
		t.Fatalf("Decoder: n = %d, %v; Decode took %d bytes", dn, derr, n)
	}
	if d := diff(p, dp); d != "" {
		t.Fatalf("Decoder and Decode differ (-Decode +Decoder):\n%s", d)
	}
	checkStable[ID](t, v, p, data[:n])

	// A CONNECT names its version: the decoder's does not matter.
	if _, ok := p.(*packet.Connect); ok {
		other := packet.V5
		if v == packet.V5 {
			other = packet.V311
		}
		op, _, err := packet.Decode[ID](other, data, 0)
		if d := diff(p, op); err != nil || d != "" {
			t.Fatalf("CONNECT decodes differently in %v and %v: %v\n%s", v, other, err, d)
		}
	}

	// A clone shares nothing with the decoded bytes: spoiling them leaves
	// it equal to the packet they held.
	if m := reflect.ValueOf(p).MethodByName("Clone"); m.IsValid() {
		c := m.Call(nil)[0].Interface()
		for i := range buf {
			buf[i] ^= 0xFF
		}
		fresh, _, err := packet.Decode[ID](v, data, 0)
		if d := diff(fresh, c); err != nil || d != "" {
			t.Fatalf("clone of a %v changed with the bytes it was decoded from: %v\n%s", p.Type(), err, d)
		}
	}
}

// checkStable checks that p, decoded from wire in version v, encodes to
// Size bytes, and that the encoding decodes to p and encodes again to the
// same bytes.
func checkStable[ID packetid.ID](t *testing.T, v packet.Version, p packet.Packet, wire []byte) {
	ev := v
	if c, ok := p.(*packet.Connect); ok {
		ev = c.Version // a CONNECT names its own version
	}
	e1, err := p.AppendTo(nil, ev)
	if err != nil {
		t.Fatalf("%v decoded from\n% x\ndoes not encode: %v\n%+v", p.Type(), wire, err, p)
	}
	if size := p.Size(ev); len(e1) != size {
		t.Fatalf("encoding of %v is %d bytes, Size says %d", p.Type(), len(e1), size)
	}
	if len(e1) > len(wire) {
		// The encoder writes the shortest form; it may drop what the
		// wire spelled out (an empty property list, a Success reason)
		// but never needs more bytes than the input.
		t.Fatalf("encoding of %v is %d bytes, longer than the %d decoded", p.Type(), len(e1), len(wire))
	}
	p2, n2, err := packet.Decode[ID](v, e1, 0)
	if err != nil || n2 != len(e1) {
		t.Fatalf("%v decoded from\n% x\nencodes as\n% x\nwhich does not decode: n = %d, %v", p.Type(), wire, e1, n2, err)
	}
	if d := diff(p, p2); d != "" {
		t.Fatalf("decode(encode(p)) != p for p decoded from\n% x\n(-p +again):\n%s", wire, d)
	}
	e2, err := p2.AppendTo(nil, ev)
	if err != nil || !bytes.Equal(e1, e2) {
		t.Fatalf("second encoding differs: %v\n% x\n% x", err, e1, e2)
	}
}

// checkError checks that a decoding error maps to a reason code.
func checkError(t *testing.T, err error) {
	code, ok := packet.ReasonOf(err)
	if !ok {
		t.Fatalf("error %q (%T) maps to no reason code", err, err)
	}
	if !code.IsError() {
		t.Fatalf("error %q maps to reason code 0x%02X, which is not an error code", err, byte(code))
	}
}

// checkStream frames data as a stream of packets with the size limit max,
// decoding each with a Decoder of the version mode selects.
func checkStream(t *testing.T, data []byte, max int, mode byte) {
	limit := max
	if limit <= 0 || limit > packet.MaxPacketSize {
		limit = packet.MaxPacketSize
	}
	d := packet.Decoder[uint16]{MaxSize: max}
	switch mode % 3 {
	case 1:
		d.Version = packet.V311
	case 2:
		d.Version = packet.V5
	} // else learn it from CONNECT, as a server does
	decoding := true
	for rest := data; len(rest) > 0; {
		h, need, err := packet.Frame(rest, max)
		if err != nil {
			checkError(t, err)
			var tl *packet.TooLargeError
			if errors.As(err, &tl) && (tl.Max != limit || tl.Size <= limit) {
				t.Fatalf("TooLargeError{Size: %d, Max: %d} with the limit %d", tl.Size, tl.Max, limit)
			}
			if decoding {
				if _, n, derr := d.Decode(rest); derr == nil || n != 0 {
					t.Fatalf("Frame refuses the stream (%v), Decoder gives n = %d, %v", err, n, derr)
				}
			}
			return
		}
		if need > 0 {
			if h.Len != 0 && (need != h.Size()-len(rest) || h.Size() > limit) {
				t.Fatalf("Frame: %+v, need %d with %d bytes and the limit %d", h, need, len(rest), limit)
			}
			if h.Len == 0 && len(rest) >= 5 {
				t.Fatalf("Frame wants more than %d bytes to read a fixed header", len(rest))
			}
			if decoding {
				if p, n, derr := d.Decode(rest); p != nil || n != 0 || derr != nil {
					t.Fatalf("Frame needs %d bytes more, Decoder gives n = %d, %v", need, n, derr)
				}
			}
			return
		}
		if h.Len < 2 || h.Len > 5 || h.Size() > len(rest) || h.Size() > limit ||
			h.Type != packet.Type(rest[0]>>4) || h.Flags != rest[0]&0x0F {
			t.Fatalf("Frame: %+v for a stream of %d bytes, limit %d", h, len(rest), limit)
		}
		// Every prefix of a whole packet is incomplete, not invalid, and
		// once its header is complete it reads the same header.
		for _, k := range []int{0, 1, h.Len - 1, h.Len, h.Size() - 1} {
			if k >= h.Size() {
				continue
			}
			ph, pneed, perr := packet.Frame(rest[:k], max)
			if perr != nil || pneed <= 0 || ph.Len != 0 && ph != h {
				t.Fatalf("Frame of the first %d bytes of %+v: %+v, need %d, %v", k, h, ph, pneed, perr)
			}
		}
		if decoding {
			version := d.Version
			p, n, derr := d.Decode(rest)
			switch {
			case derr != nil:
				checkError(t, derr)
				decoding = false // the connection would be closed here
			case n != h.Size():
				t.Fatalf("Decoder took %d bytes of a %d-byte packet", n, h.Size())
			default:
				if version == 0 {
					version = d.Version
				}
				// The Decoder's packets reuse their lists: compare it with
				// a new one, and check that one.
				fresh, _, err := packet.Decode[uint16](version, rest, max)
				if err != nil {
					t.Fatalf("Decoder decodes a %v that Decode refuses: %v", p.Type(), err)
				}
				if d := diff(fresh, p, reusedLists); d != "" {
					t.Fatalf("Decoder and Decode differ (-Decode +Decoder):\n%s", d)
				}
				checkStable[uint16](t, version, fresh, rest[:n])
			}
		}
		rest = rest[h.Size():]
	}
}
