package broker_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttcore/mqtt/auth/scram"
	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// BenchmarkConnectAuth: what authentication adds to a v5 connection
// (connect, CONNACK, close) over loopback: none, the CONNECT's password
// against a bcrypt hash of the default cost (10), SCRAM-SHA-256 (4,096
// iterations; the client keeps its salted password from one connection
// to the next, as a reconnecting client does).
func BenchmarkConnectAuth(b *testing.B) {
	line, _, err := broker.PasswordEntry("alice", "wonderland", bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	pw, err := broker.ParsePasswords(strings.NewReader(line+"\n"), "bench")
	if err != nil {
		b.Fatal(err)
	}
	addr := brokertest.Start(b, broker.Config{Passwords: pw, AllowAnonymous: true})
	auth, err := scram.NewClient("alice", "wonderland")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*client.Config)
	}{
		{"anonymous", func(*client.Config) {}},
		{"password", func(cfg *client.Config) { cfg.Username, cfg.Password = "alice", []byte("wonderland") }},
		{"scram", func(cfg *client.Config) { cfg.Auth, cfg.EditConnect = auth, nil }},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := brokertest.Config("tcp://"+addr, packet.V5, connect("bench-"+c.name))
			c.edit(&cfg)
			cfg.NoReconnect = true
			ctx := context.Background()
			for b.Loop() {
				cl, err := client.Connect(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				_ = cl.Close(ctx)
			}
		})
	}
}
