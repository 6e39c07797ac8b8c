package mqtt

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// The session journal: with Config.Journal, every call that changes the
// persistent session state hands the handler one EventJournal first, whose
// Bytes are a batch of records of the changes. The caller makes the
// batches of a call durable, with the messages the call delivered, before
// it writes the call's bytes; Replay rebuilds the session from the batches
// of such a log, in the order they were handed out, as ImportSession does
// from an export. A session that does not outlive its connection keeps
// only its queued messages in the journal.
//
// A batch, version 1, is a sequence of records, each a 4-byte big-endian
// length followed by that many bytes: a kind byte, then
//
//	'P' session      role 1, protocol level 1, id size 1, flags 1 (bit 0:
//	                 the session outlives the connection; bit 1: this side
//	                 holds state of an earlier connection), expiry 4
//	'O' ours         id 4, step 1, sequence 8, stored at 8 (Unix ns, 0 for
//	                 none), sent 1, length 4, the PUBLISH packet (length 0
//	                 once past PUBREC): our exchange id is at that step
//	'Q' queued       id 4, sequence 8, stored at 8, sent 1, length 4, the
//	                 PUBLISH packet: our message id waits to be sent
//	'X' ours ended   id 4: our exchange or queued message id is over
//	'I' theirs       id 4, step 1 (always 9, PUBREC sent): the peer's QoS 2
//	                 exchange id is held
//	'x' theirs ended id 4
//
// Steps and the other fields are those of the export format
// (session_export.go). Every record sets or ends the state of one
// identifier whatever it was before, so a record applied twice changes
// nothing: a log may start with the records of a snapshot
// (JournalSnapshot) taken at any point between two calls or inside the
// handler.
const (
	recSession     = 'P'
	recOurs        = 'O'
	recQueued      = 'Q'
	recOursEnded   = 'X'
	recTheirs      = 'I'
	recTheirsEnded = 'x'
)

// ErrJournal is returned by Replay for a batch that is not a valid journal
// batch, or that does not fit the Connection.
var ErrJournal = errors.New("mqtt: invalid session journal")

// record starts a record of the given kind in the call's journal batch and
// returns the offset of its length, for endRecord.
func (c *Connection[ID]) record(kind byte) int {
	at := len(c.journal)
	c.journal = append(c.journal, 0, 0, 0, 0, kind)
	return at
}

func (c *Connection[ID]) endRecord(at int) {
	binary.BigEndian.PutUint32(c.journal[at:], uint32(len(c.journal)-at-4))
}

// logOurs records where our exchange id stands now.
func (c *Connection[ID]) logOurs(id ID) {
	if !c.cfg.Journal || !c.sess.persists {
		return // an exchange outlives nothing but a persistent session
	}
	x := c.outbound.Value(id)
	if x < awaitPuback || x > awaitPubcomp {
		c.logOursEnded(id)
		return
	}
	c.recordOurs(id, x)
}

// recordOurs records that our exchange id is at step x, one of those a
// session keeps.
func (c *Connection[ID]) recordOurs(id ID, x exchange) {
	at := c.record(recOurs)
	m := c.stored.Value(id)
	c.journal = binary.BigEndian.AppendUint32(c.journal, uint32(id))
	c.journal = append(c.journal, exportStep(x))
	c.journal = binary.BigEndian.AppendUint64(c.journal, m.seq)
	c.journal = appendMessage(c.journal, m)
	c.endRecord(at)
}

// logQueued records that our message m, identifier id, waits to be sent.
func (c *Connection[ID]) logQueued(id ID, m message) {
	if c.cfg.Journal {
		c.recordQueued(id, m)
	}
}

// recordQueued records that our message m, identifier id, waits.
func (c *Connection[ID]) recordQueued(id ID, m message) {
	at := c.record(recQueued)
	c.journal = binary.BigEndian.AppendUint32(c.journal, uint32(id))
	c.journal = binary.BigEndian.AppendUint64(c.journal, m.seq)
	c.journal = appendMessage(c.journal, m)
	c.endRecord(at)
}

