package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPublishWaitsForTheAcknowledgement: Publish returns once the server
// acknowledged the message, at QoS 1 and QoS 2, in both versions, and a
// failure reason code is an *AckError (v5).
func TestPublishWaitsForTheAcknowledgement(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, qos := range []packet.QoS{packet.QoS0, packet.QoS1, packet.QoS2} {
			t.Run(fmt.Sprintf("%v/QoS%d", v, qos), func(t *testing.T) {
				ctx := testContext(t)
				ts := newTestServer(t, accept)
				cfg := pipeConfig(ts)
				cfg.Version = v
				c := connectForTest(t, cfg)
				if err := c.Publish(ctx, Message{Topic: "a/b", QoS: qos, Payload: []byte("x")}); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				p := ts.next(packet.TypePublish).(*packet.Publish)
				if p.Topic != "a/b" || string(p.Payload) != "x" || p.QoS != qos {
					t.Fatalf("server got %+v", p)
				}
				if qos == packet.QoS2 {
					ts.next(packet.TypePubrel) // the exchange went on to PUBCOMP
				}
				if err := c.Close(ctx); err != nil {
					t.Fatalf("Close: %v", err)
				}
				ts.next(packet.TypeDisconnect)
			})
		}
	}
	t.Run("5.0/refused", func(t *testing.T) {
		ctx := testContext(t)
		ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
			if p, ok := p.(*packet.Publish); ok {
				ackPublish(ts, p, packet.NotAuthorized)
				return
			}
			accept(ts, p)
		})
		c := connectForTest(t, pipeConfig(ts))
		for _, qos := range []packet.QoS{packet.QoS1, packet.QoS2} {
			err := c.Publish(ctx, Message{Topic: "a", QoS: qos})
			var ae *AckError
			if !errors.As(err, &ae) || ae.Reason != packet.NotAuthorized {
				t.Fatalf("QoS %d: %v, want AckError 0x87", qos, err)
			}
		}
	})
}

// TestPublishBackpressure: with the server's Receive Maximum of 1 used up,
// Publish waits until the acknowledgement returns the quota.
func TestPublishBackpressure(t *testing.T) {
	ctx := testContext(t)
	release := make(chan *packet.Publish, 4)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		switch p := p.(type) {
		case *packet.Connect:
			_ = ts.s.Send(&packet.Connack{Props: propsReceiveMaximum(1)})
		case *packet.Publish:
			release <- p.Clone() // acknowledged later, from outside
		}
	})
	c := connectForTest(t, pipeConfig(ts))
	first := make(chan error, 1)
	go func() { first <- c.Publish(ctx, Message{Topic: "a", QoS: packet.QoS1, Payload: []byte("1")}) }()
	p1 := <-release
	second := make(chan error, 1)
	go func() { second <- c.Publish(ctx, Message{Topic: "a", QoS: packet.QoS1, Payload: []byte("2")}) }()
	select {
	case p := <-release:
		t.Fatalf("second message %q sent beyond the Receive Maximum", p.Payload)
	case err := <-second:
		t.Fatalf("second Publish returned %v before the first was acknowledged", err)
	case <-time.After(100 * time.Millisecond):
	}
	ts.send(&packet.Puback{PacketID: p1.PacketID})
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	p2 := <-release
	if string(p2.Payload) != "2" {
		t.Fatalf("second message %q", p2.Payload)
	}
	ts.send(&packet.Puback{PacketID: p2.PacketID})
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

