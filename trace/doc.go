// Package trace records a Connection (package mqtt) to a file and replays
// the file, event for event.
//
// A Connection does no I/O and reads no clock of its own: what it does
// follows from its Config and its inputs alone. A Recorder, set as
// Config.Trace, writes down those inputs as they happen — every chunk
// given to Recv (its bytes and where the chunks were cut), every packet
// given to Send (the Go value as the caller passed it), every timer
// firing, Opened and Closed, ImportSession and journal Replay, every
// clock reading and every Client Identifier the Connection drew — and
// what the Connection put out: each event handed to the Handler and what
// each call returned. A call the Handler made from within an event is
// recorded with the event it was made at.
//
// Replay makes a new Connection from the recorded role, identifier width
// and Config and makes the same calls on it, in the same order, nested
// where they were nested; Check compares what it puts out with the
// recording, byte for byte. A trace is self-contained: a failure seen once
// in production, in a model test or by a fuzzer, replays in a debugger as
// often as needed, and Check says whether a changed Connection still
// behaves the same.
//
//	f, _ := os.Create("conn.trace")
//	rec := trace.NewRecorder(bufio.NewWriter(f))
//	c := mqtt.NewClient[uint16](mqtt.Config{Trace: rec}, handle)
//	...
//	t, err := trace.Read(file)
//	err = trace.Check(t) // nil: the replay put out what the recording did
//
// The drivers record by option: client.Config.Trace, and
// server.Config.Trace for each connection.
//
// # What is not recorded
//
// The Handler itself: a replay makes the calls the Handler made, but a
// Handler that panicked part way through a dispatch is not replayed as
// such. With a Tracer, a Connection keeps the wall clock part of
// Config.Clock's readings only (time.Time.Round(0)): a recorded and a
// replayed run then compute the same ages and deadlines.
//
// # File format (version 1)
//
// A trace is the 4 bytes "MQTR", a version byte (1), then records. A
// record is its length as a uvarint (the shortest encoding; at least 1)
// and that many bytes: a kind byte and the kind's fields. Integers are
// uvarints, or zig-zag varints where they may be negative (marked
// "varint"); "rest" is the rest of the record. The first record is the
// start; the file may end after any whole record (a recording stopped by
// a crash is still a trace; Parse reports a record cut short with
// ErrTruncated).
//
//	1  start            role (1 client, 2 server), identifier size (2 or 4),
//	                    Config.Version, flags, MaxPacketSize (varint),
//	                    ConnectTimeout, PingInterval, PingTimeout (varint
//	                    nanoseconds), MaxQueued, MaxOutgoingAliases
//	                    (varint), TopicAliases (byte).
//	                    Flags: 1 Clock set, 2 QueueWhenQuotaExhausted,
//	                    4 OfflineQueue, 8 Journal, 16 ManualPuback,
//	                    32 ManualPubrec, 64 ManualPubrel, 128 ManualPubcomp,
//	                    256 ManualPingresp, 512 AssignClientID set
//	2  recv             during, chunk (rest)
//	3  send             during, packet value (rest)
//	4  timer fired      during, timer kind (byte)
//	5  opened           during
//	6  closed           during
//	7  import session   during, data (rest)
//	8  replay           during, journal batch (rest)
//	9  clock            seconds since 1970 (varint), nanoseconds
//	10 client id        the identifier (rest)
//	11 event            event kind (byte), timer kind (byte), packet
//	                    identifier, duration (varint nanoseconds), bytes
//	                    (length, bytes), packet value (length, value; empty
//	                    for none), error text (rest)
//	12 return           0 (nil), or 1 and the error's text (rest)
//
// "during" is 0 for a call from outside the Handler, and n for a call the
// Handler made while carrying out the n-th event of the dispatch under way
// (mqtt.Input.During). The kinds of events and timers are package mqtt's
// values (EventSend is 1, TimerPing 1). Records 9 and 10 follow the call
// that made the Connection read them; 11 and 12 are outputs, which Replay
// does not read and Check compares.
//
// A packet value is the Go value of a packet (Send takes packets the wire
// cannot carry: a PUBLISH with identifier 0, one with DUP set, or one it
// refuses). Its first byte is 0 for nil, the packet type (1 to 15) for a
// packet of package packet with the trace's identifier width, 0x40 plus
// the type for a nil pointer of that type, or 0x80 plus the type for a
// packet of another Go type, which is not recorded further. After a
// packet type come the fields of its struct in declaration order, nested
// structs in line: a bool is a byte (0 or 1), an unsigned integer a
// uvarint, a string its length and bytes, a slice 0 for nil or its length
// plus 1 followed by its elements (the bytes of a []byte). The layout
// follows the structs of package packet; a change to them is a new version
// of the format (the test TestPacketLayout pins it). The format is also
// described in docs/trace-format.md.
package trace
