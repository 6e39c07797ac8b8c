package quic_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
	"github.com/mqttcore/mqtt/topic"
)

func TestMain(m *testing.M) {
	// quic-go asks for 7 MiB of UDP receive buffer, and logs a warning
	// where it gets less (not root, and net.core.rmem_max lower): the
	// loopback tests do not need it.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	os.Exit(m.Run())
}

// certs returns a server TLS config with a self-signed certificate for
// 127.0.0.1 and a client TLS config that trusts it. It panics on an
// error (of the random source, say).
func certs() (srv, cli *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}},
		&tls.Config{RootCAs: pool}
}

// router is the Handler of the tests: it grants every subscription and
// routes each PUBLISH to the matching subscribers, and records how each
// connection ended.
type router struct {
	mu     sync.Mutex
	subs   topic.Tree[*server.Conn, packet.QoS]
	mine   map[*server.Conn][]string
	closed chan error // OnClose's errors
	conns  atomic.Int32
}

func newRouter() *router {
	return &router{mine: map[*server.Conn][]string{}, closed: make(chan error, 16)}
}

func (r *router) OnConnect(c *server.Conn, p *packet.Connect) packet.Connack {
	r.conns.Add(1)
	return packet.Connack{}
}

func (r *router) OnPacket(c *server.Conn, p packet.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch p := p.(type) {
	case *packet.Publish:
		r.subs.Match(p.Topic, func(to *server.Conn, q packet.QoS) {
			_ = to.Send(&packet.Publish{Topic: p.Topic, Payload: p.Payload, QoS: min(q, p.QoS)})
		})
	case *packet.Subscribe:
		codes := make([]packet.ReasonCode, 0, len(p.Subscriptions))
		for _, s := range p.Subscriptions {
			f := strings.Clone(s.Filter)
			r.subs.Add(f, c, s.QoS)
			r.mine[c] = append(r.mine[c], f)
			codes = append(codes, packet.ReasonCode(s.QoS))
		}
		if ack, err := p.Ack(c.Version(), codes...); err == nil {
			_ = c.Send(ack)
		}
	}
}

func (r *router) OnClose(c *server.Conn, err error) {
	r.mu.Lock()
	for _, f := range r.mine[c] {
		r.subs.Remove(f, c)
	}
	delete(r.mine, c)
	r.mu.Unlock()
	select {
	case r.closed <- err:
	default:
	}
}
