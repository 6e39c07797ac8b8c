package mqtt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// The exported session format, version 1. All integers are big-endian.
//
//	magic          4 bytes  "MQCS"
//	format         1 byte   1
//	role           1 byte   1 client, 2 server
//	protocol       1 byte   the protocol level the messages are encoded in (3, 4, 5; 0 if none)
//	id size        1 byte   2 or 4: the Connection's packet identifier width
//	flags          1 byte   bit 0: the session outlives the connection; bit 1: it holds state
//	expiry         4 bytes  Session Expiry Interval
//	sequence       8 bytes  the last message sequence number
//	last id        4 bytes  the packet identifier handed out last
//	outbound count 4 bytes, then per exchange:
//	    id 4 bytes, step 1 byte, sequence 8 bytes, stored at 8 bytes (Unix ns, 0 for none),
//	    sent 1 byte, length 4 bytes, the PUBLISH packet (length 0 once past PUBREC)
//	queue count    4 bytes, then per message:
//	    stored at 8 bytes, sent 1 byte, length 4 bytes, the PUBLISH packet
//	inbound count  4 bytes, then per exchange: id 4 bytes, step 1 byte
//
// A step is where an exchange stands, with values of the format's own
// (the step constants below), not those of the exchange type: outbound 1
// PUBLISH QoS 1 sent, 2 PUBLISH QoS 2 sent, 3 PUBREC received, 4 PUBREL
// sent; inbound 8 PUBLISH QoS 2 received, 9 PUBREC sent, 10 PUBREL
// received.
//
// Format 1 is fixed: testdata/session-v1 holds sessions of both roles, both
// protocol versions and both identifier widths written in it, and
// TestSessionGoldenV1 imports each, exports it again byte for byte and
// resumes it. A later format gets a new format number; ImportSession of
// every later version must still import these files, and they are never
// regenerated.

const (
	exportMagic   = "MQCS"
	exportVersion = 1
)

// The steps of an exchange in the exported format. The values are part of
// the format and never change.
const (
	stepPublishQoS1Sent     byte = 1  // outbound: awaiting PUBACK
	stepPublishQoS2Sent     byte = 2  // outbound: awaiting PUBREC
	stepPubrecReceived      byte = 3  // outbound: PUBREL owed
	stepPubrelSent          byte = 4  // outbound: awaiting PUBCOMP
	stepPublishQoS2Received byte = 8  // inbound: PUBREC owed
	stepPubrecSent          byte = 9  // inbound: awaiting PUBREL
	stepPubrelReceived      byte = 10 // inbound: PUBCOMP owed
)

// exportSteps pairs each exchange an exported session keeps with its step
// in the format; the exchange type's own values are free to change.
var exportSteps = [...]struct {
	x       exchange
	step    byte
	inbound bool
}{
	{awaitPuback, stepPublishQoS1Sent, false},
	{awaitPubrec, stepPublishQoS2Sent, false},
	{owePubrel, stepPubrecReceived, false},
	{awaitPubcomp, stepPubrelSent, false},
	{owePubrec, stepPublishQoS2Received, true},
	{awaitPubrel, stepPubrecSent, true},
	{owePubcomp, stepPubrelReceived, true},
}

// exportStep returns the format's step for an exchange an exported session
// keeps (0 for one it does not).
func exportStep(x exchange) byte {
	for _, s := range exportSteps {
		if s.x == x {
			return s.step
		}
	}
	return 0
}

// importStep returns the exchange for a step of the format read in the
// outbound or the inbound list, and whether that list may hold the step.
func importStep(step byte, inbound bool) (exchange, bool) {
	for _, s := range exportSteps {
		if s.step == step && s.inbound == inbound {
			return s.x, true
		}
	}
	return 0, false
}

// ErrSessionFormat is returned by ImportSession for bytes that are not a
// session exported by this version of the package, or are corrupt.
var ErrSessionFormat = errors.New("mqtt: invalid exported session")

