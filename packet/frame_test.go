package packet_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mqttcore/mqtt/internal/testvectors"
	"github.com/mqttcore/mqtt/packet"
)

// streams returns the valid vectors grouped into one stream per protocol
// family: v5, and v3.1.1 with 3.1 (same wire format).
func streams() map[string][]testvectors.Vector {
	m := map[string][]testvectors.Vector{}
	for _, v := range testvectors.Valid {
		k := "v3.1.1"
		if v.Version == packet.V5 {
			k = "v5"
		}
		m[k] = append(m[k], v)
	}
	return m
}

func concat(vs []testvectors.Vector) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, v.Wire...)
	}
	return b
}

// framer is a minimal receiver: it buffers chunks and cuts whole packets
// off the front with Frame.
type framer struct {
	buf    []byte
	frames [][]byte
}

func (f *framer) feed(t *testing.T, chunk []byte) {
	t.Helper()
	f.buf = append(f.buf, chunk...)
	for {
		h, need, err := packet.Frame(f.buf, 0)
		if err != nil {
			t.Fatalf("Frame: %v", err)
		}
		if need > 0 {
			return
		}
		f.frames = append(f.frames, append([]byte(nil), f.buf[:h.Size()]...))
		f.buf = f.buf[h.Size():]
	}
}

func (f *framer) check(t *testing.T, vs []testvectors.Vector) {
	t.Helper()
	if len(f.buf) != 0 {
		t.Fatalf("%d bytes left over", len(f.buf))
	}
	if len(f.frames) != len(vs) {
		t.Fatalf("%d packets framed, want %d", len(f.frames), len(vs))
	}
	for i, v := range vs {
		if !bytes.Equal(f.frames[i], v.Wire) {
			t.Fatalf("packet %d (%s): framed % X, want % X", i, v.Name, f.frames[i], v.Wire)
		}
	}
}

// TestFrameSplitEverywhere concatenates the valid vectors of each version
// into one stream and checks that splitting it at every byte boundary, and
// feeding it one byte at a time, frames the same packets, which decode to
// the expected values.
func TestFrameSplitEverywhere(t *testing.T) {
	for name, vs := range streams() {
		stream := concat(vs)
		t.Run(name, func(t *testing.T) {
			for i := 0; i <= len(stream); i++ {
				var f framer
				f.feed(t, stream[:i])
				f.feed(t, stream[i:])
				f.check(t, vs)
			}
			for i := 0; i <= len(stream); i++ {
				for _, j := range []int{i + 1, i + 2, i + 7, (i + len(stream)) / 2} {
					if j > len(stream) {
						continue
					}
					var f framer
					f.feed(t, stream[:i])
					f.feed(t, stream[i:j])
					f.feed(t, stream[j:])
					f.check(t, vs)
				}
			}
			var f framer
			for i := range stream {
				f.feed(t, stream[i:i+1])
			}
			f.check(t, vs)
			for i, b := range f.frames {
				got, _, err := decodeVector(vs[i], b)
				if err != nil {
					t.Fatalf("%s: %v", vs[i].Name, err)
				}
				if diff := cmp.Diff(vs[i].Packet, got); diff != "" {
					t.Errorf("%s: decoded packet differs (-want +got):\n%s", vs[i].Name, diff)
				}
			}
		})
	}
}

