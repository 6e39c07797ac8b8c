package server

import (
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
)

// The core's timers of all of a Server's connections are one queue: a
// heap of deadlines and one runtime timer for the earliest. A
// time.AfterFunc per connection costs some 200 bytes (the runtime timer
// and its closure) that an idle connection keeps for its keep-alive; an
// entry of the heap is 24 bytes, and the Conn keeps 4 per kind.

// timerKinds is the number of the core's timer kinds: mqtt.TimerPing to
// mqtt.TimerConnect are 1 to 4 (a server runs the last two).
const timerKinds = 4

// timerQueue runs the timers of a Server's connections.
type timerQueue struct {
	epoch time.Time // deadlines are durations since, on the monotonic clock

	mu   sync.Mutex
	heap []timerEntry // a min-heap by when
	t    *time.Timer  // fires at armed, for heap[0]
	// armed is when t fires, 0 when it is stopped. A t that fires
	// before heap[0] is due (its entry was pushed back or removed) just
	// arms again.
	armed time.Duration
}

// timerEntry is a running timer: kind k of connection c, due at when.
type timerEntry struct {
	when time.Duration
	c    *Conn
	k    mqtt.TimerKind
}

func (q *timerQueue) init() {
	q.epoch = time.Now()
	q.t = time.AfterFunc(time.Hour, q.fire)
	q.t.Stop()
}

func (q *timerQueue) now() time.Duration { return time.Since(q.epoch) }

// resetTimer (re)arms timer k for d, with c.mu held. The core re-arms the
// keep-alive timer on every packet received; a timer that runs and is due
// no later than d from now is left running: it fires early, and the core
// (which has Config.Conn.Clock) asks for the time left then. That spares
// a change of the heap per packet.
func (c *Conn) resetTimer(k mqtt.TimerKind, d time.Duration) {
	if k < 1 || int(k) > timerKinds {
		return
	}
	q := &c.srv.timers
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	when := now + d
	if i := int(c.timers[k-1]) - 1; i >= 0 {
		if q.heap[i].when <= when {
			return
		}
		q.heap[i].when = when
		q.up(i)
	} else {
		q.heap = append(q.heap, timerEntry{when: when, c: c, k: k})
		q.place(len(q.heap) - 1)
		q.up(len(q.heap) - 1)
	}
	q.arm(now)
}

// stopTimer stops timer k, with c.mu held. (A timer that fires meanwhile
// finds the core expecting nothing of it, as with any stop that comes
// too late.)
func (c *Conn) stopTimer(k mqtt.TimerKind) {
	if k < 1 || int(k) > timerKinds {
		return
	}
	q := &c.srv.timers
	q.mu.Lock()
	if i := int(c.timers[k-1]) - 1; i >= 0 {
		q.remove(i)
	}
	if len(q.heap) == 0 {
		q.arm(0) // stopped; otherwise it may fire early, and arm again
	}
	q.mu.Unlock()
}

// timerFired runs the core's timer k, on the queue's goroutine.
func (c *Conn) timerFired(k mqtt.TimerKind) {
	c.mu.Lock()
	if !c.ended {
		c.mc.TimerFired(k)
	}
	c.unlock()
}

// fire runs the timers that are due, on the runtime timer's goroutine.
func (q *timerQueue) fire() {
	var due []timerEntry
	q.mu.Lock()
	now := q.now()
	q.armed = 0
	for len(q.heap) > 0 && q.heap[0].when <= now {
		due = append(due, q.heap[0])
		q.remove(0)
	}
	q.arm(now)
	q.mu.Unlock()
	for _, e := range due {
		e.c.timerFired(e.k)
	}
}

// arm has the runtime timer fire for heap[0], with q.mu held, unless it
// fires before then already.
func (q *timerQueue) arm(now time.Duration) {
	if len(q.heap) == 0 {
		if q.armed != 0 {
			q.t.Stop()
			q.armed = 0
		}
		return
	}
	if when := q.heap[0].when; q.armed == 0 || when < q.armed {
		q.armed = when
		q.t.Reset(max(when-now, 0))
	}
}

// place records where the entry at i is, in its Conn.
func (q *timerQueue) place(i int) {
	e := &q.heap[i]
	e.c.timers[e.k-1] = int32(i + 1)
}

// remove takes the entry at i out of the heap.
func (q *timerQueue) remove(i int) {
	e := q.heap[i]
	e.c.timers[e.k-1] = 0
	last := len(q.heap) - 1
	if i != last {
		q.heap[i] = q.heap[last]
		q.place(i)
	}
	q.heap[last] = timerEntry{}
	q.heap = q.heap[:last]
	if i != last {
		q.down(i)
		q.up(i)
	}
	if cap(q.heap) > 64 && len(q.heap) < cap(q.heap)/4 {
		q.heap = append([]timerEntry(nil), q.heap...)
	}
}

func (q *timerQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if q.heap[p].when <= q.heap[i].when {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *timerQueue) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(q.heap) {
			return
		}
		m := l
		if r := l + 1; r < len(q.heap) && q.heap[r].when < q.heap[l].when {
			m = r
		}
		if q.heap[i].when <= q.heap[m].when {
			return
		}
		q.swap(i, m)
		i = m
	}
}

func (q *timerQueue) swap(i, j int) {
	q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
	q.place(i)
	q.place(j)
}
