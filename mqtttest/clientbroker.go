package mqtttest

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/topic"
)

// The broker CheckClient plays: it keeps the client's session across
// connections and holds what the client sends to the specifications. It
// runs in the goroutine of the scenario (clientRun.pump); a goroutine per
// network connection only reads and decodes.

// brokerIn is what a connection's reader read: a packet, a packet that
// does not decode, or the end of the connection.
type brokerIn struct {
	conn   net.Conn
	p      packet.Packet
	err    error
	closed bool
	at     time.Time
}

// Stages of the client's exchanges (theirs) and of the broker's (ours).
const (
	stageHeld      = iota + 1 // theirs: PUBLISH came, not acknowledged
	stagePubrec               // theirs: PUBREC sent, waiting for PUBREL
	stageAwaitAck             // ours: QoS 1 PUBLISH sent
	stageAwaitRec             // ours: QoS 2 PUBLISH sent
	stageAwaitComp            // ours: PUBREL sent
)

// theirX is an exchange the client started: one of its messages.
type theirX struct {
	key       string
	qos       packet.QoS
	stage     int
	seq       int  // order of arrival
	sentEpoch int  // the connection its PUBLISH last came on
	held      bool // the broker withholds the acknowledgement
	holdComp  bool // the broker withholds the PUBCOMP
	relHeld   bool // the PUBREL came; its PUBCOMP is withheld
}

// ourX is an exchange the broker started: one of its messages.
type ourX struct {
	key       string
	stage     int
	seq       int
	sentEpoch int
	dup       bool // send the PUBLISH again with DUP before completing
	dupSent   bool
}

// bmsg is a message the broker sent.
type bmsg struct {
	topic   string
	qos     packet.QoS
	step    int
	aliased bool // sent by Topic Alias alone at least once
	owned   bool // the client acknowledged it (PUBACK, PUBREC)
	done    bool // its exchange ended
}

// brokerState is the broker's side of a scenario.
type brokerState struct {
	conn        net.Conn // the client's connection, once its CONNECT came
	epoch       int      // connections so far
	version     packet.Version
	hold        int  // what to withhold from the client's new exchanges
	expectClose bool // the client sent DISCONNECT
	session     bool // the broker holds the client's session
	lastIn      time.Time

	subs      map[string]packet.QoS
	theirs    map[uint16]*theirX
	ours      map[uint16]*ourX
	sent      map[string]*bmsg
	sentOrder []string
	nextID    uint16
	seq       int

	// per connection
	clientRM, clientTAM uint16
	aliasesIn           map[uint16]string
	aliasesOut          map[string]uint16
	order1, order2, rel []uint16 // PUBACKs, PUBRECs and PUBRELs owed, in order
}

func (b *brokerState) init() {
	b.subs, b.theirs, b.ours, b.sent = map[string]packet.QoS{}, map[uint16]*theirX{}, map[uint16]*ourX{}, map[string]*bmsg{}
}

// accept starts reading a new connection.
func (r *clientRun) accept(c net.Conn) *failure {
	go readConn(c, r.in, r.quit)
	return nil
}

// readConn decodes what arrives on c, in the version of its CONNECT, and
// hands it to in until c ends.
func readConn(c net.Conn, to chan<- brokerIn, quit <-chan struct{}) {
	defer c.Close()
	put := func(x brokerIn) bool {
		select {
		case to <- x:
			return true
		case <-quit:
			return false
		}
	}
	var buf []byte
	var v packet.Version
	chunk := make([]byte, 32<<10)
	for {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			h, need, ferr := packet.Frame(buf, 0)
			if ferr != nil {
				put(brokerIn{conn: c, err: ferr, at: time.Now()})
				return
			}
			if need != 0 {
				break
			}
			b := append([]byte(nil), buf[:h.Size()]...)
			buf = buf[h.Size():]
			if v == 0 && h.Type == packet.TypeConnect {
				if v, err = packet.ProtocolVersion(b[h.Len:]); err != nil {
					put(brokerIn{conn: c, err: err, at: time.Now()})
					return
				}
			}
			p, _, derr := packet.Decode[uint16](max(v, packet.V311), b, 0)
			if !put(brokerIn{conn: c, p: p, err: derr, at: time.Now()}) || derr != nil {
				return
			}
		}
		if err != nil {
			put(brokerIn{conn: c, closed: true, at: time.Now()})
			return
		}
	}
}

