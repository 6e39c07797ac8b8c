package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// options is the parsed command line.
type options struct {
	pub       bool
	url       string
	version   packet.Version
	qos       packet.QoS
	retain    bool
	topics    []string
	message   string
	hasMsg    bool
	lines     bool
	count     int
	clientID  string
	noClean   bool
	expiry    uint32
	hasExpiry bool
	keepAlive uint16
	username  string
	password  string
	hasPass   bool
	will      packet.Will
	user      []property.User
	tls       tlsFiles
	rate      float64
	limit     int // sub: exit after this many messages
	verbose   bool
	timeout   time.Duration
	retryMax  time.Duration
	drainWait time.Duration
	session   string // the file of the session's state (--session)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func usageText(pub bool) string {
	if pub {
		return `usage: client pub -t TOPIC (-m MESSAGE | -l) [options]

Publishes MESSAGE (-n times), or each line of standard input (-l), to TOPIC.
`
	}
	return `usage: client sub -t FILTER [-t FILTER ...] [options]

Subscribes to the filters and prints each message that arrives (with its
topic when -v), until interrupted or -C messages have arrived.
`
}

// parse parses the options of pub or sub; help goes to out.
func parse(pub bool, args []string, out io.Writer) (*options, error) {
	o := &options{pub: pub}
	name := "sub"
	if pub {
		name = "pub"
	}
	fs := flag.NewFlagSet("client "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.url, "url", "tcp://127.0.0.1:1883", "broker `URL`: tcp://, tls:// (ssl://, mqtts://), ws:// or wss://host:port[/path]")
	ver := fs.String("V", "5", "protocol `version`: 5 or 3.1.1")
	qos := fs.Int("q", 0, "`QoS` 0, 1 or 2 (sub: the maximum QoS asked for)")
	var topics multi
	if pub {
		fs.Var(&topics, "t", "`topic` to publish to")
		fs.BoolVar(&o.retain, "r", false, "retain the message")
		fs.StringVar(&o.message, "m", "", "the `message` to publish")
		fs.BoolVar(&o.lines, "l", false, "publish each line of standard input as a message")
		fs.IntVar(&o.count, "n", 1, "publish the -m message `N` times")
		fs.Float64Var(&o.rate, "rate", 0, "publish at most `R` messages per second (0: no limit)")
		fs.DurationVar(&o.drainWait, "drain-timeout", 10*time.Second, "how long to wait at the end for QoS 1 and 2 acknowledgements")
	} else {
		fs.Var(&topics, "t", "topic `filter` to subscribe to (repeatable)")
		fs.IntVar(&o.limit, "C", 0, "exit after `N` messages (0: never)")
		fs.BoolVar(&o.verbose, "v", false, "print the topic before each payload")
	}
	fs.StringVar(&o.clientID, "i", "", "client `id` (default: a random one)")
	fs.BoolVar(&o.noClean, "c", false, "clean start off: resume the session the broker keeps for -i (3.1.1: clean session 0; a later run needs --session)")
	expiry := fs.Int64("x", -1, "session expiry interval in `seconds` (5 only; -1: 0, or forever with -c)")
	keep := fs.Int("k", 60, "keep alive in `seconds` (0: off)")
	fs.StringVar(&o.username, "u", "", "user `name`")
	password := fs.String("P", "", "`password`")
	fs.StringVar(&o.will.Topic, "will-topic", "", "`topic` of the will message")
	willPayload := fs.String("will-payload", "", "`payload` of the will message")
	willQoS := fs.Int("will-qos", 0, "`QoS` of the will message")
	fs.BoolVar(&o.will.Retain, "will-retain", false, "retain the will message")
	var user multi
	fs.Var(&user, "D", "user property `key=value` on CONNECT and PUBLISH (5 only; repeatable)")
	fs.StringVar(&o.tls.caFile, "cafile", "", "PEM `file` of the CA certificates to trust (tls:// and wss://)")
	fs.StringVar(&o.tls.certFile, "cert", "", "PEM client certificate `file`")
	fs.StringVar(&o.tls.keyFile, "key", "", "PEM client private key `file`")
	fs.BoolVar(&o.tls.insecure, "insecure", false, "do not verify the server's certificate")
	fs.DurationVar(&o.timeout, "connect-timeout", 10*time.Second, "how long a connection attempt (dial and CONNECT) may take")
	fs.DurationVar(&o.retryMax, "retry-max", 30*time.Second, "longest wait between reconnection attempts (0: do not reconnect; pub reconnects only with -l, -c or -x)")
	fs.StringVar(&o.session, "session", "", "keep the client's side of the session (messages in flight) in `file`, for the next run with -c and the same file (needs -c)")
	fs.Usage = func() {
		fmt.Fprint(out, usageText(pub))
		fmt.Fprintln(out, "\nOptions (-name and --name are the same):")
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprintln(out, "\nExit status: 0 success, 1 broker unreachable, refused or connection lost for good, 2 bad command line.")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err // -h: Parse has called fs.Usage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	switch *ver {
	case "5", "5.0", "mqttv5":
		o.version = packet.V5
	case "3.1.1", "311", "mqttv311":
		o.version = packet.V311
	default:
		return nil, fmt.Errorf("-V %q: want 5 or 3.1.1", *ver)
	}
	if *qos < 0 || *qos > 2 {
		return nil, fmt.Errorf("-q %d: QoS is 0, 1 or 2", *qos)
	}
	o.qos = packet.QoS(*qos)
	u, err := serverURL(o.url)
	if err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	o.url = u.String()
	o.topics = topics
	if len(o.topics) == 0 {
		return nil, errors.New("-t is required")
	}
	if pub {
		if len(o.topics) > 1 {
			return nil, errors.New("pub takes one -t")
		}
		o.hasMsg = set["m"]
		if o.hasMsg == o.lines {
			return nil, errors.New("give one of -m MESSAGE and -l")
		}
		if o.count < 1 || o.lines && set["n"] {
			return nil, fmt.Errorf("-n %d: a count of at least 1, with -m", o.count)
		}
		if o.rate < 0 || math.IsInf(o.rate, 0) || math.IsNaN(o.rate) {
			return nil, fmt.Errorf("--rate %v: a number of messages per second, 0 for no limit", o.rate)
		}
	} else if o.limit < 0 {
		return nil, fmt.Errorf("-C %d: a count, 0 for no limit", o.limit)
	}
	if *keep < 0 || *keep > math.MaxUint16 {
		return nil, fmt.Errorf("-k %d: seconds from 0 to 65535", *keep)
	}
	o.keepAlive = uint16(*keep)
	switch {
	case *expiry < -1 || *expiry > math.MaxUint32:
		return nil, fmt.Errorf("-x %d: seconds from 0 to %d", *expiry, uint32(math.MaxUint32))
	case *expiry >= 0 && o.version != packet.V5:
		return nil, errors.New("-x needs -V 5 (3.1.1 has no session expiry: use -c)")
	case *expiry >= 0:
		o.expiry, o.hasExpiry = uint32(*expiry), true
	case o.noClean:
		o.expiry = math.MaxUint32 // -c alone: the session never expires, as in 3.1.1
	}
	if set["P"] {
		o.password, o.hasPass = *password, true
	}
	if *willQoS < 0 || *willQoS > 2 {
		return nil, fmt.Errorf("--will-qos %d: QoS is 0, 1 or 2", *willQoS)
	}
	if o.will.Topic == "" && (set["will-payload"] || set["will-qos"] || set["will-retain"]) {
		return nil, errors.New("--will-payload, --will-qos and --will-retain need --will-topic")
	}
	if o.will.Topic != "" {
		o.will.QoS, o.will.Payload = packet.QoS(*willQoS), []byte(*willPayload)
	}
	for _, kv := range user {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-D %q: want key=value", kv)
		}
		o.user = append(o.user, property.User{Key: k, Value: v})
	}
	if len(o.user) > 0 && o.version != packet.V5 {
		return nil, errors.New("-D needs -V 5 (3.1.1 has no user properties)")
	}
	if (o.tls.certFile == "") != (o.tls.keyFile == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if o.session != "" && !o.noClean {
		return nil, errors.New("--session needs -c (and -i): the next run resumes the session")
	}
	if o.clientID == "" {
		if o.noClean {
			return nil, errors.New("-c needs a client id (-i) to find the session again")
		}
		var r [6]byte
		_, _ = rand.Read(r[:])
		o.clientID = "client-" + name + "-" + hex.EncodeToString(r[:])
	}
	if o.timeout <= 0 {
		return nil, errors.New("--connect-timeout must be positive")
	}
	return o, nil
}