// TestDecoderStreamOneByteAtATime feeds each stream to a Decoder of
// undetermined version, one byte at a time, as a server receives it: the
// Decoder learns the version from the first CONNECT and decodes every packet.
func TestDecoderStreamOneByteAtATime(t *testing.T) {
	for name, all := range streams() {
		var vs []testvectors.Vector
		for _, v := range all {
			if !v.ID32 {
				vs = append(vs, v)
			}
		}
		if _, ok := vs[0].Packet.(*packet.Connect); !ok {
			t.Fatalf("%s stream does not start with CONNECT", name)
		}
		stream := concat(vs)
		t.Run(name, func(t *testing.T) {
			var d packet.Decoder[uint16]
			var buf []byte
			next := 0
			for i := range stream {
				buf = append(buf, stream[i])
				for {
					p, n, err := d.Decode(buf)
					if err != nil {
						t.Fatalf("at byte %d: %v", i, err)
					}
					if n == 0 {
						break
					}
					v := vs[next]
					if n != len(v.Wire) {
						t.Fatalf("%s: took %d bytes, want %d", v.Name, n, len(v.Wire))
					}
					// The Decoder reuses its slices, so an empty list may be
					// non-nil.
					if diff := cmp.Diff(v.Packet, p, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("%s: decoded packet differs (-want +got):\n%s", v.Name, diff)
					}
					next++
					buf = buf[n:]
				}
			}
			if next != len(vs) || len(buf) != 0 {
				t.Fatalf("decoded %d packets with %d bytes left, want %d and 0", next, len(buf), len(vs))
			}
			if want := vs[0].Packet.(*packet.Connect).Version; d.Version != want {
				t.Errorf("Decoder.Version = %v, want %v", d.Version, want)
			}
		})
	}
}

// TestFrameNeed checks Frame's contract for incomplete input: h.Len == 0
// while the fixed header is incomplete, else a valid header and exactly the
// number of missing bytes.
func TestFrameNeed(t *testing.T) {
	if h, need, err := packet.Frame(nil, 0); err != nil || need < 1 || h.Len != 0 {
		t.Errorf("Frame(nil) = %+v, %d, %v", h, need, err)
	}
	for _, v := range testvectors.Valid {
		hdr := 2
		for v.Wire[hdr-1]&0x80 != 0 {
			hdr++
		}
		for i := 0; i <= len(v.Wire); i++ {
			h, need, err := packet.Frame(v.Wire[:i], 0)
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", v.Name, i, err)
			}
			switch {
			case i < hdr:
				if h.Len != 0 || need < 1 || i+need > len(v.Wire) {
					t.Fatalf("%s, %d bytes: Frame = %+v, need %d; want no header and need in [1, %d]",
						v.Name, i, h, need, len(v.Wire)-i)
				}
			default:
				want := packet.Header{Type: packet.Type(v.Wire[0] >> 4), Flags: v.Wire[0] & 0x0F,
					Remaining: len(v.Wire) - hdr, Len: hdr}
				if h != want || need != len(v.Wire)-i {
					t.Fatalf("%s, %d bytes: Frame = %+v, need %d; want %+v, need %d",
						v.Name, i, h, need, want, len(v.Wire)-i)
				}
			}
		}
		// bytes after the packet belong to the next one
		h, need, err := packet.Frame(append(append([]byte(nil), v.Wire...), 0xC0, 0x00), 0)
		if err != nil || need != 0 || h.Size() != len(v.Wire) {
			t.Errorf("%s followed by PINGREQ: Frame = %+v, %d, %v", v.Name, h, need, err)
		}
	}
}

// TestFrameEarlyErrors checks that a bad fixed header is refused as soon as
// the offending byte arrives, without waiting for the rest of the packet.
func TestFrameEarlyErrors(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
	}{
		{"MQTT-2.1.3-1/reserved type 0, one byte", []byte{0x00}},
		{"MQTT-2.1.3-1/pubrel flags 0000, one byte", []byte{0x60}},
		{"MQTT-3.3.1-4/publish QoS 3, one byte", []byte{0x36}},
		{"MQTT-1.5.5-1/remaining length with 4 continuation bytes", []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF}},
		{"MQTT-1.5.5-1/remaining length not minimal, no body", []byte{0x30, 0x80, 0x00}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, need, err := packet.Frame(c.b, 0)
			if err == nil || need != 0 {
				t.Fatalf("Frame = need %d, %v; want an error", need, err)
			}
			if !errors.Is(err, packet.ErrMalformed) {
				t.Errorf("Frame: %v is not malformed", err)
			}
		})
	}
}

