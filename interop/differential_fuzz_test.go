package interop

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.golang/packets"
	"github.com/google/go-cmp/cmp"
	mochi "github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqttcore/mqtt/internal/testvectors"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// The differential fuzz targets give one whole packet to our decoder and to
// the decoders of paho.golang (MQTT 5.0 only) and mochi, and compare:
//
//   - both accept: the packets must be equal once mapped into a common form
//     (commonForm), or their difference must be a documented peer bug;
//   - one accepts, the other refuses: the disagreement must be explained by
//     a classifier of differential_explain_test.go, which names the rule of
//     the specification that makes us stricter or the peer bug at work.
//
// Anything else fails the target. A peer's panic is recovered and counts as
// a refusal (it is the peer's bug, classified like any refusal); ours is
// never recovered. To fuzz (one target at a time):
//
//	go test ./interop -run '^$' -fuzz '^FuzzDifferentialV5$' -fuzztime 10m -parallel 1
//	go test ./interop -run '^$' -fuzz '^FuzzDifferentialV311$' -fuzztime 10m -parallel 1
//
// A plain go test runs the seeds: internal/testvectors, the packets of the
// interop cases, and the regression inputs under testdata/fuzz/<Target>/.

// FuzzDifferentialV5 compares the decoders on packets of an MQTT 5.0 stream
// (a CONNECT of any version).
func FuzzDifferentialV5(f *testing.F) {
	for _, s := range differentialSeeds(packet.V5) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDifferential(t, packet.V5, data) })
}

// FuzzDifferentialV311 compares ours and mochi's decoder on packets of an
// MQTT 3.1.1 stream (a CONNECT of any version); paho.golang speaks 5.0 only.
func FuzzDifferentialV311(f *testing.F) {
	for _, s := range differentialSeeds(packet.V311) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDifferential(t, packet.V311, data) })
}

// TestDifferentialSeeds runs every seed of both targets, including the
// regression inputs, and checks that each classifier still explains at
// least one of them: a classifier that explains nothing any more describes
// a difference that has gone, and must be removed with its note.
func TestDifferentialSeeds(t *testing.T) {
	used := map[string]int{}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		seeds := differentialSeeds(v)
		seeds = append(seeds, corpusSeeds(t, "FuzzDifferential"+vname(v))...)
		for i, s := range seeds {
			for _, fd := range differential(t, v, s) {
				if fd.by == "" {
					t.Errorf("%s seed %d: %s", vname(v), i, fd)
					continue
				}
				used[fd.by]++
			}
		}
	}
	for _, c := range classifiers {
		if used[c.name] == 0 {
			t.Errorf("classifier %s explains no seed: is the difference gone?", c.name)
		} else {
			t.Logf("%-30s explains %d seed disagreements", c.name, used[c.name])
		}
	}
}

func vname(v packet.Version) string {
	if v == packet.V5 {
		return "V5"
	}
	return "V311"
}

// checkDifferential fails t on every unexplained disagreement about data.
func checkDifferential(t *testing.T, v packet.Version, data []byte) {
	for _, fd := range differential(t, v, data) {
		if fd.by == "" {
			t.Errorf("unexplained: %s", fd)
		}
	}
}

// outcome is what one decoder made of the packet: the packet, translated
// into ours for a peer, or the error. raw is the peer's own value.
type outcome struct {
	p   packet.Packet
	err error
	raw any
}

func (o outcome) accepted() bool { return o.err == nil }

// kind is the shape of a disagreement.
type kind int

const (
	weRefuse     kind = iota + 1 // we refuse, the peer accepts
	peerRefuses                  // we accept, the peer refuses (or panics)
	fieldsDiffer                 // both accept different packets
)

func (k kind) String() string {
	return map[kind]string{weRefuse: "we refuse, peer accepts", peerRefuses: "we accept, peer refuses",
		fieldsDiffer: "both accept, fields differ"}[k]
}

// disagreement is one peer's disagreement with us about one packet.
type disagreement struct {
	kind   kind
	v      packet.Version // the version the stream speaks
	wire   []byte         // the whole packet
	h      header         // its fixed header, as every decoder reads it
	peer   string         // "paho" or "mochi"
	ours   outcome
	theirs outcome
}

// body returns the packet's body: the bytes after the fixed header.
func (d *disagreement) body() []byte { return d.wire[d.h.len:] }

// finding is a disagreement and the classifier that explains it; by is
// empty when none does.
type finding struct {
	*disagreement
	by   string
	diff string
}

func (f finding) String() string {
	s := fmt.Sprintf("%s %v %s (%s): % x\n  ours:  %v", f.peer, f.v, f.h.typ, f.kind, f.wire, show(f.ours))
	s += fmt.Sprintf("\n  %-6s %v", f.peer+":", show(f.theirs))
	if f.diff != "" {
		s += "\n  (-ours +" + f.peer + "):\n" + f.diff
	}
	return s
}

func show(o outcome) string {
	if o.err != nil {
		return "error: " + o.err.Error()
	}
	return fmt.Sprintf("%s %s", o.p.Type(), brief(o.p))
}

