package broker

import (
	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// event is the Connection's handler. It runs inside each call on the
// Connection and takes notes: bytes to write, timers to arm, the packets
// that need the broker copied (the events are valid only during the call),
// the close. carryOut acts on them once the call has returned, so that
// each packet the broker sends in answer is a call of its own, whose
// bytes and packet values the Connection reuses for the next; as nested
// calls, a SUBSCRIBE matching many retained messages would have the
// Connection hold all of them until the end of the read.
//
// PUBLISH and PUBREL are the exception, once the client is connected:
// the message is routed at once, and the acknowledgement (PUBACK,
// PUBCOMP) sent with a call nested in this one, so that a read of many
// messages is one call on the Connection, not one per message (flow.go).
//
// It also counts the events and notes whether a whole packet came, for
// recv: every packet the Connection accepts is either reported or answered
// (a repeated QoS 2 PUBLISH is only acknowledged again).
func (c *conn) event(e mqtt.Event[uint16]) {
	c.events++
	switch e.Kind {
	case mqtt.EventSend:
		c.packetIn = true
		c.wbuf = append(c.wbuf, e.Bytes...)
	case mqtt.EventTimerReset:
		c.timers.Reset(e.Timer, e.Duration)
	case mqtt.EventTimerCancel:
		c.timers.Stop(e.Timer)
	case mqtt.EventPacket:
		c.packetIn = true
		switch p := e.Packet.(type) {
		case *packet.Publish:
			if c.connected {
				c.onPublish(c.copyIn(p).(*message), true)
				return
			}
		case *packet.Pubrel:
			if c.connected {
				c.onPubrel(p.PacketID, true)
				return
			}
		}
		if x := c.copyIn(e.Packet); x != nil {
			c.todo = append(c.todo, x)
		}
	case mqtt.EventError:
		c.logf("%v", e.Err)
	case mqtt.EventDropped:
		if p, ok := e.Packet.(*packet.Publish); ok {
			c.logf("message on %q dropped: %v", p.Topic, e.Err)
		}
	case mqtt.EventClose:
		c.closeNow = true
	}
}

// carryOut finishes a call on the Connection once its events have been
// handed to event: the packets received are acted on, each of which may
// call the Connection again, and the bytes are written (at the end of the
// batch, if one is open) or the socket closed.
func (c *conn) carryOut() {
	// A call made while acting on a packet notes in a list of its own.
	todo, closeNow := c.todo, c.closeNow
	c.todo, c.closeNow = nil, false
	defer func() {
		clear(todo)
		c.todo = todo[:0]
	}()
	if !closeNow {
		// A message is routed (and a retained one stored) before its
		// PUBACK or PUBREC goes out, so that a client that publishes and
		// then subscribes never sees it twice.
		for _, x := range todo {
			c.act(x)
		}
		if !c.batch || len(c.wbuf) >= batchBytes {
			c.flush()
		}
		return
	}
	c.flush()
	c.close()
	for _, x := range todo {
		c.act(x)
	}
}

// copyIn copies what the broker needs of a received packet.
func (c *conn) copyIn(p packet.Packet) any {
	switch p := p.(type) {
	case *packet.Connect:
		return p.Clone()
	case *packet.Publish:
		m := newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &p.Props, c.sess)
		m.pid = p.PacketID
		return m
	case *packet.Subscribe:
		return p.Clone()
	case *packet.Unsubscribe:
		return p.Clone()
	case *packet.Pubrel:
		return pubrel(p.PacketID)
	case *packet.Disconnect:
		return &packet.Disconnect{Reason: p.Reason, Props: property.Properties{
			Zero: p.Props.Zero, SessionExpiry: p.Props.SessionExpiry}}
	}
	return nil
}

// pubrel is the packet identifier of a PUBREL received before the
// CONNACK was sent (the Connection holds what comes after CONNECT until
// then).
type pubrel uint16

// act hands a packet copied by copyIn to its handler.
func (c *conn) act(x any) {
	switch x := x.(type) {
	case *packet.Connect:
		c.onConnect(x)
	case *message:
		c.onPublish(x, false)
	case pubrel:
		c.onPubrel(uint16(x), false)
	case *packet.Subscribe:
		c.onSubscribe(x)
	case *packet.Unsubscribe:
		c.onUnsubscribe(x)
	case *packet.Disconnect:
		c.onDisconnect(x)
	}
}

// send sends a packet the broker built and carries out the events.
func (c *conn) send(p packet.Packet) error {
	if err := c.mc.Send(p); err != nil {
		return err
	}
	c.carryOut()
	return nil
}
