package client

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"

	"github.com/mqttcore/mqtt/packet"
)

// ErrRequestV5 is returned by Request on a 3.1.1 connection, which has no
// Response Topic nor Correlation Data.
var ErrRequestV5 = errors.New("client: request/response needs MQTT 5.0")

// requests routes responses to the Request calls waiting for them.
type requests struct {
	mu         sync.Mutex
	topic      string // the response topic, subscribed to once
	next       uint64
	waiting    map[string]chan Message
	subscribed bool
}

// Request publishes m as a request (v5): with a Response Topic of this
// client's (subscribed to on first use) and a Correlation Data of its own,
// and returns the first message published to that topic with the same
// Correlation Data, or ctx's error. The responder answers by publishing
// to the request's Response Topic with its Correlation Data.
func (c *Client) Request(ctx context.Context, m Message) (Message, error) {
	if c.cfg.version() != packet.V5 {
		return Message{}, ErrRequestV5
	}
	r := &c.requests
	clientID := c.ClientID() // before r.mu: the read loop takes c.mu, then r.mu
	r.mu.Lock()
	if !r.subscribed {
		r.topic = "mqttcore/responses/" + clientID
		r.waiting = map[string]chan Message{}
		r.mu.Unlock()
		// The read loop hands responses over (routeResponse), so that a
		// Request made by a handler gets its response while the handler
		// waits; the subscription's handler has nothing left to do.
		if err := c.Subscribe(ctx, packet.Subscription{Filter: r.topic, QoS: packet.QoS1}, func(Message) {}); err != nil {
			return Message{}, err
		}
		r.mu.Lock()
		r.subscribed = true
	}
	r.next++
	id := binary.BigEndian.AppendUint64(nil, r.next)
	ch := make(chan Message, 1)
	r.waiting[string(id)] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, string(id))
		r.mu.Unlock()
	}()
	m.Props.ResponseTopic, m.Props.CorrelationData = r.topic, id
	if err := c.Publish(ctx, m); err != nil {
		return Message{}, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	case <-c.done:
		return Message{}, c.Err()
	}
}

// routeResponse hands a response to the Request waiting for it, from the
// read loop (with c.mu held).
func (c *Client) routeResponse(m Message) {
	if m.Props.CorrelationData == nil {
		return
	}
	r := &c.requests
	r.mu.Lock()
	var ch chan Message
	if m.Topic == r.topic {
		ch = r.waiting[string(m.Props.CorrelationData)]
	}
	r.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default:
		}
	}
}