// TestPublishContext: a Publish whose acknowledgement does not come returns
// when its context ends; Close then gives up draining when its own context
// ends.
func TestPublishContext(t *testing.T) {
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if _, ok := p.(*packet.Publish); !ok {
			accept(ts, p)
		}
	})
	c := connectForTest(t, pipeConfig(ts))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Publish(ctx, Message{Topic: "a", QoS: packet.QoS1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish: %v", err)
	}
	closeCtx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := c.Close(closeCtx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a message in flight: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still up after Close")
	}
	if err := c.Publish(testContext(t), Message{Topic: "a"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

// TestSubscribeHandlers: each message goes to the handlers of the filters
// it matches (wildcards, the $ rule), others to OnMessage; a QoS 1 or
// QoS 2 message is acknowledged after its handler returned; a refused
// filter is an *AckError; after Unsubscribe the handler gets nothing.
func TestSubscribeHandlers(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if s, ok := p.(*packet.Subscribe); ok && s.Subscriptions[0].Filter == "forbidden" {
			ack, _ := s.Ack(packet.V5, packet.NotAuthorized)
			_ = ts.s.Send(ack)
			return
		}
		accept(ts, p)
	})
	cfg := pipeConfig(ts)
	other := make(chan Message, 8)
	cfg.OnMessage = func(m Message) { other <- m }
	c := connectForTest(t, cfg)
	got := make(chan string, 8)
	handled := make(chan struct{})
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "s/+/t", QoS: packet.QoS2}, func(m Message) {
		got <- m.Topic + " " + string(m.Payload)
		<-handled // the acknowledgement waits for the handler
	}); err != nil {
		t.Fatal(err)
	}
	var ae *AckError
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "forbidden"}, nil); !errors.As(err, &ae) || ae.Filter != "forbidden" {
		t.Fatalf("refused subscription: %v", err)
	}
	ts.send(&packet.Publish{Topic: "s/1/t", QoS: packet.QoS1, Payload: []byte("one")})
	if m := <-got; m != "s/1/t one" {
		t.Fatalf("handler got %q", m)
	}
	select {
	case p := <-ts.got:
		if p.Type() == packet.TypePuback {
			t.Fatal("PUBACK before the handler returned")
		}
	case <-time.After(50 * time.Millisecond):
	}
	close(handled)
	if a := ts.next(packet.TypePuback).(*packet.Puback); a.Reason != 0 {
		t.Fatalf("PUBACK %v", a)
	}
	ts.send(&packet.Publish{Topic: "$sys/1/t", Payload: []byte("dollar")})
	ts.send(&packet.Publish{Topic: "x", QoS: packet.QoS2, Payload: []byte("other")})
	if m := <-other; m.Topic != "$sys/1/t" {
		t.Fatalf("OnMessage got %q first", m.Topic)
	}
	if m := <-other; m.Topic != "x" || m.QoS != packet.QoS2 {
		t.Fatalf("OnMessage got %+v", m)
	}
	ts.next(packet.TypePubrec)
	if err := c.Unsubscribe(ctx, "s/+/t"); err != nil {
		t.Fatal(err)
	}
	ts.send(&packet.Publish{Topic: "s/2/t", Payload: []byte("after")})
	if m := <-other; m.Topic != "s/2/t" {
		t.Fatalf("after Unsubscribe: %q", m.Topic)
	}
}

// TestConnectErrors: a Config that cannot work is refused before anything
// is dialled; a CONNACK refusal is a *RefusedError; a server that never
// answers is given up after the connect timeout.
func TestConnectErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Servers: []string{"ws://host/mqtt"}},
		{Servers: []string{"tcp://"}},
		{Servers: []string{"tcp://h"}, Version: 4, ClientID: ""},
		{Servers: []string{"tcp://h"}, Will: &Message{Payload: []byte("x")}},
		{Servers: []string{"tcp://h"}, Will: &Message{Topic: "a/#"}},
		{Servers: []string{"tcp://h"}, Version: 9},
	} {
		if _, err := Connect(testContext(t), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", cfg, err)
		}
	}
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		_ = ts.s.Send(&packet.Connack{Reason: packet.BadUserNameOrPassword})
	})
	var re *RefusedError
	if _, err := Connect(testContext(t), pipeConfig(ts)); !errors.As(err, &re) || re.Reason != packet.BadUserNameOrPassword {
		t.Fatalf("refused: %v", err)
	}
	// 3.1.1 return code 4, bad user name or password (MQTT-3.2.2-5 of 3.1.1:
	// the server closes after a non-zero return code).
	old := newTestServer(t, func(ts *testServer, p packet.Packet) {
		_ = ts.s.Send(&packet.Connack{Reason: 4})
	})
	cfg311 := pipeConfig(old)
	cfg311.Version = packet.V311
	if _, err := Connect(testContext(t), cfg311); !errors.As(err, &re) || re.Reason != 4 {
		t.Fatalf("3.1.1 refused: %v", err)
	}
	silent := newTestServer(t, func(*testServer, packet.Packet) {})
	cfg := pipeConfig(silent)
	cfg.ConnectTimeout = 50 * time.Millisecond
	if _, err := Connect(testContext(t), cfg); err == nil {
		t.Fatal("connected to a server that never answers")
	}
}

