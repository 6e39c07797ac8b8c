package trace

import (
	"encoding/binary"
	"fmt"
	"reflect"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// Packet values: a packet a caller passed to Send, or one an event
// carries, recorded as the Go value it is, field by field, rather than
// as its encoding on the wire. The wire cannot carry what Send accepts
// and changes (a PUBLISH with packet identifier 0, or DUP set) nor a
// packet Send refuses, and a replay must pass Send the very same value.
//
// The first byte says what follows:
//
//	0x00         no packet (nil)
//	0x01..0x0F   a packet of package packet of that type, with the
//	             trace's identifier width: its fields follow
//	0x41..0x4F   a nil pointer of that packet type
//	0x81..0x8F   a packet of that type of another Go type (another
//	             identifier width, or the caller's own type): nothing follows
//
// The fields are those of the Go struct in declaration order, nested
// structs in line: a bool is one byte (0 or 1), an unsigned integer a
// uvarint, a string a uvarint length and its bytes, a slice a uvarint
// (0 for nil, else its length plus 1) and its elements (a []byte: its
// bytes). The layout follows the structs of package packet: a change to
// them changes the format's version (TestPacketLayout).

const (
	valueNil     = 0x00
	valueNilPtr  = 0x40
	valueForeign = 0x80
)

// appendPacket appends the packet value of p, for a Connection whose
// identifiers are idSize bytes.
func appendPacket(b []byte, p packet.Packet, idSize int) []byte {
	if p == nil {
		return append(b, valueNil)
	}
	t := p.Type()
	v := reflect.ValueOf(p)
	if t < packet.TypeConnect || t > packet.TypeAuth || v.Type() != packetType(t, idSize) {
		return append(b, valueForeign|byte(t&0x0F))
	}
	if v.IsNil() {
		return append(b, valueNilPtr|byte(t))
	}
	return appendValue(append(b, byte(t)), v.Elem())
}

// packetType returns the pointer type of the packets of type t (1 to 15)
// with identifiers of idSize bytes.
func packetType(t packet.Type, idSize int) reflect.Type {
	if idSize == 4 {
		return reflect.TypeOf(packet.New[uint32](t))
	}
	return reflect.TypeOf(packet.New[uint16](t))
}

func appendValue(b []byte, v reflect.Value) []byte {
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return append(b, 1)
		}
		return append(b, 0)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return binary.AppendUvarint(b, v.Uint())
	case reflect.String:
		return appendString(b, v.String())
	case reflect.Slice:
		if v.IsNil() {
			return append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(v.Len())+1)
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return append(b, v.Bytes()...)
		}
		for i := range v.Len() {
			b = appendValue(b, v.Index(i))
		}
		return b
	case reflect.Struct:
		for i := range v.NumField() {
			b = appendValue(b, v.Field(i))
		}
		return b
	}
	panic(fmt.Sprintf("trace: packet field of kind %v", v.Kind())) // TestPacketLayout covers every packet type
}

// decodePacket decodes a packet value for a Connection with identifiers
// of type ID. A packet of another Go type comes back as a stand-in of the
// same type, which a Connection handles as it handles any packet it does
// not know.
func decodePacket[ID packetid.ID](b []byte) (packet.Packet, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty packet value", ErrFormat)
	}
	t := packet.Type(b[0] & 0x0F)
	switch kind := b[0] &^ 0x0F; {
	case b[0] == valueNil:
		return nil, checkEnd(b[1:])
	case t == 0:
		return nil, fmt.Errorf("%w: packet value of type 0", ErrFormat)
	case kind == valueForeign:
		return &foreign{t: t}, checkEnd(b[1:])
	case kind == valueNilPtr:
		return reflect.Zero(reflect.TypeOf(packet.New[ID](t))).Interface().(packet.Packet), checkEnd(b[1:])
	case kind == 0:
		p := packet.New[ID](t)
		r := reader{b: b[1:]}
		r.value(reflect.ValueOf(p).Elem())
		if r.err != nil {
			return nil, r.err
		}
		return p, checkEnd(r.b)
	}
	return nil, fmt.Errorf("%w: packet value tag %#x", ErrFormat, b[0])
}

func checkEnd(b []byte) error {
	if len(b) != 0 {
		return fmt.Errorf("%w: %d bytes after a packet value", ErrFormat, len(b))
	}
	return nil
}

// value decodes into v, which is settable.
func (r *reader) value(v reflect.Value) {
	if r.err != nil {
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		switch r.byte() {
		case 0:
		case 1:
			v.SetBool(true)
		default:
			r.fail("bool other than 0 or 1")
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := r.uvarint()
		if v.OverflowUint(n) {
			r.fail(fmt.Sprintf("%d out of range of %v", n, v.Type()))
			return
		}
		v.SetUint(n)
	case reflect.String:
		v.SetString(string(r.bytes(r.length())))
	case reflect.Slice:
		n := r.uvarint()
		if n == 0 || r.err != nil {
			return
		}
		// Every element takes a byte at least: the count is bounded by
		// what is left, and so is what it allocates.
		if n-1 > uint64(len(r.b)) {
			r.fail(fmt.Sprintf("slice of %d elements in %d bytes", n-1, len(r.b)))
			return
		}
		s := reflect.MakeSlice(v.Type(), int(n-1), int(n-1))
		if v.Type().Elem().Kind() == reflect.Uint8 {
			copy(s.Bytes(), r.bytes(int(n-1)))
		} else {
			for i := range int(n - 1) {
				r.value(s.Index(i))
			}
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			r.value(v.Field(i))
		}
	default:
		r.fail(fmt.Sprintf("packet field of kind %v", v.Kind()))
	}
}

// foreign stands in, in a replay, for a packet the caller passed to Send
// that is of none of package packet's types for the trace's identifier
// width. A Connection tells such packets apart by their type only.
type foreign struct{ t packet.Type }

func (f *foreign) Type() packet.Type                                   { return f.t }
func (f *foreign) Size(packet.Version) int                             { return 0 }
func (f *foreign) Decode(packet.Version, byte, []byte) error           { return ErrFormat }
func (f *foreign) AppendTo(b []byte, _ packet.Version) ([]byte, error) { return b, ErrFormat }
