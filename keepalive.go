package mqtt

import (
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// Keep-alive (section 3.1.2.10) and the timers: the client's PINGREQ
// interval and its wait for PINGRESP, the server's limit on a silent
// client, and the connect timeout of both sides. The caller runs the
// timers; the Connection says when to arm and stop them (arm, disarm) and
// ignores firings it no longer expects (due).

func (c *Connection[ID]) recvPingreq(p *packet.Pingreq) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	c.deliver(p)
	if !c.cfg.ManualPingresp {
		_ = c.write(&pingresp) // MQTT-3.12.4-1
	}
}

var (
	pingreq  packet.Pingreq
	pingresp packet.Pingresp
)

func (c *Connection[ID]) recvPingresp(p *packet.Pingresp) {
	if !c.connected() {
		c.fail(errUnexpected)
		return
	}
	if c.pingOutstanding {
		c.pingOutstanding = false
		c.disarm(TimerPingResponse)
	}
	c.deliver(p)
}

// TimerFired tells the Connection that the timer k, armed by an
// EventTimerReset, has expired. A firing of a timer that is not armed (it
// was cancelled, or the connection closed) is ignored; with Config.Clock, so
// is one that comes before the timer's deadline (the timer was re-armed
// after this firing was scheduled): the Connection then asks for the timer
// again for the time left.
func (c *Connection[ID]) TimerFired(k TimerKind) {
	if c.cfg.Trace != nil {
		c.traceCall(Input{Kind: InputTimerFired, Timer: k})
	}
	first := c.enter()
	if c.due(k) {
		switch {
		case k == TimerConnect:
			c.emit(Event[ID]{Kind: EventError, Err: ErrConnectTimeout})
			c.close()
		case !c.connected():
		case k == TimerPing:
			if err := c.write(&pingreq); err == nil && !c.pingOutstanding {
				c.pingOutstanding = true
				c.arm(TimerPingResponse, c.pingTimeout)
			}
		case k == TimerPingResponse && c.pingOutstanding:
			c.emit(Event[ID]{Kind: EventError, Err: ErrPingTimeout})
			c.close()
		case k == TimerKeepAlive:
			c.fail(ErrKeepAliveTimeout)
		}
	}
	c.leave(first)
}

// Opened tells a server Connection that a client's transport has opened:
// with Config.ConnectTimeout it arms TimerConnect, which closes the
// connection if no CONNECT arrives in time. A client arms that timer when
// it sends CONNECT, and Opened does nothing for it.
func (c *Connection[ID]) Opened() {
	if c.cfg.Trace != nil {
		c.traceCall(Input{Kind: InputOpened})
	}
	first := c.enter()
	if c.role == RoleServer && c.state == StateDisconnected && !c.closing && c.cfg.ConnectTimeout > 0 {
		c.arm(TimerConnect, c.cfg.ConnectTimeout)
	}
	c.leave(first)
}

// arm asks the caller to (re)arm timer k for d.
func (c *Connection[ID]) arm(k TimerKind, d time.Duration) {
	c.armed |= 1 << k
	if c.cfg.Clock != nil {
		if c.deadlines == nil {
			c.deadlines = new([timerLast]int64)
		}
		c.deadlines[k-1] = c.now().Add(d).UnixNano()
	}
	c.emit(Event[ID]{Kind: EventTimerReset, Timer: k, Duration: d})
}

// disarm asks the caller to stop timer k, if it is armed.
func (c *Connection[ID]) disarm(k TimerKind) {
	if c.armed&(1<<k) != 0 {
		c.armed &^= 1 << k
		c.emit(Event[ID]{Kind: EventTimerCancel, Timer: k})
	}
}

// due reports whether a firing of timer k is to be acted on, and disarms
// it then. See TimerFired.
func (c *Connection[ID]) due(k TimerKind) bool {
	if k < TimerPing || k > timerLast || c.armed&(1<<k) == 0 {
		return false
	}
	if c.cfg.Clock != nil && c.deadlines != nil {
		if left := time.Duration(c.deadlines[k-1] - c.now().UnixNano()); left > 0 {
			c.emit(Event[ID]{Kind: EventTimerReset, Timer: k, Duration: left})
			return false
		}
	}
	c.armed &^= 1 << k
	return true
}