// TestFrameTooLarge checks that a packet over the caller's maximum is
// refused from its fixed header alone, before its body is buffered.
func TestFrameTooLarge(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		max  int
		size int
	}{
		{"publish of 130 bytes, max 129", []byte{0x30, 0x80, 0x01}, 129, 131},
		{"publish of 11 bytes, max 10", []byte{0x30, 0x09}, 10, 11},
		{"pingreq over max 1", []byte{0xC0, 0x00}, 1, 2},
		{"largest packet, max 1 MiB", []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, 1 << 20, packet.MaxPacketSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, need, err := packet.Frame(c.b, c.max)
			var tl *packet.TooLargeError
			if !errors.As(err, &tl) || need != 0 {
				t.Fatalf("Frame = need %d, %v; want a *TooLargeError", need, err)
			}
			if tl.Size != c.size || tl.Max != c.max {
				t.Errorf("TooLargeError{Size: %d, Max: %d}, want {%d, %d}", tl.Size, tl.Max, c.size, c.max)
			}
			if code, ok := packet.ReasonOf(err); !ok || code != packet.PacketTooLarge || !errors.Is(err, packet.ErrPacketTooLarge) {
				t.Errorf("ReasonOf(%v) = 0x%02X, %v; want 0x95", err, byte(code), ok)
			}
			d := packet.Decoder[uint16]{Version: packet.V5, MaxSize: c.max}
			if _, n, err := d.Decode(c.b); !errors.As(err, &tl) || n != 0 {
				t.Errorf("Decoder.Decode = %d, %v; want a *TooLargeError", n, err)
			}
			if _, n, err := packet.Decode[uint32](packet.V311, c.b, c.max); !errors.As(err, &tl) || n != 0 {
				t.Errorf("Decode = %d, %v; want a *TooLargeError", n, err)
			}
		})
	}
	// at the limit: accepted (and incomplete here)
	if _, need, err := packet.Frame([]byte{0x30, 0x09}, 11); err != nil || need != 9 {
		t.Errorf("packet of exactly max bytes: need %d, %v; want 9, nil", need, err)
	}
	// max 0 or above the protocol's limit means the protocol's limit
	for _, max := range []int{0, -1, packet.MaxPacketSize + 1} {
		if _, need, err := packet.Frame([]byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, max); err != nil || need != packet.MaxPacketSize-5 {
			t.Errorf("max %d: need %d, %v; want %d, nil", max, need, err, packet.MaxPacketSize-5)
		}
	}
}

// hugeHeader is the fixed header of a PUBLISH declaring the largest
// Remaining Length, 268,435,455 bytes, with no body.
var hugeHeader = []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}

// bytesPerRun returns the average number of bytes f allocates per call.
func bytesPerRun(runs int, f func()) float64 {
	f() // warm up
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(runs)
}

// TestHugeDeclaredLengthAllocatesLittle measures what a 5-byte input that
// declares a 268,435,455-byte packet costs: Frame and the decoders report it
// incomplete (no limit) or refuse it (with a limit) allocating at most a few
// hundred bytes, never the declared size.
func TestHugeDeclaredLengthAllocatesLittle(t *testing.T) {
	const maxBytes = 256 // per call
	const runs = 1000
	d := &packet.Decoder[uint16]{Version: packet.V5}
	dMax := &packet.Decoder[uint16]{Version: packet.V5, MaxSize: 1 << 16}
	cases := []struct {
		name      string
		f         func() (int, error)
		wantError bool
	}{
		{"Frame without limit", func() (int, error) { _, need, err := packet.Frame(hugeHeader, 0); return need, err }, false},
		{"Frame with a 64 KiB limit", func() (int, error) { _, need, err := packet.Frame(hugeHeader, 1<<16); return need, err }, true},
		{"Decoder.Decode without limit", func() (int, error) { _, n, err := d.Decode(hugeHeader); return n, err }, false},
		{"Decoder.Decode with a 64 KiB limit", func() (int, error) { _, n, err := dMax.Decode(hugeHeader); return n, err }, true},
		{"Decode without limit", func() (int, error) { _, n, err := packet.Decode[uint16](packet.V5, hugeHeader, 0); return n, err }, false},
		{"Decode with a 64 KiB limit", func() (int, error) {
			_, n, err := packet.Decode[uint16](packet.V311, hugeHeader, 1<<16)
			return n, err
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := c.f()
			if c.wantError {
				if !errors.Is(err, packet.ErrPacketTooLarge) {
					t.Fatalf("got %d, %v; want packet too large", n, err)
				}
			} else if err != nil || (c.name == "Frame without limit" && n != packet.MaxRemainingLength) {
				t.Fatalf("got %d, %v; want incomplete", n, err)
			}
			allocs := testing.AllocsPerRun(runs, func() { c.f() })
			perRun := bytesPerRun(runs, func() { c.f() })
			t.Logf("%.0f allocations, %.1f bytes per call", allocs, perRun)
			if allocs > 1 || perRun > maxBytes {
				t.Errorf("%.0f allocations, %.1f bytes per call; want at most 1 and %d bytes", allocs, perRun, maxBytes)
			}
		})
	}
}

