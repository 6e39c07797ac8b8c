package interop

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/mqtttest"
)

// exampleT stands in for the *testing.T a test passes to CheckBroker: it
// prints failures.
type exampleT struct{ failed bool }

func (*exampleT) Helper()      {}
func (*exampleT) Name() string { return "Example" }
func (t *exampleT) Errorf(format string, args ...any) {
	t.failed = true
	fmt.Printf(format+"\n", args...)
}
func (t *exampleT) Fatalf(format string, args ...any) { t.Errorf(format, args...); panic("failed") }
func (t *exampleT) Error(args ...any)                 { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *exampleT) Fatal(args ...any)                 { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *exampleT) FailNow()                          { t.Fatalf("failed") }
func (t *exampleT) Fail()                             { t.failed = true }
func (t *exampleT) Failed() bool                      { return t.failed }
func (*exampleT) Logf(string, ...any)                 {}
func (*exampleT) Log(...any)                          {}
func (*exampleT) Skipf(string, ...any)                { panic("skipped") }
func (*exampleT) Skip(...any)                         { panic("skipped") }
func (*exampleT) SkipNow()                            { panic("skipped") }

// CheckBroker against a broker started in the test: the example broker
// (examples/broker) on a loopback port, checked with a few random
// scenarios of clients of both versions. In a test, pass the *testing.T
// and leave the number of scenarios to -rapid.checks.
func Example_checkBroker() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	b := broker.New(broker.Config{})
	go b.Serve(l)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	}()

	t := &exampleT{}
	mqtttest.CheckBroker(t, l.Addr().String(), mqtttest.BrokerOptions{Checks: 5})
	if !t.Failed() {
		fmt.Println("no promise broken")
	}
	// Output:
	// no promise broken
}
