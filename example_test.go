package mqtt_test

import (
	"fmt"

	mqtt "github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// A client and a server Connection joined in memory: the bytes one side is
// asked to send are what the other side receives. The client subscribes
// from its handler when the CONNACK arrives, as a real client would.
func Example() {
	var client, server *mqtt.Connection[uint16]

	// handler carries out one side's events: sent bytes go to the other
	// side, whose events are carried out in turn.
	handler := func(name string, peer **mqtt.Connection[uint16]) mqtt.Handler[uint16] {
		return func(e mqtt.Event[uint16]) {
			switch e.Kind {
			case mqtt.EventSend:
				(*peer).Recv(e.Bytes)
			case mqtt.EventPacket:
				switch p := e.Packet.(type) {
				case *packet.Publish:
					fmt.Printf("%s received %s: %s\n", name, p.Topic, p.Payload)
				case *packet.Connack:
					fmt.Printf("%s received CONNACK\n", name)
					// A nested call: safe, and its bytes go out after
					// those of the call being carried out.
					err := client.Send(&packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "sensors/#"}}})
					if err != nil {
						fmt.Println(err)
					}
				default:
					fmt.Printf("%s received %v\n", name, p.Type())
				}
			case mqtt.EventIDReleased:
				fmt.Printf("%s: packet id %d free again\n", name, e.PacketID)
			}
		}
	}
	client = mqtt.NewClient(mqtt.Config{Version: packet.V5}, handler("client", &server))
	server = mqtt.NewServer(mqtt.Config{}, handler("server", &client))

	send := func(c *mqtt.Connection[uint16], p packet.Packet) {
		if err := c.Send(p); err != nil {
			fmt.Println(err)
		}
	}
	send(client, &packet.Connect{ClientID: "sensor-7", CleanStart: true})
	send(server, &packet.Connack{}) // the application accepts the client
	send(client, &packet.Publish{Topic: "sensors/7/temp", QoS: packet.QoS1, Payload: []byte("21.5")})
	fmt.Println(client.State(), server.State())
	// Output:
	// server received CONNECT
	// client received CONNACK
	// server received SUBSCRIBE
	// server received sensors/7/temp: 21.5
	// client: packet id 2 free again
	// client received PUBACK
	// connected connected
}