// write sends p to the client; a failed write is the connection's end,
// which its reader reports.
func (b *brokerState) write(p packet.Packet) {
	if b.conn == nil {
		return
	}
	enc, err := p.AppendTo(nil, b.version)
	if err != nil {
		panic(fmt.Sprintf("mqtttest: CheckClient encodes a %v it cannot: %v", p.Type(), err))
	}
	b.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.conn.Write(enc); err != nil {
		b.conn.Close()
	}
}

// drop ends the connection; what the broker withheld is withheld no more.
func (b *brokerState) drop() {
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
	for _, x := range b.theirs {
		x.held, x.holdComp = false, false
	}
}

// handle takes one thing a reader read.
func (r *clientRun) handle(in brokerIn) *failure {
	b := &r.b
	v := r.s.Version
	if in.conn != b.conn {
		if c, ok := in.p.(*packet.Connect); ok && in.err == nil {
			return r.onConnect(in.conn, c, in.at)
		}
		if !in.closed {
			in.conn.Close() // an old connection, or one that did not start with CONNECT
		}
		return nil
	}
	if in.closed {
		b.conn = nil
		if !b.expectClose {
			return other("the client closed its connection without DISCONNECT")
		}
		return nil
	}
	if in.err != nil {
		var pe *packet.Error
		if errors.As(in.err, &pe) && pe.StatementFor(v) != "" {
			return fail(promise{pe.Statement, pe.Statement311, "a packet that breaks no rule of the codec"}, v, "the client sent a packet that does not decode: %v", in.err)
		}
		return fail(cruleWellFormed, v, "the client sent bytes that do not decode: %v", in.err)
	}
	if gap := in.at.Sub(b.lastIn); gap > clientKeepAlive*3/2 {
		return fail(cruleKeepAlive, v, "%v between two packets from the client (%v before it), Keep Alive %v", gap.Round(time.Millisecond), in.p.Type(), clientKeepAlive)
	}
	b.lastIn = in.at
	switch p := in.p.(type) {
	case *packet.Publish:
		return r.onPublish(p)
	case *packet.Pubrel:
		return r.onPubrel(p)
	case *packet.Puback:
		return r.onPuback(p)
	case *packet.Pubrec:
		return r.onPubrec(p)
	case *packet.Pubcomp:
		if x := b.ours[p.PacketID]; x != nil && x.stage == stageAwaitComp {
			b.finish(p.PacketID)
		}
	case *packet.Subscribe:
		if f := r.checkNewID(p.PacketID, "SUBSCRIBE"); f != nil {
			return f
		}
		ack := &packet.Suback{PacketID: p.PacketID}
		for _, s := range p.Subscriptions {
			b.subs[s.Filter] = s.QoS
			ack.Reasons = append(ack.Reasons, packet.ReasonCode(s.QoS))
		}
		b.write(ack)
	case *packet.Unsubscribe:
		if f := r.checkNewID(p.PacketID, "UNSUBSCRIBE"); f != nil {
			return f
		}
		ack := &packet.Unsuback{PacketID: p.PacketID}
		for _, f := range p.Filters {
			delete(b.subs, f)
			if v == packet.V5 {
				ack.Reasons = append(ack.Reasons, packet.Success)
			}
		}
		b.write(ack)
	case *packet.Pingreq:
		b.write(&packet.Pingresp{})
	case *packet.Disconnect:
		b.expectClose = true
	default:
		return other("the client sent a %v", in.p.Type())
	}
	return nil
}

