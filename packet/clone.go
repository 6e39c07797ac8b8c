package packet

// Clone methods of the packets whose only aliasing fields are their
// properties (and lists that hold no strings). PUBLISH, CONNECT, SUBSCRIBE
// and UNSUBSCRIBE have their own.

// Clone returns a deep copy of p that does not alias decoded bytes.
func (p *Ack[K, ID]) Clone() *Ack[K, ID] {
	c := *p
	c.Props = p.Props.Clone()
	return &c
}

// Clone returns a deep copy of p that does not alias decoded bytes.
func (p *ListAck[K, ID]) Clone() *ListAck[K, ID] {
	c := *p
	c.Props = p.Props.Clone()
	if p.Reasons != nil {
		c.Reasons = append(make([]ReasonCode, 0, len(p.Reasons)), p.Reasons...)
	}
	return &c
}

// Clone returns a deep copy of c that does not alias decoded bytes.
func (c *Connack) Clone() *Connack {
	d := *c
	d.Props = c.Props.Clone()
	return &d
}

// Clone returns a deep copy of d that does not alias decoded bytes.
func (d *Disconnect) Clone() *Disconnect {
	e := *d
	e.Props = d.Props.Clone()
	return &e
}

// Clone returns a deep copy of a that does not alias decoded bytes.
func (a *Auth) Clone() *Auth {
	b := *a
	b.Props = a.Props.Clone()
	return &b
}
