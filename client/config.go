package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// Config configures a Client. Servers and, in 3.1.1 with a session to
// keep, ClientID are needed; the rest has defaults.
type Config struct {
	// Servers are the brokers to try, in order, until one accepts the
	// connection: tcp:// or mqtt:// (port 1883 by default), tls://, ssl://
	// or mqtts:// (port 8883). Other schemes (ws://, wss://) need a Dialer
	// that handles them.
	Servers []string

	// Version is the protocol version: packet.V5 (0 means V5) or
	// packet.V311.
	Version packet.Version

	// ClientID identifies the session; empty asks a v5 server to assign
	// one (Client.ClientID tells it).
	ClientID string
	Username string
	Password []byte

	// KeepAlive is the longest the client stays silent; the server may
	// lower it (v5). 0 means 60 seconds; a negative value turns keep-alive
	// off.
	KeepAlive time.Duration

	// CleanStart discards any session the server holds for ClientID.
	CleanStart bool
	// SessionExpiry is how long (v5, in whole seconds) the server keeps the
	// session after the connection ends; 0 ends it with the connection. In
	// 3.1.1 the session persists when CleanStart is false.
	SessionExpiry time.Duration

	// Will is published by the server when the connection ends without
	// Close. Its QoS and Retain are those of the message.
	Will *Message

	// TLSConfig is used for the tls:// schemes; nil means the system roots
	// and the server's host name (set NextProtos, e.g. "mqtt", for ALPN).
	TLSConfig *tls.Config

	// Dialer opens the transport; nil means TCP and TLS from the standard
	// library (StandardDialer), through Proxy.
	Dialer Dialer

	// Proxy returns the proxy to reach a server through, or nil to reach
	// it directly: http:// or https:// (HTTP CONNECT, with the URL's user
	// and password as Basic credentials) or socks5:// (SOCKS5, user and
	// password if given). ProxyFromEnvironment follows HTTPS_PROXY,
	// HTTP_PROXY and NO_PROXY. nil means no proxy.
	Proxy func(server *url.URL) (*url.URL, error)

	// ConnectTimeout bounds dialling and the CONNECT/CONNACK exchange of
	// each server; 0 means 30 seconds.
	ConnectTimeout time.Duration

	// OnMessage receives the messages of the subscriptions made without a
	// handler, and those no subscription handler matches (a session's
	// subscriptions from an earlier connection): once per message, however
	// many of those subscriptions it matches. nil drops them, acknowledged.
	OnMessage func(Message)

	// TopicAliases (v5) lets the Client replace topics by Topic Aliases on
	// what it sends, within the server's Topic Alias Maximum (new topics
	// mapped, the least recently used mapping evicted), and accept up to
	// 64 aliases from the server.
	TopicAliases bool

	// ManualAck leaves the acknowledgement of received QoS 1 and QoS 2
	// messages to the handlers, which call Client.Ack when they are done
	// with one (a bridge, once it forwarded it). Otherwise the Client
	// acknowledges each once its handlers have returned.
	ManualAck bool

	// NoReconnect ends the Client when its connection is lost, instead of
	// connecting again (to the servers in order, waiting MinRetryDelay,
	// doubling up to MaxRetryDelay, with jitter, between rounds).
	NoReconnect   bool
	MinRetryDelay time.Duration // 0 means 100 ms
	MaxRetryDelay time.Duration // 0 means 30 s

	// OnConnectionLost is called when a connection that was up ends (not
	// after Close), with the reason; OnConnectionUp when a reconnection
	// succeeds, with the CONNACK's Session Present (when false, the
	// Client has subscribed again to every filter it had). Neither may
	// block for long.
	OnConnectionLost func(err error)
	OnConnectionUp   func(sessionPresent bool)

	// MaxInFlight bounds the QoS 1 and QoS 2 messages sent and not yet
	// acknowledged, below the server's Receive Maximum; Publish waits for
	// room. 0 means the server's Receive Maximum.
	MaxInFlight int

	// Auth carries out v5 enhanced authentication (AUTH exchanges, section
	// 4.12) with the method it names; nil uses none.
	Auth Authenticator

	// Store keeps the session's journal, so that a new process with the
	// same Store (a FileStore) resumes the session: messages in flight are
	// sent again, a QoS 2 message neither lost nor duplicated. Use it with
	// a session that outlives the connection (SessionExpiry, or CleanStart
	// false in 3.1.1) and the same ClientID. A Store that holds no session
	// yet starts one with a clean start, discarding any the server kept
	// for the ClientID: without its state, the Client may not resume it
	// (MQTT-3.2.2-4). nil keeps nothing: a session the server kept is then
	// refused with mqtt.ErrNoSession unless CleanStart is set.
	Store Store

	// EditConnect, if set, adjusts the CONNECT built from the Config
	// before each connection: for what the Config has no field for, such
	// as v5 User Properties, Receive Maximum, Maximum Packet Size or
	// Request Problem Information. The packet is checked after it.
	EditConnect func(p *packet.Connect)

	// Logger receives the connection's life at Info (connected, lost,
	// reconnect attempts) and the server's protocol errors at Warn; nil
	// logs nothing.
	Logger *slog.Logger

	// Trace, when set, receives a trace of the Client's core Connection
	// (package trace): every chunk read, packet sent, timer firing, close
	// and clock reading, and every event, across reconnections, one Write
	// per record under the Client's lock. trace.Read and trace.Check
	// replay it. Give a buffered writer, flushed after Close, where a
	// Write per record costs too much.
	Trace io.Writer
}

