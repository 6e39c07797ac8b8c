package broker_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
)

// TestReload: Broker.Reload replaces the password file for the clients
// that connect after it, and the ACL for every client from its next
// publish, subscribe or delivery, the connected ones included, which stay
// connected.
func TestReload(t *testing.T) {
	t.Parallel()
	acl := func(rules string) *broker.ACL {
		a, err := broker.ParseACL(strings.NewReader(rules), "reload.acl")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cfg := authConfig(t) // alice and bob
	cfg.AuthDelay = -1
	cfg.ACL = acl("user alice\ntopic readwrite news/#\nuser bob\ntopic write news/#\n")
	cfg.Logger = brokertest.Logger(t, slog.LevelInfo)
	b, addr := brokertest.Serve(t, cfg)

	for _, v := range []packet.Version{packet.V5, packet.V311} {
		name := versionName(v)
		alice := dial(t, addr, v, withUser(connect("alice-"+name), "alice", "wonderland"))
		bob := dial(t, addr, v, withUser(connect("bob-"+name), "bob", "builder"))
		subscribe(t, alice, packet.Subscription{Filter: "news/#", QoS: packet.QoS1})
		publish(t, bob, "news/"+name, packet.QoS1, false, "before")
		expect(t, alice, "news/"+name, "before", packet.QoS1)

		// alice may no longer read news/private; bob's password changes,
		// carol comes in.
		if err := b.Reload(testPasswords(t, "alice:wonderland", "bob:rebuilt", "carol:c"),
			acl("user alice\ntopic readwrite news/#\ntopic deny news/private\nuser bob\ntopic write news/#\nuser carol\ntopic write news/#\n")); err != nil {
			t.Fatal(err)
		}
		publish(t, bob, "news/private", packet.QoS1, false, "hidden") // bob stays connected, his rules unchanged
		publish(t, bob, "news/"+name, packet.QoS1, false, "after")
		expect(t, alice, "news/"+name, "after", packet.QoS1) // not news/private: the new ACL held at delivery
		refused(t, addr, v, withUser(connect("bob2-"+name), "bob", "builder"), refusedCode(v, packet.BadUserNameOrPassword))
		carol := dial(t, addr, v, withUser(connect("carol-"+name), "carol", "c"))
		publish(t, carol, "news/"+name, packet.QoS1, false, "carol")
		expect(t, alice, "news/"+name, "carol", packet.QoS1)

		if err := b.Reload(authConfig(t).Passwords, cfg.ACL); err != nil { // back, for the next version
			t.Fatal(err)
		}
		alice.Close(testContext(t))
		bob.Close(testContext(t))
		carol.Close(testContext(t))
	}

	// A v5 subscriber whose ACL no longer lets it subscribe gets 0x87
	// on its next SUBSCRIBE.
	alice := dial(t, addr, packet.V5, withUser(connect("alice-sub"), "alice", "wonderland"))
	wantSuback(t, alice, []string{"news/a"}, packet.GrantedQoS1)
	if err := b.Reload(authConfig(t).Passwords, acl("user alice\ntopic readwrite other/#\n")); err != nil {
		t.Fatal(err)
	}
	wantSuback(t, alice, []string{"news/b"}, packet.NotAuthorized)

	for _, c := range []struct {
		name string
		p    *broker.Passwords
		a    *broker.ACL
	}{{"no password file", nil, cfg.ACL}, {"no ACL", cfg.Passwords, nil}} {
		if err := b.Reload(c.p, c.a); !errors.Is(err, broker.ErrReloadSwitch) {
			t.Errorf("Reload with %s: %v, want ErrReloadSwitch", c.name, err)
		}
	}
}