// config returns the client's configuration for the command line: the
// CONNECT's fields, the TLS configuration, and whether to reconnect; the
// caller adds the dialer, the handlers and the session's Store.
func (o *options) config() (client.Config, error) {
	cfg := client.Config{Servers: []string{o.url}, Version: o.version, ClientID: o.clientID,
		Username: o.username, CleanStart: !o.noClean, ConnectTimeout: o.timeout,
		NoReconnect: !o.reconnects(), MinRetryDelay: 50 * time.Millisecond, MaxRetryDelay: o.retryMax}
	if o.hasPass {
		cfg.Password = []byte(o.password)
	}
	cfg.KeepAlive = time.Duration(o.keepAlive) * time.Second
	if o.keepAlive == 0 {
		cfg.KeepAlive = -1 // off; 0 would be the client's default
	}
	if o.version == packet.V5 {
		cfg.SessionExpiry = time.Duration(o.expiry) * time.Second
	}
	if o.will.Topic != "" {
		cfg.Will = &client.Message{Topic: o.will.Topic, QoS: o.will.QoS, Retain: o.will.Retain, Payload: o.will.Payload}
	}
	if len(o.user) > 0 {
		cfg.EditConnect = func(p *packet.Connect) { p.Props.User = o.user }
	}
	if secure(o.url) {
		tc, err := o.tls.clientConfig()
		if err != nil {
			return client.Config{}, err
		}
		cfg.TLSConfig = tc
	}
	return cfg, nil
}