// onConnect takes the CONNECT of a new connection: the connection
// becomes the client's, and the broker resumes the session.
func (r *clientRun) onConnect(c net.Conn, p *packet.Connect, at time.Time) *failure {
	b := &r.b
	v := r.s.Version
	pv := p.Version
	if pv == 0 {
		pv = packet.V5
	}
	switch {
	case p.ClientID != r.clientID:
		c.Close()
		return nil // another client's (an earlier scenario's)
	case pv != v:
		return other("the client connected in %s; the scenario asked for %s", versionName(pv), versionName(v))
	case time.Duration(p.KeepAlive)*time.Second != clientKeepAlive:
		return other("the client connected with Keep Alive %d s; ClientSetup asked for %v", p.KeepAlive, clientKeepAlive)
	case b.session && p.CleanStart, v == packet.V5 && b.epoch > 0 && p.CleanStart:
		return other("Connect after the first started a new session (Clean Start 1); it is to resume the session")
	case v == packet.V5 && p.Props.SessionExpiry == 0:
		return other("the client connected with Session Expiry 0; its session is to outlive the connection")
	}
	if b.conn != nil {
		b.drop() // a new connection takes the session over
	}
	b.epoch++
	b.conn, b.version, b.expectClose, b.lastIn = c, v, false, at
	b.clientRM, b.clientTAM = p.Props.ReceiveMaximum, p.Props.TopicAliasMaximum
	if b.clientRM == 0 {
		b.clientRM = 65535
	}
	b.aliasesIn, b.aliasesOut = map[uint16]string{}, map[string]uint16{}
	b.order1, b.order2, b.rel = nil, nil, nil
	// A 3.1.1 Clean Session 1 connection (before the session starts, to
	// discard one the broker might hold) has a session that ends with it.
	ack := &packet.Connack{SessionPresent: b.session && !p.CleanStart}
	b.session = !p.CleanStart || v == packet.V5
	if v == packet.V5 {
		ack.Props.ReceiveMaximum = r.s.ReceiveMax
		ack.Props.TopicAliasMaximum = r.s.AliasMax
	}
	b.write(ack)
	// The broker sends again what it has in flight, in order (MQTT-4.4.0-1).
	xs := make([]uint16, 0, len(b.ours))
	for id := range b.ours {
		xs = append(xs, id)
	}
	sort.Slice(xs, func(i, j int) bool { return b.ours[xs[i]].seq < b.ours[xs[j]].seq })
	for _, id := range xs {
		x := b.ours[id]
		x.sentEpoch = b.epoch
		m := b.sent[x.key]
		switch x.stage {
		case stageAwaitAck, stageAwaitRec:
			b.write(&packet.Publish{Topic: m.topic, QoS: m.qos, Dup: true, PacketID: id, Payload: []byte(x.key)})
			b.expectAck(id, m.qos)
		case stageAwaitComp:
			b.write(&packet.Pubrel{PacketID: id})
		}
	}
	return nil
}

// onPublish takes a PUBLISH of the client.
func (r *clientRun) onPublish(p *packet.Publish) *failure {
	b := &r.b
	v := r.s.Version
	name := p.Topic
	if a := p.Props.TopicAlias; a != 0 {
		if a > r.s.AliasMax {
			return fail(cruleAliasMax, v, "Topic Alias %d, the broker's Topic Alias Maximum is %d", a, r.s.AliasMax)
		}
		if name != "" {
			b.aliasesIn[a] = name
		} else if name = b.aliasesIn[a]; name == "" {
			return fail(cruleAliasConn, v, "a PUBLISH (%q) by Topic Alias %d alone, which no PUBLISH on this connection set", p.Payload, a)
		}
	}
	key := string(p.Payload)
	m, ok := r.pubs[key]
	switch {
	case !ok:
		return other("the client sent %q on %s, which its application never published", key, r.short(name))
	case name != m.topic || p.QoS != m.qos:
		return other("the client sent %q on %s qos%d; its application published it on %s qos%d", key, r.short(name), p.QoS, r.short(m.topic), m.qos)
	}
	m.arrived++
	if p.QoS == 0 {
		if p.Dup {
			return fail(cruleDupQoS0, v, "QoS 0 PUBLISH %q with DUP 1", key)
		}
		return nil
	}
	id := p.PacketID
	x := b.theirs[id]
	if x != nil && x.key != key {
		return fail(cruleNewID, v, "PUBLISH %q with packet identifier %d, in use by %q (no exchange of it ended)", key, id, x.key)
	}
	if x == nil {
		switch {
		case p.Dup && m.epoch == b.epoch && m.arrived == 1:
			rl := cruleDupFirst1
			if p.QoS == 2 {
				rl = cruleDupFirst2
			}
			return fail(rl, v, "the first PUBLISH of %q has DUP 1", key)
		case p.QoS == 2 && m.complete:
			return fail(cruleNoRepublish, v, "%q came again as a new exchange (identifier %d) after its PUBCOMP", key, id)
		case p.QoS == 2 && b.inFlight(key):
			return fail(cruleResend, v, "%q came with identifier %d while its exchange under another identifier is in flight", key, id)
		}
	} else if x.sentEpoch != b.epoch {
		if !p.Dup {
			return fail(cruleDupAgain, v, "%q sent again on a new connection with DUP 0", key)
		}
		if x.stage == stageHeld {
			for _, y := range b.theirs {
				if y.stage == stageHeld && y.seq < x.seq && y.sentEpoch != b.epoch {
					return fail(cruleResendOrder, v, "%q sent again before %q, which was sent first", key, y.key)
				}
			}
		}
	}
	if x == nil || x.sentEpoch != b.epoch {
		if rm := r.s.ReceiveMax; rm > 0 && b.counted() >= int(rm) {
			return fail(cruleReceiveMax, v, "PUBLISH %q with %d QoS 1 and 2 PUBLISH unacknowledged, Receive Maximum %d", key, b.counted(), rm)
		}
	}
	if x == nil {
		b.seq++
		x = &theirX{key: key, qos: p.QoS, stage: stageHeld, seq: b.seq}
		b.theirs[id] = x
		switch b.hold {
		case holdAck:
			x.held = true
		case holdPubcomp:
			x.holdComp = p.QoS == 2
		}
	}
	x.sentEpoch = b.epoch
	if x.stage == stageHeld && !x.held {
		b.ackTheirs(r, id)
	} else if x.stage == stagePubrec {
		b.write(&packet.Pubrec{PacketID: id}) // it did not get the first
	}
	return nil
}

