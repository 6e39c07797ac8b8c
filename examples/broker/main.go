// Command broker runs the example MQTT broker (package
// examples/internal/broker) on a TCP address, for MQTT 3.1.1 and 5.0
// clients alike.
//
//	go run ./examples/broker -addr 127.0.0.1:1883
//
// Interrupt it (Ctrl-C, SIGTERM) to shut it down cleanly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:1883", "TCP address to listen on")
	quiet := fs.Bool("quiet", false, "do not log connection errors")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	cfg := broker.Config{}
	if !*quiet {
		cfg.Logf = log.New(stderr, "", log.LstdFlags).Printf
	}
	b := broker.New(cfg)
	fmt.Fprintf(stdout, "mqtt broker listening on %s\n", l.Addr())

	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = b.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, broker.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
