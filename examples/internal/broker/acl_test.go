package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/topic"
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

// wantSuback subscribes c to filters at QoS 1 and checks the SUBACK's
// codes.
func wantSuback(t *testing.T, c *brokertest.Client, filters []string, want ...packet.ReasonCode) {
	t.Helper()
	p := &packet.Subscribe{}
	for _, f := range filters {
		p.Subscriptions = append(p.Subscriptions, packet.Subscription{Filter: f, QoS: packet.QoS1})
	}
	ack, err := c.SubscribeWith(testContext(t), p, nil)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if !slices.Equal(ack.Reasons, want) {
		t.Fatalf("SUBACK for %q: %v, want %v", filters, ack.Reasons, want)
	}
}

// refusedPublish checks that c's publish on topic at qos is refused
// with 0x87 Not authorized in its PUBACK or PUBREC (v5).
func refusedPublish(t *testing.T, c *brokertest.Client, topic string, qos packet.QoS) {
	t.Helper()
	err := c.Publish(testContext(t), client.Message{Topic: topic, QoS: qos, Payload: []byte("refused")})
	var ack *client.AckError
	if !errors.As(err, &ack) || ack.Reason != packet.NotAuthorized {
		t.Fatalf("publish on %q at QoS %d: %v, want 0x87 Not authorized", topic, qos, err)
	}
}

// TestACLStatements: the ACL applied end to end, clients of both
// versions, user names as the clients give them (no password file).
func TestACLStatements(t *testing.T) {
	t.Parallel()
	addr := startBrokerConfig(t, broker.Config{ACL: parseTestACL(t)})
	watcher := dial(t, addr, packet.V5, withUser(connect("watcher"), "admin", ""))
	subscribe(t, watcher, packet.Subscription{Filter: "#", QoS: packet.QoS2})
	alice := dial(t, addr, packet.V5, withUser(connect("alice-v5"), "alice", ""))
	alice311 := dial(t, addr, packet.V311, withUser(connect("alice-311"), "alice", ""))
	// marked has c publish a message it may publish, and checks that the
	// watcher's next message is that one: nothing refused before it got
	// through.
	marked := func(t *testing.T, c *brokertest.Client) {
		t.Helper()
		publish(t, c, "alice/marker", packet.QoS1, false, "marker")
		expect(t, watcher, "alice/marker", "marker", packet.QoS1)
	}

	t.Run("v5 publish refused: PUBACK 0x87, PUBREC 0x87, dropped", func(t *testing.T) {
		refusedPublish(t, alice, "admin/x", packet.QoS1)
		refusedPublish(t, alice, "admin/x", packet.QoS2)
		refusedPublish(t, alice, "shared/notes", packet.QoS1) // read only
		publish(t, alice, "admin/x", packet.QoS0, false, "dropped")
		marked(t, alice)
	})
	t.Run("MQTT-3.3.5-2 3.1.1 publish refused: acknowledged as usual, dropped", func(t *testing.T) {
		for qos := range packet.QoS(3) {
			publish(t, alice311, "admin/x", qos, false, "dropped")
		}
		marked(t, alice311)
	})
	t.Run("publish granted: delivered", func(t *testing.T) {
		publish(t, alice, "alice/diary", packet.QoS2, false, "dear diary")
		expect(t, watcher, "alice/diary", "dear diary", packet.QoS2)
	})
	t.Run("MQTT-3.9.3-1 subscribe refused: 0x87, the other filters granted", func(t *testing.T) {
		wantSuback(t, alice, []string{"alice/#", "#", "shared/#", "shared/secret"},
			packet.GrantedQoS1, packet.NotAuthorized, packet.GrantedQoS1, packet.NotAuthorized)
	})
	t.Run("MQTT-3.9.3-2 3.1.1 subscribe refused: 0x80", func(t *testing.T) {
		wantSuback(t, alice311, []string{"alice/#", "#"}, packet.GrantedQoS1, packet.SubscribeFailure)
	})
	t.Run("a message the subscriber may not read is not sent", func(t *testing.T) {
		// alice subscribed to shared/# above; admin may write anywhere.
		admin := dial(t, addr, packet.V5, withUser(connect("admin-pub"), "admin", ""))
		publish(t, admin, "shared/secret", packet.QoS1, false, "for admin only")
		publish(t, admin, "shared/notes", packet.QoS1, false, "for all")
		// In order: had the first been sent, it would come first.
		expect(t, alice, "shared/notes", "for all", packet.QoS1)
		expect(t, watcher, "shared/secret", "for admin only", packet.QoS1)
		expect(t, watcher, "shared/notes", "for all", packet.QoS1)
	})
	t.Run("retained messages: those the subscriber may not read are not sent", func(t *testing.T) {
		admin := dial(t, addr, packet.V5, withUser(connect("admin-retain"), "admin", ""))
		publish(t, admin, "shared/secret", packet.QoS1, true, "retained secret")
		publish(t, admin, "shared/pinned", packet.QoS1, true, "retained note")
		expect(t, watcher, "shared/secret", "retained secret", packet.QoS1)
		expect(t, watcher, "shared/pinned", "retained note", packet.QoS1)
		c := dial(t, addr, packet.V311, withUser(connect("alice-retained"), "alice", ""))
		wantSuback(t, c, []string{"shared/#"}, packet.GrantedQoS1)
		m := expect(t, c, "shared/pinned", "retained note", packet.QoS1)
		if !m.Retain {
			t.Error("retained message without the retain flag")
		}
		quiet(t, c)
	})
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		statement := "MQTT-3.1.4-2" // in 3.1.1, MQTT-3.2.2-5: after a refusing CONNACK, close
		if v == packet.V311 {
			statement = "MQTT-3.2.2-5"
		}
		t.Run(statement+" a will the user may not publish refuses the CONNECT/"+versionName(v), func(t *testing.T) {
			cn := withUser(connect("alice-will-"+versionName(v)), "alice", "")
			cn.Will = packet.Will{Topic: "admin/will", QoS: packet.QoS1, Payload: []byte("gone")}
			refused(t, addr, v, cn, refusedCode(v, packet.NotAuthorized))
		})
	}
	t.Run("a will the user may publish is published", func(t *testing.T) {
		cn := withUser(connect("alice-will-ok"), "alice", "")
		cn.Will = packet.Will{Topic: "alice/will", QoS: packet.QoS1, Payload: []byte("gone")}
		dial(t, addr, packet.V5, cn).Drop()
		expect(t, watcher, "alice/will", "gone", packet.QoS1)
	})
	t.Run("patterns: %c is the client identifier", func(t *testing.T) {
		dev := dial(t, addr, packet.V5, connect("dev1"))
		publish(t, dev, "clients/dev1/status", packet.QoS1, false, "up")
		expect(t, watcher, "clients/dev1/status", "up", packet.QoS1)
		refusedPublish(t, dev, "clients/dev2/status", packet.QoS1)
		wantSuback(t, dev, []string{"public/#", "alice/#"}, packet.GrantedQoS1, packet.NotAuthorized)
	})
}