// ackTheirs acknowledges the client's PUBLISH id: PUBACK, or PUBREC.
func (b *brokerState) ackTheirs(r *clientRun, id uint16) {
	x := b.theirs[id]
	if x.qos == 1 {
		b.write(&packet.Puback{PacketID: id})
		delete(b.theirs, id)
		r.pubs[x.key].complete = true
		return
	}
	x.stage = stagePubrec
	b.write(&packet.Pubrec{PacketID: id})
	if !containsID(b.rel, id) {
		b.rel = append(b.rel, id)
	}
}

// onPubrel takes a PUBREL of the client.
func (r *clientRun) onPubrel(p *packet.Pubrel) *failure {
	b := &r.b
	id := p.PacketID
	x := b.theirs[id]
	if x == nil || x.stage != stagePubrec {
		b.write(&packet.Pubcomp{PacketID: id, Reason: b.notFound()})
		return nil
	}
	if i := indexID(b.rel, id); i > 0 {
		return fail(cruleOrderPubrel, r.s.Version, "PUBREL %d (%q) before PUBREL %d; the PUBRECs went in the other order", id, x.key, b.rel[0])
	}
	b.rel = removeID(b.rel, id)
	x.sentEpoch = b.epoch
	if x.holdComp {
		x.relHeld = true
		return nil
	}
	b.write(&packet.Pubcomp{PacketID: id})
	delete(b.theirs, id)
	r.pubs[x.key].complete = true
	return nil
}

func (b *brokerState) notFound() packet.ReasonCode {
	if b.version == packet.V5 {
		return packet.PacketIdentifierNotFound
	}
	return 0
}

// onPuback takes a PUBACK of the client.
func (r *clientRun) onPuback(p *packet.Puback) *failure {
	b := &r.b
	x := b.ours[p.PacketID]
	if x == nil || x.stage != stageAwaitAck {
		return nil // a second PUBACK for a PUBLISH sent twice
	}
	if i := indexID(b.order1, p.PacketID); i > 0 {
		return fail(cruleOrderPuback, r.s.Version, "PUBACK %d (%q) before PUBACK %d (%q)", p.PacketID, x.key, b.order1[0], b.ours[b.order1[0]].key)
	}
	b.order1 = removeID(b.order1, p.PacketID)
	b.sent[x.key].owned = !p.Reason.IsError()
	b.finish(p.PacketID)
	return nil
}

// onPubrec takes a PUBREC of the client.
func (r *clientRun) onPubrec(p *packet.Pubrec) *failure {
	b := &r.b
	id := p.PacketID
	x := b.ours[id]
	if x == nil {
		return nil
	}
	m := b.sent[x.key]
	switch x.stage {
	case stageAwaitComp:
		b.write(&packet.Pubrel{PacketID: id})
		return nil
	case stageAwaitRec:
	default:
		return nil
	}
	if i := indexID(b.order2, id); i > 0 {
		return fail(cruleOrderPubrec, r.s.Version, "PUBREC %d (%q) before PUBREC %d (%q)", id, x.key, b.order2[0], b.ours[b.order2[0]].key)
	}
	b.order2 = removeID(b.order2, id)
	if p.Reason.IsError() {
		b.finish(id)
		return nil
	}
	m.owned = true
	if x.dup && !x.dupSent {
		// The same PUBLISH again, before PUBREL: the client answers PUBREC
		// again and does not deliver it twice (MQTT-4.3.3-10).
		x.dupSent = true
		b.write(&packet.Publish{Topic: m.topic, QoS: 2, Dup: true, PacketID: id, Payload: []byte(x.key)})
		return nil
	}
	x.stage = stageAwaitComp
	b.write(&packet.Pubrel{PacketID: id})
	return nil
}

