package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// TestPublishAsync: one goroutine keeps many messages in flight; each
// Pending ends with its acknowledgement's outcome, the flow control still
// holds them to the server's Receive Maximum, and QoS 0 is done at once.
func TestPublishAsync(t *testing.T) {
	ctx := testContext(t)
	const receiveMax = 4
	held := make(chan *packet.Publish, 64)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		switch p := p.(type) {
		case *packet.Connect:
			_ = ts.s.Send(&packet.Connack{Props: propsReceiveMaximum(receiveMax)})
		case *packet.Publish:
			if p.QoS > 0 {
				held <- p.Clone()
			}
		default:
			accept(ts, p)
		}
	})
	c := connectForTest(t, pipeConfig(ts))
	var pending []*Pending
	for i := range receiveMax {
		qos := packet.QoS(1 + i%2)
		p, err := c.PublishAsync(ctx, Message{Topic: "a", QoS: qos, Payload: fmt.Appendf(nil, "%d", i)})
		if err != nil {
			t.Fatalf("PublishAsync %d: %v", i, err)
		}
		pending = append(pending, p)
	}
	q0, err := c.PublishAsync(ctx, Message{Topic: "a", QoS: 0})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-q0.Done():
	default:
		t.Fatal("a QoS 0 message's Pending is not done")
	}
	if got := c.Stats().InFlight; got != receiveMax {
		t.Fatalf("in flight %d, want %d", got, receiveMax)
	}
	// The fifth waits for room.
	fifth := make(chan error, 1)
	go func() {
		p, err := c.PublishAsync(ctx, Message{Topic: "a", QoS: 1})
		if err == nil {
			err = p.Wait(ctx)
		}
		fifth <- err
	}()
	var sent []*packet.Publish
	for range receiveMax {
		sent = append(sent, <-held)
	}
	for _, p := range pending {
		if p.Err() != nil {
			t.Fatalf("Err before the acknowledgement: %v", p.Err())
		}
		select {
		case <-p.Done():
			t.Fatal("done before the acknowledgement")
		default:
		}
	}
	// Refuse the first, accept the others.
	for i, p := range sent {
		r := packet.Success
		if i == 0 {
			r = packet.QuotaExceeded
		}
		if p.QoS == packet.QoS1 {
			ts.send(&packet.Puback{PacketID: p.PacketID, Reason: r})
		} else {
			ts.send(&packet.Pubrec{PacketID: p.PacketID, Reason: r})
		}
	}
	var ae *AckError
	if err := pending[0].Wait(ctx); !errors.As(err, &ae) || ae.Reason != packet.QuotaExceeded {
		t.Fatalf("first: %v, want AckError 0x97", err)
	}
	for i, p := range pending[1:] {
		if err := p.Wait(ctx); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	// Done and Err once answered, whether Done was called before or not.
	for i, p := range pending {
		select {
		case <-p.Done():
		default:
			t.Fatalf("message %d: Done not closed after Wait", i)
		}
		if err := p.Err(); (err != nil) != (i == 0) {
			t.Fatalf("message %d: Err %v after Wait", i, err)
		}
	}
	last := <-held
	ts.send(&packet.Puback{PacketID: last.PacketID})
	if err := <-fifth; err != nil {
		t.Fatalf("fifth: %v", err)
	}
	if st := c.Stats(); st.Sent != [3]uint64{1, 2, 2} {
		t.Fatalf("sent by QoS %v, want [1 2 2] (the refused one not counted)", st.Sent)
	}
	p, err := c.PublishAsync(ctx, Message{Topic: "a", QoS: 1})
	if err != nil {
		t.Fatal(err)
	}
	ts.send(&packet.Puback{PacketID: (<-held).PacketID})
	for c.Stats().Sent[1] != 3 {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-p.Done(): // first called after the acknowledgement
	default:
		t.Fatal("Done not closed after the acknowledgement")
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMaxInFlight: with Config.MaxInFlight messages unacknowledged (below
// the server's Receive Maximum), PublishAsync waits until one is
// acknowledged, on the first connection and after a reconnection that
// sends the session's messages again.
func TestMaxInFlight(t *testing.T) {
	ctx := testContext(t)
	held := make(chan *packet.Publish, 16)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if p, ok := p.(*packet.Publish); ok {
			held <- p.Clone()
			return
		}
		accept(ts, p)
	})
	cfg := pipeConfig(ts)
	cfg.MaxInFlight = 2
	cfg.SessionExpiry = time.Hour
	cfg.MinRetryDelay = time.Millisecond
	c := connectForTest(t, cfg)
	publish := func() <-chan *Pending {
		ch := make(chan *Pending, 1)
		go func() {
			p, err := c.PublishAsync(ctx, Message{Topic: "a", QoS: packet.QoS1})
			if err != nil {
				t.Error(err)
			}
			ch <- p
		}()
		return ch
	}
	// blocked checks that a PublishAsync waits, and nothing is sent.
	blocked := func(what string) {
		t.Helper()
		time.Sleep(50 * time.Millisecond)
		select {
		case p := <-held:
			t.Fatalf("%s: message %d sent beyond MaxInFlight", what, p.PacketID)
		default:
		}
		if w := c.Stats().Waiting; w != 1 {
			t.Fatalf("%s: %d calls waiting, want 1", what, w)
		}
	}
	var pending []*Pending
	for range 2 {
		pending = append(pending, <-publish())
	}
	first, second := <-held, <-held
	third := publish()
	blocked("first connection")
	ts.send(&packet.Puback{PacketID: first.PacketID})
	pending = append(pending, <-third)
	thirdSent := <-held

	fourth := publish()
	blocked("before the reconnection")
	ts.drop()
	// The new connection sends the session's two messages again, and the
	// fourth still waits.
	for _, want := range []uint16{second.PacketID, thirdSent.PacketID} {
		if p := <-held; p.PacketID != want || !p.Dup {
			t.Fatalf("re-sent %d (DUP %v), want %d again", p.PacketID, p.Dup, want)
		}
	}
	blocked("after the reconnection")
	ts.send(&packet.Puback{PacketID: second.PacketID})
	pending = append(pending, <-fourth)
	fourthSent := <-held
	for _, id := range []uint16{thirdSent.PacketID, fourthSent.PacketID} {
		ts.send(&packet.Puback{PacketID: id})
	}
	for i, p := range pending {
		if err := p.Wait(ctx); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

// TestSubscribeWith: the caller's SUBSCRIBE goes out with its
// properties, the SUBACK comes back whole, only the granted filters get
// the handler, and a new session is subscribed again with the same
// properties.
func TestSubscribeWith(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if s, ok := p.(*packet.Subscribe); ok {
			results := []packet.ReasonCode{packet.GrantedQoS1, packet.NotAuthorized}
			ack, _ := s.Ack(packet.V5, results[:len(s.Subscriptions)]...)
			ack.Props.ReasonString = "second refused"
			_ = ts.s.Send(ack)
			return
		}
		accept(ts, p)
	})
	cfg := pipeConfig(ts)
	cfg.MinRetryDelay = time.Millisecond
	var other []string
	cfg.OnMessage = func(m Message) { other = append(other, m.Topic) }
	c := connectForTest(t, cfg)
	got := make(chan Message, 4)
	ack, err := c.SubscribeWith(ctx, &packet.Subscribe{
		Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 1}, {Filter: "b/#", QoS: 1}},
		Props:         property.Properties{SubscriptionIDs: []uint32{42}},
	}, func(m Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ack.Reasons, []packet.ReasonCode{packet.GrantedQoS1, packet.NotAuthorized}) || ack.Props.ReasonString != "second refused" {
		t.Fatalf("SUBACK %+v", ack)
	}
	s := ts.next(packet.TypeSubscribe).(*packet.Subscribe)
	if !slices.Equal(s.Props.SubscriptionIDs, []uint32{42}) || len(s.Subscriptions) != 2 {
		t.Fatalf("server got %+v", s)
	}
	ts.send(&packet.Publish{Topic: "a/1", QoS: 1, Props: property.Properties{SubscriptionIDs: []uint32{42}}})
	if m := <-got; m.Topic != "a/1" || !slices.Equal(m.Props.SubscriptionIDs, []uint32{42}) {
		t.Fatalf("handler got %+v", m)
	}
	ts.send(&packet.Publish{Topic: "b/1", QoS: 1})
	ts.next(packet.TypePuback)
	ts.next(packet.TypePuback)
	if len(got) != 0 || !slices.Equal(other, []string{"b/1"}) {
		t.Fatalf("the refused filter's message went to its handler (%d), OnMessage got %v", len(got), other)
	}
	// A new session: subscribed again, with the identifier, to the granted filter.
	ts.drop()
	again := ts.next(packet.TypeSubscribe).(*packet.Subscribe)
	if len(again.Subscriptions) != 1 || again.Subscriptions[0].Filter != "a/#" || !slices.Equal(again.Props.SubscriptionIDs, []uint32{42}) {
		t.Fatalf("subscribed again with %+v", again)
	}
}

