// Command client is a command-line MQTT publisher and subscriber in the
// spirit of mosquitto_pub and mosquitto_sub, built on package client
// (github.com/mqttcore/mqtt/client): MQTT 3.1.1 and 5.0, QoS 0 to 2, over
// TCP, TLS, WebSocket and WebSocket over TLS (package client/websocket),
// with backpressure from the server's Receive Maximum and rate limiting.
//
//	go run ./examples/broker &
//	go run ./examples/client sub -t 'sensors/#' -v
//	go run ./examples/client pub -t sensors/room1 -m 21.5 -q 1
//
// Reconnection: sub reconnects when its connection is lost, as
// mosquitto_sub does, and subscribes again when the broker did not keep
// the session. pub reconnects when its session outlives the connection
// (-x, -c), so that the messages in flight are sent again, and when it
// publishes standard input (-l), a stream that may run for long; a
// one-shot pub -m without such a session ends with exit code 1 instead,
// as mosquitto_pub does. Waits between attempts double from 50 ms (with
// jitter) up to --retry-max; --retry-max 0 turns reconnection off.
//
// Sessions: within one run the client keeps its side of the session in
// memory across reconnections. --session FILE (with -c and -i) keeps it
// in a file, so that a later run resumes the session the broker kept: a
// QoS 1 or QoS 2 message pub left unacknowledged is sent again, and a QoS
// 2 message sub acknowledged is not delivered again. Without the file, a run
// with -c cannot resume a session the broker kept (MQTT-3.2.2-4 has the
// client close the connection): it exits with code 1 and says so. sub
// acknowledges a message once it has written it out, and leaves those
// past -C unacknowledged, for the session's next run.
//
// Run "client pub -h" or "client sub -h" for every option. The exit code
// is 0 on success, 1 when the broker cannot be reached or refuses, and 2
// for a bad command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runContext(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the broker is unreachable, refuses, or the connection failed for good
	exitUsage = 2 // a bad command line
)

const topUsage = `usage: client pub|sub [options]

  client pub   publish messages (-m, -l from standard input, -n times)
  client sub   subscribe and print the messages that arrive

"client pub -h" and "client sub -h" list the options.
`

// runContext runs the command until it is done or ctx ends (an interrupt:
// the client then disconnects cleanly).
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return exitUsage
	}
	var pub bool
	switch args[0] {
	case "pub":
		pub = true
	case "sub":
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "client: unknown command %q: want pub or sub (client -h)\n", args[0])
		return exitUsage
	}
	o, err := parse(pub, args[1:], stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "client %s: %v (client %s -h for help)\n", args[0], err, args[0])
		return exitUsage
	}
	if pub {
		err = publish(ctx, o, stdin, stderr)
	} else {
		err = subscribe(ctx, o, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "client %s: %v\n", args[0], oneLine(err))
		return exitError
	}
	return exitOK
}

// oneLine keeps an error message to one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
