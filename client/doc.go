// Package client is an MQTT 5.0 and 3.1.1 client on the sans-I/O core
// (package mqtt): it dials the server, runs the read loop, the writes and
// the timers, and offers goroutine-safe Publish, Subscribe, Unsubscribe and
// Close that return when the server has answered.
//
//	c, err := client.Connect(ctx, client.Config{Servers: []string{"tcp://127.0.0.1:1883"}, ClientID: "sensor-7"})
//	if err != nil { ... }
//	defer c.Close(ctx)
//	err = c.Subscribe(ctx, packet.Subscription{Filter: "cmd/#", QoS: packet.QoS1},
//		func(m client.Message) { fmt.Printf("%s: %s\n", m.Topic, m.Payload) })
//	err = c.Publish(ctx, client.Message{Topic: "sensors/7/temp", QoS: packet.QoS1, Payload: []byte("21.5")})
//
// One mutex serialises the calls on the Connection; the Connection's
// handler only records what to do (bytes to write, timers, answers to
// waiting calls, messages to deliver), and the goroutine that made the call
// carries it out after the call: a writer goroutine writes the bytes in
// order, the read loop feeds the Connection, and a dispatcher goroutine
// hands received messages to the subscription handlers, in order, then
// acknowledges each QoS 1 and QoS 2 message once its handlers have
// returned (at least once, and exactly once for QoS 2, to the handlers).
// A handler may call the Client and wait for the server. Standard library
// only; other transports plug in through Config.Dialer.
//
// Beyond that: PublishAsync keeps many messages in flight from one
// goroutine; SubscribeWith, UnsubscribeWith, Disconnect,
// Config.EditConnect and Connack give the whole of the v5 packets
// (Subscription Identifiers, User Properties, a will on DISCONNECT, the
// server's limits) to programs that need them.
package client
