// Package timerqueue runs the core's timers (mqtt.TimerKind) for the
// drivers, package client and package server: a heap of deadlines under
// one runtime timer, for the connections of a Server or the connection
// of a Client.
//
// What the drivers share, and why it lives here:
//
//   - The rule that spares a change of the timer per packet. The core
//     re-arms its keep-alive timer with every packet (the client's with
//     every packet sent, the server's with every packet received); a
//     timer that runs and is due no later than the new deadline is left
//     running: it fires early, and the core, which has the driver's
//     clock (mqtt.Config.Clock), ignores the firing and asks for the time
//     left. Reset decides that first from durations alone (a timer last
//     set for runs is due within runs of any later moment, so a reset
//     for d >= runs needs no clock read; runs is kept in milliseconds,
//     rounded up, so that an entry stays 24 bytes), then from the
//     deadline.
//   - One runtime timer per queue rather than a time.AfterFunc per timer:
//     an idle server connection keeps 24 bytes of heap entry for its
//     keep-alive instead of some 200 (the runtime timer and its
//     closure), and a Client one runtime timer instead of three.
//   - Where each owner's timers are in the heap (Slots, kept by the
//     owner), so that Reset and Stop find them without a map.
//
// What stays with each driver: the lock that serialises the calls on a
// connection's core (Client.mu, Conn.mu; the queue has its own, taken
// under it) and what a firing does with it (fire is the driver's
// function, called without the queue's lock, in the order the timers
// were due); which timers to stop when a connection ends; a Server has
// one queue for all its connections, a Client one of its own (a queue
// shared by all the Clients of a process would put every Client's
// keep-alive reset under one lock).
package timerqueue

import (
	"math"
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
)

// Kinds is the number of the core's timer kinds: mqtt.TimerPing to
// mqtt.TimerConnect are 1 to Kinds.
const Kinds = 4

// Slots is where an owner's timers are in its queue's heap, by kind less
// 1: the index plus 1, 0 for a timer that does not run. The owner keeps
// it, the queue's lock guards it.
type Slots = [Kinds]int32

// Queue runs the timers of owners of type O. Init it before use; its
// methods are safe for concurrent use.
type Queue[O comparable] struct {
	slots func(O) *Slots
	fire  func(O, mqtt.TimerKind)
	epoch time.Time // deadlines are durations since, on the monotonic clock

	mu   sync.Mutex
	heap []entry[O] // a min-heap by when
	t    *time.Timer
	// armed is when t fires, 0 while it is stopped. A t that fires
	// before heap[0] is due (its entry was pushed back or removed) arms
	// again.
	armed time.Duration
}

// entry is a running timer: kind k of owner o, due at when, last set for
// runs milliseconds (rounded up; unknown at math.MaxInt32, beyond 24
// days). 24 bytes.
type entry[O comparable] struct {
	when time.Duration
	o    O
	runs int32
	k    mqtt.TimerKind
}

// millis returns d in milliseconds rounded up, or math.MaxInt32 when it
// is that long or longer.
func millis(d time.Duration) int32 {
	return int32(min((d+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
}

// Init prepares q: slots returns where an owner keeps its Slots, and
// fire runs timer k of owner o when it is due, on a goroutine of the
// runtime timer, without q's lock.
func (q *Queue[O]) Init(slots func(O) *Slots, fire func(o O, k mqtt.TimerKind)) {
	q.slots, q.fire = slots, fire
	q.epoch = time.Now()
	q.t = time.AfterFunc(time.Hour, q.run)
	q.t.Stop()
}

func (q *Queue[O]) now() time.Duration { return time.Since(q.epoch) }

// Reset (re)arms timer k of o for d from now, unless it runs and is due
// no later than that: it is left running then (see the package doc).
// Kinds out of range are ignored.
func (q *Queue[O]) Reset(o O, k mqtt.TimerKind, d time.Duration) {
	if k < 1 || int(k) > Kinds {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.slots(o)
	var now time.Duration
	if i := int(s[k-1]) - 1; i >= 0 {
		e := &q.heap[i]
		if e.runs != math.MaxInt32 && d >= time.Duration(e.runs)*time.Millisecond {
			return
		}
		now = q.now()
		if e.when <= now+d {
			return
		}
		e.when, e.runs = now+d, millis(d)
		q.up(i)
	} else {
		now = q.now()
		q.heap = append(q.heap, entry[O]{when: now + d, runs: millis(d), o: o, k: k})
		q.place(len(q.heap) - 1)
		q.up(len(q.heap) - 1)
	}
	q.arm(now)
}

// Stop stops timer k of o. A firing that is under way may still run
// fire: as with any stop that comes too late, the core finds nothing
// due then.
func (q *Queue[O]) Stop(o O, k mqtt.TimerKind) {
	if k < 1 || int(k) > Kinds {
		return
	}
	q.mu.Lock()
	if i := int(q.slots(o)[k-1]) - 1; i >= 0 {
		q.remove(i)
	}
	if len(q.heap) == 0 {
		q.arm(0) // stopped; otherwise it may fire early, and arm again
	}
	q.mu.Unlock()
}

// StopAll stops every timer of o.
func (q *Queue[O]) StopAll(o O) {
	for k := range mqtt.TimerKind(Kinds) {
		q.Stop(o, k+1)
	}
}

// Len returns the number of timers running.
func (q *Queue[O]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.heap)
}

// run fires the timers that are due, on the runtime timer's goroutine.
func (q *Queue[O]) run() {
	var due []entry[O]
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
		q.fire(e.o, e.k)
	}
}

// arm has the runtime timer fire for heap[0], with q.mu held, unless it
// fires before then already.
func (q *Queue[O]) arm(now time.Duration) {
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

// place records where the entry at i is, in its owner's Slots.
func (q *Queue[O]) place(i int) {
	e := &q.heap[i]
	q.slots(e.o)[e.k-1] = int32(i + 1)
}

// remove takes the entry at i out of the heap.
func (q *Queue[O]) remove(i int) {
	e := q.heap[i]
	q.slots(e.o)[e.k-1] = 0
	last := len(q.heap) - 1
	if i != last {
		q.heap[i] = q.heap[last]
		q.place(i)
	}
	q.heap[last] = entry[O]{}
	q.heap = q.heap[:last]
	if i != last {
		q.down(i)
		q.up(i)
	}
	if cap(q.heap) > 64 && len(q.heap) < cap(q.heap)/4 {
		q.heap = append([]entry[O](nil), q.heap...)
	}
}

func (q *Queue[O]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if q.heap[p].when <= q.heap[i].when {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *Queue[O]) down(i int) {
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

func (q *Queue[O]) swap(i, j int) {
	q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
	q.place(i)
	q.place(j)
}
