package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/mqttcore/mqtt"
	bolt "go.etcd.io/bbolt"
)

// restored is what OpenStore read, for New.
type restored struct {
	stopped     int64 // Unix ns of the last commit before this start (0: a new store)
	sessions    []*restoredSession
	retained    []*message
	retainedSeq uint64
	// notes are what the log is told at start (journals cut short, ...).
	notes []string
}

// restoredSession is a session as the store kept it.
type restoredSession struct {
	rec     *sessionRecord
	subs    map[string]subscription // by topic filter
	outbox  []delivery              // in order, with their sequences
	journal [][]byte                // the Connection's journal batches, in order
	state   []byte                  // ExportSession of the journal replayed
}

// load reads the store (creating its buckets), drops the records of
// sessions that ended (written by units that came after the end), and
// replays each session's journal into the state its next Connection
// imports.
func (st *Store) load() error {
	r := &restored{}
	bySID := map[uint64]*restoredSession{}
	var orphans [][2][]byte // bucket, key
	var maxSID uint64
	err := st.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch f := meta.Get(keyFormat); {
		case f == nil:
			if err := meta.Put(keyFormat, []byte{storeFormat}); err != nil {
				return err
			}
		case len(f) != 1 || f[0] != storeFormat:
			return fmt.Errorf("%w: format %v, want %d", ErrStore, f, storeFormat)
		}
		if v := meta.Get(keyAlive); len(v) == 8 {
			r.stopped = int64(binary.BigEndian.Uint64(v))
		}
		if v := meta.Get(keyLogSeq); len(v) == 8 {
			st.logSeq = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(keyNextID); len(v) == 8 {
			maxSID = binary.BigEndian.Uint64(v)
		}
		err := tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			rec, err := decodeSession(string(k), v)
			if err != nil {
				return fmt.Errorf("session %q: %w", k, err)
			}
			rs := &restoredSession{rec: rec, subs: map[string]subscription{}}
			bySID[rec.sid] = rs
			r.sessions = append(r.sessions, rs)
			maxSID = max(maxSID, rec.sid)
			return nil
		})
		if err != nil {
			return err
		}
		// Subscriptions, deliveries and journals, by session id: those
		// of no session are what units wrote after its end.
		each := func(name []byte, fn func(rs *restoredSession, rest, v []byte) error) error {
			return tx.Bucket(name).ForEach(func(k, v []byte) error {
				if len(k) < 8 {
					return fmt.Errorf("%w: key %x in %s", ErrStore, k, name)
				}
				sid := binary.BigEndian.Uint64(k)
				maxSID = max(maxSID, sid)
				rs := bySID[sid]
				if rs == nil {
					orphans = append(orphans, [2][]byte{name, bytes.Clone(k)})
					return nil
				}
				return fn(rs, k[8:], v)
			})
		}
		err = each(bucketSubs, func(rs *restoredSession, filter, v []byte) error {
			sub, err := decodeSubscription(v)
			if err != nil {
				return fmt.Errorf("subscription of %q: %w", rs.rec.clientID, err)
			}
			rs.subs[string(filter)] = sub
			return nil
		})
		if err != nil {
			return err
		}
		err = each(bucketOutbox, func(rs *restoredSession, seq, v []byte) error {
			d, err := decodeMessageRecord(v)
			if err != nil || len(seq) != 8 {
				return fmt.Errorf("delivery to %q: %w", rs.rec.clientID, errRecord)
			}
			d.seq = binary.BigEndian.Uint64(seq)
			rs.outbox = append(rs.outbox, d)
			return nil
		})
		if err != nil {
			return err
		}
		err = each(bucketLog, func(rs *restoredSession, _, v []byte) error {
			rs.journal = append(rs.journal, bytes.Clone(v))
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketRetained).ForEach(func(k, v []byte) error {
			if len(v) < 8 {
				return fmt.Errorf("retained message on %q: %w", k, errRecord)
			}
			seq := binary.BigEndian.Uint64(v)
			r.retainedSeq = max(r.retainedSeq, seq)
			d, err := decodeMessageRecord(v[8:])
			if err != nil {
				return fmt.Errorf("retained message on %q: %w", k, err)
			}
			if len(d.msg.payload) > 0 {
				r.retained = append(r.retained, d.msg)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, o := range orphans {
			if err := tx.Bucket(o[0]).Delete(o[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.nextSID.Store(maxSID)
	for _, rs := range r.sessions {
		rs.state = replayJournal(rs, &r.notes)
		rs.journal = nil
	}
	slices.SortFunc(r.sessions, func(a, b *restoredSession) int { return cmpString(a.rec.clientID, b.rec.clientID) })
	st.restored = r
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// replayJournal rebuilds the Connection state of a session from its
// journal, as the next Connection imports it (ExportSession); nil for
// none. A batch that does not replay (it cannot be torn: a batch is
// committed whole) stops the replay there, and is noted.
func replayJournal(rs *restoredSession, notes *[]string) []byte {
	if len(rs.journal) == 0 || !rs.rec.persistent {
		return nil
	}
	mc := mqtt.NewServer[uint16](mqtt.Config{}, func(mqtt.Event[uint16]) {})
	for i, batch := range rs.journal {
		if err := mc.Replay(batch); err != nil {
			*notes = append(*notes, fmt.Sprintf("client %q: journal batch %d of %d refused, the session state stops before it: %v",
				rs.rec.clientID, i+1, len(rs.journal), err))
			break
		}
	}
	return mc.ExportSession()
}
