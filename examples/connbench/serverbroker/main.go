// Command serverbroker is the barest broker on package server: it accepts
// every client and ignores its packets (the core still answers what the
// protocol answers by itself: PINGRESP, the acknowledgements). It is what
// connbench measures as the cost of package server alone, without a
// broker's sessions and routing:
//
//	go run ./examples/connbench/serverbroker -addr 127.0.0.1:1887
//
// It announces itself on a line "mqtt broker listening on HOST:PORT" and
// shuts down on Ctrl-C or SIGTERM. -no-event-loop serves every connection
// with a goroutine of its own (server.Config.NoEventLoop).
//
// SIGUSR1 makes it print where its memory is (runtime.MemStats, KiB), as
// it is and again after a forced collection, to standard output:
//
//	kill -USR1 $(pidof serverbroker)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "serverbroker:", err)
		os.Exit(1)
	}
}

// nop accepts every client and ignores its packets.
type nop struct{}

func (nop) OnConnect(*server.Conn, *packet.Connect) packet.Connack { return packet.Connack{} }
func (nop) OnPacket(*server.Conn, packet.Packet)                   {}
func (nop) OnClose(*server.Conn, error)                            {}

// printMemory prints the runtime's memory statistics in KiB: the heap's
// objects, its spans in use, idle and not returned to the system, and
// the runtime's memory outside the heap (goroutine stacks, span and
// collector metadata, other: the poller's descriptors among others).
func printMemory(w io.Writer, when string) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "memory %s: heap objects %d, heap in use %d, heap idle and kept %d, stacks %d, spans %d, GC metadata %d, other %d, total %d KiB\n",
		when, m.HeapAlloc>>10, m.HeapInuse>>10, (m.HeapIdle-m.HeapReleased)>>10, m.StackInuse>>10, m.MSpanInuse>>10,
		m.GCSys>>10, m.OtherSys>>10, (m.Sys-m.HeapReleased)>>10)
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serverbroker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:1887", "TCP address to listen on")
	noLoop := fs.Bool("no-event-loop", false, "a goroutine per connection instead of the event loop")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	srv := server.New(server.Config{Handler: nop{}, NoEventLoop: *noLoop})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	fmt.Fprintf(stdout, "mqtt broker listening on %s\n", l.Addr())
wait:
	select {
	case err := <-served:
		return err
	case <-usr1:
		printMemory(stdout, "now")
		runtime.GC()
		printMemory(stdout, "after runtime.GC")
		goto wait
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err := <-served; err != nil && !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	return nil
}