// finish ends the broker's exchange id.
func (b *brokerState) finish(id uint16) {
	b.sent[b.ours[id].key].done = true
	delete(b.ours, id)
}

// checkNewID fails a SUBSCRIBE or UNSUBSCRIBE whose identifier is in use.
func (r *clientRun) checkNewID(id uint16, what string) *failure {
	if x := r.b.theirs[id]; x != nil {
		return fail(cruleNewID, r.s.Version, "%s with packet identifier %d, in use by %q (no exchange of it ended)", what, id, x.key)
	}
	return nil
}

// send has the broker send a new message on name at qos; it returns the
// message's payload.
func (b *brokerState) send(r *clientRun, name string, qos packet.QoS, dup bool) string {
	key := fmt.Sprintf("b%d", len(b.sent)+1)
	m := &bmsg{topic: name, qos: qos, step: r.step, done: qos == 0}
	b.sent[key] = m
	b.sentOrder = append(b.sentOrder, key)
	p := &packet.Publish{Topic: name, QoS: qos, Payload: []byte(key)}
	if qos > 0 {
		p.PacketID = b.newID()
		b.seq++
		b.ours[p.PacketID] = &ourX{key: key, stage: stageAwaitAck + int(qos) - 1, seq: b.seq, sentEpoch: b.epoch, dup: dup}
		b.expectAck(p.PacketID, qos)
	}
	if b.version == packet.V5 && r.s.Aliases && b.clientTAM > 0 {
		if a, ok := b.aliasesOut[name]; ok {
			p.Topic, p.Props.TopicAlias, m.aliased = "", a, true
		} else if len(b.aliasesOut) < int(b.clientTAM) {
			a = uint16(len(b.aliasesOut) + 1)
			b.aliasesOut[name] = a
			p.Props.TopicAlias = a
		}
	}
	b.write(p)
	if dup && qos == 1 {
		again := *p
		again.Dup = true
		b.write(&again)
	}
	return key
}

// expectAck notes that the client owes the first acknowledgement of id.
func (b *brokerState) expectAck(id uint16, qos packet.QoS) {
	if qos == 1 {
		b.order1 = append(b.order1, id)
	} else {
		b.order2 = append(b.order2, id)
	}
}

// newID returns a packet identifier not in use, round-robin.
func (b *brokerState) newID() uint16 {
	for {
		b.nextID++
		if b.nextID == 0 {
			b.nextID = 1
		}
		if _, used := b.ours[b.nextID]; !used {
			return b.nextID
		}
	}
}

// granted returns the highest QoS of the subscriptions that match name.
func (b *brokerState) granted(name string) (packet.QoS, bool) {
	var q packet.QoS
	ok := false
	for f, g := range b.subs {
		if topic.Match(f, name) {
			q, ok = max(q, g), true
		}
	}
	return q, ok
}

// counted is how many of the client's QoS 1 and 2 PUBLISH packets on this
// connection are unacknowledged (PUBACK or PUBCOMP not sent).
func (b *brokerState) counted() int {
	n := 0
	for _, x := range b.theirs {
		if x.sentEpoch == b.epoch {
			n++
		}
	}
	return n
}

// room is how many more QoS 1 and 2 PUBLISH packets the client may send.
func (b *brokerState) room(r *clientRun) int {
	rm := 65535
	if r.s.ReceiveMax > 0 {
		rm = int(r.s.ReceiveMax)
	}
	return max(rm-b.counted(), 0)
}

// holding counts the client's exchanges held as hold says.
func (b *brokerState) holding(hold int) int {
	n := 0
	for _, x := range b.theirs {
		if hold == holdAck && x.held || hold == holdPubcomp && x.relHeld {
			n++
		}
	}
	return n
}