// logOursEnded records that our exchange or queued message id is over.
func (c *Connection[ID]) logOursEnded(id ID) {
	if c.cfg.Journal {
		at := c.record(recOursEnded)
		c.journal = binary.BigEndian.AppendUint32(c.journal, uint32(id))
		c.endRecord(at)
	}
}

// logTheirs records that the peer's QoS 2 exchange id is held (PUBREC
// sent, PUBREL awaited: a re-sent PUBLISH is not delivered again) or that
// it no longer is. before is its step before the change.
//
// Only PUBREC sent is held across a crash. A PUBLISH delivered and not yet
// acknowledged by the caller (Config.ManualPubrec) is not: the caller that
// owed the PUBREC is gone with the crash, so the peer's re-sent PUBLISH is
// delivered again; and a PUBREL delivered and not yet answered stays held,
// so the peer's re-sent PUBREL is delivered again.
func (c *Connection[ID]) logTheirs(id ID, before exchange) {
	if !c.cfg.Journal || !c.sess.persists {
		return
	}
	x, was := c.inStep(id), before.step()
	heldBefore := was == awaitPubrel || was == owePubcomp
	switch {
	case x == awaitPubrel && was != awaitPubrel:
		c.logHeld(id)
	case x != awaitPubrel && x != owePubcomp && heldBefore:
		at := c.record(recTheirsEnded)
		c.journal = binary.BigEndian.AppendUint32(c.journal, uint32(id))
		c.endRecord(at)
	}
}

// logHeld records that the peer's QoS 2 exchange id is held.
func (c *Connection[ID]) logHeld(id ID) {
	at := c.record(recTheirs)
	c.journal = binary.BigEndian.AppendUint32(c.journal, uint32(id))
	c.journal = append(c.journal, exportStep(awaitPubrel))
	c.endRecord(at)
}

// sessionFlags are the flags of the export format and of 'P' records.
func (c *Connection[ID]) sessionFlags() byte {
	var flags byte
	if c.sess.persists {
		flags |= 1
	}
	if c.HoldsSession() {
		flags |= 2
	}
	return flags
}

// journalBatch hands out the journal batch of the call that started at
// event first, before that call's events, with a session record first when
// the session's parameters changed since the last batch.
func (c *Connection[ID]) journalBatch(first int) {
	if !c.cfg.Journal {
		return
	}
	head := journaledSession{role: c.role, version: c.sess.version, flags: c.sessionFlags(), expiry: c.sess.expiry}
	if len(c.journal) == 0 && head == c.journaled {
		return
	}
	start := len(c.out)
	if head != c.journaled {
		c.out = appendSessionRecord(c.out, head, packetid.Size[ID]())
		c.journaled = head
	}
	c.out = append(c.out, c.journal...)
	c.journal = c.journal[:0]
	end := len(c.out)
	c.events = append(c.events, Event[ID]{})
	copy(c.events[first+1:], c.events[first:])
	c.events[first] = Event[ID]{Kind: EventJournal, Bytes: c.out[start:end:end]}
}

// journaledSession is what the last 'P' record said.
type journaledSession struct {
	role    Role
	version packet.Version
	flags   byte
	expiry  uint32
}

func appendSessionRecord(b []byte, s journaledSession, idSize int) []byte {
	b = binary.BigEndian.AppendUint32(b, 1+4+4)
	b = append(b, recSession, byte(s.role), byte(s.version), byte(idSize), s.flags)
	return binary.BigEndian.AppendUint32(b, s.expiry)
}