// TestConnectionLost: with NoReconnect, when the server goes away, waiting
// calls and later ones get an error matching ErrClosed, and Done is
// closed.
func TestConnectionLost(t *testing.T) {
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if _, ok := p.(*packet.Publish); !ok {
			accept(ts, p)
		}
	})
	cfg := pipeConfig(ts)
	cfg.NoReconnect = true
	c := connectForTest(t, cfg)
	waiting := make(chan error, 1)
	go func() { waiting <- c.Publish(testContext(t), Message{Topic: "a", QoS: packet.QoS1}) }()
	ts.next(packet.TypePublish)
	ts.drop()
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting Publish: %v", err)
	}
	<-c.Done()
	var lost *ConnectionLostError
	if err := c.Err(); !errors.As(err, &lost) {
		t.Fatalf("Err: %v", err)
	}
	if err := c.Subscribe(testContext(t), packet.Subscription{Filter: "a"}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after the end: %v", err)
	}
}

// TestReconnect: a lost connection is re-established; a new session gets
// the subscriptions again, and a QoS 1 message in flight in a session the
// server keeps (v5 Session Expiry) is sent again (DUP) and acknowledged,
// so its Publish returns nil; a Publish made while the Client is away
// waits for the new connection; a message of a session that did not
// survive is reported lost (ErrSessionLost), a QoS 2 one past PUBREC too;
// OnConnectionLost is not called after Close.
func TestReconnect(t *testing.T) {
	t.Run("5.0/session-kept", func(t *testing.T) {
		ctx := testContext(t)
		var held *packet.Publish // the first message is not acknowledged on its first connection
		ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
			if p, ok := p.(*packet.Publish); ok && held == nil {
				held = p.Clone()
				return
			}
			accept(ts, p)
		})
		cfg := pipeConfig(ts)
		cfg.SessionExpiry = time.Hour
		cfg.MinRetryDelay = time.Millisecond
		up := make(chan bool, 4)
		cfg.OnConnectionUp = func(present bool) { up <- present }
		c := connectForTest(t, cfg)
		if err := c.Subscribe(ctx, packet.Subscription{Filter: "s/#", QoS: 1}, func(Message) {}); err != nil {
			t.Fatal(err)
		}
		first := make(chan error, 1)
		go func() { first <- c.Publish(ctx, Message{Topic: "a", QoS: packet.QoS1, Payload: []byte("1")}) }()
		ts.next(packet.TypePublish)
		ts.drop()
		if present := <-up; !present {
			t.Fatal("the server kept the session, Session Present 0")
		}
		again := ts.next(packet.TypePublish).(*packet.Publish)
		if !again.Dup || string(again.Payload) != "1" {
			t.Fatalf("re-sent %+v, want the message with DUP", again)
		}
		if err := <-first; err != nil {
			t.Fatalf("Publish across the reconnection: %v", err)
		}
	})
	t.Run("5.0/new-session", func(t *testing.T) {
		ctx := testContext(t)
		ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
			if _, ok := p.(*packet.Publish); !ok || ts.dials > 1 {
				accept(ts, p)
			}
		})
		cfg := pipeConfig(ts)
		cfg.MinRetryDelay = 20 * time.Millisecond
		var logs syncBuffer
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		lost := make(chan error, 4)
		cfg.OnConnectionLost = func(err error) { lost <- err }
		c := connectForTest(t, cfg)
		if err := c.Subscribe(ctx, packet.Subscription{Filter: "s/#", QoS: 1}, func(Message) {}); err != nil {
			t.Fatal(err)
		}
		ts.next(packet.TypeSubscribe)
		inFlight := make(chan error, 1)
		go func() { inFlight <- c.Publish(ctx, Message{Topic: "a", QoS: packet.QoS1}) }()
		ts.next(packet.TypePublish)
		ts.drop()
		if err := <-lost; !errors.Is(err, ErrClosed) {
			t.Fatalf("OnConnectionLost: %v", err)
		}
		if err := <-inFlight; !errors.Is(err, ErrSessionLost) || errors.Is(err, ErrClosed) {
			t.Fatalf("a message of a session that ended: %v, want ErrSessionLost (the Client goes on)", err)
		}
		// While the Client waits to reconnect, Publish waits with it.
		if err := c.Publish(ctx, Message{Topic: "b", QoS: packet.QoS1}); err != nil {
			t.Fatalf("Publish during the reconnection: %v", err)
		}
		if s := ts.next(packet.TypeSubscribe).(*packet.Subscribe); s.Subscriptions[0].Filter != "s/#" {
			t.Fatalf("subscribed again to %v", s.Subscriptions)
		}
		st := c.Stats()
		if st.Reconnects != 1 || st.Sent[1] != 1 || st.BytesOut == 0 || st.BytesIn == 0 || st.InFlight != 0 {
			t.Fatalf("stats %+v", st)
		}
		for _, want := range []string{"mqtt client: connected", "mqtt client: connection lost", "mqtt client: reconnecting"} {
			if !strings.Contains(logs.String(), want) {
				t.Fatalf("log without %q:\n%s", want, logs.String())
			}
		}
	})
}