// release sends what the broker withheld, in order.
func (b *brokerState) release(r *clientRun) {
	b.hold = holdNone
	ids := sortedIDs(b.theirs)
	sort.Slice(ids, func(i, j int) bool { return b.theirs[ids[i]].seq < b.theirs[ids[j]].seq })
	for _, id := range ids {
		x := b.theirs[id]
		switch {
		case x.held:
			x.held = false
			b.ackTheirs(r, id)
		case x.relHeld:
			b.write(&packet.Pubcomp{PacketID: id})
			delete(b.theirs, id)
			r.pubs[x.key].complete = true
		default:
			x.holdComp = false
		}
	}
}

// inFlight says whether the client's message key has an exchange open.
func (b *brokerState) inFlight(key string) bool {
	for _, x := range b.theirs {
		if x.key == key {
			return true
		}
	}
	return false
}

// clientRoom says whether the client's Receive Maximum lets the broker
// send another QoS 1 or 2 PUBLISH.
func (b *brokerState) clientRoom() bool {
	n := 0
	for _, x := range b.ours {
		if x.sentEpoch == b.epoch {
			n++
		}
	}
	return b.conn != nil && n < int(b.clientRM)
}

// outboundDone says whether the exchanges of the broker's messages keys
// have ended.
func (b *brokerState) outboundDone(keys []string) bool {
	for _, k := range keys {
		if !b.sent[k].done {
			return false
		}
	}
	return true
}

// missingAck explains the oldest of the broker's exchanges the client
// left without an answer.
func (b *brokerState) missingAck(r *clientRun) *failure {
	var oldest *ourX
	var oid uint16
	for id, x := range b.ours {
		if oldest == nil || x.seq < oldest.seq {
			oldest, oid = x, id
		}
	}
	if oldest == nil {
		return other("the client's connection did not come back within %v", r.o.timeout())
	}
	m := b.sent[oldest.key]
	switch oldest.stage {
	case stageAwaitAck:
		return fail(crulePuback, r.s.Version, "no PUBACK for %q (identifier %d, qos1, step %d) within %v", oldest.key, oid, m.step, r.o.timeout())
	case stageAwaitRec:
		return fail(crulePubrec, r.s.Version, "no PUBREC for %q (identifier %d, qos2, step %d) within %v", oldest.key, oid, m.step, r.o.timeout())
	}
	return fail(crulePubcomp, r.s.Version, "no PUBCOMP for the PUBREL of %q (identifier %d, step %d) within %v", oldest.key, oid, m.step, r.o.timeout())
}

// resendDue lists what the client owes again on this connection: the
// PUBLISH and PUBREL packets of its exchanges from earlier ones.
func (b *brokerState) resendDue() []string {
	var due []string
	for _, id := range sortedIDs(b.theirs) {
		x := b.theirs[id]
		if x.sentEpoch == b.epoch {
			continue
		}
		if x.stage == stageHeld {
			due = append(due, fmt.Sprintf("PUBLISH %d (%q)", id, x.key))
		} else {
			due = append(due, fmt.Sprintf("PUBREL %d (%q)", id, x.key))
		}
	}
	return due
}

// keepAlive checks the silence since the client's last packet.
func (b *brokerState) keepAlive(r *clientRun, now time.Time) *failure {
	if b.conn == nil {
		return nil
	}
	if gap := now.Sub(b.lastIn); gap > clientKeepAlive*3/2 {
		return fail(cruleKeepAlive, r.s.Version, "nothing from the client for %v, Keep Alive %v", gap.Round(time.Millisecond), clientKeepAlive)
	}
	return nil
}

// pendingHint describes what is in flight, for failure messages.
func (b *brokerState) pendingHint() string {
	var parts []string
	for _, id := range sortedIDs(b.theirs) {
		x := b.theirs[id]
		parts = append(parts, fmt.Sprintf("the client's %q (identifier %d, stage %d)", x.key, id, x.stage))
	}
	for _, id := range sortedIDs(b.ours) {
		parts = append(parts, fmt.Sprintf("the broker's %q (identifier %d, stage %d)", b.ours[id].key, id, b.ours[id].stage))
	}
	if b.conn == nil {
		parts = append(parts, "no connection")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (in flight: " + strings.Join(parts, ", ") + ")"
}

func indexID(ids []uint16, id uint16) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}

func containsID(ids []uint16, id uint16) bool { return indexID(ids, id) >= 0 }

func removeID(ids []uint16, id uint16) []uint16 {
	if i := indexID(ids, id); i >= 0 {
		return append(ids[:i], ids[i+1:]...)
	}
	return ids
}
