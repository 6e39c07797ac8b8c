//go:build linux

// Command connbench measures what connections cost a broker: how fast it
// accepts them, and how much memory it holds per idle connection.
//
//	cd examples && go run ./connbench -broker example,server,mosquitto,mochi -n 10000 -runs 3
//
// For each broker and run it starts the broker as a process of its own,
// listening on a free port of 127.0.0.1, then opens -n MQTT 5.0
// connections from client processes (connbench itself, started again in
// client mode), each client process binding its own source address
// 127.0.0.2, 127.0.0.3, ... (Linux routes all of 127/8 to the loopback,
// so each source address has its own ephemeral ports) and holding at most
// -per-client connections. Each connection sends CONNECT (clean start,
// Keep Alive -keepalive, 300 s by default, a client identifier of its own)
// and waits for a CONNACK that accepts it; then it stays idle.
//
// The client processes use blocking sockets (socket, two setsockopt,
// bind with IP_BIND_ADDRESS_NO_PORT, connect, write, read: no poller), a
// goroutine per connection being set up, to take as little of the
// machine as they can; when they exit they reset their connections
// (SO_LINGER 0), so that no TIME_WAIT holds ports for the next run.
//
// It reports, per run:
//
//   - conn/s: the -n connections divided by the time from the first
//     connection attempt to the last CONNACK, the client processes going
//     at once with -inflight connections being set up at a time (in all,
//     shared between them; the default, 64, stays below mosquitto's
//     listen backlog of 100);
//   - the broker's resident memory (VmRSS of /proc/PID/status) once it is
//     listening and has been idle -settle, before any connection; and
//     with the -n connections open and idle for -settle (nothing is
//     forced: no garbage collection is asked of a Go broker, so what it
//     has not collected yet is counted);
//   - RSS/conn: the difference divided by -n;
//   - CPU/conn: the broker's CPU time, user and system, during the ramp
//     (/proc/PID/stat) divided by -n, and the client processes' (clients'),
//     which hold up better than conn/s on a shared machine;
//   - overflows: the connections the system's listen queues dropped
//     during the ramp (ListenOverflows in /proc/net/netstat; a dropped
//     handshake costs its client a second);
//   - and it checks that every connection is still open after the settle
//     time (a broker that closed some makes the run fail).

// With -runs above 1 the brokers take turns (A B C A B C ...) and a
// summary gives each broker's medians and ranges.
//
// The brokers: example (examples/broker, the example broker), server
// (examples/connbench/serverbroker, package server with a Handler that
// accepts every client and does nothing else; server-goroutines: the
// same with a goroutine per connection, server.Config.NoEventLoop), mochi
// (examples/bench/mochibroker, mochi-mqtt/server v2) and bare
// (examples/connbench/barebroker: no broker, a blocking loop of accept4,
// read and write that answers every connection with a CONNACK: the
// kernel's share, the floor) are built with the
// go command from this repository (run connbench from inside it); mosquitto
// runs -mosquitto (/usr/sbin/mosquitto, from Debian's package) with a
// generated configuration: a listener on 127.0.0.1, anonymous clients,
// no persistence, max_connections -1, no logging.
//
// # Descriptors
//
// The broker needs a file descriptor per connection. connbench raises its
// soft RLIMIT_NOFILE to the hard limit, which the broker and the client
// processes inherit, and refuses a -n that the broker cannot hold: -n
// plus 100 (the broker's own files) must be within the hard limit.
// Raising the hard limit needs CAP_SYS_RESOURCE in the initial user
// namespace (root, or prlimit/ulimit -Hn as root, or LimitNOFILE= in a
// systemd unit; a user namespace made with unshare -U does not help:
// setrlimit is checked against the initial one). Where it can be raised,
// for 100,000 connections:
//
//	prlimit --nofile=110000:110000 go run ./connbench -broker example -n 100000
//
// connbench runs on Linux only (/proc, IP_BIND_ADDRESS_NO_PORT).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(clientEnv) != "" {
		if err := runClient(os.Args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "connbench client:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ue usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "connbench:", err)
		}
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "connbench:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line (exit status 2).
type usageError struct{ error }

// options is the parsed command line.
type options struct {
	brokers   []string
	n         int
	runs      int
	perClient int
	inflight  int
	keepAlive int
	settle    time.Duration
	timeout   time.Duration
	mosquitto string
}

// brokerNames are the brokers -broker knows, in the order of the table.
var brokerNames = []string{"example", "server", "server-goroutines", "mosquitto", "mochi", "bare"}