// syncBuffer is a bytes.Buffer for a logger on several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestManualAck: with Config.ManualAck a message is acknowledged when the
// handler's owner calls Ack, once; an Ack for a message of a connection
// that ended is refused with ErrAckStale, and the server sends the message
// again on the next one.
func TestManualAck(t *testing.T) {
	ts := newTestServer(t, accept)
	cfg := pipeConfig(ts)
	cfg.ManualAck = true
	cfg.MinRetryDelay = time.Millisecond
	got := make(chan Message, 4)
	cfg.OnMessage = func(m Message) { got <- m }
	c := connectForTest(t, cfg)
	ts.send(&packet.Publish{Topic: "b", QoS: packet.QoS1, Payload: []byte("1")})
	m := <-got
	for quiet := time.After(50 * time.Millisecond); ; {
		select {
		case p := <-ts.got:
			if p.Type() == packet.TypePuback {
				t.Fatal("PUBACK before Ack")
			}
			continue
		case <-quiet:
		}
		break
	}
	if err := c.Ack(m); err != nil {
		t.Fatal(err)
	}
	if err := c.Ack(m); err != nil {
		t.Fatalf("second Ack: %v", err)
	}
	ts.next(packet.TypePuback)
	ts.send(&packet.Publish{Topic: "b", QoS: packet.QoS2, Payload: []byte("2")})
	m2 := <-got
	ts.drop()
	for c.Stats().Reconnects == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := c.Ack(m2); !errors.Is(err, ErrAckStale) {
		t.Fatalf("Ack after the connection ended: %v", err)
	}
	select {
	case p := <-ts.got:
		if p.Type() == packet.TypePubrec {
			t.Fatal("PUBREC sent for a message of an ended connection")
		}
	default:
	}
	if err := c.Ack(Message{Topic: "qos0"}); err != nil {
		t.Fatalf("Ack of a QoS 0 message: %v", err)
	}
}

// TestRequest: Request publishes with a Response Topic and Correlation
// Data and returns the response that carries the same Correlation Data;
// 3.1.1 has no request/response.
func TestRequest(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if p, ok := p.(*packet.Publish); ok && p.Topic == "svc/time" {
			ackPublish(ts, p, 0)
			// An unrelated message first, then the answer.
			_ = ts.s.Send(&packet.Publish{Topic: p.Props.ResponseTopic, Payload: []byte("other"),
				Props: property.Properties{CorrelationData: []byte("not yours")}})
			_ = ts.s.Send(&packet.Publish{Topic: p.Props.ResponseTopic, Payload: []byte("12:00"),
				Props: property.Properties{CorrelationData: p.Props.CorrelationData}})
			return
		}
		accept(ts, p)
	})
	c := connectForTest(t, pipeConfig(ts))
	for range 2 {
		resp, err := c.Request(ctx, Message{Topic: "svc/time", QoS: packet.QoS1})
		if err != nil || string(resp.Payload) != "12:00" {
			t.Fatalf("Request: %q %v", resp.Payload, err)
		}
	}
	old := newTestServer(t, accept)
	cfg := pipeConfig(old)
	cfg.Version = packet.V311
	c311, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c311.Close(ctx)
	if _, err := c311.Request(ctx, Message{Topic: "svc/time"}); !errors.Is(err, ErrRequestV5) {
		t.Fatalf("3.1.1 Request: %v", err)
	}
}

