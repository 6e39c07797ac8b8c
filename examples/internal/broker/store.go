package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Store keeps the broker's state in a bbolt file, so that a broker
// started again on it (Config.Store) resumes where the last one stopped:
// sessions (subscriptions, the messages queued for them, the Connection's
// own state through its session journal), retained messages and the
// wills still to publish.
//
// What the broker records goes into units (store unit: one
// connection's records between taking its lock and letting go of it, see
// server.Journal), and the units are made durable in groups: one bbolt
// transaction, one commit and its fsync, for every unit sealed while the
// last commit ran (group commit). A connection's bytes wait for the
// commit holding the units recorded for it before them: a PUBACK or
// PUBREC for the commit that holds the message in the outboxes of the
// persistent sessions it goes to (and the retained message), a PUBLISH
// to a subscriber for the one that records it in the subscriber's
// session. A delivery to a persistent session is taken from its outbox
// only once the commit that holds it is done, so no record of a delivery
// can be durable before the message it delivers.
type Store struct {
	db   *bolt.DB
	path string

	// restored is what OpenStore read, for New to build the broker from.
	restored *restored

	mu       sync.Mutex
	queue    []*unit   // sealed, not yet committed
	sealed   uint64    // the position of the last unit sealed
	closed   bool      // Close was called
	ended    bool      // the committer has ended
	err      error     // the commit that failed: the store takes no more
	synced   sync.Cond // broadcast after each commit (with mu)
	kick     chan struct{}
	done     chan struct{} // closed when the committer has ended
	logSeq   uint64        // the key of the last journal batch (committer's)
	onCommit func([]*unit) // the broker's: wake the sessions with deliveries staged in these units
	waiting  []notifyAt    // the callers of notify waiting for a commit

	committed atomic.Uint64 // the position of the last unit committed
	nextSID   atomic.Uint64 // the session ids handed out so far
	commits   atomic.Uint64 // for Stats
}

// heartbeat is how often an idle store commits the time, by which a
// broker started again tells how long it was down (see
// Config.Store): the downtime counts from the last commit.
const heartbeat = time.Second

// The buckets of the file.
var (
	bucketMeta     = []byte("meta")
	bucketSessions = []byte("sessions") // client identifier -> session record
	bucketSubs     = []byte("subs")     // session id, topic filter -> subscription record
	bucketOutbox   = []byte("outbox")   // session id, delivery sequence -> delivery record
	bucketLog      = []byte("log")      // session id, batch sequence -> the Connection's journal batch
	bucketRetained = []byte("retained") // topic -> retained record
	allBuckets     = [][]byte{bucketMeta, bucketSessions, bucketSubs, bucketOutbox, bucketLog, bucketRetained}

	keyFormat = []byte("format") // storeFormat
	keyAlive  = []byte("alive")  // Unix ns of the last commit
	keyLogSeq = []byte("logseq") // the key of the last journal batch
	keyNextID = []byte("nextid") // the session ids handed out so far
	keyMark   = []byte("mark/")  // + a key of the cluster's: the position it last had taken (remote.go)
)

// ErrStore is wrapped by the errors of OpenStore for a file that is not a
// store of this broker, or is damaged.
var ErrStore = errors.New("broker: invalid store")

// OpenStore opens the store at path, or creates it, and reads what it
// holds; Config.Store gives it to New. It fails if another process has
// it open (bbolt locks the file), waiting at most a second.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("broker: store %s: %w", path, err)
	}
	st := &Store{db: db, path: path, kick: make(chan struct{}, 1), done: make(chan struct{})}
	st.synced.L = &st.mu
	if err := st.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("broker: store %s: %w", path, err)
	}
	go st.commitLoop()
	return st, nil
}

// Close commits what was sealed, records the time (from which a broker
// started again counts its downtime) and closes the file. Call it after
// Broker.Shutdown.
func (st *Store) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	st.mu.Unlock()
	st.poke()
	<-st.done
	st.mu.Lock()
	err := st.err
	st.mu.Unlock()
	return errors.Join(err, st.db.Close())
}

// newSID returns a session id not used before: the keys of a session's
// records, so that those of a session that ended are never taken for
// those of the next one of the same client.
func (st *Store) newSID() uint64 { return st.nextSID.Add(1) }

// Commits returns the number of commits so far.
func (st *Store) Commits() uint64 { return st.commits.Load() }

