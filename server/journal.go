package server

// Journal is what a Handler that keeps its state on disk gives the
// Server (Config.Journal) so that no byte goes to a client before the
// state it depends on is durable: the core's session journal
// (mqtt.EventJournal) and the Handler's own records go into units, and
// a connection's bytes are written only once the units recorded for it
// before them are durable. A store may make many units durable at once
// (group commit): the connections wait for the same commit.
//
// What a connection records between taking its lock and letting go of it
// (a read and the Handler calls it makes, an OnWake, a Send from another
// goroutine) is one unit: Seal is called as the lock is let go of, and as
// the bytes to write are taken. Bytes are then written once Sync of the
// position Seal returned has returned.
type Journal interface {
	// Record receives a batch of c's core journal (mqtt.EventJournal),
	// with c's lock held, before the other events of the call that made
	// it. The batch is valid until the call returns.
	Record(c *Conn, batch []byte)
	// Seal ends c's open unit, if any, with c's lock held, and returns the
	// position in the store's log of the last unit sealed for c (0: none
	// to wait for).
	Seal(c *Conn) uint64
	// Sync returns once every unit up to pos is durable, or with the
	// error that keeps them from being so: the bytes are then not
	// written, and the connection ends with that error. It is called
	// without any lock of the Server held, on the goroutine that writes
	// (on the event loop, a worker; with a JournalNotifier, only once
	// Notify's fn was called, or Notify returned false).
	Sync(pos uint64) error
}

// record hands a journal batch to Config.Journal, with c.mu held.
func (c *Conn) record(batch []byte) {
	if j := c.srv.cfg.Journal; j != nil {
		j.Record(c, batch)
	}
}

// seal ends c's unit and returns the position its bytes wait for, with
// c.mu held.
func (c *Conn) seal() uint64 {
	if j := c.srv.cfg.Journal; j != nil {
		return j.Seal(c)
	}
	return 0
}

// synced waits until the units up to pos are durable, without c.mu.
func (c *Conn) synced(pos uint64) error {
	if pos == 0 {
		return nil
	}
	return c.srv.cfg.Journal.Sync(pos)
}

// JournalNotifier is what a Journal may add so that on the event loop no
// worker waits for a commit: bytes whose units are not yet durable are
// set aside, and the connection is written once Notify's fn is called,
// while the workers serve the other connections (a worker blocked in Sync
// would hold up every connection it could serve meanwhile, and the
// units they would add to the same commit).
type JournalNotifier interface {
	// Notify arranges for fn to be called once every unit up to pos is
	// durable, or cannot be (Sync then says why), on any goroutine and
	// without any lock of the Server held. It returns false, and does
	// not call fn, when that is so already.
	Notify(pos uint64, fn func()) bool
}

// takeOut takes the bytes to write next and the position they wait for,
// on the event loop, with c.mu held: bytes set aside before (now durable,
// or failed), else out. With a JournalNotifier, out is set aside instead
// when what it waits for is not yet durable (ok false): c.writing stays
// set, and c is scheduled again once it is.
func (c *Conn) takeOut() (buf []byte, pos uint64, ok bool) {
	if l := c.x.lazy.Load(); l != nil && l.held != nil {
		buf, pos = l.held, l.heldPos
		l.held, l.heldPos = nil, 0
		return buf, pos, true
	}
	buf, c.out = c.out, nil
	pos = c.seal()
	jn, _ := c.srv.cfg.Journal.(JournalNotifier)
	if pos == 0 || jn == nil {
		return buf, pos, true
	}
	l := c.x.extra()
	l.held, l.heldPos = buf, pos
	if !jn.Notify(pos, c.journalDone) {
		l.held, l.heldPos = nil, 0
		return buf, pos, true
	}
	return nil, 0, false
}

// journalDone is the fn of Notify: c's bytes set aside may go, unless c
// ended meanwhile (its bytes are then let go of: the event loop, which
// closes once no connection is left, may be gone).
func (c *Conn) journalDone() {
	c.mu.Lock()
	if c.ended {
		c.writing = false
		c.dropHeld()
	} else {
		c.srv.poll.schedule(c) // as senders do: with c.mu held, c not ended
	}
	c.unlock()
}

// hasHeld reports whether bytes are set aside for a commit, with c.mu
// held.
func (c *Conn) hasHeld() bool {
	l := c.x.lazy.Load()
	return l != nil && l.held != nil
}

// dropHeld lets go of bytes set aside of a connection that ended, with
// c.mu held.
func (c *Conn) dropHeld() {
	if l := c.x.lazy.Load(); l != nil && l.held != nil {
		c.backlog.Add(-int64(len(l.held)))
		l.held, l.heldPos = nil, 0
	}
}
