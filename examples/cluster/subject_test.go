package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/topic"
	"github.com/nats-io/nats-server/v2/server"
	"pgregory.net/rapid"
)

// levelChars are the bytes topic levels are drawn from: every kind of byte
// the mapping escapes, and a few it keeps.
var levelChars = []string{"a", "b", "$", ".", "*", ">", "%", " ", "\t", "\x7f", "%2E", "é", "_"}

// genLevel draws a topic level, often empty.
func genLevel() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		parts := rapid.SliceOfN(rapid.SampledFrom(levelChars), 0, 3).Draw(t, "chars")
		return strings.Join(parts, "")
	})
}

// genTopic draws a topic name of one to four levels.
func genTopic() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		levels := rapid.SliceOfN(genLevel(), 1, 4).Draw(t, "levels")
		name := strings.Join(levels, "/")
		if name == "" {
			name = "/" // a topic name has at least one character
		}
		return name
	})
}

// genFilter draws a topic filter: levels, "+" among them, "#" at the end.
func genFilter() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		n := rapid.IntRange(1, 4).Draw(t, "n")
		levels := make([]string, n)
		for i := range levels {
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0:
				levels[i] = "+"
			default:
				levels[i] = genLevel().Draw(t, "level")
			}
		}
		if rapid.Bool().Draw(t, "hash") {
			levels[n-1] = "#"
		}
		if f := strings.Join(levels, "/"); f != "" {
			return f
		}
		return "/" // a filter has at least one character
	})
}

// TestTopicSubjectRoundTrip: every topic maps to a valid literal NATS
// subject and back to itself, so no two topics share a subject.
func TestTopicSubjectRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		name := genTopic().Draw(t, "topic")
		subj, err := TopicSubject(name)
		if err != nil {
			t.Fatalf("TopicSubject(%q): %v", name, err)
		}
		if !server.IsValidLiteralSubject(subj) {
			t.Fatalf("TopicSubject(%q) = %q: not a valid literal NATS subject", name, subj)
		}
		back, err := SubjectTopic(subj)
		if err != nil || back != name {
			t.Fatalf("SubjectTopic(%q) = %q, %v; want %q", subj, back, err, name)
		}
	})
}

// TestSubjectsMatchAsTopics: a filter's subjects match a topic's subject
// exactly when the core's topic.Match says the filter matches the topic,
// '$' topics included (MQTT-4.7.2-1), and at most one of the subjects does
// (a message is never taken twice by one filter).
func TestSubjectsMatchAsTopics(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		filter := genFilter().Draw(t, "filter")
		name := genTopic().Draw(t, "topic")
		if rapid.Bool().Draw(t, "derived") {
			name = topicMatching(t, filter)
		}
		subjs, err := FilterSubjects(filter)
		if err != nil {
			t.Fatalf("FilterSubjects(%q): %v", filter, err)
		}
		subj, err := TopicSubject(name)
		if err != nil {
			t.Fatalf("TopicSubject(%q): %v", name, err)
		}
		matches := 0
		for _, f := range subjs {
			if !server.IsValidSubject(f) {
				t.Fatalf("FilterSubjects(%q) holds %q: not a valid NATS subject", filter, f)
			}
			if server.SubjectMatchesFilter(subj, f) {
				matches++
			}
		}
		if want := topic.Match(filter, name); (matches > 0) != want || matches > 1 {
			t.Fatalf("filter %q, topic %q: %d of the subjects %q match %q; topic.Match says %v",
				filter, name, matches, subjs, subj, want)
		}
	})
}

// topicMatching draws a topic that the filter matches (or would, but for
// the '$' rule), so that the matching cases are well covered.
func topicMatching(t *rapid.T, filter string) string {
	var levels []string
	for _, l := range strings.Split(filter, "/") {
		switch l {
		case "+":
			levels = append(levels, genLevel().Draw(t, "plus"))
		case "#":
			levels = append(levels, rapid.SliceOfN(genLevel(), 0, 2).Draw(t, "hash")...)
		default:
			levels = append(levels, l)
		}
	}
	name := strings.Join(levels, "/")
	if name == "" {
		name = "/"
	}
	return name
}

func TestFilterSubjectsExamples(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   string
	}{
		{"a/b", "m.a.b"},
		{"#", "m.>"},
		{"+", "m.*"},
		{"a/#", "m.a m.a.>"},
		{"+/x/#", "m.*.x m.*.x.>"},
		{"$SYS/#", "d.%24SYS d.%24SYS.>"},
		{"a//b", "m.a.%.b"},
		{"a.b/c*/>", "m.a%2Eb.c%2A.%3E"},
		{"sp ace/%", "m.sp%20ace.%25"},
	} {
		got, err := FilterSubjects(tc.filter)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("FilterSubjects(%q) = %q, %v; want %q", tc.filter, got, err, tc.want)
		}
	}
}

func TestMappingErrors(t *testing.T) {
	long := strings.Repeat("..", MaxSubjectLen)
	for _, tc := range []struct {
		name string
		err  error
		f    func() error
	}{
		{"empty topic", ErrBadTopic, func() error { _, err := TopicSubject(""); return err }},
		{"wildcard topic", ErrBadTopic, func() error { _, err := TopicSubject("a/+"); return err }},
		{"long topic", ErrTooLong, func() error { _, err := TopicSubject(long); return err }},
		{"hash not last", ErrBadFilter, func() error { _, err := FilterSubjects("a/#/b"); return err }},
		{"plus inside a level", ErrBadFilter, func() error { _, err := FilterSubjects("a+/b"); return err }},
		{"empty filter", ErrBadFilter, func() error { _, err := FilterSubjects(""); return err }},
		{"long filter", ErrTooLong, func() error { _, err := FilterSubjects(long); return err }},
		{"no namespace", ErrBadSubject, func() error { _, err := SubjectTopic("x.a"); return err }},
		{"wrong namespace", ErrBadSubject, func() error { _, err := SubjectTopic("m.%24SYS"); return err }},
		{"short escape", ErrBadSubject, func() error { _, err := SubjectTopic("m.a%2"); return err }},
		{"needless escape", ErrBadSubject, func() error { _, err := SubjectTopic("m.%61"); return err }},
		{"raw slash", ErrBadSubject, func() error { _, err := SubjectTopic("m.a/b"); return err }},
		{"empty token", ErrBadSubject, func() error { _, err := SubjectTopic("m.a..b"); return err }},
	} {
		if err := tc.f(); !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
}

// FuzzSubjectTopic: a subject is accepted only if it is the one
// TopicSubject makes of the topic it decodes to (one subject per topic),
// and nothing panics.
func FuzzSubjectTopic(f *testing.F) {
	for _, s := range []string{"m.a.b", "d.%24SYS.x", "m.%", "m.%25.%2E", "m.a%2", "x", "m..", "m.%61"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subj string) {
		name, err := SubjectTopic(subj)
		if err != nil {
			return
		}
		again, err := TopicSubject(name)
		if err != nil || again != subj {
			t.Fatalf("SubjectTopic(%q) = %q, whose subject is %q, %v", subj, name, again, err)
		}
	})
}

// FuzzTopicSubject: any topic name round-trips.
func FuzzTopicSubject(f *testing.F) {
	for _, s := range []string{"a/b", "$SYS/x", "/", "a//b", "%", ". * >"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		subj, err := TopicSubject(name)
		if err != nil {
			return
		}
		back, err := SubjectTopic(subj)
		if err != nil || back != name {
			t.Fatalf("round trip of %q: %q, %v", name, back, err)
		}
	})
}
