// Command broker runs the example MQTT broker (package
// examples/internal/broker) for MQTT 3.1.1 and 5.0 clients alike, on TCP
// and, when asked, on TLS, WebSocket and WebSocket over TLS, all serving
// the same sessions and subscriptions.
//
//	go run ./examples/broker -addr 127.0.0.1:1883
//	go run ./examples/broker -tls-addr 127.0.0.1:8883 -tls-cert cert.pem -tls-key key.pem \
//		-ws-addr 127.0.0.1:8080 -wss-addr 127.0.0.1:8443
//
// WebSocket listeners serve the path given by -ws-path (default /mqtt)
// with the subprotocol "mqtt". Each listener announces itself on a line
// "mqtt broker listening on ADDRESS" (a bare host:port for TCP, a URL for
// the others).
//
// Limits on what one client may hold: -max-subscriptions (default 1,000
// subscriptions; more are refused in the SUBACK), -max-keepalive (default
// 300 s: a longer Keep Alive, or none, is cut to it; v5 clients are told,
// 3.1.1 clients are closed after 1.5 times it without a packet) and
// -receive-maximum (default 256 QoS 1 and QoS 2 messages a client may have
// unacknowledged: announced to v5 clients, and the point where the broker
// stops reading a 3.1.1 client it holds up). -max-subscriptions -1 and
// -max-keepalive -1 lift the limit. -max-queued (default 10,000) is how
// many messages may wait for one client before the broker holds up the
// publishers that feed it (their acknowledgements wait; QoS 0 messages
// beyond it are dropped); the broker logs the counts when it stops.
//
// -quic-addr listens for MQTT over QUIC on a UDP address (ALPN "mqtt",
// one stream per connection; needs -tls-cert and -tls-key), announced as
// quic://ADDRESS.
//
// For the operator: the broker publishes its $SYS topics (as mosquitto
// names them: $SYS/broker/version, uptime, clients/connected, ...,
// retained) every -sys-interval seconds (default 10; 0: none); clients
// cannot publish to $SYS. -metrics-addr serves the same counts to
// Prometheus on http://ADDRESS/metrics, announced on a line "metrics
// listening on URL". Logs are structured (log/slog) on the standard
// error: -log-level debug, info (the default: clients connecting and
// leaving), warn or error; -log-format text or json. -topic-aliases
// (default 16, 0: none) is how many Topic Aliases the broker uses towards
// a v5 client that announced a Topic Alias Maximum.
//
// Authentication: -password-file FILE has clients authenticate, by the
// user name and password of their CONNECT or, in v5, by SCRAM-SHA-256
// enhanced authentication (AUTH packets; re-authentication too). The
// file holds a bcrypt hash and SCRAM-SHA-256 credentials per user, never
// the password; "broker passwd" adds users:
//
//	go run ./examples/broker passwd passwords.txt alice   # asks for the password
//	go run ./examples/broker passwd -D passwords.txt alice # deletes alice
//
// Bad credentials are refused after -auth-delay (default 1 s, and up to
// as much again at random); clients without a user name are refused
// unless -allow-anonymous (its default: true without -password-file,
// false with it). -acl-file FILE applies an ACL in the format of
// mosquitto's acl_file (topic, user and pattern lines, %c and %u) to
// publishing, subscribing, wills and every message sent. SIGHUP reads
// both files again, as mosquitto does: clients that connect afterwards
// authenticate against the new passwords, and every client, connected
// or not, is held to the new ACL from its next publish, subscribe or
// message; a file that cannot be read leaves the old ones in force
// (logged).
//
// -config FILE reads settings from a file of "KEY VALUE" lines, each KEY
// the name of one of these flags (so every flag is a key), # comments;
// flags on the command line override the file, and a bad line is an
// error naming the file and the line. broker.conf.example and
// acl.conf.example, beside this file, are examples.
//
// -cluster nats://HOST:PORT makes the broker a node of a cluster over
// NATS with JetStream (module examples/cluster: a build with -tags
// cluster has it, the default build refuses the flag): messages published
// on any node reach the subscribers of every node, QoS 1 and 2 ones stored
// in a JetStream stream (-cluster-replicas copies) before they are
// acknowledged, and share groups span the nodes. Each node reads them
// through a durable JetStream consumer named after -cluster-node (the host
// name and the -addr port by default), which a node started again on the
// same name resumes. Retained messages, sessions and wills stay on their
// node for now.
//
// -store FILE keeps sessions (subscriptions, queued and unacknowledged
// QoS 1 and QoS 2 messages), retained messages and wills in a bbolt file,
// so that the broker started again on it, after a crash too, resumes
// them; a QoS 1 or QoS 2 message is then acknowledged to its publisher
// only once it is durable (see the package documentation of
// examples/internal/broker). Without it everything is in memory.
//
// Interrupt it (Ctrl-C, SIGTERM) to shut it down cleanly. -cpuprofile FILE
// writes a CPU profile of the run (for go tool pprof) when it ends.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/transport"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "passwd" {
		if err := passwd(os.Args[2:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "broker:", err)
			os.Exit(1)
		}
		return
	}
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
	addr := fs.String("addr", "127.0.0.1:1883", "TCP address to listen on (empty: none)")
	tlsAddr := fs.String("tls-addr", "", "TLS address to listen on (needs -tls-cert and -tls-key)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate chain of the TLS and WSS listeners")
	tlsKey := fs.String("tls-key", "", "PEM private key of -tls-cert")
	tlsCA := fs.String("tls-cafile", "", "PEM CA certificates: TLS and WSS clients must present a certificate they verify")
	wsAddr := fs.String("ws-addr", "", "WebSocket address to listen on")
	wssAddr := fs.String("wss-addr", "", "WebSocket over TLS address to listen on (needs -tls-cert and -tls-key)")
	wsPath := fs.String("ws-path", transport.DefaultPath, "HTTP path of the WebSocket listeners")
	maxSubs := fs.Int("max-subscriptions", 1000, "subscriptions a client may hold; more are refused in the SUBACK (-1: no limit)")
	maxKeepAlive := fs.Int("max-keepalive", 300, "longest Keep Alive in seconds; a longer one or none is cut to it (-1: no limit)")
	receiveMax := fs.Int("receive-maximum", 256, "QoS 1 and 2 messages a client may have unacknowledged (1 to 65535)")
	maxQueued := fs.Int("max-queued", 10000, "messages waiting for one client before its publishers are held up (above 0)")
	aliasesOut := fs.Int("topic-aliases", 16, "most Topic Aliases sent to a v5 client that announced a Topic Alias Maximum (0: none)")
	quicAddr := fs.String("quic-addr", "", "UDP address for MQTT over QUIC (needs -tls-cert and -tls-key)")
	sysInterval := fs.Int("sys-interval", 10, "seconds between updates of the $SYS topics (0: none)")
	metricsAddr := fs.String("metrics-addr", "", "address of the Prometheus metrics endpoint (HTTP, path /metrics)")
	logLevel := fs.String("log-level", "info", "least level logged: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	storePath := fs.String("store", "", "keep sessions, retained messages and wills in this bbolt `file` across restarts (empty: in memory)")
	quiet := fs.Bool("quiet", false, "log nothing")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	configFile := fs.String("config", "", "read settings from this file: lines \"KEY VALUE\", each KEY a flag (see the README); flags given override it")
	var auth authFlags
	auth.register(fs)
	var clusterCfg clusterFlags
	clusterCfg.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configFile != "" {
		if err := applyConfig(fs, *configFile); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *addr == "" && *tlsAddr == "" && *wsAddr == "" && *wssAddr == "" && *quicAddr == "" {
		return errors.New("no listener: give -addr, -tls-addr, -ws-addr, -wss-addr or -quic-addr")
	}
	var tlsCfg *tls.Config
	if *tlsAddr != "" || *wssAddr != "" || *quicAddr != "" {
		var err error
		tlsCfg, err = transport.TLSFiles{CAFile: *tlsCA, CertFile: *tlsCert, KeyFile: *tlsKey}.ServerConfig()
		if err != nil {
			return err
		}
	}
	if !strings.HasPrefix(*wsPath, "/") {
		return fmt.Errorf("-ws-path %q does not start with /", *wsPath)
	}
	switch {
	case *maxSubs == 0 || *maxSubs < -1:
		return fmt.Errorf("-max-subscriptions %d: want -1 or above 0", *maxSubs)
	case *maxKeepAlive == 0 || *maxKeepAlive < -1 || *maxKeepAlive > 0xFFFF:
		return fmt.Errorf("-max-keepalive %d: want -1 or 1 to 65535", *maxKeepAlive)
	case *receiveMax < 1 || *receiveMax > 0xFFFF:
		return fmt.Errorf("-receive-maximum %d: want 1 to 65535", *receiveMax)
	case *maxQueued < 1:
		return fmt.Errorf("-max-queued %d: want above 0", *maxQueued)
	case *aliasesOut < 0 || *aliasesOut > 0xFFFF:
		return fmt.Errorf("-topic-aliases %d: want 0 to 65535", *aliasesOut)
	case *sysInterval < 0:
		return fmt.Errorf("-sys-interval %d: want 0 or above", *sysInterval)
	}
	logger, err := newLogger(*logLevel, *logFormat, stderr)
	if err != nil {
		return err
	}
	if *quiet {
		logger = slog.New(slog.DiscardHandler)
	}

	if *aliasesOut == 0 {
		*aliasesOut = -1 // none: 0 is the default in broker.Config
	}
	cfg := broker.Config{MaxSubscriptions: *maxSubs, MaxKeepAlive: *maxKeepAlive, ReceiveMaximum: *receiveMax,
		MaxQueued: *maxQueued, TopicAliasesOut: *aliasesOut, SysInterval: time.Duration(*sysInterval) * time.Second, Logger: logger}
	if err := auth.apply(&cfg); err != nil {
		return err
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	listen := func(name, url string, cfg *tls.Config) error {
		l, err := transport.Listen(url, cfg)
		if err != nil {
			closeAll()
			return fmt.Errorf("%s: %w", name, err)
		}
		listeners = append(listeners, l)
		return nil
	}
	type spec struct{ flag, scheme, addr, path string }
	var announce []string
	for _, sp := range []spec{{"-addr", "tcp", *addr, ""}, {"-tls-addr", "tls", *tlsAddr, ""},
		{"-ws-addr", "ws", *wsAddr, *wsPath}, {"-wss-addr", "wss", *wssAddr, *wsPath}} {
		if sp.addr == "" {
			continue
		}
		if err := listen(sp.flag, sp.scheme+"://"+sp.addr+sp.path, tlsCfg); err != nil {
			return err
		}
		got := listeners[len(listeners)-1].Addr().String()
		if sp.scheme == "tcp" {
			announce = append(announce, got) // the bare address, as before
		} else {
			announce = append(announce, sp.scheme+"://"+got+sp.path)
		}
	}
	if *quicAddr != "" {
		l, err := listenQUIC(*quicAddr, tlsCfg)
		if err != nil {
			closeAll()
			return fmt.Errorf("-quic-addr: %w", err)
		}
		listeners = append(listeners, l)
		announce = append(announce, "quic://"+l.Addr().String())
	}
	if *storePath != "" {
		st, err := broker.OpenStore(*storePath)
		if err != nil {
			closeAll()
			return err
		}
		defer func() {
			if cerr := st.Close(); cerr != nil {
				fmt.Fprintln(stderr, "broker:", cerr)
			}
		}()
		cfg.Store = st
	}
	clusterCfg.addr = *addr
	link, err := clusterCfg.apply(ctx, &cfg, logger)
	if err != nil {
		closeAll()
		return err
	}
	if link != nil {
		defer func() { // after the broker's Shutdown
			if cerr := link.Close(); cerr != nil {
				fmt.Fprintln(stderr, "broker:", cerr)
			}
		}()
	}
	b := broker.New(cfg)
	for _, a := range announce {
		fmt.Fprintf(stdout, "mqtt broker listening on %s\n", a)
	}
	if *metricsAddr != "" {
		ml, msrv, err := listenMetrics(*metricsAddr, b)
		if err != nil {
			closeAll()
			return errors.Join(err, b.Shutdown(context.Background()))
		}
		defer msrv.Close()
		go serveMetrics(ml, msrv, logger)
		fmt.Fprintf(stdout, "metrics listening on http://%s%s\n", ml.Addr(), metricsPath)
	}

	served := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { served <- b.Serve(l) }()
	}
	pending := len(listeners)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case err = <-served: // a listener failed: shut everything down
			pending--
			break wait
		case <-ctx.Done():
			break wait
		case <-hup:
			auth.reload(b, logger)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, b.Shutdown(sctx))
	if st := b.Stats(); st.DroppedQoS0 > 0 || st.Withheld > 0 {
		logger.Info("flow control", "qos0_dropped", st.DroppedQoS0, "acks_withheld", st.Withheld,
			"longest_outbox", st.PeakQueued)
	}
	for ; pending > 0; pending-- {
		if serr := <-served; !errors.Is(serr, broker.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	}
	if ctx.Err() == nil && err == nil {
		err = errors.New("listener closed")
	}
	return err
}