// testAuth is an Authenticator for TestEnhancedAuth: it answers a
// challenge c with "answer:c" and expects the server's final data.
type testAuth struct{ final string }

func (testAuth) Method() string                   { return "TEST-1" }
func (testAuth) Start() ([]byte, error)           { return []byte("hello"), nil }
func (testAuth) Answer(ch []byte) ([]byte, error) { return append([]byte("answer:"), ch...), nil }
func (a testAuth) Finish(data []byte) error {
	if string(data) != a.final {
		return fmt.Errorf("server final %q", data)
	}
	return nil
}

// TestEnhancedAuth: the CONNECT carries the method and initial data, the
// server's challenge is answered, and the CONNACK's data is checked; a
// server whose final data does not verify is refused (DISCONNECT 0x87),
// and 3.1.1 has no enhanced authentication.
func TestEnhancedAuth(t *testing.T) {
	server := func(final string) *testServer {
		return newTestServer(t, func(ts *testServer, p packet.Packet) {
			switch p := p.(type) {
			case *packet.Connect:
				if p.Props.AuthMethod != "TEST-1" || string(p.Props.AuthData) != "hello" {
					_ = ts.s.Send(&packet.Connack{Reason: packet.BadAuthenticationMethod})
					return
				}
				_ = ts.s.Send(&packet.Auth{Reason: packet.ContinueAuthentication,
					Props: property.Properties{AuthMethod: "TEST-1", AuthData: []byte("nonce")}})
			case *packet.Auth:
				if string(p.Props.AuthData) != "answer:nonce" {
					_ = ts.s.Send(&packet.Connack{Reason: packet.NotAuthorized, Props: property.Properties{AuthMethod: "TEST-1"}})
					return
				}
				_ = ts.s.Send(&packet.Connack{Props: property.Properties{AuthMethod: "TEST-1", AuthData: []byte(final)}})
			default:
				accept(ts, p)
			}
		})
	}
	ctx := testContext(t)
	ts := server("ok")
	cfg := pipeConfig(ts)
	cfg.Auth = testAuth{final: "ok"}
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("MQTT-4.12.0-1: %v", err)
	}
	c.Close(ctx)

	bad := server("forged")
	cfg = pipeConfig(bad)
	cfg.Auth, cfg.NoReconnect = testAuth{final: "ok"}, true
	if _, err := Connect(ctx, cfg); err == nil || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("a server whose final data does not verify: %v", err)
	}
	if d := bad.next(packet.TypeDisconnect).(*packet.Disconnect); d.Reason != packet.NotAuthorized {
		t.Fatalf("DISCONNECT %v", d.Reason)
	}
	cfg.Version = packet.V311
	if _, err := Connect(ctx, cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("3.1.1 with Auth: %v", err)
	}
}

// TestTopicAliases: with Config.TopicAliases the Client maps the topics it
// sends to Topic Aliases, within the server's Topic Alias Maximum, and
// announces a maximum of its own.
func TestTopicAliases(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		if _, ok := p.(*packet.Connect); ok {
			_ = ts.s.Send(&packet.Connack{Props: property.Properties{TopicAliasMaximum: 4}})
			return
		}
		accept(ts, p)
	})
	cfg := pipeConfig(ts)
	cfg.TopicAliases = true
	c := connectForTest(t, cfg)
	if conn := ts.next(packet.TypeConnect).(*packet.Connect); conn.Props.TopicAliasMaximum == 0 {
		t.Fatal("no Topic Alias Maximum in CONNECT")
	}
	for range 2 {
		if err := c.Publish(ctx, Message{Topic: "sensors/room1/temperature", QoS: packet.QoS1}); err != nil {
			t.Fatal(err)
		}
	}
	// The server's Connection resolves the alias: it delivers the topic,
	// with the alias the PUBLISH carried.
	first, second := ts.next(packet.TypePublish).(*packet.Publish), ts.next(packet.TypePublish).(*packet.Publish)
	if first.Props.TopicAlias == 0 || second.Props.TopicAlias != first.Props.TopicAlias || second.Topic != first.Topic {
		t.Fatalf("first %q alias %d, second %q alias %d", first.Topic, first.Props.TopicAlias, second.Topic, second.Props.TopicAlias)
	}
}

