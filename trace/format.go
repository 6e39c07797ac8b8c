package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// The file format; see the package documentation.
const (
	magic = "MQTR"
	// Version is the version of the file format this package writes and
	// reads.
	Version = 1
)

// Errors of Parse and Read.
var (
	// ErrFormat: the bytes are not a trace of this format's version.
	ErrFormat = errors.New("trace: invalid trace")
	// ErrTruncated: the trace ends inside a record (the recording was cut
	// short). Parse returns the records before it along with the error.
	ErrTruncated = errors.New("trace: truncated trace")
)

// Kind says what a Record is. The values are those of the file format.
type Kind uint8

// The kinds of records: the calls made on the Connection (KindRecv to
// KindReplay), what it read from its environment (KindClock,
// KindClientID), and what it put out (KindEvent, KindReturn).
const (
	kindStart         Kind = 1 // the first record of a file: role, identifier width, Config
	KindRecv          Kind = 2
	KindSend          Kind = 3
	KindTimerFired    Kind = 4
	KindOpened        Kind = 5
	KindClosed        Kind = 6
	KindImportSession Kind = 7
	KindReplay        Kind = 8
	KindClock         Kind = 9
	KindClientID      Kind = 10
	KindEvent         Kind = 11
	KindReturn        Kind = 12
	kindLast               = KindReturn
)

var kindNames = [...]string{"", "start", "recv", "send", "timer fired", "opened", "closed",
	"import session", "replay", "clock", "client id", "event", "return"}

// String returns the kind's name.
func (k Kind) String() string {
	if k >= 1 && k <= kindLast {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", byte(k))
}

// call reports whether records of kind k are calls on the Connection.
func (k Kind) call() bool { return k >= KindRecv && k <= KindReplay }

// output reports whether records of kind k are what the Connection put out.
func (k Kind) output() bool { return k == KindEvent || k == KindReturn }

// Record is one record of a trace.
type Record struct {
	Kind Kind
	// During, for a call: 0 for a call from outside the Handler, n for one
	// the Handler made while carrying out the n-th event of the dispatch
	// under way (mqtt.Input.During).
	During int
	Bytes  []byte         // KindRecv, KindImportSession, KindReplay: the argument
	Packet []byte         // KindSend: the packet value (see DecodePacket)
	Timer  mqtt.TimerKind // KindTimerFired
	Time   time.Time      // KindClock: the wall clock reading, in UTC
	Text   string         // KindClientID: the identifier; KindReturn: the error's text
	Failed bool           // KindReturn: the call returned an error
	Event  Event          // KindEvent
}

// Event is an event a Connection handed its Handler, as a trace keeps it.
type Event struct {
	Kind     mqtt.EventKind
	Timer    mqtt.TimerKind // EventTimerReset, EventTimerCancel
	PacketID uint32         // EventIDReleased, EventDropped
	Duration time.Duration  // EventTimerReset
	Bytes    []byte         // EventSend (the bytes to write), EventJournal
	Packet   []byte         // EventPacket, EventDropped: the packet value (see DecodePacket)
	Err      string         // EventError, EventDropped: the error's text
}

// String describes the record in one line.
func (r Record) String() string {
	s := r.Kind.String()
	switch r.Kind {
	case KindRecv, KindImportSession, KindReplay:
		s += fmt.Sprintf(" %d bytes", len(r.Bytes))
	case KindSend:
		s += " " + packetName(r.Packet)
	case KindTimerFired:
		s += " " + r.Timer.String()
	case KindClock:
		s += " " + r.Time.Format(time.RFC3339Nano)
	case KindClientID:
		s += " " + r.Text
	case KindReturn:
		if !r.Failed {
			return s + " nil"
		}
		return s + ": " + r.Text
	case KindEvent:
		return s + " " + r.Event.String()
	}
	if r.During > 0 {
		s += fmt.Sprintf(" (by the handler, event %d)", r.During)
	}
	return s
}

// String describes the event in one line.
func (e Event) String() string {
	s := e.Kind.String()
	switch e.Kind {
	case mqtt.EventSend, mqtt.EventJournal:
		s += fmt.Sprintf(" %x", e.Bytes)
	case mqtt.EventTimerReset:
		s += fmt.Sprintf(" %v %v", e.Timer, e.Duration)
	case mqtt.EventTimerCancel:
		s += " " + e.Timer.String()
	case mqtt.EventIDReleased:
		s += fmt.Sprintf(" %d", e.PacketID)
	case mqtt.EventPacket:
		s += " " + packetName(e.Packet)
	case mqtt.EventDropped:
		s += fmt.Sprintf(" %d %s: %s", e.PacketID, packetName(e.Packet), e.Err)
	case mqtt.EventError:
		s += ": " + e.Err
	}
	return s
}

// packetName names the packet of a packet value.
func packetName(v []byte) string {
	if len(v) == 0 || v[0] == valueNil {
		return "nil"
	}
	return packet.Type(v[0] & 0x0F).String()
}

// Trace is a parsed trace: how the Connection was made, and its records.
type Trace struct {
	Role   mqtt.Role
	IDSize int // bytes of a packet identifier: 2 (uint16) or 4 (uint32)
	// Config is the Connection's, as recorded: its functions and Trace
	// are nil (Clock says whether there was one).
	Config         mqtt.Config
	Clock          bool // Config.Clock was set
	AssignClientID bool // Config.AssignClientID was set
	Records        []Record
}

// Encode returns the trace in the file format: Parse of the result gives
// t again. Records may be taken out or changed before (to cut a failing
// run down, say).
func (t *Trace) Encode() []byte {
	cfg := t.Config
	cfg.Clock, cfg.AssignClientID = nil, nil
	if t.Clock {
		cfg.Clock = time.Now
	}
	if t.AssignClientID {
		cfg.AssignClientID = func() string { return "" }
	}
	b := append([]byte(magic), Version)
	b = appendFramed(b, appendStart(nil, t.Role, &cfg, t.IDSize))
	var body []byte
	for i := range t.Records {
		body = appendRecord(body[:0], &t.Records[i])
		b = appendFramed(b, body)
	}
	return b
}

// appendFramed appends a record body behind its length.
func appendFramed(b, body []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(body))), body...)
}