// Authenticator is one side of a v5 enhanced authentication method
// (SCRAM, Kerberos, ...): the Client sends Start's data in CONNECT, answers
// each challenge of the server's AUTH packets with Answer's, and hands the
// data of a successful CONNACK to Finish, which may still refuse the
// server (a SCRAM server signature that does not verify). A fresh
// exchange starts with each connection, and with each Reauthenticate.
// Package auth/scram provides SCRAM-SHA-256 (scram.NewClient).
type Authenticator interface {
	Method() string
	Start() ([]byte, error)
	Answer(challenge []byte) ([]byte, error)
	Finish(data []byte) error
}

// Dialer opens the transport to one server.
type Dialer interface {
	Dial(ctx context.Context, server *url.URL) (net.Conn, error)
}

// Message is an application message, sent or received.
type Message struct {
	Topic   string
	Payload []byte
	QoS     packet.QoS
	Retain  bool
	// Props are the v5 properties of the PUBLISH: Message Expiry, Content
	// Type, Response Topic, Correlation Data, User Properties, and so on.
	Props property.Properties
	// Dup is set on a received message the server sent before, on a
	// connection that ended before it was acknowledged.
	Dup bool

	delivery *delivery // a received QoS 1 or QoS 2 message: how to acknowledge it
}

const (
	defaultKeepAlive      = 60 * time.Second
	defaultConnectTimeout = 30 * time.Second
)

// ErrConfig is matched (errors.Is) by every error Connect returns for a
// Config it cannot use, before anything is dialled.
var ErrConfig = errors.New("client: invalid config")

// check validates the Config and returns the servers' URLs.
func (cfg *Config) check() ([]*url.URL, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if len(cfg.Servers) == 0 {
		return nil, bad("no server")
	}
	var urls []*url.URL
	for _, s := range cfg.Servers {
		u, err := url.Parse(s)
		if err != nil {
			return nil, bad("server %q: %v", s, err)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "tls", "ssl", "mqtts":
		default:
			if cfg.Dialer == nil {
				return nil, bad("server %q: scheme %q needs a Dialer that handles it", s, u.Scheme)
			}
		}
		if u.Hostname() == "" {
			return nil, bad("server %q: no host", s)
		}
		urls = append(urls, u)
	}
	switch cfg.Version {
	case 0, packet.V5, packet.V311:
	default:
		return nil, bad("version %v: only 5.0 and 3.1.1", cfg.Version)
	}
	if cfg.version() != packet.V5 && cfg.ClientID == "" && !cfg.CleanStart {
		return nil, bad("3.1.1 needs a client identifier to keep a session (or CleanStart)")
	}
	if cfg.SessionExpiry < 0 || cfg.SessionExpiry > time.Duration(^uint32(0))*time.Second {
		return nil, bad("session expiry %v out of range", cfg.SessionExpiry)
	}
	if cfg.KeepAlive > 65535*time.Second {
		return nil, bad("keep alive %v above 65,535 s", cfg.KeepAlive)
	}
	if _, err := cfg.connect(); err != nil {
		return nil, bad("%v", err)
	}
	return urls, nil
}