func (st *Store) poke() {
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// unit is the records of one connection between taking its lock and
// letting go of it (or a timer's, or a will's), committed whole.
type unit struct {
	st   *Store
	ops  []storeOp
	wake []*session // sessions with deliveries staged in this unit
	pos  atomic.Uint64
}

// committed reports whether the unit's commit is done.
func (u *unit) committed() bool {
	p := u.pos.Load()
	return p != 0 && p <= u.st.committed.Load()
}

// seal queues u for the next commit, and returns its position; an empty
// unit is dropped (0).
func (st *Store) seal(u *unit) uint64 {
	if len(u.ops) == 0 && len(u.wake) == 0 {
		return 0
	}
	st.mu.Lock()
	st.sealed++
	pos := st.sealed
	u.pos.Store(pos)
	st.queue = append(st.queue, u)
	st.mu.Unlock()
	st.poke()
	return pos
}

// sync returns once the units up to pos are committed, or with the error
// that keeps them from being so.
func (st *Store) sync(pos uint64) error {
	if pos <= st.committed.Load() {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for pos > st.committed.Load() && st.err == nil && !st.ended {
		st.synced.Wait()
	}
	switch {
	case pos <= st.committed.Load():
		return nil
	case st.err != nil:
		return st.err
	}
	return errStoreClosed
}

var errStoreClosed = errors.New("broker: store closed")

// notifyAt is a function waiting for the commit of the units up to pos.
type notifyAt struct {
	pos uint64
	fn  func()
}

// notify calls fn once the units up to pos are committed, or cannot be
// (sync then says why); false, without calling it, when that is so
// already.
func (st *Store) notify(pos uint64, fn func()) bool {
	if pos <= st.committed.Load() {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if pos <= st.committed.Load() || st.err != nil || st.ended {
		return false
	}
	st.waiting = append(st.waiting, notifyAt{pos, fn})
	return true
}

// callNotified calls the functions of due on a goroutine of their own:
// they take the locks of connections, which the next commit does not
// wait for.
func callNotified(due []notifyAt) {
	if len(due) == 0 {
		return
	}
	go func() {
		for _, n := range due {
			n.fn()
		}
	}()
}

// notified takes the functions of notify whose wait is over, with st.mu
// held.
func (st *Store) notified() []notifyAt {
	var due []notifyAt
	keep := st.waiting[:0]
	for _, n := range st.waiting {
		if n.pos <= st.committed.Load() || st.err != nil || st.ended {
			due = append(due, n)
		} else {
			keep = append(keep, n)
		}
	}
	clear(st.waiting[len(keep):])
	st.waiting = keep
	return due
}

// commitLoop commits what was sealed while the last commit ran, and the
// time once a heartbeat when nothing else comes.
func (st *Store) commitLoop() {
	defer func() {
		st.mu.Lock()
		st.ended = true
		st.synced.Broadcast()
		due := st.notified()
		st.mu.Unlock()
		callNotified(due)
		close(st.done)
	}()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-st.kick:
		case <-tick.C:
			if time.Since(last) < heartbeat {
				continue
			}
		}
		st.mu.Lock()
		units, pos, closed := st.queue, st.sealed, st.closed
		st.queue = nil
		failed := st.err != nil
		st.mu.Unlock()
		if failed {
			if closed {
				return
			}
			continue
		}
		err := st.commit(units)
		last = time.Now()
		st.mu.Lock()
		if err != nil {
			st.err = fmt.Errorf("broker: store commit: %w", err)
		} else {
			st.committed.Store(pos)
			st.commits.Add(1)
		}
		st.synced.Broadcast()
		onCommit := st.onCommit
		due := st.notified()
		st.mu.Unlock()
		callNotified(due)
		if err == nil && onCommit != nil {
			onCommit(units)
		}
		if closed {
			return
		}
	}
}

// commit applies the units in one transaction.
func (st *Store) commit(units []*unit) error {
	return st.db.Update(func(tx *bolt.Tx) error {
		b := storeTx{tx: tx, st: st}
		for _, name := range [][]byte{bucketOutbox, bucketLog} {
			tx.Bucket(name).FillPercent = appendFill
		}
		for _, u := range units {
			for i := range u.ops {
				if err := b.apply(&u.ops[i]); err != nil {
					return err
				}
			}
			u.ops = nil
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyLogSeq, be64(st.logSeq)); err != nil {
			return err
		}
		if err := meta.Put(keyNextID, be64(st.nextSID.Load())); err != nil {
			return err
		}
		return meta.Put(keyAlive, be64(uint64(time.Now().UnixNano())))
	})
}

// appendFill is how full the pages of the outboxes and journals are
// when they split (bbolt's Bucket.FillPercent; 0.5 by default): their
// keys (session id, then a sequence) grow, so a page split at the end
// keeps its first part as it is, and fuller pages are fewer pages
// written per commit.
const appendFill = 0.95

// storeOp is one record of a unit.
type storeOp struct {
	kind   byte
	sid    uint64 // the session's id
	seq    uint64 // opOutbox, opTaken: the delivery's sequence; opRetain: the retained message's; opMark: the position
	name   string // opSession, opDropSession: the client identifier; opSub, opUnsub: the topic filter; opRetain: the topic; opMark: the key
	value  []byte
	expect uint64 // opDropSession: the session id the record must have to be deleted
}

// The kinds of storeOp.
const (
	opSession     = iota + 1 // put the session record
	opDropSession            // delete the session record (if still of expect) and all of its data
	opSub                    // put a subscription
	opUnsub                  // delete a subscription
	opOutbox                 // put a delivery
	opTaken                  // delete the deliveries up to seq
	opLog                    // append a journal batch
	opLogReset               // replace the session's journal by value, a snapshot
	opRetain                 // put (or, empty, delete) a retained message, if newer than the one stored
	opMark                   // put the cluster's position seq under name, if above the one stored
)

// storeTx applies storeOps in a transaction.
type storeTx struct {
	tx *bolt.Tx
	st *Store
}

func (b storeTx) apply(op *storeOp) error {
	switch op.kind {
	case opSession:
		return b.tx.Bucket(bucketSessions).Put([]byte(op.name), op.value)
	case opDropSession:
		sessions := b.tx.Bucket(bucketSessions)
		if v := sessions.Get([]byte(op.name)); v != nil {
			if r, err := decodeSession(op.name, v); err != nil || r.sid == op.expect {
				if err := sessions.Delete([]byte(op.name)); err != nil {
					return err
				}
			}
		}
		for _, name := range [][]byte{bucketSubs, bucketOutbox, bucketLog} {
			if err := deletePrefix(b.tx.Bucket(name), be64(op.sid), nil); err != nil {
				return err
			}
		}
		return nil
	case opSub:
		return b.tx.Bucket(bucketSubs).Put(append(be64(op.sid), op.name...), op.value)
	case opUnsub:
		return b.tx.Bucket(bucketSubs).Delete(append(be64(op.sid), op.name...))
	case opOutbox:
		return b.tx.Bucket(bucketOutbox).Put(sidSeq(op.sid, op.seq), op.value)
	case opTaken:
		return deletePrefix(b.tx.Bucket(bucketOutbox), be64(op.sid), sidSeq(op.sid, op.seq))
	case opLogReset:
		if err := deletePrefix(b.tx.Bucket(bucketLog), be64(op.sid), nil); err != nil {
			return err
		}
		fallthrough
	case opLog:
		b.st.logSeq++
		return b.tx.Bucket(bucketLog).Put(sidSeq(op.sid, b.st.logSeq), op.value)
	case opRetain:
		ret := b.tx.Bucket(bucketRetained)
		if old := ret.Get([]byte(op.name)); len(old) >= 8 && binary.BigEndian.Uint64(old) > op.seq {
			return nil // a later message replaced it: the units of two publishers came in the other order
		}
		return ret.Put([]byte(op.name), op.value)
	case opMark:
		meta, k := b.tx.Bucket(bucketMeta), append(bytes.Clone(keyMark), op.name...)
		if old := meta.Get(k); len(old) == 8 && binary.BigEndian.Uint64(old) >= op.seq {
			return nil
		}
		return meta.Put(k, be64(op.seq))
	}
	return fmt.Errorf("unknown store record %d", op.kind)
}

// deletePrefix deletes the keys of b that start with prefix, up to last
// included (nil: all of them).
func deletePrefix(b *bolt.Bucket, prefix, last []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && (last == nil || bytes.Compare(k, last) <= 0); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 16), n) }

func sidSeq(sid, seq uint64) []byte { return binary.BigEndian.AppendUint64(be64(sid), seq) }
