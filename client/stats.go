package client

// Stats counts what a Client did since Connect.
type Stats struct {
	Sent     [3]uint64 // messages published, by QoS (QoS 1 and 2 once acknowledged)
	Received [3]uint64 // messages handed to the handlers, by QoS
	BytesOut uint64    // bytes written, all packets
	BytesIn  uint64    // bytes read, all packets
	// Reconnects counts the connections made after the first.
	Reconnects uint64
	// InFlight is the QoS 1 and QoS 2 messages sent and not yet
	// acknowledged; Waiting the Publish calls waiting for room or for a
	// connection.
	InFlight, Waiting int
}

// Stats returns the Client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.InFlight = c.mc.InFlight()
	return s
}