// ExportSession returns the session state as bytes, in the documented
// versioned format: the unfinished QoS 1 and QoS 2 exchanges in both
// directions, with the encoded PUBLISH packets to re-send, and the queued
// PUBLISH packets. ImportSession on a new Connection of the same role and
// identifier type, after a process restart, continues exactly where this
// one stopped. Export after Closed, when the state no longer changes.
func (c *Connection[ID]) ExportSession() []byte {
	c.takeFlight()
	defer c.dropFlight()
	b := []byte(exportMagic)
	flags := c.sessionFlags()
	b = append(b, exportVersion, byte(c.role), byte(c.sess.version), byte(packetid.Size[ID]()), flags)
	b = binary.BigEndian.AppendUint32(b, c.sess.expiry)
	b = binary.BigEndian.AppendUint64(b, c.sess.seq)
	b = binary.BigEndian.AppendUint32(b, uint32(c.ids.Last()))

	ids := make([]ID, 0, c.outbound.Len())
	for id, x := range c.outbound.All() {
		if x != awaitSuback && x != awaitUnsuback {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		m := c.stored.Value(id)
		b = binary.BigEndian.AppendUint32(b, uint32(id))
		b = append(b, exportStep(c.outbound.Value(id)))
		b = binary.BigEndian.AppendUint64(b, m.seq)
		b = appendMessage(b, m)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.queue)))
	for _, m := range c.queue {
		b = appendMessage(b, m)
	}
	ids = ids[:0]
	for id, x := range c.inbound.All() {
		if x := x.step(); x == owePubrec || x == awaitPubrel || x == owePubcomp {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint32(b, uint32(id))
		b = append(b, exportStep(c.inStep(id)))
	}
	return b
}

func appendMessage(b []byte, m message) []byte {
	var at int64
	if !m.at.IsZero() {
		at = m.at.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	sent := byte(0)
	if m.sent {
		sent = 1
	}
	b = append(b, sent)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.wire)))
	return append(b, m.wire...)
}

// ImportSession restores a session exported with ExportSession into a
// Connection that has no session state and is not connected, or into a
// server Connection that has received a CONNECT resuming a session (Clean
// Start 0) and not yet answered it: a broker learns the Client Identifier
// from the CONNECT, imports that client's session, then sends CONNACK with
// Session Present 1. It validates everything and changes nothing on error.
//
// A client in a new process starts with no session: to resume the one the
// server kept (CONNECT with Clean Start 0), it imports its predecessor's
// first, or the server's Session Present 1 ends the connection with
// ErrNoSession (MQTT-3.2.2-4). Without a saved session, connect with Clean
// Start 1.
func (c *Connection[ID]) ImportSession(data []byte) error {
	if c.cfg.Trace != nil {
		c.traceCall(Input{Kind: InputImportSession, Bytes: data})
		return c.traceReturn(c.importSession(data))
	}
	return c.importSession(data)
}

// importSession is ImportSession.
func (c *Connection[ID]) importSession(data []byte) error {
	c.takeFlight()
	defer c.dropFlight()
	resuming := c.role == RoleServer && c.state == StateConnecting && !c.closing
	if c.state != StateDisconnected && !resuming || c.outbound.Len()+c.inbound.Len()+len(c.queue) > 0 {
		return fmt.Errorf("%w: import into a connection that has state", ErrState)
	}
	if resuming && c.cleanStart {
		return fmt.Errorf("%w: the CONNECT asked for a clean start", ErrState)
	}
	r := sessionReader{b: data}
	if string(r.bytes(4)) != exportMagic || r.byte() != exportVersion {
		return fmt.Errorf("%w: not an exported session of format %d", ErrSessionFormat, exportVersion)
	}
	role, version, idSize, flags := Role(r.byte()), packet.Version(r.byte()), int(r.byte()), r.byte()
	if role != c.role || idSize != packetid.Size[ID]() || version != 0 && !version.Valid() || flags > 3 {
		return fmt.Errorf("%w: role %d, version %d, id size %d do not fit this connection",
			ErrSessionFormat, role, version, idSize)
	}
	sess := session{version: version, persists: flags&1 != 0, present: flags&2 != 0,
		expiry: r.uint32(), seq: r.uint64()}
	last := r.uint32()
	if uint64(last) > uint64(^ID(0)) {
		return fmt.Errorf("%w: last packet identifier %d too large", ErrSessionFormat, last)
	}
	var outbound, inbound packetid.Map[ID, exchange]
	var stored packetid.Map[ID, message]
	var queue []message
	// Our identifiers (outbound exchanges and queued messages) and the
	// peer's (inbound exchanges) are separate spaces: each must be unique
	// within its own.
	ours, theirs := map[ID]bool{}, map[ID]bool{}
	used := ours
	take := func(id uint32) (ID, error) {
		if id == 0 || uint64(id) > uint64(^ID(0)) || used[ID(id)] {
			return 0, fmt.Errorf("%w: packet identifier %d invalid or repeated", ErrSessionFormat, id)
		}
		used[ID(id)] = true
		return ID(id), nil
	}
	for n := r.count(4 + 1 + 8 + 8 + 1 + 4); n > 0 && r.err == nil; n-- {
		id, err := take(r.uint32())
		if err != nil {
			return err
		}
		step := r.byte()
		seq := r.uint64()
		m := r.message(seq)
		x, err := checkStored(id, step, m, version)
		if err != nil || r.err != nil {
			return errors.Join(err, r.err)
		}
		outbound.Set(id, x)
		stored.Set(id, m)
	}
	for n := r.count(8 + 1 + 4); n > 0 && r.err == nil; n-- {
		m := r.message(0)
		if r.err != nil {
			return r.err
		}
		p, err := decodeStored[ID](m.wire, version)
		if err != nil || p.QoS == 0 {
			return fmt.Errorf("%w: queued message: %v", ErrSessionFormat, err)
		}
		if _, err := take(uint32(p.PacketID)); err != nil {
			return err
		}
		queue = append(queue, m)
	}
	used = theirs
	for n := r.count(4 + 1); n > 0 && r.err == nil; n-- {
		id, err := take(r.uint32())
		if err != nil {
			return err
		}
		step := r.byte()
		x, ok := importStep(step, true)
		if !ok {
			return fmt.Errorf("%w: inbound step %d", ErrSessionFormat, step)
		}
		inbound.Set(id, x)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes after the end", ErrSessionFormat, len(r.b))
	}
	if r.err != nil {
		return r.err
	}
	// Valid: take it over.
	for id := range outbound.All() {
		_ = c.ids.Use(id)
	}
	for _, m := range queue {
		p, _ := decodeStored[ID](m.wire, version)
		_ = c.ids.Use(p.PacketID)
	}
	if resuming {
		if version != 0 && version != c.version {
			return fmt.Errorf("%w: session of version %v, connection of version %v", ErrSessionFormat, version, c.version)
		}
		// This network connection's CONNECT decides the session's life.
		sess.version, sess.expiry, sess.persists, sess.present = c.version, c.sess.expiry, c.sess.persists, true
	}
	c.ids.SetLast(ID(last))
	c.sess, c.outbound, c.stored, c.queue = sess, outbound, stored, queue
	for id, x := range inbound.All() {
		c.inbound.Set(id, x) // resumed: not counted, see counted
	}
	return nil
}