// JournalSnapshot returns a journal batch that sets the whole session
// state as it is now: the records to start a new, compacted log with. Taken
// inside the handler, it may be ahead of the events not yet carried out;
// their records then change nothing when replayed after it. Like the
// records, it leaves out the message sequence counter and where the
// identifier allocator stands: a replayed session numbers new messages
// after the last recorded and hands out free identifiers after the last
// recorded.
func (c *Connection[ID]) JournalSnapshot() []byte {
	c.takeFlight()
	defer c.dropFlight()
	if c.scratch == nil { // idle: the records are built in a scratch of their own
		c.scratch = new(scratch[ID])
		defer func() { c.scratch = nil }()
	}
	head := journaledSession{role: c.role, version: c.sess.version, flags: c.sessionFlags(), expiry: c.sess.expiry}
	saved := c.journal
	c.journal = appendSessionRecord(nil, head, packetid.Size[ID]())
	for _, id := range c.outbound.Keys(nil) {
		if x := c.outbound.Value(id); x >= awaitPuback && x <= awaitPubcomp && c.sess.persists {
			c.recordOurs(id, x)
		}
	}
	for _, m := range c.queue {
		if id, ok := messageID[ID](m); ok {
			c.recordQueued(id, m)
		}
	}
	for _, id := range c.inbound.Keys(nil) {
		if x := c.inStep(id); x == awaitPubrel || x == owePubcomp {
			c.logHeld(id)
		}
	}
	batch := c.journal
	c.journal = saved
	return batch
}

// Replay applies one journal batch (the Bytes of an EventJournal, or a
// JournalSnapshot) to a Connection that is not connected: a new process
// rebuilds the session of the one before by replaying the batches of its
// log in order, then connects as after ImportSession. A batch is checked
// whole before any of it is applied: on error (a batch cut short by a
// crash, say) nothing changes, and the batches before it stand.
func (c *Connection[ID]) Replay(batch []byte) error {
	if c.cfg.Trace != nil {
		c.traceCall(Input{Kind: InputReplay, Bytes: batch})
		return c.traceReturn(c.replay(batch))
	}
	return c.replay(batch)
}

// replay is Replay.
func (c *Connection[ID]) replay(batch []byte) error {
	if c.state != StateDisconnected {
		return fmt.Errorf("%w: replay into a connected Connection", ErrState)
	}
	c.takeFlight()
	defer c.dropFlight()
	var recs []journalRecord[ID]
	version, persists := c.sess.version, c.sess.persists
	for len(batch) > 0 {
		if len(batch) < 5 {
			return fmt.Errorf("%w: truncated record", ErrJournal)
		}
		n := int(binary.BigEndian.Uint32(batch))
		if n < 1 || n > len(batch)-4 {
			return fmt.Errorf("%w: record of %d bytes in %d", ErrJournal, n, len(batch)-4)
		}
		rec, err := parseRecord[ID](batch[4:4+n], c.role, version)
		if err != nil {
			return err
		}
		switch rec.kind {
		case recSession:
			version, persists = rec.session.version, rec.session.flags&1 != 0
		case recOurs, recTheirs:
			if !persists { // the journal keeps exchanges of persistent sessions only
				return fmt.Errorf("%w: record %q of a session that does not persist", ErrJournal, rec.kind)
			}
		}
		recs = append(recs, rec)
		batch = batch[4+n:]
	}
	for _, rec := range recs {
		c.apply(rec)
	}
	return nil
}

// journalRecord is one parsed record.
type journalRecord[ID packetid.ID] struct {
	kind    byte
	id      ID
	step    exchange
	msg     message
	session journaledSession
}

