package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/auth/scram"
	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/cmdtest"
	"github.com/mqttcore/mqtt/packet"
)

// passwdRun runs "broker passwd -cost 4 [args...]" with password on
// standard input, and returns what it printed.
func passwdRun(file, user, password string, args ...string) (string, error) {
	var out strings.Builder
	args = append(append([]string{"-cost", "4"}, args...), file, user)
	err := passwd(args, strings.NewReader(password+"\n"), &out, io.Discard)
	return out.String(), err
}

func addUser(t *testing.T, file, user, password string) string {
	t.Helper()
	out, err := passwdRun(file, user, password)
	if err != nil {
		t.Fatalf("passwd %s: %v", user, err)
	}
	return out
}

// broker passwd adds users, changes a password, deletes a user, keeps the
// file's comments, and writes what the broker reads.
func TestPasswd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwords")
	if out := addUser(t, file, "alice", "wonderland"); out != "added alice\n" {
		t.Errorf("passwd printed %q", out)
	}
	addUser(t, file, "bob", "builder")
	addUser(t, file, "carol", "x")
	old, _ := os.ReadFile(file)
	if err := os.WriteFile(file, append([]byte("# users of the test\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := addUser(t, file, "alice", "looking glass"); out != "changed the password of alice\n" {
		t.Errorf("passwd printed %q", out)
	}
	if out, err := passwdRun(file, "carol", "", "-D"); err != nil || out != "deleted carol\n" {
		t.Errorf("passwd -D carol: %q, %v", out, err)
	}
	if _, err := passwdRun(file, "dave", "", "-D"); err == nil {
		t.Error("deleting a user not in the file succeeded")
	}
	content, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(content), "# users of the test\n") || strings.Count(string(content), "\n") != 3 {
		t.Errorf("file after the changes:\n%s", content)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v %v", fi.Mode(), err)
	}
	p, err := broker.LoadPasswords(file)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 2 || !p.Check("alice", []byte("looking glass")) || p.Check("alice", []byte("wonderland")) ||
		!p.Check("bob", []byte("builder")) {
		t.Error("the passwords in the file are not those given")
	}
	for _, bad := range [][]string{{"alice", ""}, {"a:b", "x"}, {"", "x"}} {
		if _, err := passwdRun(file, bad[0], bad[1]); err == nil {
			t.Errorf("passwd %q with password %q succeeded", bad[0], bad[1])
		}
	}
	broken := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(broken, []byte("alice:not a hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := passwdRun(broken, "bob", "x"); err == nil || !strings.Contains(err.Error(), broken+":1:") {
		t.Errorf("passwd on a broken file: %v, want an error naming its line", err)
	}
}

// The broker with -password-file and -acl-file from a config file:
// passwords and SCRAM-SHA-256 of users that broker passwd added, the
// refusals, and the ACL.
func TestAuthFlags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwords")
	addUser(t, pwFile, "alice", "wonderland")
	acl := writeFile(t, "acl", "user alice\ntopic readwrite alice/#\n")
	conf := writeFile(t, "broker.conf", "password-file "+pwFile+"\nacl-file "+acl+"\nauth-delay 10ms\nquiet\n")
	addrs, stop := cmdtest.Start(t, run, 1, "-config", conf, "-addr", "127.0.0.1:0")
	defer stop()
	server := []string{"tcp://" + addrs[0]}

	connect := func(v packet.Version, user, password string, auth client.Authenticator) (*client.Client, error) {
		cfg := client.Config{Servers: server, Version: v, ClientID: "c-" + user, CleanStart: true,
			Username: user, Auth: auth, NoReconnect: true}
		if password != "" {
			cfg.Password = []byte(password)
		}
		return client.Connect(ctx, cfg)
	}
	refusedWith := func(err error) packet.ReasonCode {
		var r *client.RefusedError
		if errors.As(err, &r) {
			return r.Reason
		}
		return 0
	}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		c, err := connect(v, "alice", "wonderland", nil)
		if err != nil {
			t.Fatalf("%v alice: %v", v, err)
		}
		if err := c.Subscribe(ctx, packet.Subscription{Filter: "alice/#", QoS: packet.QoS1}, nil); err != nil {
			t.Errorf("%v subscribe alice/#: %v", v, err)
		}
		err = c.Subscribe(ctx, packet.Subscription{Filter: "bob/#", QoS: packet.QoS1}, nil)
		var ack *client.AckError
		if !errors.As(err, &ack) || ack.Reason != notAuthorized(v) {
			t.Errorf("%v subscribe bob/#: %v, want a refusal", v, err)
		}
		c.Close(ctx)
	}
	if _, err := connect(packet.V5, "alice", "Wonderland", nil); refusedWith(err) != packet.BadUserNameOrPassword {
		t.Errorf("v5 wrong password: %v", err)
	}
	if _, err := connect(packet.V311, "alice", "Wonderland", nil); refusedWith(err) != packet.RefusedBadUserNameOrPassword {
		t.Errorf("3.1.1 wrong password: %v", err)
	}
	if _, err := connect(packet.V5, "", "", nil); refusedWith(err) != packet.NotAuthorized {
		t.Errorf("v5 anonymous: %v", err)
	}
	auth, err := scram.NewClient("alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	c, err := connect(packet.V5, "", "", auth)
	if err != nil {
		t.Fatalf("SCRAM-SHA-256: %v", err)
	}
	if err := c.Reauthenticate(ctx); err != nil {
		t.Errorf("re-authentication: %v", err)
	}
	c.Close(ctx)
}

func notAuthorized(v packet.Version) packet.ReasonCode {
	if v == packet.V5 {
		return packet.NotAuthorized
	}
	return packet.SubscribeFailure
}
