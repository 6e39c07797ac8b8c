package mqtt_test

import (
	"fmt"
	"time"

	mqtt "github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// A driver runs the Connection's timers with one time.Timer per kind,
// created on the first EventTimerReset of that kind and re-armed with Reset
// after that. Its expiries come back to the goroutine that owns the
// Connection, which calls TimerFired. Here the server never answers the
// CONNECT, so the connect timer fires.
func ExampleTimerKind() {
	timers := map[mqtt.TimerKind]*time.Timer{}
	expired := make(chan mqtt.TimerKind, 1)
	closed := false

	c := mqtt.NewClient(mqtt.Config{ConnectTimeout: 50 * time.Millisecond}, func(e mqtt.Event[uint16]) {
		switch e.Kind {
		case mqtt.EventSend:
			fmt.Println("write", e.Packet.Type()) // conn.Write(e.Bytes)
		case mqtt.EventTimerReset:
			fmt.Println("arm the", e.Timer, "timer for", e.Duration)
			if t, ok := timers[e.Timer]; ok {
				t.Reset(e.Duration)
			} else {
				k := e.Timer
				timers[k] = time.AfterFunc(e.Duration, func() { expired <- k })
			}
		case mqtt.EventTimerCancel:
			if t, ok := timers[e.Timer]; ok {
				t.Stop()
			}
		case mqtt.EventError:
			fmt.Println("error:", e.Err)
		case mqtt.EventClose:
			fmt.Println("close the transport")
			closed = true
		}
	})
	if err := c.Send(&packet.Connect{ClientID: "sensor-7", CleanStart: true, KeepAlive: 30}); err != nil {
		fmt.Println(err)
		return
	}
	for !closed {
		// A real driver also selects on what it reads from the transport.
		c.TimerFired(<-expired)
	}
	// Output:
	// write CONNECT
	// arm the connect timer for 50ms
	// error: mqtt: handshake not completed in time
	// close the transport
}