// TestSharedSubscriptionHandler: a message for a shared subscription
// (v5) reaches the handler of $share/{name}/{filter} by its filter.
func TestSharedSubscriptionHandler(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, accept)
	c := connectForTest(t, pipeConfig(ts))
	got := make(chan string, 1)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "$share/workers/jobs/+"}, func(m Message) { got <- m.Topic }); err != nil {
		t.Fatal(err)
	}
	ts.send(&packet.Publish{Topic: "jobs/7", Payload: []byte("x")})
	if topic := <-got; topic != "jobs/7" {
		t.Fatalf("handler got %q", topic)
	}
}

// TestOnMessageOncePerMessage: a message that matches several
// subscriptions made without a handler reaches OnMessage once (the server
// sends it once, MQTT-3.3.4-2), and a handler of its own as well.
func TestOnMessageOncePerMessage(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, accept)
	cfg := pipeConfig(ts)
	other := make(chan string, 8)
	cfg.OnMessage = func(m Message) { other <- m.Topic }
	c := connectForTest(t, cfg)
	for _, f := range []string{"a/+", "a/#"} {
		if err := c.Subscribe(ctx, packet.Subscription{Filter: f, QoS: packet.QoS1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	own := make(chan string, 8)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "a/b"}, func(m Message) { own <- m.Topic }); err != nil {
		t.Fatal(err)
	}
	ts.send(&packet.Publish{Topic: "a/b", QoS: packet.QoS1, Payload: []byte("1")})
	ts.send(&packet.Publish{Topic: "a/c", QoS: packet.QoS1, Payload: []byte("2")})
	ts.next(packet.TypePuback)
	ts.next(packet.TypePuback)
	close(other)
	close(own)
	var got, gotOwn []string
	for topic := range other {
		got = append(got, topic)
	}
	for topic := range own {
		gotOwn = append(gotOwn, topic)
	}
	if !slices.Equal(got, []string{"a/b", "a/c"}) || !slices.Equal(gotOwn, []string{"a/b"}) {
		t.Fatalf("OnMessage got %q, the handler of a/b got %q; want [a/b a/c] and [a/b]", got, gotOwn)
	}
}

// TestSessionLostPastPubrec: a QoS 2 message whose PUBREC came but not its
// PUBCOMP, when the server does not keep the session across the
// reconnection, gets ErrSessionLost (it used to wait for ever).
func TestSessionLostPastPubrec(t *testing.T) {
	ctx := testContext(t)
	ts := newTestServer(t, func(ts *testServer, p packet.Packet) {
		switch p := p.(type) {
		case *packet.Connect:
			_ = ts.s.Send(&packet.Connack{}) // a fresh session on every connection
		case *packet.Publish:
			if ts.dials == 1 {
				_ = ts.s.Send(&packet.Pubrec{PacketID: p.PacketID})
			}
		case *packet.Pubrel:
			if ts.dials == 1 {
				ts.conn.Close() // before the PUBCOMP goes out
			}
		default:
			accept(ts, p)
		}
	})
	cfg := pipeConfig(ts)
	cfg.SessionExpiry = time.Hour
	cfg.MinRetryDelay = time.Millisecond
	lost := make(chan error, 2)
	cfg.OnConnectionLost = func(err error) { lost <- err }
	c := connectForTest(t, cfg)
	inFlight := make(chan error, 1)
	go func() { inFlight <- c.Publish(ctx, Message{Topic: "a", QoS: packet.QoS2}) }()
	<-lost
	if err := <-inFlight; !errors.Is(err, ErrSessionLost) {
		t.Fatalf("Publish of a QoS 2 message past PUBREC: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lost:
		t.Fatalf("OnConnectionLost after Close: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
}

// connectForTest connects with cfg, failing the test if it cannot, and
// closes the Client when the test ends.
func connectForTest(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Connect(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}
