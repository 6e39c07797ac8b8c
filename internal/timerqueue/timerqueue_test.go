package timerqueue

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
)

type owner struct {
	id    int
	slots Slots
}

func ownerSlots(o *owner) *Slots { return &o.slots }

// The queue stays a heap whose entries know where they are, and each
// owner where its timers are, through resets (later ones left alone,
// earlier ones moved up) and stops in any order; with every timer
// stopped the runtime timer is stopped too.
func TestHeap(t *testing.T) {
	var q Queue[*owner]
	q.Init(ownerSlots, func(*owner, mqtt.TimerKind) { t.Error("a timer fired") })
	owners := make([]*owner, 100)
	for i := range owners {
		owners[i] = &owner{id: i}
	}
	running := map[*owner]map[mqtt.TimerKind]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 20000 {
		o := owners[r.IntN(len(owners))]
		k := mqtt.TimerKind(1 + r.IntN(Kinds))
		if running[o] == nil {
			running[o] = map[mqtt.TimerKind]bool{}
		}
		if r.IntN(3) == 0 {
			q.Stop(o, k)
			delete(running[o], k)
		} else {
			q.Reset(o, k, time.Duration(1+r.IntN(1000))*time.Hour)
			running[o][k] = true
		}
		entries := 0
		for _, o := range owners {
			for k, i := range o.slots {
				if (i != 0) != running[o][mqtt.TimerKind(k+1)] {
					t.Fatalf("op %d: timer %d of owner %d at %d, running: %v", n, k+1, o.id, i, running[o][mqtt.TimerKind(k+1)])
				}
				if i == 0 {
					continue
				}
				entries++
				if e := q.heap[i-1]; e.o != o || e.k != mqtt.TimerKind(k+1) {
					t.Fatalf("op %d: entry %d is %v, not kind %d of owner %d", n, i-1, e, k+1, o.id)
				}
			}
		}
		if entries != len(q.heap) {
			t.Fatalf("op %d: %d timers running, %d in the heap", n, entries, len(q.heap))
		}
		for i := 1; i < len(q.heap); i++ {
			if q.heap[(i-1)/2].when > q.heap[i].when {
				t.Fatalf("op %d: entry %d due before its parent", n, i)
			}
		}
	}
	for _, o := range owners {
		q.StopAll(o)
	}
	if len(q.heap) != 0 || q.armed != 0 {
		t.Errorf("%d entries left, runtime timer armed for %v", len(q.heap), q.armed)
	}
}

// Reset leaves a running timer alone when the new deadline is no
// earlier (with no clock read when the duration is no shorter), and
// moves it when it is earlier.
func TestResetKeepsEarlier(t *testing.T) {
	var q Queue[*owner]
	q.Init(ownerSlots, func(*owner, mqtt.TimerKind) {})
	o := &owner{}
	q.Reset(o, mqtt.TimerKeepAlive, time.Hour)
	e := q.heap[0]
	q.Reset(o, mqtt.TimerKeepAlive, 2*time.Hour)
	if q.heap[0] != e {
		t.Fatalf("a later reset moved the timer: %v, was %v", q.heap[0], e)
	}
	// A minute later by the queue's clock, a reset for less than the
	// hour it was set for but still due after it.
	q.epoch = q.epoch.Add(-time.Minute)
	q.Reset(o, mqtt.TimerKeepAlive, time.Hour-30*time.Second)
	if q.heap[0] != e {
		t.Fatalf("a reset due later moved the timer: %v, was %v", q.heap[0], e)
	}
	q.Reset(o, mqtt.TimerKeepAlive, time.Minute)
	if got := q.heap[0]; got.runs != 60000 || got.when >= e.when {
		t.Fatalf("an earlier reset left the timer at %v (runs %v), was at %v", got.when, got.runs, e.when)
	}
	if q.armed != q.heap[0].when {
		t.Errorf("runtime timer armed for %v, the timer is due at %v", q.armed, q.heap[0].when)
	}
	q.Stop(o, mqtt.TimerKeepAlive)
	q.Reset(o, 0, time.Second)       // out of range: ignored
	q.Reset(o, Kinds+1, time.Second) // too
	if len(q.heap) != 0 {
		t.Errorf("%d entries for kinds out of range", len(q.heap))
	}
}

// Timers fire, each once, earliest first; stopped ones do not.
func TestFire(t *testing.T) {
	var (
		mu    sync.Mutex
		fired []int
		done  = make(chan struct{})
	)
	var q Queue[*owner]
	q.Init(ownerSlots, func(o *owner, k mqtt.TimerKind) {
		mu.Lock()
		defer mu.Unlock()
		fired = append(fired, o.id*10+int(k))
		if len(fired) == 3 {
			close(done)
		}
	})
	a, b, c := &owner{id: 1}, &owner{id: 2}, &owner{id: 3}
	q.Reset(c, mqtt.TimerConnect, 30*time.Millisecond)
	q.Reset(a, mqtt.TimerKeepAlive, 10*time.Millisecond)
	q.Reset(b, mqtt.TimerKeepAlive, 20*time.Millisecond)
	q.Reset(b, mqtt.TimerConnect, 15*time.Millisecond)
	q.Stop(b, mqtt.TimerConnect)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the timers did not fire")
	}
	time.Sleep(30 * time.Millisecond) // a stopped timer that fires would show now
	mu.Lock()
	defer mu.Unlock()
	want := []int{1*10 + int(mqtt.TimerKeepAlive), 2*10 + int(mqtt.TimerKeepAlive), 3*10 + int(mqtt.TimerConnect)}
	if len(fired) != len(want) || fired[0] != want[0] || fired[1] != want[1] || fired[2] != want[2] {
		t.Errorf("fired %v, want %v", fired, want)
	}
	if q.Len() != 0 {
		t.Errorf("%d timers left", q.Len())
	}
}

// BenchmarkResetKept is the reset the core makes per packet: a timer
// that runs and is due earlier is left alone.
func BenchmarkResetKept(b *testing.B) {
	var q Queue[*owner]
	q.Init(ownerSlots, func(*owner, mqtt.TimerKind) {})
	o := &owner{}
	q.Reset(o, mqtt.TimerKeepAlive, time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		q.Reset(o, mqtt.TimerKeepAlive, time.Minute)
	}
}

// The duration a timer was set for is kept in milliseconds rounded up,
// so that a reset it lets pass is never due earlier than the timer; a
// duration beyond what 32 bits of milliseconds hold is unknown, and a
// reset compares deadlines.
func TestRunsRounding(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int32
	}{
		{0, 0},
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{90 * time.Second, 90000},
		{math.MaxInt32 * time.Millisecond, math.MaxInt32},
		{30 * 24 * time.Hour, math.MaxInt32},
	} {
		if got := millis(tc.d); got != tc.want {
			t.Errorf("millis(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
	var q Queue[*owner]
	q.Init(ownerSlots, func(*owner, mqtt.TimerKind) {})
	o := &owner{}
	q.Reset(o, mqtt.TimerKeepAlive, 30*24*time.Hour)
	q.Reset(o, mqtt.TimerKeepAlive, 25*24*time.Hour)
	if q.heap[0].when > q.now()+25*24*time.Hour {
		t.Errorf("a timer of 30 days kept for a reset to 25 days")
	}
}