// differential decodes the packet at the front of data (see wholePacket)
// with ours and each peer that speaks version v, and returns every
// disagreement with the classifier that explains it, if any.
func differential(t *testing.T, v packet.Version, data []byte) []finding {
	wire, h, ok := wholePacket(data)
	if !ok {
		return nil
	}
	ours := decodeOursChecked(t, v, wire)
	var out []finding
	if v == packet.V5 && pahoSpeaks(h, wire) {
		if fd, ok := compare(&disagreement{v: v, wire: wire, h: h, peer: "paho", ours: ours,
			theirs: decodePaho(wire)}); ok {
			out = append(out, fd)
		}
	}
	if fd, ok := compare(&disagreement{v: v, wire: wire, h: h, peer: "mochi", ours: ours,
		theirs: decodeMochi(v, wire)}); ok {
		out = append(out, fd)
	}
	return out
}

// compare returns the finding for d, and false when the two agree: both
// refuse, or both accept the same packet in the common form.
func compare(d *disagreement) (finding, bool) {
	fd := finding{disagreement: d}
	switch {
	case !d.ours.accepted() && !d.theirs.accepted():
		return fd, false
	case !d.ours.accepted():
		d.kind = weRefuse
	case !d.theirs.accepted():
		d.kind = peerRefuses
	default:
		a, b := commonForm(d.peer, d.ours.p), commonForm(d.peer, d.theirs.p)
		if cmp.Equal(a, b, eq) {
			return fd, false
		}
		d.kind, fd.diff = fieldsDiffer, cmp.Diff(a, b, eq)
	}
	fd.by = classify(d)
	return fd, true
}

// header is a fixed header as read without checks: type, flags, and where
// the body starts.
type header struct {
	typ   packet.Type
	flags byte
	len   int // size of the fixed header
}

// wholePacket cuts the packet the decoders are given from the front of
// data. A fixed header that our Frame accepts sets the boundary; when data
// holds less body than the Remaining Length says, the Remaining Length is
// rewritten to the body there is, so that most mutated inputs still make a
// whole packet. A fixed header Frame refuses (reserved type or flags, QoS
// 3, a Remaining Length not minimally encoded or longer than four bytes) is
// read as the peers read it, a type byte and a Variable Byte Integer of any
// length, and used only when data holds the whole packet it announces: the
// peers are never asked to buffer more than data.
func wholePacket(data []byte) ([]byte, header, bool) {
	if len(data) < 2 {
		return nil, header{}, false
	}
	var n uint64
	i := 1
	for ; ; i++ {
		if i >= len(data) || i > 8 {
			return nil, header{}, false
		}
		n |= uint64(data[i]&0x7F) << (7 * (i - 1))
		if data[i] < 0x80 {
			break
		}
	}
	h := header{typ: packet.Type(data[0] >> 4), flags: data[0] & 0x0F, len: i + 1}
	if n <= uint64(len(data)-h.len) {
		return data[:h.len+int(n)], h, true
	}
	if i > 4 || i > 1 && data[i] == 0 { // not a minimal encoding: keep it as it is
		return nil, header{}, false
	}
	body := data[h.len:]
	wire := appendVBI([]byte{data[0]}, len(body))
	h.len = len(wire)
	return append(wire, body...), h, true
}

// appendVBI appends n as a Variable Byte Integer.
func appendVBI(dst []byte, n int) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// decodeOursChecked decodes wire with our codec, which must take all of it
// when it accepts; it does not recover a panic.
func decodeOursChecked(t *testing.T, v packet.Version, wire []byte) outcome {
	in := bytes.Clone(wire)
	p, n, err := packet.Decode[uint16](v, in, 0)
	if !bytes.Equal(in, wire) {
		t.Fatalf("our Decode modified its input % x", wire)
	}
	if err == nil && n != len(wire) {
		t.Fatalf("our Decode took %d of the %d bytes of the whole packet % x", n, len(wire), wire)
	}
	if h, need, ferr := packet.Frame(wire, 0); ferr == nil && (need != 0 || h.Size() != len(wire)) {
		t.Fatalf("our Frame reads a packet of %d bytes (need %d) in the whole packet % x", h.Size(), need, wire)
	}
	return outcome{p: p, err: err}
}

// pahoSpeaks reports whether paho.golang can read the packet: it speaks
// MQTT 5.0 only, and reads a CONNECT of any Protocol Level as 5.0 (with
// properties), so a CONNECT naming another level is not for it.
func pahoSpeaks(h header, wire []byte) bool {
	if h.typ != packet.TypeConnect {
		return true
	}
	body := wire[h.len:]
	if len(body) < 2 {
		return true
	}
	at := 2 + (int(body[0])<<8 | int(body[1]))
	return at >= len(body) || body[at] == byte(packet.V5)
}

// decodePaho decodes wire with paho.golang, recovering its panic.
func decodePaho(wire []byte) outcome {
	raw, err := recovered(func() (paho.Packet, error) { return pahoDecode(wire) })
	if err != nil {
		return outcome{err: err}
	}
	return outcome{p: fromPaho(raw), raw: raw}
}