// BenchmarkFrameHugeDeclaredLength reports the cost of refusing the 5-byte
// header of a 268,435,455-byte packet.
func BenchmarkFrameHugeDeclaredLength(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := packet.Frame(hugeHeader, 1<<16); err == nil {
			b.Fatal("accepted")
		}
	}
}

// TestFrameForV31DUP: MQTT 3.1 lets a re-sent PUBREL, SUBSCRIBE or
// UNSUBSCRIBE set DUP (fixed-header flags 1010); 3.1.1 and 5.0 do not
// (MQTT-3.6.1-1, MQTT-3.8.1-1, MQTT-3.10.1-1 of 3.1.1). FrameFor and the
// decoders accept it for 3.1 only, and the packet decoded is the one without
// DUP.
func TestFrameForV31DUP(t *testing.T) {
	cases := []struct {
		name string
		p    packet.Packet
	}{
		{"MQTT-3.6.1-1 3.1.1 numbering/PUBREL", &packet.Pubrel{PacketID: 7}},
		{"MQTT-3.8.1-1 3.1.1 numbering/SUBSCRIBE", &packet.Subscribe{PacketID: 7, Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 1}}}},
		{"MQTT-3.10.1-1 3.1.1 numbering/UNSUBSCRIBE", &packet.Unsubscribe{PacketID: 7, Filters: []string{"a/#"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plain, err := c.p.AppendTo(nil, packet.V31)
			if err != nil {
				t.Fatal(err)
			}
			dup := append([]byte{plain[0] | 0x08}, plain[1:]...)
			for _, v := range []packet.Version{packet.V31, packet.V311, packet.V5} {
				_, _, ferr := packet.FrameFor(dup, 0, v)
				d := packet.Decoder[uint16]{Version: v}
				got, n, derr := d.Decode(dup)
				p2, n2, err2 := packet.Decode[uint16](v, dup, 0)
				if v != packet.V31 {
					if !errors.Is(ferr, packet.ErrMalformed) || !errors.Is(derr, packet.ErrMalformed) || !errors.Is(err2, packet.ErrMalformed) {
						t.Fatalf("%v accepts DUP: %v, %v, %v", v, ferr, derr, err2)
					}
					if _, _, err := packet.Frame(dup, 0); !errors.Is(err, packet.ErrMalformed) {
						t.Fatalf("Frame accepts DUP: %v", err)
					}
					// Nor does the decoder alone, given the flags.
					if err := packet.New[uint16](c.p.Type()).Decode(v, dup[0]&0x0F, dup[2:]); !errors.Is(err, packet.ErrMalformed) {
						t.Fatalf("%v decoder accepts DUP: %v", v, err)
					}
					continue
				}
				if ferr != nil || derr != nil || err2 != nil || n != len(dup) || n2 != len(dup) {
					t.Fatalf("3.1 refuses DUP: %v, %v, %v", ferr, derr, err2)
				}
				if !cmp.Equal(got, c.p, cmpopts.EquateEmpty()) || !cmp.Equal(p2, c.p, cmpopts.EquateEmpty()) {
					t.Fatalf("decoded %+v, want %+v", got, c.p)
				}
				// Other flags stay refused in 3.1.
				for _, f := range []byte{0x00, 0x03, 0x0B, 0x0E} {
					bad := append([]byte{plain[0]&0xF0 | f}, plain[1:]...)
					if _, _, err := packet.FrameFor(bad, 0, v); !errors.Is(err, packet.ErrMalformed) {
						t.Fatalf("flags %04b accepted: %v", f, err)
					}
				}
			}
		})
	}
}