// TestUnsubscribeWith: the caller's UNSUBSCRIBE goes out with its
// filters and properties, the UNSUBACK comes back whole, and the handlers
// of the filters get nothing more.
func TestUnsubscribeWith(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if u, ok := p.(*packet.Unsubscribe); ok {
			ack, _ := u.Ack(packet.V5, packet.Success, packet.NoSubscriptionExisted)
			ack.Props.ReasonString = "b was not"
			_ = ts.s.Send(ack)
			return
		}
		accept(ts, p)
	})
	cfg := pipeConfig(ts)
	other := make(chan string, 1)
	cfg.OnMessage = func(m Message) { other <- m.Topic }
	c := connectForTest(t, cfg)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "a/#"}, func(m Message) { t.Errorf("handler of a/# got %q", m.Topic) }); err != nil {
		t.Fatal(err)
	}
	user := []property.User{{Key: "k", Value: "v"}}
	ack, err := c.UnsubscribeWith(ctx, &packet.Unsubscribe{Filters: []string{"a/#", "b"}, Props: property.Properties{User: user}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ack.Reasons, []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted}) || ack.Props.ReasonString != "b was not" {
		t.Fatalf("UNSUBACK %+v", ack)
	}
	if u := ts.next(packet.TypeUnsubscribe).(*packet.Unsubscribe); !slices.Equal(u.Filters, []string{"a/#", "b"}) || !slices.Equal(u.Props.User, user) {
		t.Fatalf("server got %+v", u)
	}
	ts.send(&packet.Publish{Topic: "a/1"})
	if topic := <-other; topic != "a/1" {
		t.Fatalf("OnMessage got %q", topic)
	}
}

