package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/examples/internal/broker"
)

// testACL is the rules of the ACL tests, in the format of mosquitto's
// acl_file.
const testACL = `# anonymous clients
topic read public/#
topic write public/anonymous

user alice
topic readwrite alice/#
topic read shared/#
topic deny shared/secret
topic write public/alice

user admin
topic #
topic read $SYS/#

# everyone
pattern write clients/%c/status
pattern read users/%u/inbox/#
pattern deny users/%u/inbox/spam
`

func parseTestACL(t testing.TB) *broker.ACL {
	t.Helper()
	a, err := broker.ParseACL(strings.NewReader(testACL), "test.acl")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestACLMatch(t *testing.T) {
	t.Parallel()
	a := parseTestACL(t)
	anon := a.For("", false, "anon-1")
	alice := a.For("alice", true, "alices-phone")
	admin := a.For("admin", true, "console")
	bob := a.For("bob", true, "bobs-laptop") // no rules of his own: the patterns only
	var none *broker.Permissions             // no ACL: everything
	for _, c := range []struct {
		name        string
		p           *broker.Permissions
		topic       string
		read, write bool
	}{
		{"anonymous reads public", anon, "public/news", true, false},
		{"anonymous writes its topic", anon, "public/anonymous", true, true},
		{"anonymous: nothing else", anon, "alice/x", false, false},
		{"a user does not get the anonymous rules", alice, "public/news", false, false},
		{"a user's own rules", alice, "alice/diary/2026", true, true},
		{"# matches the parent level", alice, "alice", true, true},
		{"read only", alice, "shared/notes", true, false},
		{"deny before a broader grant", alice, "shared/secret", false, false},
		{"deny matches that topic only", alice, "shared/secret/more", true, false},
		{"write only", alice, "public/alice", false, true},
		{"another user's rules do not apply", alice, "admin/x", false, false},
		{"%c is the client identifier", alice, "clients/alices-phone/status", false, true},
		{"%c is not another client's", alice, "clients/bobs-laptop/status", false, false},
		{"%c applies to anonymous clients", anon, "clients/anon-1/status", false, true},
		{"%u is the user name", bob, "users/bob/inbox/1", true, false},
		{"%u: not another user's", bob, "users/alice/inbox/1", false, false},
		{"pattern deny", bob, "users/bob/inbox/spam", false, false},
		{"%u does not apply without a user name", anon, "users//inbox/1", false, false},
		{"# in a rule does not match $ topics (MQTT-4.7.2-1)", admin, "$SYS/broker/uptime", true, false},
		{"a rule for $SYS/# does", admin, "$SYS/x", true, false},
		{"# grants readwrite", admin, "anything/at/all", true, true},
		{"no ACL", none, "anything", true, true},
	} {
		if r, w := c.p.MayRead(c.topic), c.p.MayWrite(c.topic); r != c.read || w != c.write {
			t.Errorf("%s: %q read %v write %v, want %v %v", c.name, c.topic, r, w, c.read, c.write)
		}
	}
}

// A filter may be subscribed to when a rule that grants read matches
// every topic it can match, and no deny rule matches them all.
func TestACLSubscribe(t *testing.T) {
	t.Parallel()
	a := parseTestACL(t)
	alice := a.For("alice", true, "alices-phone")
	admin := a.For("admin", true, "console")
	for _, c := range []struct {
		p      *broker.Permissions
		filter string
		ok     bool
	}{
		{alice, "alice/#", true},
		{alice, "alice/+/x", true},
		{alice, "alice", true},
		{alice, "#", false},       // wider than alice/#
		{alice, "+/diary", false}, // so is a + where the rule has a name
		{alice, "shared/#", true}, // shared/secret is refused message by message
		{alice, "shared/secret", false},
		{alice, "public/alice", false}, // write only
		{alice, "$share/group/alice/x", true},
		{alice, "$share/group/shared/secret", false},
		{alice, "users/alice/inbox/#", true},
		{alice, "users/alice/inbox/spam", false},
		{admin, "#", true},
		{admin, "$SYS/#", true},
		{admin, "$SYS/broker/+", true},
		{admin, "+/broker", true},
	} {
		if got := c.p.MaySubscribe(c.filter); got != c.ok {
			t.Errorf("MaySubscribe(%q) = %v, want %v", c.filter, got, c.ok)
		}
	}
}

// A client identifier or user name with a wildcard or a slash, where
// patterns would put it in a filter, is refused everything, as mosquitto
// does for + and #.
func TestACLDangerousNames(t *testing.T) {
	t.Parallel()
	a := parseTestACL(t)
	for _, p := range []*broker.Permissions{a.For("alice", true, "phone/#"), a.For("al+ce", true, "x"),
		a.For("a/b", true, "x"), a.For("", false, "c/d")} {
		if p.MayRead("alice/x") || p.MayWrite("public/anonymous") || p.MaySubscribe("alice/#") {
			t.Errorf("%v: granted", p)
		}
	}
}

func TestACLErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		file string
		line int
		msg  string
	}{
		{"topic read a/#\nuser\n", 2, "user without a name"},
		{"# x\n\ntopic reed a/b\n", 3, `access "reed"`},
		{"topic\n", 1, "no topic filter"},
		{"topic read a/#/b\n", 1, "topic filter"},
		{"pattern write clients/%c/#\nsubscribe a\n", 2, `unknown rule "subscribe"`},
	} {
		_, err := broker.ParseACL(strings.NewReader(c.file), "bad.acl")
		var fe *broker.FileError
		if !errors.As(err, &fe) || fe.Line != c.line || !strings.Contains(err.Error(), c.msg) ||
			!strings.HasPrefix(err.Error(), fmt.Sprintf("bad.acl:%d: ", c.line)) {
			t.Errorf("%q: %v, want an error on line %d about %q", c.file, err, c.line, c.msg)
		}
	}
}