func (cfg *Config) version() packet.Version {
	if cfg.Version == 0 {
		return packet.V5
	}
	return cfg.Version
}

func (cfg *Config) minRetryDelay() time.Duration {
	if cfg.MinRetryDelay > 0 {
		return cfg.MinRetryDelay
	}
	return 100 * time.Millisecond
}

func (cfg *Config) maxRetryDelay() time.Duration {
	if cfg.MaxRetryDelay > 0 {
		return max(cfg.MaxRetryDelay, cfg.minRetryDelay())
	}
	return max(30*time.Second, cfg.minRetryDelay())
}

func (cfg *Config) connectTimeout() time.Duration {
	if cfg.ConnectTimeout > 0 {
		return cfg.ConnectTimeout
	}
	return defaultConnectTimeout
}

// connect builds the CONNECT packet, checked by encoding it.
func (cfg *Config) connect() (*packet.Connect, error) {
	ka := cfg.KeepAlive
	switch {
	case ka == 0:
		ka = defaultKeepAlive
	case ka < 0:
		ka = 0
	}
	p := &packet.Connect{ClientID: cfg.ClientID, CleanStart: cfg.CleanStart,
		KeepAlive: uint16((ka + time.Second - 1) / time.Second),
		Username:  cfg.Username, Password: cfg.Password}
	if cfg.version() == packet.V5 {
		p.Props.SessionExpiry = uint32(cfg.SessionExpiry / time.Second)
		if cfg.TopicAliases {
			p.Props.TopicAliasMaximum = 64
		}
	}
	if w := cfg.Will; w != nil {
		p.Will = packet.Will{Topic: w.Topic, QoS: w.QoS, Retain: w.Retain, Payload: w.Payload, Props: w.Props}
		if w.Topic == "" {
			return nil, errors.New("will without a topic")
		}
	}
	if cfg.Auth != nil {
		if cfg.version() != packet.V5 {
			return nil, errors.New("enhanced authentication needs MQTT 5.0")
		}
		p.Props.AuthMethod = cfg.Auth.Method()
	}
	if cfg.EditConnect != nil {
		cfg.EditConnect(p)
	}
	if _, err := p.AppendTo(nil, cfg.version()); err != nil {
		return nil, err
	}
	return p, nil
}

// StandardDialer returns the Dialer a Client uses without Config.Dialer:
// TCP for tcp:// and mqtt://, TLS with tlsConfig (nil: the system roots)
// for tls://, ssl:// and mqtts://. Other transports handle those schemes
// through it.
func StandardDialer(tlsConfig *tls.Config, proxy func(*url.URL) (*url.URL, error)) Dialer {
	return stdDialer{tls: tlsConfig, proxy: proxy}
}

// stdDialer dials TCP and TLS with the standard library, through a proxy
// if proxy names one.
type stdDialer struct {
	tls   *tls.Config
	proxy func(*url.URL) (*url.URL, error)
}

func (d stdDialer) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	addr := hostPort(u)
	var via *url.URL
	if d.proxy != nil {
		p, err := d.proxy(u)
		if err != nil {
			return nil, err
		}
		via = p
	}
	var conn net.Conn
	var err error
	if via != nil {
		conn, err = dialVia(ctx, via, addr)
	} else {
		var nd net.Dialer
		conn, err = nd.DialContext(ctx, "tcp", addr)
	}
	if err != nil || !secureScheme(u.Scheme) {
		return conn, err
	}
	cfg := d.tls.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}