// Read reads a whole trace from r and parses it (see Parse).
func Read(r io.Reader) (*Trace, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse parses a trace. A trace cut short inside a record (a recording
// process that died) gives the records before the cut, with an error that
// matches ErrTruncated; any other fault gives an error that matches
// ErrFormat and no trace. The records alias b.
func Parse(b []byte) (*Trace, error) {
	if len(b) < len(magic)+1 {
		if string(b) == magic[:min(len(b), len(magic))] {
			return nil, fmt.Errorf("%w: %d bytes, no header", ErrTruncated, len(b))
		}
		return nil, fmt.Errorf("%w: no header", ErrFormat)
	}
	if string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: no %q at the start", ErrFormat, magic)
	}
	if v := b[len(magic)]; v != Version {
		return nil, fmt.Errorf("%w: format version %d, not %d", ErrFormat, v, Version)
	}
	b = b[len(magic)+1:]
	var t *Trace
	for n := 0; len(b) > 0; n++ {
		size, k := uvarint(b)
		if k <= 0 {
			if k == 0 {
				return t, fmt.Errorf("%w: record %d: length cut short", ErrTruncated, n)
			}
			return nil, fmt.Errorf("%w: record %d: bad length", ErrFormat, n)
		}
		if size == 0 {
			return nil, fmt.Errorf("%w: record %d: empty", ErrFormat, n)
		}
		if size > uint64(len(b)-k) {
			return t, fmt.Errorf("%w: record %d: %d bytes, %d left", ErrTruncated, n, size, len(b)-k)
		}
		body := b[k : k+int(size)]
		b = b[k+int(size):]
		if n == 0 {
			if Kind(body[0]) != kindStart {
				return nil, fmt.Errorf("%w: first record is %v, not start", ErrFormat, Kind(body[0]))
			}
			var err error
			if t, err = parseStart(body[1:]); err != nil {
				return nil, err
			}
			continue
		}
		rec, err := parseRecord(body, t.IDSize)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", n, err)
		}
		t.Records = append(t.Records, rec)
	}
	if t == nil {
		return nil, fmt.Errorf("%w: no start record", ErrTruncated)
	}
	return t, nil
}

// reader reads the fields of one record.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrFormat, msg)
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail("record cut short")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	u := r.uvarint() // zig-zag, as binary.AppendVarint writes it
	return int64(u>>1) ^ -int64(u&1)
}