// checkStored validates one imported outbound exchange and returns its
// step as an exchange.
func checkStored[ID packetid.ID](id ID, step byte, m message, v packet.Version) (exchange, error) {
	x, ok := importStep(step, false)
	switch {
	case !ok:
		return 0, fmt.Errorf("%w: outbound step %d", ErrSessionFormat, step)
	case x == owePubrel || x == awaitPubcomp:
		if m.wire != nil {
			return 0, fmt.Errorf("%w: PUBLISH kept past PUBREC", ErrSessionFormat)
		}
		return x, nil
	}
	p, err := decodeStored[ID](m.wire, v)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSessionFormat, err)
	}
	if p.PacketID != id || (x == awaitPuback) != (p.QoS == packet.QoS1) || p.QoS == 0 {
		return 0, fmt.Errorf("%w: PUBLISH %d does not match its exchange", ErrSessionFormat, id)
	}
	return x, nil
}

// decodeStored decodes one stored PUBLISH, which must be exactly one packet.
func decodeStored[ID packetid.ID](wire []byte, v packet.Version) (*packet.PublishOf[ID], error) {
	h, need, err := packet.Frame(wire, 0)
	if err == nil && (need != 0 || h.Size() != len(wire) || h.Type != packet.TypePublish) {
		err = errors.New("not one whole PUBLISH packet")
	}
	if err != nil {
		return nil, err
	}
	p := new(packet.PublishOf[ID])
	return p, p.Decode(v, h.Flags, wire[h.Len:])
}

// sessionReader reads the export format; the first error sticks.
type sessionReader struct {
	b   []byte
	err error
}

func (r *sessionReader) bytes(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *sessionReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated", ErrSessionFormat)
	}
	r.b = nil
}

func (r *sessionReader) byte() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *sessionReader) uint32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *sessionReader) uint64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// count reads an entry count, refusing one that the remaining bytes cannot
// hold at minSize bytes an entry (so hostile counts allocate nothing).
func (r *sessionReader) count(minSize int) int {
	n := int(r.uint32())
	if n > len(r.b)/minSize {
		r.fail()
		return 0
	}
	return n
}

func (r *sessionReader) message(seq uint64) message {
	m := message{seq: seq}
	if at := int64(r.uint64()); at != 0 {
		m.at = time.Unix(0, at)
	}
	m.sent = r.byte() == 1
	if n := r.uint32(); n > 0 {
		m.wire = append([]byte(nil), r.bytes(int(n))...)
	}
	return m
}