// persistent reports whether the session outlives a connection, so that
// a reconnection resumes it.
func (o *options) persistent() bool {
	if o.version == packet.V5 {
		return o.expiry > 0
	}
	return o.noClean
}

// reconnects reports whether the client connects again when its
// connection is lost. sub does, as mosquitto_sub does. pub does when its
// session outlives the connection (-x, -c), which carries the messages in
// flight over, or when it publishes standard input (-l), a stream that
// may run for long; a one-shot pub -m without a session fails instead, as
// mosquitto_pub does. --retry-max 0 turns reconnection off.
func (o *options) reconnects() bool {
	return o.retryMax > 0 && (!o.pub || o.lines || o.persistent())
}

// serverURL parses -url: tcp:// or mqtt://, tls://, ssl:// or mqtts://,
// ws:// or wss:// (path /mqtt unless given); a bare host:port is tcp://.
// Missing ports are the client's defaults (1883, 8883, 80, 443).
func serverURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "tcp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme { // lower case from url.Parse
	case "tcp", "mqtt", "tls", "ssl", "mqtts":
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("a %s address has no path: %q", u.Scheme, raw)
		}
		u.Path = ""
	case "ws", "wss":
		if u.Path == "" {
			u.Path = "/mqtt"
		}
	default:
		return nil, fmt.Errorf("unknown scheme %q in %q (want tcp, tls, ssl, mqtts, ws or wss)", u.Scheme, raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("no host in %q", raw)
	}
	return u, nil
}

// secure reports whether a URL serverURL returned runs over TLS.
func secure(server string) bool {
	scheme, _, _ := strings.Cut(server, "://")
	switch scheme {
	case "tls", "ssl", "mqtts", "wss":
		return true
	}
	return false
}

// tlsFiles are the TLS options: files and choices.
type tlsFiles struct {
	caFile, certFile, keyFile string
	insecure                  bool
}

// clientConfig returns the TLS configuration of the options.
func (f tlsFiles) clientConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.insecure}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate in %s", f.caFile)
		}
	}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
