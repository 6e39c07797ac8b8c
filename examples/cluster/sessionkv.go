package cluster

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The sessions bucket (Config.SessionBucket) holds two keys for each
// client identifier, escaped by sessionKey:
//
//	o.<id>  its owner: the node that holds the session (8 bytes, the
//	        node's origin number) and flags (1 byte; bit 0: the claim
//	        asked for a clean start). Its revision is the claim.
//	s.<id>  the session as last written: format 1 (1 byte), flags (1
//	        byte; bit 0: a handover), the claim the writer held it under
//	        (8 bytes), then the broker's snapshot (empty: no session).
//	f.<id>  the session's floor as last saved (floor.go): format 1 (1
//	        byte), the claim the writer held it under (8 bytes), the
//	        floor, a stream sequence (8 bytes).

// sessionKey escapes a client identifier into a KV key token: letters,
// digits, '-' and '_' stay, every other byte is "=XX" (hexadecimal), so
// that distinct identifiers have distinct keys.
func sessionKey(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// clientID is the client identifier of a key token of sessionKey.
func clientID(key string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		if key[i] != '=' {
			b.WriteByte(key[i])
			continue
		}
		var c byte
		if i+2 >= len(key) {
			return "", fmt.Errorf("cluster: session key %q cut short", key)
		}
		if _, err := fmt.Sscanf(key[i+1:i+3], "%02X", &c); err != nil {
			return "", fmt.Errorf("cluster: session key %q: %w", key, err)
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), nil
}

const (
	ownerPrefix   = "o."
	sessionPrefix = "s."
	floorPrefix   = "f."
	sessionFormat = 1
	floorFormat   = 1
	ownerClean    = 1 // owner flags
	sessHandover  = 1 // session flags
)

func ownerValue(node uint64, cleanStart bool) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 9), node)
	if cleanStart {
		return append(v, ownerClean)
	}
	return append(v, 0)
}

func parseOwner(v []byte) (node uint64, cleanStart bool, ok bool) {
	if len(v) != 9 {
		return 0, false, false
	}
	return binary.BigEndian.Uint64(v), v[8]&ownerClean != 0, true
}

func sessionValue(handover bool, holder uint64, data []byte) []byte {
	v := append(make([]byte, 0, 10+len(data)), sessionFormat, 0)
	if handover {
		v[1] = sessHandover
	}
	v = binary.BigEndian.AppendUint64(v, holder)
	return append(v, data...)
}

func parseSession(v []byte) (handover bool, holder uint64, data []byte, ok bool) {
	if len(v) < 10 || v[0] != sessionFormat {
		return false, 0, nil, false
	}
	return v[1]&sessHandover != 0, binary.BigEndian.Uint64(v[2:]), v[10:], true
}

// boolFloor is a kvWrite's floor of an end: 1 when the floor is to be
// deleted too.
func boolFloor(floored bool) uint64 {
	if floored {
		return 1
	}
	return 0
}

func floorValue(holder, floor uint64) []byte {
	v := append(make([]byte, 0, 17), floorFormat)
	v = binary.BigEndian.AppendUint64(v, holder)
	return binary.BigEndian.AppendUint64(v, floor)
}

func parseFloor(v []byte) (holder, floor uint64, ok bool) {
	if len(v) != 17 || v[0] != floorFormat {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(v[1:]), binary.BigEndian.Uint64(v[9:]), true
}

// kvWrite is a write of the node to the sessions bucket: the session of
// id saved or handed over (value), or its end (end: the session, and its
// floor if floor is not 0 (this node saved one), deleted, then the owner
// key if still of the claim rev; if it is not, another node claimed it
// meanwhile and waits for a handover: an empty one); or its floor
// (floor.go: putFloors, saved under the claim rev, not through the
// writer).
type kvWrite struct {
	id    string
	value []byte
	floor uint64
	end   bool
	rev   uint64
}

// writer makes the node's writes to the sessions bucket one at a time,
// in the order they were queued: a handover after the saves before it.
type writer struct {
	kv      jetstream.KeyValue
	logWarn func(msg string, args ...any)
	timeout time.Duration

	mu      sync.Mutex
	queue   []kvWrite
	writing bool          // a write taken from queue is being made
	stopped bool          // no more writes are queued
	kick    chan struct{} // a write queued, or stopped
	done    chan struct{} // closed when run has returned
}

func newWriter(kv jetstream.KeyValue, timeout time.Duration, logWarn func(string, ...any)) *writer {
	w := &writer{kv: kv, timeout: timeout, logWarn: logWarn, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w
}

// add queues a write; nothing once stopped.
func (w *writer) add(x kvWrite) {
	w.mu.Lock()
	if !w.stopped {
		w.queue = append(w.queue, x)
	}
	w.mu.Unlock()
	w.poke()
}

func (w *writer) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// stop makes the writes queued (drain) or drops them, and waits for the
// writer to end, at most until ctx ends.
func (w *writer) stop(ctx context.Context, drain bool) {
	w.mu.Lock()
	w.stopped = true
	if !drain {
		w.queue = nil
	}
	w.mu.Unlock()
	w.poke()
	select {
	case <-w.done:
	case <-ctx.Done():
	}
}

func (w *writer) run() {
	defer close(w.done)
	for range w.kick {
		for {
			w.mu.Lock()
			if len(w.queue) == 0 {
				stopped := w.stopped
				w.mu.Unlock()
				if stopped {
					return
				}
				break
			}
			x := w.queue[0]
			w.queue[0] = kvWrite{}
			w.queue = w.queue[1:]
			w.writing = true
			w.mu.Unlock()
			if err := w.write(x); err != nil {
				w.logWarn("cluster: session not written", "client", x.id, "err", err)
			}
			w.mu.Lock()
			w.writing = false
			w.mu.Unlock()
		}
	}
}

func (w *writer) write(x kvWrite) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	k := sessionKey(x.id)
	if !x.end {
		_, err := w.kv.Put(ctx, sessionPrefix+k, x.value)
		return err
	}
	if x.floor != 0 {
		if err := w.kv.Delete(ctx, floorPrefix+k); err != nil {
			return err
		}
	}
	if err := w.kv.Delete(ctx, sessionPrefix+k); err != nil {
		return err
	}
	if err := w.kv.Delete(ctx, ownerPrefix+k, jetstream.LastRevision(x.rev)); err != nil {
		if ctx.Err() != nil {
			return err
		}
		// Claimed by another node meanwhile, which waits for this one to
		// hand the session over: there is none.
		_, err = w.kv.Put(ctx, sessionPrefix+k, sessionValue(true, x.rev, nil))
		return err
	}
	return nil
}
