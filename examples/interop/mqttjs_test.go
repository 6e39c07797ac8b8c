package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/brokertest"
)

// The MQTT.js tests run mqttjs/interop.js (MQTT.js, the npm package mqtt,
// pinned by mqttjs/package-lock.json) against the example broker, over TCP
// and WebSocket, in both versions. They skip without node or without
// mqttjs/node_modules (made by `npm ci` there; .ci/run runs it).

// mqttjsDir holds the Node project.
const mqttjsDir = "mqttjs"

// mqttjsSlot lets one node process run at a time: on a loaded machine
// several at once take seconds to start.
var mqttjsSlot = make(chan struct{}, 1)

// jsEvent is a line interop.js prints (see its comment).
type jsEvent struct {
	Ev             string `json:"ev"`
	Label          string `json:"label"`
	Code           int    `json:"code"`
	SessionPresent bool   `json:"sessionPresent"`
	Codes          []int  `json:"codes"`
	Topic          string `json:"topic"`
	Alias          int    `json:"alias"`
	Payload        string `json:"payload"`
	Error          string `json:"error"`
}

// mqttjsVersion is a protocol version as MQTT.js names it, with the codes
// and statements the tests check in it.
type mqttjsVersion struct {
	name  string
	proto int // MQTT.js's protocolVersion
	// CONNACK codes for a wrong password or unknown user, and for no user
	// name; the statements of the CONNACKs.
	badCredentials, notAuthorized int
	connack                       string
	// A SUBACK's code for a filter the ACL refuses, and the statements of
	// the SUBACKs.
	subackRefused int
	suback        string
	// The PUBACK's code for a publish the ACL refuses (3.1.1's PUBACK has
	// none), and the statement of it.
	pubackRefused int
	puback        string
}

var mqttjsVersions = []mqttjsVersion{
	{name: "5.0", proto: 5, badCredentials: 0x86, notAuthorized: 0x87,
		connack:       "MQTT-3.1.4-5, MQTT-3.2.2-2, MQTT-3.2.2-6, MQTT-3.2.2-8",
		subackRefused: 0x87, suback: "MQTT-3.8.4-7, MQTT-3.9.3-1, MQTT-3.9.3-2",
		pubackRefused: 0x87, puback: "MQTT-3.4.2-1"},
	{name: "3.1.1", proto: 4, badCredentials: 4, notAuthorized: 5,
		connack:       "MQTT-3.1.4-4, MQTT-3.2.2-1, MQTT-3.2.2-4",
		subackRefused: 0x80, suback: "MQTT-3.8.4-5, MQTT-3.9.3-1, MQTT-3.9.3-2",
		pubackRefused: 0, puback: "MQTT-3.3.5-2"},
}

// mqttjsTransports serves the example broker with authConfig over TCP and
// WebSocket, and returns the URL of each for MQTT.js, by name.
func mqttjsTransports(t *testing.T) [][2]string {
	t.Helper()
	_, addr, wsURL := brokertest.ServeWebSocket(t, authConfig(t))
	return [][2]string{{"tcp", "mqtt://" + addr}, {"ws", wsURL}}
}

// mqttjs runs interop.js's scenario against url in MQTT.js's protocol
// version proto and returns the events it printed, having checked that
// it ran to its end. It skips the test without node or MQTT.js.
func mqttjs(t *testing.T, scenario, url string, proto int) []jsEvent {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("MQTT.js tests need node (Node.js 18 or later) on the PATH")
	}
	if _, err := os.Stat(filepath.Join(mqttjsDir, "node_modules", "mqtt", "package.json")); err != nil {
		t.Skip("MQTT.js tests need the npm package mqtt: run `npm ci` in examples/interop/mqttjs (.ci/run does)")
	}
	mqttjsSlot <- struct{}{}
	defer func() { <-mqttjsSlot }()
	// A run takes a fraction of a second; interop.js gives up after 20.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "interop.js", scenario, url, strconv.Itoa(proto))
	cmd.Dir = mqttjsDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var evs []jsEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var ev jsEvent
		if jerr := json.Unmarshal(sc.Bytes(), &ev); jerr != nil {
			t.Fatalf("interop.js %s printed %q: %v", scenario, sc.Text(), jerr)
		}
		evs = append(evs, ev)
	}
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Ev != "done" {
		t.Fatalf("interop.js %s %s %d: %v\nstdout:\n%s\nstderr:\n%s", scenario, url, proto, err, out, stderr.Bytes())
	}
	return evs
}

// mqttjsEach runs interop.js's scenario in each version over TCP and
// WebSocket, in a subtest named by both, and check on its events.
func mqttjsEach(t *testing.T, scenario string, check func(t *testing.T, v mqttjsVersion, evs []jsEvent)) {
	for _, tr := range mqttjsTransports(t) {
		for _, v := range mqttjsVersions {
			t.Run(v.name+"/"+tr[0], func(t *testing.T) {
				check(t, v, mqttjs(t, scenario, tr[1], v.proto))
			})
		}
	}
}

// jsOne returns the one event ev of label in evs, or fails the test.
func jsOne(t *testing.T, evs []jsEvent, ev, label string) jsEvent {
	t.Helper()
	found := jsAll(evs, ev, label)
	if len(found) != 1 {
		t.Fatalf("%d %s events of %s, want 1: %+v", len(found), ev, label, evs)
	}
	return found[0]
}

