package client

// The inbox: the read loop queues the messages of each read, and one
// dispatcher goroutine hands them to the handlers, in order, acknowledging
// each once its handlers have returned. The read loop goes on reading
// meanwhile, so a handler may wait for the server (Publish at QoS 1 or 2,
// Subscribe, Request): the answer is read while the handler waits.
//
// Memory stays bounded: the read loop stops reading while maxQueued
// messages wait and no call waits for an answer from the server, which
// pushes back on the server through the transport. While a call waits,
// the read loop must read on, since the answer comes behind the messages
// the server sent before it; the server's messages at QoS 1 and 2 are
// then bounded by the Receive Maximum the Client announced.

// maxQueued is how many received messages may wait for the handlers
// before the read loop stops reading (unless a call waits for the server).
const maxQueued = 1024

// inbox is the queue between the read loop and the dispatcher, guarded by
// Client.mu.
type inbox struct {
	queue   []Message
	wake    chan struct{} // the dispatcher has messages (capacity 1)
	room    chan struct{} // closed when the read loop may read again (made on demand)
	waiters int           // calls waiting for an answer from the server
}

// push queues a received message, with c.mu held.
func (c *Client) push(m Message) {
	c.routeResponse(m)
	c.in.queue = append(c.in.queue, m)
	select {
	case c.in.wake <- struct{}{}:
	default:
	}
}

// waitForHandlers stops the read loop of l, with c.mu held, while the
// queue is full, no call waits for the server and the link lives; it
// returns with c.mu held.
func (c *Client) waitForHandlers(l *link) {
	for len(c.in.queue) >= maxQueued && c.in.waiters == 0 && !l.hangUp && !c.closing {
		if c.in.room == nil {
			c.in.room = make(chan struct{})
		}
		room := c.in.room
		c.mu.Unlock()
		select {
		case <-room:
		case <-c.done:
		}
		c.mu.Lock()
	}
}

// countWaiter counts, with c.mu held, a call that starts (+1) or stops
// (-1) waiting for the server; a start lets a stopped read loop go on.
func (c *Client) countWaiter(delta int) {
	c.in.waiters += delta
	if delta > 0 {
		signal(&c.in.room)
	}
}

// dispatch hands the queued messages to their handlers until the Client
// has ended and the queue is empty.
func (c *Client) dispatch() {
	var batch []Message
	var handlers []func(Message) // reused from message to message
	for {
		select {
		case <-c.in.wake:
		case <-c.done:
		}
		c.mu.Lock()
		batch, c.in.queue = c.in.queue, batch[:0]
		signal(&c.in.room)
		ended := c.err != nil
		c.mu.Unlock()
		for _, m := range batch {
			handlers = c.deliver(m, handlers[:0])
		}
		clear(batch)
		if ended && len(batch) == 0 {
			return
		}
	}
}

// deliver hands a message to its handlers, then acknowledges it: at least
// once (QoS 1) and exactly once (QoS 2) to the handlers. A QoS 2 message
// whose connection ended before it was handed over is handed over all the
// same: the session counts it delivered, and answers the server's copy on
// the next connection with PUBREC alone (not handing it over then would
// lose it; CheckClient found that).
// handlers is the dispatcher's scratch list, returned for the next
// message.
func (c *Client) deliver(m Message, handlers []func(Message)) []func(Message) {
	c.mu.Lock()
	matched, onMessage := false, false
	for _, s := range c.subs {
		if !matches(s.sub.Filter, m.Topic, c.cfg.version()) {
			continue
		}
		if matched = true; s.handle != nil {
			handlers = append(handlers, s.handle)
		} else {
			onMessage = true
		}
	}
	c.mu.Unlock()
	// OnMessage once, however many of the filters it serves match.
	if (onMessage || !matched) && c.cfg.OnMessage != nil {
		handlers = append(handlers, c.cfg.OnMessage)
	}
	for _, h := range handlers {
		h(m)
	}
	c.mu.Lock()
	c.stats.Received[m.QoS]++
	c.mu.Unlock()
	if !c.cfg.ManualAck {
		_ = c.Ack(m) // on a connection that ended, the server sends the message again
	}
	clear(handlers)
	return handlers
}
