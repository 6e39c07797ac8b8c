package mqtttest_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/mqtttest"
	"github.com/mqttcore/mqtt/packet"
)

// exampleT stands in for the *testing.T a real test passes to NewPeer,
// CheckBroker or CheckClient: it prints failures, and stops at a fatal
// one.
type exampleT struct {
	cleanups []func()
	failed   bool
}

func (*exampleT) Helper()      {}
func (*exampleT) Name() string { return "Example" }
func (t *exampleT) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic("failed")
}
func (t *exampleT) Errorf(format string, args ...any) {
	t.failed = true
	fmt.Printf(format+"\n", args...)
}
func (t *exampleT) Fatal(args ...any)              { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *exampleT) Error(args ...any)              { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *exampleT) FailNow()                       { t.Fatalf("failed") }
func (t *exampleT) Fail()                          { t.failed = true }
func (t *exampleT) Failed() bool                   { return t.failed }
func (*exampleT) Logf(string, ...any)              {}
func (*exampleT) Log(...any)                       {}
func (*exampleT) Skipf(format string, args ...any) { panic("skipped") }
func (*exampleT) Skip(...any)                      { panic("skipped") }
func (*exampleT) SkipNow()                         { panic("skipped") }
func (t *exampleT) Cleanup(f func())               { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) done() {
	for _, f := range t.cleanups {
		f()
	}
}

// pipeDialer hands a client one end of an in-memory connection.
type pipeDialer struct{ conn net.Conn }

func (d pipeDialer) Dial(context.Context, *url.URL) (net.Conn, error) { return d.conn, nil }

// A misbehaving broker for a client test: the Peer accepts the client's
// CONNECT, then sends a PUBLISH whose Topic Alias the connection never
// set. The client must refuse it with DISCONNECT 0x82 (Protocol Error)
// and close the connection. In a test, pass the *testing.T to Pipe.
func ExamplePeer_misbehavingBroker() {
	t := &exampleT{}
	defer t.done()
	broker, conn := mqtttest.Pipe(t, packet.V5)

	lost := make(chan error, 1)
	connected := make(chan error, 1)
	go func() {
		c, err := client.Connect(context.Background(), client.Config{
			Servers:          []string{"tcp://broker.invalid:1883"},
			Dialer:           pipeDialer{conn},
			ClientID:         "under-test",
			TopicAliases:     true, // it accepts aliases: this one is unknown
			NoReconnect:      true,
			OnConnectionLost: func(err error) { lost <- err },
		})
		if err == nil {
			defer c.Close(context.Background())
		}
		connected <- err
		<-lost
	}()

	broker.Expect(mqtttest.Type(packet.TypeConnect), 5*time.Second)
	broker.Send(&packet.Connack{})
	if err := <-connected; err != nil {
		fmt.Println("connect:", err)
		return
	}
	broker.SendUnknownAlias(7)
	broker.ExpectRefused(packet.ProtocolError, 5*time.Second)
	fmt.Println("the client refused the unknown Topic Alias")
	// Output:
	// the client refused the unknown Topic Alias
}

// lastValues is the code under test: a message handler that keeps the
// last payload of every topic.
type lastValues map[string][]byte

func (l lastValues) handle(p *packet.Publish) {
	l[p.Topic] = bytes.Clone(p.Payload)
}

// A property test of a message handler: whatever valid PUBLISH arrives,
// the handler keeps its payload under its topic. In a test, draw inside
// rapid.Check(t, func(t *rapid.T) { ... gen.Draw(t, "publish") ... }) to
// get random inputs and shrinking; here the generator's deterministic
// examples stand in.
func ExamplePublish() {
	gen := mqtttest.Publish[uint16](mqtttest.Options{Version: packet.V311, MaxTopicLen: 64, MaxPayload: 256})
	l := lastValues{}
	for i := range 100 {
		p := gen.Example(i)
		l.handle(p)
		if !bytes.Equal(l[p.Topic], p.Payload) {
			fmt.Printf("topic %q: kept %q, want %q\n", p.Topic, l[p.Topic], p.Payload)
		}
	}
	fmt.Println("100 messages checked")
	// Output:
	// 100 messages checked
}

// CheckClient drives a client program through random scenarios, playing
// its broker, and holds it to the specifications. The adapter here,
// clientAdapter (checkclient_test.go), drives this module's package
// client: one client.Client per connection, sharing a MemoryStore so that
// each connection resumes the session. In a test, pass the *testing.T,
// and leave the number of scenarios to -rapid.checks.
func ExampleCheckClient() {
	t := &exampleT{}
	defer t.done()
	newClient := func(s mqtttest.ClientSetup) mqtttest.Client { return newClientAdapter(s) }
	mqtttest.CheckClient(t, newClient, mqtttest.ClientOptions{Versions: []packet.Version{packet.V5}, Checks: 5, NoIdle: true})
	if !t.Failed() {
		fmt.Println("no promise broken")
	}
	// Output:
	// no promise broken
}
