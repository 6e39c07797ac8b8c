package server_test

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/mqttcore/mqtt/server"
)

// TestMain runs the tests twice where the event loop exists: with it,
// and with a goroutine per connection. (Benchmarks that compare the two
// choose for themselves: they run once.)
func TestMain(m *testing.M) {
	flag.Parse()
	if runtime.GOOS != "linux" || flag.Lookup("test.bench").Value.String() != "" {
		os.Exit(m.Run())
	}
	fmt.Println("=== event loop")
	code := m.Run()
	fmt.Println("=== goroutine per connection")
	*server.EventLoop = false
	if c := m.Run(); code == 0 {
		code = c
	}
	os.Exit(code)
}
