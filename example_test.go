package mqtt_test

import (
	"fmt"

	mqtt "github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// A client and a server Connection joined in memory: the bytes one side is
// asked to send are what the other side receives.
func Example() {
	client := mqtt.NewClient[uint16](mqtt.Config{Version: packet.V5})
	server := mqtt.NewServer[uint16](mqtt.Config{})

	// deliver carries out one side's events: sent bytes go to the other
	// side, whose events are carried out in turn.
	var deliver func(from string, evs []mqtt.Event[uint16])
	deliver = func(from string, evs []mqtt.Event[uint16]) {
		var wire []byte
		for _, e := range evs {
			switch e.Kind {
			case mqtt.EventSend:
				wire = append(wire, e.Bytes...)
			case mqtt.EventPacket:
				if p, ok := e.Packet.(*packet.Publish); ok {
					fmt.Printf("%s received %s: %s\n", from, p.Topic, p.Payload)
				} else {
					fmt.Printf("%s received %v\n", from, e.Packet.Type())
				}
			case mqtt.EventIDReleased:
				fmt.Printf("%s: packet id %d free again\n", from, e.PacketID)
			}
		}
		if len(wire) == 0 {
			return
		}
		if from == "client" {
			deliver("server", server.Recv(wire))
		} else {
			deliver("client", client.Recv(wire))
		}
	}
	send := func(from string, c *mqtt.Connection[uint16], p packet.Packet) {
		evs, err := c.Send(p)
		if err != nil {
			fmt.Println(err)
			return
		}
		deliver(from, evs)
	}

	send("client", client, &packet.Connect{ClientID: "sensor-7", CleanStart: true})
	send("server", server, &packet.Connack{}) // the application accepts the client
	send("client", client, &packet.Publish{Topic: "sensors/7/temp", QoS: packet.QoS1, Payload: []byte("21.5")})
	fmt.Println(client.State(), server.State())
	// Output:
	// server received CONNECT
	// client received CONNACK
	// server received sensors/7/temp: 21.5
	// client: packet id 1 free again
	// client received PUBACK
	// connected connected
}