// reserve is the descriptors a broker may need besides its connections.
const reserve = 100

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("connbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: connbench [-broker example,server,server-goroutines,mosquitto,mochi,bare] [-n N] [-runs R] [flags]")
		fmt.Fprintln(stderr, "Measures a broker's accepted connections per second and resident memory per idle connection (go doc ./connbench).")
		fs.PrintDefaults()
	}
	var o options
	brokers := fs.String("broker", "example", "brokers to measure, comma-separated: "+strings.Join(brokerNames, ", "))
	fs.IntVar(&o.n, "n", 10000, "idle connections to open")
	fs.IntVar(&o.runs, "runs", 1, "runs of each broker (taking turns)")
	fs.IntVar(&o.perClient, "per-client", 5000, "connections per client process (each with a source address of its own)")
	fs.IntVar(&o.inflight, "inflight", 64, "connections being set up at a time, over all client processes")
	fs.IntVar(&o.keepAlive, "keepalive", 300, "Keep Alive of the connections, in seconds")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "idle time before each RSS reading")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound on one connection's CONNECT to CONNACK, and on a broker's start")
	fs.StringVar(&o.mosquitto, "mosquitto", "/usr/sbin/mosquitto", "the mosquitto program")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	for _, b := range strings.Split(*brokers, ",") {
		if !slices.Contains(brokerNames, b) {
			return nil, usageError{fmt.Errorf("-broker %q: not one of %s", b, strings.Join(brokerNames, ", "))}
		}
		o.brokers = append(o.brokers, b)
	}
	switch {
	case o.n < 1:
		return nil, usageError{errors.New("-n must be at least 1")}
	case o.runs < 1:
		return nil, usageError{errors.New("-runs must be at least 1")}
	case o.perClient < 1:
		return nil, usageError{errors.New("-per-client must be at least 1")}
	case o.inflight < 1:
		return nil, usageError{errors.New("-inflight must be at least 1")}
	case o.keepAlive < 0 || o.keepAlive > 65535:
		return nil, usageError{errors.New("-keepalive must be 0 to 65535")}
	case o.settle < 0 || o.timeout <= 0:
		return nil, usageError{errors.New("-settle must not be negative, -timeout must be positive")}
	}
	return &o, nil
}

// checkLimits raises the soft descriptor limit to the hard one and checks
// that a broker (and each client process) can hold its connections, and
// that a source address has the ephemeral ports for a client process.
func checkLimits(o *options) error {
	limit, err := raiseNoFile()
	if err != nil {
		return err
	}
	if need := uint64(o.n) + reserve; need > limit {
		return usageError{fmt.Errorf("-n %d: the broker would need %d file descriptors, above the hard limit RLIMIT_NOFILE = %d of this process "+
			"(ulimit -Hn); at most -n %d here. Raising it needs CAP_SYS_RESOURCE (as root: prlimit --nofile=%d:%d connbench ...; "+
			"a user namespace, unshare -Ur, does not give it)",
			o.n, need, limit, limit-reserve, need, need)}
	}
	if need := uint64(min(o.n, o.perClient)) + reserve; need > limit {
		return usageError{fmt.Errorf("-per-client %d: a client process would need %d file descriptors, above the hard limit RLIMIT_NOFILE = %d",
			o.perClient, need, limit)}
	}
	if lo, hi, err := portRange(); err == nil && min(o.n, o.perClient) > hi-lo+1-reserve {
		return usageError{fmt.Errorf("-per-client %d: above the %d ephemeral ports of a source address (%d to %d, /proc/sys/net/ipv4/ip_local_port_range)",
			o.perClient, hi-lo+1-reserve, lo, hi)}
	}
	if clients := (o.n + o.perClient - 1) / o.perClient; clients > 253 {
		return usageError{fmt.Errorf("-n %d in %d client processes: more than the 253 source addresses 127.0.0.2 to 127.0.0.254", o.n, clients)}
	}
	return nil
}

// raiseNoFile sets the soft RLIMIT_NOFILE to the hard limit, which it
// returns. Setting it explicitly makes the processes started inherit it
// (the Go runtime raises its own soft limit but starts others with the
// original one).
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raising the descriptor limit to %d: %w", lim.Max, err)
	}
	return lim.Max, nil
}

// portRange reads the ephemeral port range.
func portRange() (lo, hi int, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	_, err = fmt.Sscan(string(b), &lo, &hi)
	return lo, hi, err
}

// run measures each broker o.runs times and prints the results.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) ([]result, error) {
	o, err := parse(args, stderr)
	if err != nil {
		return nil, err
	}
	if err := checkLimits(o); err != nil {
		return nil, err
	}
	bins, cleanup, err := build(ctx, o.brokers)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "%d idle MQTT 5.0 connections, %d client processes, %d in flight, settle %v\n\n",
		o.n, (o.n+o.perClient-1)/o.perClient, o.inflight, o.settle)
	printHeader(stdout)
	var results []result
	for i := range o.runs {
		for _, name := range o.brokers {
			r, err := measure(ctx, o, name, bins[name], self)
			if err != nil {
				return results, fmt.Errorf("%s, run %d: %w", name, i+1, err)
			}
			results = append(results, r)
			printRow(stdout, r)
		}
	}
	if o.runs > 1 {
		fmt.Fprintln(stdout)
		printSummary(stdout, o.brokers, results)
	}
	return results, nil
}
