// Command mochibroker runs the mochi-mqtt broker
// (github.com/mochi-mqtt/server/v2) on one TCP listener, with every client
// allowed and default capabilities, as a point of comparison for the bench
// program:
//
//	go run ./examples/bench/mochibroker -addr 127.0.0.1:1885
//
// It announces itself on a line "mqtt broker listening on HOST:PORT" (so
// -addr 127.0.0.1:0 picks a free port) and shuts down on Ctrl-C or
// SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mochibroker:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mochibroker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:1885", "TCP address to listen on")
	verbose := fs.Bool("v", false, "log connections (mochi's log at level INFO; default: errors only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	server := mochi.New(&mochi.Options{
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if err := server.AddListener(listeners.NewNet("tcp", l)); err != nil {
		l.Close()
		return err
	}
	if err := server.Serve(); err != nil {
		l.Close()
		return err
	}
	fmt.Fprintf(stdout, "mqtt broker listening on %s\n", l.Addr())
	<-ctx.Done()
	if err := server.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
