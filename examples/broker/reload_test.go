package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
)

// TestSIGHUPReload: SIGHUP reads -password-file and -acl-file again: a
// user added meanwhile connects, the ACL's new rules hold for a client
// that stayed connected, and a file that no longer parses leaves the
// broker with what it had.
func TestSIGHUPReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwords")
	addUser(t, pwFile, "alice", "wonderland")
	acl := writeFile(t, "acl", "user alice\ntopic readwrite alice/#\n")
	s := startRun(t, 1, 0, "-password-file", pwFile, "-acl-file", acl, "-auth-delay", "0", "-addr", "127.0.0.1:0")
	connect := func(user, password string) (*client.Client, error) {
		return client.Connect(ctx, client.Config{Servers: []string{"tcp://" + s.mqtt[0]}, ClientID: "c-" + user,
			CleanStart: true, Username: user, Password: []byte(password), NoReconnect: true})
	}
	hup := func(want string) {
		t.Helper()
		before := strings.Count(s.stderr.String(), `msg="SIGHUP`)
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for strings.Count(s.stderr.String(), `msg="SIGHUP`) == before {
			if ctx.Err() != nil {
				t.Fatalf("no SIGHUP record; stderr: %s", s.stderr)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if out := s.stderr.String(); !strings.Contains(out[strings.LastIndex(out, `msg="SIGHUP`):], want) {
			t.Fatalf("SIGHUP record without %q: %s", want, out)
		}
	}

	rewrite := func(file, content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	alice, err := connect("alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close(ctx)
	if _, err := connect("bob", "builder"); err == nil {
		t.Fatal("bob connected before he was added")
	}
	addUser(t, pwFile, "bob", "builder")
	rewrite(acl, "user alice\ntopic readwrite alice/#\ntopic deny alice/private\nuser bob\ntopic write alice/#\n")
	hup("reloaded")
	bob, err := connect("bob", "builder")
	if err != nil {
		t.Fatalf("bob after the reload: %v", err)
	}
	defer bob.Close(ctx)
	got := make(chan string, 10)
	if err := alice.Subscribe(ctx, packet.Subscription{Filter: "alice/#", QoS: packet.QoS1},
		func(m client.Message) { got <- m.Topic }); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"alice/private", "alice/public"} {
		if err := bob.Publish(ctx, client.Message{Topic: topic, QoS: packet.QoS1, Payload: []byte("x")}); err != nil {
			t.Fatalf("bob publishes on %s: %v", topic, err)
		}
	}
	if topic := <-got; topic != "alice/public" {
		t.Fatalf("alice received %s first: the new ACL's deny did not hold", topic)
	}

	rewrite(acl, "user alice\ntopic bogus alice/#\n")
	hup("not reloaded")
	if err := bob.Publish(ctx, client.Message{Topic: "alice/public", QoS: packet.QoS1, Payload: []byte("y")}); err != nil {
		var ack *client.AckError
		if errors.As(err, &ack) {
			t.Fatalf("the bad ACL file replaced the good one: %v", err)
		}
		t.Fatal(err)
	}
	if topic := <-got; topic != "alice/public" {
		t.Fatalf("alice received %s", topic)
	}
}