// parseRecord checks and parses one record, for a Connection of role r
// whose session is in version v (as the records before it set it).
func parseRecord[ID packetid.ID](b []byte, r Role, v packet.Version) (journalRecord[ID], error) {
	rd := sessionReader{b: b[1:]}
	rec := journalRecord[ID]{kind: b[0]}
	bad := func(why string) (journalRecord[ID], error) {
		return rec, fmt.Errorf("%w: record %q: %s", ErrJournal, rec.kind, why)
	}
	if rec.kind == recSession {
		role, version, idSize, flags := Role(rd.byte()), packet.Version(rd.byte()), int(rd.byte()), rd.byte()
		rec.session = journaledSession{role: role, version: version, flags: flags, expiry: rd.uint32()}
		if rd.err != nil || len(rd.b) != 0 || role != r || idSize != packetid.Size[ID]() ||
			version != 0 && !version.Valid() || flags > 3 {
			return bad("does not fit this Connection")
		}
		return rec, nil
	}
	id := rd.uint32()
	if id == 0 || uint64(id) > uint64(^ID(0)) {
		return bad("packet identifier out of range")
	}
	rec.id = ID(id)
	switch rec.kind {
	case recOurs:
		step := rd.byte()
		rec.msg = rd.message(rd.uint64())
		if rd.err != nil || len(rd.b) != 0 {
			return bad("malformed")
		}
		x, err := checkStored(rec.id, step, rec.msg, v)
		if err != nil {
			return bad(err.Error())
		}
		rec.step = x
	case recQueued:
		rec.msg = rd.message(rd.uint64())
		if rd.err != nil || len(rd.b) != 0 {
			return bad("malformed")
		}
		p, err := decodeStored[ID](rec.msg.wire, v)
		if err != nil || p.QoS == 0 || p.PacketID != rec.id {
			return bad("not a QoS 1 or QoS 2 PUBLISH with its identifier")
		}
	case recTheirs:
		x, ok := importStep(rd.byte(), true)
		if !ok || x != awaitPubrel { // the only step a journal holds
			return bad("step")
		}
		rec.step = x
	case recOursEnded, recTheirsEnded:
	default:
		return bad("unknown kind")
	}
	if rd.err != nil || len(rd.b) != 0 {
		return bad("malformed")
	}
	return rec, nil
}

// apply carries out one checked record.
func (c *Connection[ID]) apply(rec journalRecord[ID]) {
	switch rec.kind {
	case recSession:
		s := rec.session
		c.sess.version, c.sess.expiry = s.version, s.expiry
		c.sess.persists, c.sess.present = s.flags&1 != 0, s.flags&2 != 0
		c.journaled = s
		if !c.sess.persists {
			// The exchanges ended with a session that did not outlive its
			// connection; queued messages stay.
			for _, id := range c.outbound.Keys(nil) {
				c.outbound.Delete(id)
				c.stored.Delete(id)
				c.ids.Release(id)
			}
			c.inbound.Clear()
		}
	case recOurs:
		c.unqueue(rec.id)
		_ = c.ids.Use(rec.id)
		c.ids.SetLast(rec.id)
		c.outbound.Set(rec.id, rec.step)
		c.stored.Set(rec.id, rec.msg)
		c.sess.seq = max(c.sess.seq, rec.msg.seq)
	case recQueued:
		c.unqueue(rec.id)
		c.outbound.Delete(rec.id)
		c.stored.Delete(rec.id)
		_ = c.ids.Use(rec.id)
		c.ids.SetLast(rec.id)
		i := len(c.queue)
		for i > 0 && c.queue[i-1].seq > rec.msg.seq {
			i--
		}
		c.queue = append(c.queue, message{})
		copy(c.queue[i+1:], c.queue[i:])
		c.queue[i] = rec.msg
		c.sess.seq = max(c.sess.seq, rec.msg.seq)
	case recOursEnded:
		c.unqueue(rec.id)
		c.outbound.Delete(rec.id)
		c.stored.Delete(rec.id)
		c.ids.Release(rec.id)
	case recTheirs:
		c.inbound.Set(rec.id, rec.step)
	case recTheirsEnded:
		c.inbound.Delete(rec.id)
	}
}

// unqueue takes our message id out of the queue, if it is there.
func (c *Connection[ID]) unqueue(id ID) {
	for i, m := range c.queue {
		if mid, ok := messageID[ID](m); ok && mid == id {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			return
		}
	}
}