// uvarint is binary.Uvarint, for the shortest encoding only: each value
// has one encoding, so a trace parsed and written again is the same bytes.
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, -n // a last byte of 0 adds nothing: not the shortest
	}
	return v, n
}

// length reads a uvarint length that must fit in what is left.
func (r *reader) length() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(fmt.Sprintf("length %d beyond the record", n))
		return 0
	}
	return int(n)
}

func (r *reader) bytes(n int) []byte {
	if n > len(r.b) {
		r.fail("record cut short")
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// rest returns what is left of the record.
func (r *reader) rest() []byte { return r.bytes(len(r.b)) }

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// Config flags (the start record).
const (
	flagClock = 1 << iota
	flagQueueWhenQuotaExhausted
	flagOfflineQueue
	flagJournal
	flagManualPuback
	flagManualPubrec
	flagManualPubrel
	flagManualPubcomp
	flagManualPingresp
	flagAssignClientID
	flagsKnown = 1<<iota - 1
)

// appendStart appends the body of the start record.
func appendStart(b []byte, role mqtt.Role, cfg *mqtt.Config, idSize int) []byte {
	flags := 0
	for i, on := range []bool{cfg.Clock != nil, cfg.QueueWhenQuotaExhausted, cfg.OfflineQueue, cfg.Journal,
		cfg.ManualPuback, cfg.ManualPubrec, cfg.ManualPubrel, cfg.ManualPubcomp, cfg.ManualPingresp,
		cfg.AssignClientID != nil} {
		if on {
			flags |= 1 << i
		}
	}
	b = append(b, byte(kindStart), byte(role), byte(idSize), byte(cfg.Version))
	b = binary.AppendUvarint(b, uint64(flags))
	for _, n := range []int64{int64(cfg.MaxPacketSize), int64(cfg.ConnectTimeout), int64(cfg.PingInterval),
		int64(cfg.PingTimeout), int64(cfg.MaxQueued), int64(cfg.MaxOutgoingAliases)} {
		b = binary.AppendVarint(b, n)
	}
	return append(b, byte(cfg.TopicAliases))
}

func parseStart(body []byte) (*Trace, error) {
	r := reader{b: body}
	t := &Trace{Role: mqtt.Role(r.byte()), IDSize: int(r.byte())}
	cfg := &t.Config
	cfg.Version = packet.Version(r.byte())
	flags := r.uvarint()
	cfg.MaxPacketSize = int(r.varint())
	cfg.ConnectTimeout = time.Duration(r.varint())
	cfg.PingInterval = time.Duration(r.varint())
	cfg.PingTimeout = time.Duration(r.varint())
	cfg.MaxQueued = int(r.varint())
	aliases := r.varint()
	cfg.MaxOutgoingAliases = uint16(aliases)
	cfg.TopicAliases = mqtt.AliasMode(r.byte())
	switch {
	case r.err != nil:
		return nil, r.err
	case len(r.b) != 0:
		return nil, fmt.Errorf("%w: start record: %d bytes too many", ErrFormat, len(r.b))
	case t.Role != mqtt.RoleClient && t.Role != mqtt.RoleServer:
		return nil, fmt.Errorf("%w: role %d", ErrFormat, t.Role)
	case t.IDSize != 2 && t.IDSize != 4:
		return nil, fmt.Errorf("%w: packet identifiers of %d bytes", ErrFormat, t.IDSize)
	case cfg.Version != 0 && !cfg.Version.Valid():
		return nil, fmt.Errorf("%w: protocol version %d", ErrFormat, cfg.Version)
	case flags&^flagsKnown != 0:
		return nil, fmt.Errorf("%w: unknown config flags %#x", ErrFormat, flags)
	case int64(cfg.MaxOutgoingAliases) != aliases:
		return nil, fmt.Errorf("%w: outgoing topic alias maximum %d", ErrFormat, aliases)
	case cfg.TopicAliases > mqtt.AliasAuto:
		return nil, fmt.Errorf("%w: topic alias mode %d", ErrFormat, cfg.TopicAliases)
	}
	t.Clock = flags&flagClock != 0
	t.AssignClientID = flags&flagAssignClientID != 0
	cfg.QueueWhenQuotaExhausted = flags&flagQueueWhenQuotaExhausted != 0
	cfg.OfflineQueue = flags&flagOfflineQueue != 0
	cfg.Journal = flags&flagJournal != 0
	cfg.ManualPuback = flags&flagManualPuback != 0
	cfg.ManualPubrec = flags&flagManualPubrec != 0
	cfg.ManualPubrel = flags&flagManualPubrel != 0
	cfg.ManualPubcomp = flags&flagManualPubcomp != 0
	cfg.ManualPingresp = flags&flagManualPingresp != 0
	return t, nil
}

// appendRecord appends the body of rec: its kind and fields, no length.
func appendRecord(b []byte, rec *Record) []byte {
	b = append(b, byte(rec.Kind))
	if rec.Kind.call() {
		b = binary.AppendUvarint(b, uint64(rec.During))
	}
	switch rec.Kind {
	case KindRecv, KindImportSession, KindReplay:
		b = append(b, rec.Bytes...)
	case KindSend:
		b = append(b, rec.Packet...)
	case KindTimerFired:
		b = append(b, byte(rec.Timer))
	case KindClock:
		b = binary.AppendVarint(b, rec.Time.Unix())
		b = binary.AppendUvarint(b, uint64(rec.Time.Nanosecond()))
	case KindClientID:
		b = append(b, rec.Text...)
	case KindReturn:
		if !rec.Failed {
			return append(b, 0)
		}
		b = append(append(b, 1), rec.Text...)
	case KindEvent:
		e := &rec.Event
		b = append(b, byte(e.Kind), byte(e.Timer))
		b = binary.AppendUvarint(b, uint64(e.PacketID))
		b = binary.AppendVarint(b, int64(e.Duration))
		b = appendBytes(b, e.Bytes)
		b = appendBytes(b, e.Packet)
		b = append(b, e.Err...)
	}
	return b
}

// parseRecord parses the body of a record other than the start.
func parseRecord(body []byte, idSize int) (Record, error) {
	r := reader{b: body}
	rec := Record{Kind: Kind(r.byte())}
	if rec.Kind.call() {
		d := r.uvarint()
		if d > 1<<31 {
			return rec, fmt.Errorf("%w: %v made during event %d", ErrFormat, rec.Kind, d)
		}
		rec.During = int(d)
	}
	switch rec.Kind {
	case KindRecv, KindImportSession, KindReplay:
		rec.Bytes = r.rest()
	case KindSend:
		rec.Packet = r.rest()
		var err error
		if idSize == 4 {
			_, err = decodePacket[uint32](rec.Packet)
		} else {
			_, err = decodePacket[uint16](rec.Packet)
		}
		if err != nil {
			return rec, err
		}
	case KindTimerFired:
		rec.Timer = mqtt.TimerKind(r.byte())
	case KindOpened, KindClosed:
	case KindClock:
		sec, nsec := r.varint(), r.uvarint()
		if nsec >= 1e9 {
			return rec, fmt.Errorf("%w: clock reading with %d nanoseconds", ErrFormat, nsec)
		}
		rec.Time = time.Unix(sec, int64(nsec)).UTC()
	case KindClientID:
		rec.Text = string(r.rest())
	case KindReturn:
		switch r.byte() {
		case 0:
		case 1:
			rec.Failed, rec.Text = true, string(r.rest())
		default:
			r.fail("return neither nil nor an error")
		}
	case KindEvent:
		e := &rec.Event
		e.Kind, e.Timer = mqtt.EventKind(r.byte()), mqtt.TimerKind(r.byte())
		id := r.uvarint()
		if id > 1<<32-1 {
			r.fail(fmt.Sprintf("packet identifier %d", id))
		}
		e.PacketID = uint32(id)
		e.Duration = time.Duration(r.varint())
		e.Bytes = r.bytes(r.length())
		e.Packet = r.bytes(r.length())
		e.Err = string(r.rest())
		if r.err == nil && (e.Kind < mqtt.EventSend || e.Kind > mqtt.EventJournal) {
			r.fail(fmt.Sprintf("event kind %d", e.Kind))
		}
	default:
		return rec, fmt.Errorf("%w: record kind %d", ErrFormat, rec.Kind)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d bytes after a %v record", len(r.b), rec.Kind))
	}
	return rec, r.err
}
