package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/cmdtest"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// -config sets the flags the file names; those on the command line win.
func TestConfigFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	file := writeFile(t, "broker.conf", "# a listener nobody can have: the command line's wins\n"+
		"addr 256.0.0.1:1\n\nquiet\nmax-queued\t500\n")
	addrs, stop := cmdtest.Start(t, run, 1, "-config", file, "-addr", "127.0.0.1:0")
	c := cmdtest.RoundTrip(t, ctx, addrs[0])
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	<-c.Done()

	// Without the command line's -addr, the file's is used (and fails).
	err := run(ctx, []string{"-config", file}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "256.0.0.1") {
		t.Fatalf("the file's -addr: %v", err)
	}
}

// The flag.FlagSet after the file: each line as the flag on the command
// line.
func TestConfigApply(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	addr := fs.String("addr", "", "")
	n := fs.Int("n", 1, "")
	quiet := fs.Bool("quiet", false, "")
	var list listFlag
	fs.Var(&list, "listener", "")
	if err := fs.Parse([]string{"-n", "7"}); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "c.conf", "addr  127.0.0.1:1883 \nn 9\nquiet\nlistener a b\n  # indented comment\nlistener #2\n")
	if err := applyConfig(fs, file); err != nil {
		t.Fatal(err)
	}
	if *addr != "127.0.0.1:1883" || *n != 7 || !*quiet || strings.Join(list, "|") != "a b|#2" {
		t.Errorf("addr %q n %d quiet %v listeners %q", *addr, *n, *quiet, list)
	}
}

// listFlag takes several values, as a flag for listeners would.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// A bad file is refused before anything listens, with the file's name and
// the line's number.
func TestConfigErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		name, content string
		line          int
		msg           string
	}{
		{"unknown key", "addr 127.0.0.1:0\nlisten 127.0.0.1:1883\n", 2, `unknown key "listen"`},
		{"bad value", "# limits\n\nmax-queued many\n", 3, `max-queued: bad value "many"`},
		{"bad boolean", "quiet yes please\n", 1, "quiet: bad value"},
		{"missing value", "addr\n", 1, "addr: missing value"},
		{"a config in a config", "config other.conf\n", 1, "cannot name another"},
		{"a dash", "-addr 127.0.0.1:0\n", 1, `unknown key "-addr"`},
	} {
		file := writeFile(t, "bad.conf", c.content)
		err := run(ctx, []string{"-config", file, "-addr", "127.0.0.1:0"}, io.Discard, io.Discard)
		var fe *broker.FileError
		if !errors.As(err, &fe) || fe.Line != c.line || !strings.Contains(err.Error(), c.msg) ||
			!strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d: ", file, c.line)) {
			t.Errorf("%s: %v, want %s:%d: ...%s...", c.name, err, file, c.line, c.msg)
		}
	}
	if err := run(ctx, []string{"-config", "/nonexistent/broker.conf"}, io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "/nonexistent/broker.conf") {
		t.Errorf("a missing file: %v", err)
	}
}

// The example config file runs as it is (with another port), every key in
// it, set or commented out, is a flag, and the example ACL file parses.
func TestExampleConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, stop := cmdtest.Start(t, run, 1, "-config", "broker.conf.example", "-addr", "127.0.0.1:0")
	c := cmdtest.RoundTrip(t, ctx, addrs[0])
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	<-c.Done()

	var usage bytes.Buffer
	_ = run(ctx, []string{"-h"}, io.Discard, &usage)
	flags := make(map[string]bool)
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 10 {
		t.Fatalf("flags from -h: %v", flags)
	}
	example, err := os.ReadFile("broker.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	keys := 0
	for _, m := range regexp.MustCompile(`(?m)^#? ?([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?: [^ ]+)?$`).FindAllStringSubmatch(string(example), -1) {
		keys++
		if !flags[m[1]] {
			t.Errorf("the example sets %q, which is no flag", m[1])
		}
	}
	if keys < 15 {
		t.Errorf("%d keys found in the example", keys)
	}
	// A # after a value is part of it: a setting uncommented as it stands
	// must not carry a comment.
	for _, m := range regexp.MustCompile(`(?m)^#? ?([a-z][a-z0-9]*(?:-[a-z0-9]+)*) [^#\n]*#.*$`).FindAllStringSubmatch(string(example), -1) {
		if flags[m[1]] {
			t.Errorf("the example's line %q ends with a comment, which would be part of the value", m[0])
		}
	}
	if _, err := broker.LoadACL("acl.conf.example"); err != nil {
		t.Errorf("acl.conf.example: %v", err)
	}
}
