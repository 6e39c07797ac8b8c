// Package transport dials and listens for the byte streams MQTT runs on:
// plain TCP, TLS, and WebSocket (with or without TLS), each handed out as
// a net.Conn so that the example client and broker, built on the
// sans-I/O core, need not care which one they use.
//
// Addresses are URLs:
//
//	tcp://host:1883   mqtt://host     plain TCP (default port 1883)
//	tls://host:8883   ssl://, mqtts://  TLS over TCP (default port 8883)
//	ws://host/mqtt    wss://host/mqtt   WebSocket, subprotocol "mqtt" (path default /mqtt)
//
// A bare host:port means tcp://host:port.
package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Scheme is the kind of transport an address names.
type Scheme uint8

// The transports.
const (
	TCP Scheme = iota + 1
	TLS
	WS
	WSS
)

// String returns the scheme as a URL writes it.
func (s Scheme) String() string {
	switch s {
	case TCP:
		return "tcp"
	case TLS:
		return "tls"
	case WS:
		return "ws"
	case WSS:
		return "wss"
	}
	return fmt.Sprintf("Scheme(%d)", byte(s))
}

// Secure reports whether the transport runs over TLS.
func (s Scheme) Secure() bool { return s == TLS || s == WSS }

// Subprotocol is the WebSocket subprotocol of MQTT (MQTT 5.0 section 6).
const Subprotocol = "mqtt"

// DefaultPath is the WebSocket path used when a ws:// or wss:// address
// names none.
const DefaultPath = "/mqtt"

// Address is a parsed transport address.
type Address struct {
	Scheme Scheme
	Host   string // host:port, the port filled in from the scheme's default
	Path   string // WebSocket only
}

// String returns the address as a URL.
func (a Address) String() string {
	if a.Scheme == WS || a.Scheme == WSS {
		return a.Scheme.String() + "://" + a.Host + a.Path
	}
	return a.Scheme.String() + "://" + a.Host
}

// Parse parses a transport address (see the package documentation).
func Parse(raw string) (Address, error) {
	if !strings.Contains(raw, "://") {
		raw = "tcp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Address{}, fmt.Errorf("transport: bad address %q: %w", raw, err)
	}
	var a Address
	var port string
	switch strings.ToLower(u.Scheme) {
	case "tcp", "mqtt":
		a.Scheme, port = TCP, "1883"
	case "tls", "ssl", "mqtts":
		a.Scheme, port = TLS, "8883"
	case "ws":
		a.Scheme, port = WS, "80"
	case "wss":
		a.Scheme, port = WSS, "443"
	default:
		return Address{}, fmt.Errorf("transport: unknown scheme %q in %q (want tcp, tls, ssl, mqtts, ws or wss)", u.Scheme, raw)
	}
	if u.Host == "" {
		return Address{}, fmt.Errorf("transport: no host in %q", raw)
	}
	a.Host = u.Host
	if u.Port() == "" {
		a.Host = net.JoinHostPort(u.Hostname(), port)
	}
	if a.Scheme == WS || a.Scheme == WSS {
		a.Path = u.EscapedPath()
		if a.Path == "" {
			a.Path = DefaultPath
		}
		if u.RawQuery != "" {
			a.Path += "?" + u.RawQuery
		}
	} else if u.Path != "" && u.Path != "/" {
		return Address{}, fmt.Errorf("transport: a %s address has no path: %q", a.Scheme, raw)
	}
	return a, nil
}

// TLSFiles names the files and choices of a TLS configuration.
type TLSFiles struct {
	CAFile   string // PEM certificates to trust instead of the system's (client), or to verify client certificates with (server)
	CertFile string // PEM certificate chain: the client's, or the server's
	KeyFile  string // PEM private key of CertFile
	Insecure bool   // client: do not verify the server's certificate
}

// ClientConfig returns the TLS configuration of a client.
func (f TLSFiles) ClientConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.Insecure}
	if f.CAFile != "" {
		pool, err := loadPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.CertFile != "" || f.KeyFile != "" {
		if f.CertFile == "" || f.KeyFile == "" {
			return nil, errors.New("transport: a client certificate needs both a certificate and a key file")
		}
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ServerConfig returns the TLS configuration of a server: CertFile and
// KeyFile are required; with CAFile, clients must present a certificate
// it verifies.
func (f TLSFiles) ServerConfig() (*tls.Config, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("transport: a TLS listener needs a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if f.CAFile != "" {
		pool, err := loadPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("transport: no PEM certificate in %s", file)
	}
	return pool, nil
}

// Listen listens on a local address given as a URL (a ws:// or wss://
// address serves WebSocket on its path; a bare host:port is TCP). tlsCfg
// is required for tls:// and wss:// and ignored otherwise.
func Listen(raw string, tlsCfg *tls.Config) (net.Listener, error) {
	a, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if a.Scheme.Secure() && tlsCfg == nil {
		return nil, fmt.Errorf("transport: %s needs a TLS certificate and key", a)
	}
	switch a.Scheme {
	case TCP:
		return net.Listen("tcp", a.Host)
	case TLS:
		return tls.Listen("tcp", a.Host, tlsCfg)
	case WS:
		return ListenWebSocket(a.Host, a.Path, nil)
	default:
		return ListenWebSocket(a.Host, a.Path, tlsCfg)
	}
}

// ErrUnreachable wraps the error of a dial that found nobody listening.
var ErrUnreachable = errors.New("transport: broker unreachable")

// dialError classifies the error of a failed dial.
func dialError(a Address, err error) error {
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, a, err)
	}
	return fmt.Errorf("transport: %s: %w", a, err)
}

// httpClient returns an HTTP client that dials with tlsCfg.
func httpClient(tlsCfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.ForceAttemptHTTP2 = false // the WebSocket upgrade is HTTP/1.1
	return &http.Client{Transport: tr}
}

// Dial connects to the server at a URL. tlsCfg configures tls:// and
// wss:// (nil means the system's roots and the host name of the URL).
func Dial(ctx context.Context, raw string, tlsCfg *tls.Config) (net.Conn, error) {
	a, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if a.Scheme.Secure() {
		if tlsCfg == nil {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if tlsCfg.ServerName == "" {
			tlsCfg = tlsCfg.Clone()
			host, _, _ := net.SplitHostPort(a.Host)
			tlsCfg.ServerName = host
		}
	}
	switch a.Scheme {
	case TCP:
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", a.Host)
		if err != nil {
			return nil, dialError(a, err)
		}
		return nc, nil
	case TLS:
		d := tls.Dialer{Config: tlsCfg}
		nc, err := d.DialContext(ctx, "tcp", a.Host)
		if err != nil {
			return nil, dialError(a, err)
		}
		return nc, nil
	default:
		return dialWebSocket(ctx, a, tlsCfg)
	}
}
