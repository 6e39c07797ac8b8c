package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// TLS is a listener of crypto/tls passed to Serve.
func TestTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	srv := server.New(server.Config{Handler: newRecorder()})
	go srv.Serve(tl)
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Config{Servers: []string{"tls://" + l.Addr().String()}, ClientID: "secure",
		TLSConfig: &tls.Config{RootCAs: roots}, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	got := make(chan client.Message, 1)
	if err := c.Subscribe(ctx, packet.Subscription{Filter: "s", QoS: packet.QoS2}, func(m client.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "s", QoS: packet.QoS2, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m.Payload) != "x" {
			t.Fatalf("got %q", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("message not delivered over TLS")
	}
}