// TestDisconnectWith: Disconnect sends the caller's DISCONNECT and ends
// the Client; one the connection may not send is refused and the Client
// goes on.
func TestDisconnectWith(t *testing.T) {
	t.Run("5.0/will", func(t *testing.T) {
		ctx := testContext(t)
		ts := newTestServer(t, accept)
		cfg := pipeConfig(ts)
		cfg.SessionExpiry = time.Minute
		c := connectForTest(t, cfg)
		// MQTT-3.14.2-2: 0 in CONNECT forbids a non-zero value here; with
		// one in CONNECT, any value is allowed.
		if err := c.Disconnect(ctx, &packet.Disconnect{Reason: packet.DisconnectWithWillMessage,
			Props: property.Properties{SessionExpiry: 5}}); err != nil {
			t.Fatal(err)
		}
		d := ts.next(packet.TypeDisconnect).(*packet.Disconnect)
		if d.Reason != packet.DisconnectWithWillMessage || d.Props.SessionExpiry != 5 {
			t.Fatalf("server got %+v", d)
		}
		if !errors.Is(c.Err(), ErrClosed) {
			t.Fatalf("Err %v", c.Err())
		}
	})
	t.Run("5.0/expiry-not-allowed", func(t *testing.T) {
		ctx := testContext(t)
		ts := newTestServer(t, accept)
		c := connectForTest(t, pipeConfig(ts))
		err := c.Disconnect(ctx, &packet.Disconnect{Props: property.Properties{SessionExpiry: 5}})
		if !errors.Is(err, mqtt.ErrSessionExpiry) {
			t.Fatalf("MQTT-3.14.2-2: %v, want ErrSessionExpiry", err)
		}
		if err := c.Publish(ctx, Message{Topic: "a", QoS: 1}); err != nil {
			t.Fatalf("the Client did not go on: %v", err)
		}
	})
}

// TestConnackAndEditConnect: EditConnect's properties go out in CONNECT,
// an invalid edit is refused before dialling, and Connack returns the
// server's answer.
func TestConnackAndEditConnect(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if _, ok := p.(*packet.Connect); ok {
			_ = ts.s.Send(&packet.Connack{Props: property.Properties{ReceiveMaximum: 7, MaximumQoS: 1}})
			return
		}
		accept(ts, p)
	})
	cfg := pipeConfig(ts)
	cfg.EditConnect = func(p *packet.Connect) {
		p.Props.ReceiveMaximum = 3
		p.Props.User = append(p.Props.User, property.User{Key: "k", Value: "v"})
	}
	c := connectForTest(t, cfg)
	cn := ts.next(packet.TypeConnect).(*packet.Connect)
	if cn.Props.ReceiveMaximum != 3 || len(cn.Props.User) != 1 || cn.ClientID != "test" {
		t.Fatalf("CONNECT %+v", cn)
	}
	ack := c.Connack()
	if ack == nil || ack.Props.ReceiveMaximum != 7 || ack.Props.MaximumQoS != 1 {
		t.Fatalf("Connack %+v", ack)
	}

	bad := pipeConfig(ts)
	bad.EditConnect = func(p *packet.Connect) { p.Props.ReceiveMaximum = 0; p.Props.Zero.Add(property.ReceiveMaximum) }
	dials := ts.dials
	if _, err := Connect(ctx, bad); !errors.Is(err, ErrConfig) || ts.dials != dials {
		t.Fatalf("Receive Maximum 0: %v after %d dials, want ErrConfig before dialling", err, ts.dials-dials)
	}
}