// MaySubscribe against MayRead, exhaustively over small filters and
// topics: a filter is granted by a lone read rule exactly when every
// topic the filter matches may be read (up to four levels, where filters
// have at most three: beyond, nothing changes).
func TestACLSubscribeExhaustive(t *testing.T) {
	t.Parallel()
	levels := []string{"a", "b", "$x", "+", "#"}
	var filters []string
	var grow func(prefix string, depth int)
	grow = func(prefix string, depth int) {
		for _, l := range levels {
			f := l
			if depth > 0 {
				f = prefix + "/" + l
			}
			if topic.ValidFilter(f) != nil || depth > 0 && strings.HasPrefix(l, "$") {
				continue
			}
			filters = append(filters, f)
			if l != "#" && depth < 2 {
				grow(f, depth+1)
			}
		}
	}
	grow("", 0)
	var topics []string
	var names func(prefix string, depth int)
	names = func(prefix string, depth int) {
		for _, l := range []string{"a", "b", "$x"} {
			n := l
			if depth > 0 {
				if l == "$x" {
					continue
				}
				n = prefix + "/" + l
			}
			topics = append(topics, n)
			if depth < 3 {
				names(n, depth+1)
			}
		}
	}
	names("", 0)
	checked := 0
	for _, outer := range filters {
		a, err := broker.ParseACL(strings.NewReader("topic read "+outer+"\n"), "x")
		if err != nil {
			t.Fatal(err)
		}
		p := a.For("", false, "c")
		for _, inner := range filters {
			want := true
			for _, name := range topics {
				if topic.Match(inner, name) && !p.MayRead(name) {
					want = false
					break
				}
			}
			if got := p.MaySubscribe(inner); got != want {
				t.Errorf("rule %q, filter %q: MaySubscribe %v, want %v", outer, inner, got, want)
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d pairs checked", checked)
	}
}
