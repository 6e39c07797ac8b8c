package quic_test

import (
	"context"
	"fmt"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/quic"
	"github.com/mqttcore/mqtt/server"
)

// MQTT over QUIC on loopback: a server.Server serves a Listener as it
// serves a TCP one, and a client of package client dials quic:// with the
// Dialer. (certs makes a certificate for 127.0.0.1, and a client TLS
// config that trusts it; newRouter is a minimal broker Handler.)
func Example() {
	srvTLS, cliTLS := certs()
	l, err := quic.Listen("127.0.0.1:0", srvTLS, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := server.New(server.Config{Handler: newRouter()})
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	c, err := client.Connect(ctx, client.Config{
		Servers:  []string{"quic://" + l.Addr().String()},
		ClientID: "over-quic",
		Dialer:   &quic.Dialer{TLSConfig: cliTLS},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	got := make(chan client.Message, 1)
	err = c.Subscribe(ctx, packet.Subscription{Filter: "greetings/#", QoS: packet.QoS1},
		func(m client.Message) { got <- m })
	if err != nil {
		fmt.Println(err)
		return
	}
	err = c.Publish(ctx, client.Message{Topic: "greetings/quic", QoS: packet.QoS1, Payload: []byte("hello")})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := <-got
	fmt.Printf("%s: %s at QoS %d\n", m.Topic, m.Payload, m.QoS)
	fmt.Println(c.Close(ctx))
	// Output:
	// greetings/quic: hello at QoS 1
	// <nil>
}