// decodeMochi decodes wire with mochi as its broker does for a client of
// version v, recovering its panic.
func decodeMochi(v packet.Version, wire []byte) outcome {
	raw, err := recovered(func() (*mochi.Packet, error) { return mochiDecode(v, wire) })
	if err != nil {
		return outcome{err: err}
	}
	return outcome{p: fromMochi(raw), raw: raw}
}

// recovered runs a peer's decoder and turns its panic into a *peerPanic
// error. Only the peer's code runs under the recover.
func recovered[P any](decode func() (P, error)) (p P, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &peerPanic{r}
		}
	}()
	return decode()
}

// peerPanic is a peer decoder's panic, recovered: the peer's bug.
type peerPanic struct{ value any }

func (e *peerPanic) Error() string { return fmt.Sprintf("peer panicked: %v", e.value) }

// commonForm maps a packet decoded by us or translated from a peer into
// what both sides can express, on a copy: the peer's structs cannot tell
// these apart, so neither side is wrong to differ in them.
//
//   - paho and mochi hold a string property in a Go string, where "" means
//     absent: a property present with an empty string becomes absent;
//   - mochi has no presence flag for Message Expiry Interval, Will Delay
//     Interval, Request Response Information, Receive Maximum, Topic Alias
//     Maximum and Maximum Packet Size: present with the value 0 becomes
//     absent.
//
// Empty and nil byte slices and lists are already equal under eq.
func commonForm(peer string, p packet.Packet) packet.Packet {
	props := func(q property.Properties) property.Properties {
		for _, id := range []property.ID{property.ContentType, property.ResponseTopic,
			property.AssignedClientIdentifier, property.AuthenticationMethod,
			property.ResponseInformation, property.ServerReference, property.ReasonString} {
			q.Zero.Remove(id)
		}
		if peer == "mochi" {
			for _, id := range []property.ID{property.MessageExpiryInterval, property.WillDelayInterval,
				property.RequestResponseInformation, property.ReceiveMaximum,
				property.TopicAliasMaximum, property.MaximumPacketSize} {
				q.Zero.Remove(id)
			}
		}
		return q
	}
	switch p := p.(type) {
	case *packet.Connect:
		c := *p
		c.Props, c.Will.Props = props(c.Props), props(c.Will.Props)
		return &c
	case *packet.Connack:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Publish:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Puback:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Pubrec:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Pubrel:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Pubcomp:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Subscribe:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Suback:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Unsubscribe:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Unsuback:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Disconnect:
		c := *p
		c.Props = props(c.Props)
		return &c
	case *packet.Auth:
		c := *p
		c.Props = props(c.Props)
		return &c
	}
	return p
}

// differentialSeeds returns the seeds of version v (3.1.1 includes 3.1):
// every wire vector of internal/testvectors, valid and malformed, with
// two-byte packet identifiers, and our encoding of every interop case.
func differentialSeeds(v packet.Version) [][]byte {
	same := func(w packet.Version) bool { return w == v || v == packet.V311 && w == packet.V31 }
	var out [][]byte
	for _, tv := range testvectors.Valid {
		if same(tv.Version) && !tv.ID32 {
			out = append(out, tv.Wire)
		}
	}
	for _, bad := range testvectors.Malformed {
		if same(bad.Version) {
			out = append(out, bad.Wire)
		}
	}
	for _, c := range interopCases() {
		if b, err := c.ours.AppendTo(nil, c.v); err == nil && same(c.v) && len(b) < 1<<12 {
			out = append(out, b)
		}
	}
	return out
}

// corpusSeeds reads the regression inputs of a fuzz target from
// testdata/fuzz/<target>/, files in the go test fuzz v1 format with one
// []byte value.
func corpusSeeds(t *testing.T, target string) [][]byte {
	return corpusSeedsDir(t, filepath.Join("testdata", "fuzz", target))
}

// corpusSeedsDir reads the inputs of a fuzz corpus directory.
func corpusSeedsDir(t *testing.T, dir string) [][]byte {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
			!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Fatalf("%s: not a go test fuzz v1 file with one []byte", name)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, []byte(s))
	}
	return out
}

// brief formats v showing only its non-zero fields.
func brief(v any) string {
	var b strings.Builder
	writeBrief(&b, reflect.ValueOf(v))
	return b.String()
}

func writeBrief(b *strings.Builder, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		writeBrief(b, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[property.Set]() {
			fmt.Fprint(b, v.Interface())
			return
		}
		b.WriteString("{")
		sep := ""
		for i := range v.NumField() {
			f := v.Field(i)
			if f.IsZero() || !v.Type().Field(i).IsExported() {
				continue
			}
			b.WriteString(sep + v.Type().Field(i).Name + ":")
			writeBrief(b, f)
			sep = " "
		}
		b.WriteString("}")
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			fmt.Fprintf(b, "%q", v.Bytes())
			return
		}
		b.WriteString("[")
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(" ")
			}
			writeBrief(b, v.Index(i))
		}
		b.WriteString("]")
	case reflect.String:
		fmt.Fprintf(b, "%q", v.String())
	default:
		if v.CanInterface() {
			fmt.Fprint(b, v.Interface())
		}
	}
}
