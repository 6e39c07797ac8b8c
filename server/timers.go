package server

import (
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/internal/timerqueue"
)

// The core's timers of all of a Server's connections are one queue
// (internal/timerqueue, shared with package client): a heap of
// deadlines and one runtime timer for the earliest. A time.AfterFunc
// per connection costs some 200 bytes (the runtime timer and its
// closure) that an idle connection keeps for its keep-alive; an entry of
// the heap is 24 bytes, and the Conn keeps 4 per kind.

// timerKinds is the number of the core's timer kinds (a server runs
// mqtt.TimerKeepAlive and mqtt.TimerConnect).
const timerKinds = timerqueue.Kinds

// timerQueue runs the timers of a Server's connections.
type timerQueue struct {
	timerqueue.Queue[*Conn]
}

func (q *timerQueue) init() { q.Init(connTimers, (*Conn).timerFired) }

// connTimers returns where c's timers are in the queue.
func connTimers(c *Conn) *timerqueue.Slots { return &c.timers }

// resetTimer (re)arms timer k for d, with c.mu held; a timer due no
// later is left running (see internal/timerqueue).
func (c *Conn) resetTimer(k mqtt.TimerKind, d time.Duration) { c.srv.timers.Reset(c, k, d) }

// stopTimer stops timer k, with c.mu held.
func (c *Conn) stopTimer(k mqtt.TimerKind) { c.srv.timers.Stop(c, k) }

// timerFired runs the core's timer k, on the queue's goroutine.
func (c *Conn) timerFired(k mqtt.TimerKind) {
	c.mu.Lock()
	if !c.ended {
		c.mc.TimerFired(k)
	}
	c.unlock()
}