// jsAll returns the events ev of label in evs, in order.
func jsAll(evs []jsEvent, ev, label string) []jsEvent {
	var found []jsEvent
	for _, e := range evs {
		if e.Ev == ev && e.Label == label {
			found = append(found, e)
		}
	}
	return found
}

// MQTT.js with a user name and password, over TCP and WebSocket: alice
// accepted; a wrong password and an unknown user refused with 0x86 (3.1.1:
// return code 4), no user name with 0x87 (3.1.1: 5), as MQTT.js reports
// them, each CONNACK with Session Present 0.
func TestMQTTjsAuth(t *testing.T) {
	t.Parallel()
	mqttjsEach(t, "auth", func(t *testing.T, v mqttjsVersion, evs []jsEvent) {
		for label, want := range map[string]int{"accepted": 0, "bad-password": v.badCredentials,
			"unknown-user": v.badCredentials, "no-user": v.notAuthorized} {
			got := jsOne(t, evs, "connack", label)
			if got.Code != want || got.SessionPresent {
				t.Errorf("%s: CONNACK code %#x, Session Present %v; want %#x, false (%s)",
					label, got.Code, got.SessionPresent, want, v.connack)
			}
		}
	})
}

// MQTT.js against the ACL, over TCP and WebSocket: alice's SUBSCRIBE of
// alice/# and bob/# gets 1 and a failure in that order, bob's of alice/#
// a failure; bob's publish to alice/diary (QoS 0, then QoS 1: PUBACK
// 0x87, 3.1.1 a plain PUBACK) is not delivered, his publish to
// alice/inbox is.
func TestMQTTjsACL(t *testing.T) {
	t.Parallel()
	mqttjsEach(t, "acl", func(t *testing.T, v mqttjsVersion, evs []jsEvent) {
		if got, want := jsOne(t, evs, "suback", "alice").Codes, []int{1, v.subackRefused}; !slices.Equal(got, want) {
			t.Errorf("alice's SUBACK for alice/# and bob/#: %v, want %v (%s)", got, want, v.suback)
		}
		if got, want := jsOne(t, evs, "suback", "bob").Codes, []int{v.subackRefused}; !slices.Equal(got, want) {
			t.Errorf("bob's SUBACK for alice/#: %v, want %v (%s)", got, want, v.suback)
		}
		if got := jsOne(t, evs, "puback", "refused").Code; got != v.pubackRefused {
			t.Errorf("PUBACK of bob's publish to alice/diary: %#x, want %#x (%s)", got, v.pubackRefused, v.puback)
		}
		if got := jsOne(t, evs, "puback", "allowed").Code; got != 0 {
			t.Errorf("PUBACK of bob's publish to alice/inbox: %#x, want 0", got)
		}
		got := jsAll(evs, "message", "alice")
		if len(got) != 1 || got[0].Topic != "alice/inbox" || got[0].Payload != "from bob" {
			t.Errorf("alice received %+v, want the message on alice/inbox alone", got)
		}
	})
}

// MQTT.js (v5) announcing a Topic Alias Maximum of 2, over TCP and
// WebSocket, receives 12 messages on 3 topics from the broker, which sends
// aliases: every PUBLISH carries an alias from 1 to 2, some the alias
// alone, the broker replaces aliases when the topics outnumber them, and
// every message arrives on its topic, in order, as MQTT.js resolves it and
// as this test resolves the PUBLISH packets itself.
func TestMQTTjsTopicAliases(t *testing.T) {
	t.Parallel()
	order := []string{"a", "b", "a", "c", "b", "a", "c", "c", "b", "a", "b", "c"} // as interop.js publishes
	for _, tr := range mqttjsTransports(t) {
		t.Run(tr[0]+"/MQTT-3.3.2-8/MQTT-3.3.2-11", func(t *testing.T) {
			evs := mqttjs(t, "aliases", tr[1], 5)
			var want []msg
			for i, topic := range order {
				want = append(want, msg{topic: "alice/aliases/" + topic, payload: "message " + strconv.Itoa(i)})
			}
			var got []msg
			for _, e := range jsAll(evs, "message", "sub") {
				got = append(got, msg{topic: e.Topic, payload: e.Payload})
			}
			if !slices.Equal(got, want) {
				t.Errorf("MQTT.js received\n%v\nwant\n%v", got, want)
			}
			// The PUBLISH packets as they came, resolved here.
			raw := jsAll(evs, "publish", "sub")
			aliases := map[int]string{}
			var resolved []string
			aloneN, replaced := 0, 0
			for _, p := range raw {
				if p.Alias < 1 || p.Alias > 2 {
					t.Errorf("PUBLISH %+v: Topic Alias outside 1..2, the maximum MQTT.js announced", p)
					continue
				}
				switch old, ok := aliases[p.Alias]; {
				case p.Topic == "":
					aloneN++
				case ok && old != p.Topic:
					replaced++
					aliases[p.Alias] = p.Topic
				default:
					aliases[p.Alias] = p.Topic
				}
				resolved = append(resolved, aliases[p.Alias])
			}
			var wantTopics []string
			for _, m := range want {
				wantTopics = append(wantTopics, m.topic)
			}
			if !slices.Equal(resolved, wantTopics) {
				t.Errorf("PUBLISH packets resolve to %v, want %v (packets %+v)", resolved, wantTopics, raw)
			}
			if aloneN == 0 || replaced == 0 {
				t.Errorf("%d PUBLISH packets carry an alias alone and %d replace one, want some of both: %+v", aloneN, replaced, raw)
			}
		})
	}
}
