package mqtt_test

import (
	"fmt"
	"net"
	"sync"
	"time"

	mqtt "github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// A client over a net.Conn, as the README shows it: one mutex serialises
// the calls on the Connection from the read loop, the timers and the
// application; the handler writes, runs the timers, and subscribes when
// the CONNACK arrives (a call from inside the handler is safe). The server
// at the other end of the pipe is a Connection too, in its own goroutine.
func ExampleNewClient() {
	conn, serverConn := net.Pipe()
	go serveOne(serverConn)

	var mu sync.Mutex
	timers := map[mqtt.TimerKind]*time.Timer{}
	got := make(chan string, 1)
	var c *mqtt.Connection[uint16]
	c = mqtt.NewClient(mqtt.Config{Version: packet.V5, ConnectTimeout: 5 * time.Second, Clock: time.Now},
		func(e mqtt.Event[uint16]) {
			switch e.Kind {
			case mqtt.EventSend:
				if _, err := conn.Write(e.Bytes); err != nil {
					conn.Close()
				}
			case mqtt.EventTimerReset:
				k := e.Timer
				if t, ok := timers[k]; ok {
					t.Reset(e.Duration)
				} else {
					timers[k] = time.AfterFunc(e.Duration, func() { mu.Lock(); defer mu.Unlock(); c.TimerFired(k) })
				}
			case mqtt.EventTimerCancel:
				if t, ok := timers[e.Timer]; ok {
					t.Stop()
				}
			case mqtt.EventPacket:
				switch p := e.Packet.(type) {
				case *packet.Connack:
					err := c.Send(&packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "cmd/#", QoS: 1}}})
					if err != nil {
						fmt.Println(err)
					}
				case *packet.Suback:
					fmt.Println("subscribed:", p.Reasons)
				case *packet.Publish:
					got <- fmt.Sprintf("%s: %s", p.Topic, p.Payload) // a copy: p aliases the read buffer
				}
			case mqtt.EventClose:
				conn.Close()
			}
		})

	mu.Lock()
	err := c.Send(&packet.Connect{ClientID: "sensor-7", CleanStart: true, KeepAlive: 30})
	mu.Unlock()
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			mu.Lock()
			if err != nil {
				c.Closed()
				mu.Unlock()
				return
			}
			c.Recv(buf[:n])
			mu.Unlock()
		}
	}()
	fmt.Println(<-got)

	mu.Lock()
	err = c.Send(&packet.Disconnect{})
	mu.Unlock()
	fmt.Println("disconnect:", err)
	// Output:
	// subscribed: [Granted QoS 1]
	// cmd/led: on
	// disconnect: <nil>
}

// serveOne is a server for one client: it accepts the CONNECT, grants the
// SUBSCRIBE and publishes one command to it.
func serveOne(conn net.Conn) {
	defer conn.Close()
	var s *mqtt.Connection[uint16]
	s = mqtt.NewServer(mqtt.Config{}, func(e mqtt.Event[uint16]) {
		switch e.Kind {
		case mqtt.EventSend:
			conn.Write(e.Bytes)
		case mqtt.EventPacket:
			switch p := e.Packet.(type) {
			case *packet.Connect:
				s.Send(&packet.Connack{})
			case *packet.Subscribe:
				ack, _ := p.Ack(packet.V5, packet.GrantedQoS1)
				s.Send(ack)
				s.Send(&packet.Publish{Topic: "cmd/led", QoS: 1, Payload: []byte("on")})
			}
		case mqtt.EventClose:
			conn.Close()
		}
	})
	s.Opened()
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			s.Closed()
			return
		}
		s.Recv(buf[:n])
	}
}