// TestDupOnRedelivery: a message the server sends again after a lost
// connection reaches the handler with Dup set.
func TestDupOnRedelivery(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, accept)
	cfg := pipeConfig(ts)
	cfg.SessionExpiry = time.Hour
	cfg.ManualAck = true
	cfg.MinRetryDelay = time.Millisecond
	got := make(chan Message, 4)
	cfg.OnMessage = func(m Message) { got <- m }
	connectForTest(t, cfg)
	ts.send(&packet.Publish{Topic: "x", QoS: 1, Payload: []byte("1")})
	if m := <-got; m.Dup {
		t.Fatal("first delivery with Dup")
	}
	ts.drop() // not acknowledged: the server's session sends it again
	select {
	case m := <-got:
		if !m.Dup || string(m.Payload) != "1" {
			t.Fatalf("redelivery %+v, want Dup", m)
		}
	case <-ctx.Done():
		t.Fatal("no redelivery")
	}
}

// TestConnectRefusesUnknownSession: a CONNACK with Session Present 1 to a
// Client that has no session state is refused (MQTT-3.2.2-4), and
// Connect says so instead of returning a Client that cannot work.
func TestConnectRefusesUnknownSession(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if _, ok := p.(*packet.Connect); ok {
			_ = ts.s.Send(&packet.Connack{SessionPresent: true})
		}
	})
	cfg := pipeConfig(ts)
	cfg.SessionExpiry = time.Hour
	c, err := Connect(ctx, cfg)
	if !errors.Is(err, mqtt.ErrNoSession) {
		if c != nil {
			c.Close(ctx)
		}
		t.Fatalf("MQTT-3.2.2-4: Connect returned %v, want ErrNoSession", err)
	}
}

// TestPublishAsyncQoS0Bounded: QoS 0 messages have no acknowledgement to
// wait for, but PublishAsync waits once 1 MiB of them wait for a
// transport that does not take them, instead of queuing without bound.
func TestPublishAsyncQoS0Bounded(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, accept)
	stall := &stallDialer{d: ts, stalled: make(chan struct{})}
	cfg := pipeConfig(ts)
	cfg.Dialer = stall
	c := connectForTest(t, cfg)
	go func() { // the server's record of what it got, not needed here
		for range ts.got {
		}
	}()
	release := sync.OnceFunc(func() { close(stall.stalled) })
	t.Cleanup(release)      // before the Close of connectForTest
	stall.stall.Store(true) // from now on, writes wait
	payload := make([]byte, 1000)
	var queued int
	for queued = 0; queued < 2*maxUnwritten/len(payload); queued++ {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := c.PublishAsync(short, Message{Topic: "a", Payload: payload})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if low, high := maxUnwritten/(len(payload)+10), maxUnwritten/len(payload)+2; queued < low || queued > high {
		t.Fatalf("PublishAsync took %d messages of %d bytes before waiting, want about %d", queued, len(payload), high)
	}
	release()
	if _, err := c.PublishAsync(ctx, Message{Topic: "a", Payload: payload}); err != nil {
		t.Fatalf("after the transport took the bytes: %v", err)
	}
}

// stallDialer dials d; once stall is set, writes wait until stalled is
// closed.
type stallDialer struct {
	d       Dialer
	stall   atomic.Bool
	stalled chan struct{}
}

func (s *stallDialer) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	conn, err := s.d.Dial(ctx, u)
	return stallConn{Conn: conn, s: s}, err
}

type stallConn struct {
	net.Conn
	s *stallDialer
}

func (c stallConn) Write(b []byte) (int, error) {
	if c.s.stall.Load() {
		<-c.s.stalled
	}
	return c.Conn.Write(b)
}
