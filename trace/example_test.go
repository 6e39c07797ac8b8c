package trace_test

import (
	"bytes"
	"fmt"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/trace"
)

// Record a client Connection, then replay its trace: the replay puts out
// the recorded events, byte for byte.
func Example() {
	var file bytes.Buffer // an os.File, say, behind a bufio.Writer
	c := mqtt.NewClient(mqtt.Config{Trace: trace.NewRecorder(&file)}, func(e mqtt.Event[uint16]) {
		// write e.Bytes to the network, arm timers, ...
	})
	_ = c.Send(&packet.Connect{ClientID: "sensor-1", CleanStart: true, KeepAlive: 30})
	c.Recv([]byte{0x20, 0x03, 0x00, 0x00, 0x00}) // CONNACK: accepted
	_ = c.Send(&packet.Publish{Topic: "t", QoS: 1, Payload: []byte("21.5")})
	c.Recv([]byte{0x40, 0x02, 0x00, 0x01}) // PUBACK 1
	c.TimerFired(mqtt.TimerPing)

	t, err := trace.Parse(file.Bytes())
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := trace.Replay(t)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range out {
		fmt.Println(r)
	}
	fmt.Println("check:", trace.Check(t))
	// Output:
	// event send 101500044d5154540502001e00000873656e736f722d31
	// return nil
	// event packet CONNACK
	// event timer reset ping 30s
	// event send 320a00017400010032312e35
	// event timer reset ping 30s
	// return nil
	// event id released 1
	// event packet PUBACK
	// event send c000
	// event timer reset ping response 30s
	// event timer reset ping 30s
	// check: <nil>
}
