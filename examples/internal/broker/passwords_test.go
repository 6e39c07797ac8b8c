package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttcore/mqtt/auth/scram"
	"github.com/mqttcore/mqtt/examples/internal/broker"
)

// passwordFile returns a password file with an entry for each user,
// "user:password" pairs, at bcrypt's least cost (the tests' speed).
func passwordFile(t testing.TB, pairs ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test users\n\n")
	for _, pair := range pairs {
		user, pw, _ := strings.Cut(pair, ":")
		line, _, err := broker.PasswordEntry(user, pw, bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func testPasswords(t testing.TB, pairs ...string) *broker.Passwords {
	t.Helper()
	p, err := broker.ParsePasswords(strings.NewReader(passwordFile(t, pairs...)), "test")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPasswordsCheck(t *testing.T) {
	t.Parallel()
	p := testPasswords(t, "alice:wonderland", "bob:b0b's secret")
	if p.Len() != 2 {
		t.Fatalf("%d users, want 2", p.Len())
	}
	for _, c := range []struct {
		user, password string
		ok             bool
	}{
		{"alice", "wonderland", true},
		{"bob", "b0b's secret", true},
		{"alice", "Wonderland", false},
		{"alice", "", false},
		{"bob", "wonderland", false},
		{"carol", "wonderland", false}, // unknown
	} {
		if got := p.Check(c.user, []byte(c.password)); got != c.ok {
			t.Errorf("Check(%q, %q) = %v, want %v", c.user, c.password, got, c.ok)
		}
	}
	creds, err := p.SCRAM("alice")
	if err != nil {
		t.Fatal(err)
	}
	want, err := scram.DeriveCredentials("wonderland", creds.Salt, creds.Iterations)
	if err != nil {
		t.Fatal(err)
	}
	if creds.StoredKey != want.StoredKey || creds.ServerKey != want.ServerKey {
		t.Error("the SCRAM credentials of the entry are not those of the password")
	}
	if _, err := p.SCRAM("carol"); !errors.Is(err, scram.ErrUnknownUser) {
		t.Errorf("SCRAM of an unknown user: %v, want scram.ErrUnknownUser", err)
	}
}

// An entry may have the bcrypt hash alone (no SCRAM) or the SCRAM line
// alone (no password in CONNECT); a password that is not printable ASCII
// gets no SCRAM line.
func TestPasswordsForms(t *testing.T) {
	t.Parallel()
	full, withSCRAM, err := broker.PasswordEntry("dave", "pencil", bcrypt.MinCost)
	if err != nil || !withSCRAM {
		t.Fatalf("PasswordEntry: %v, SCRAM %v", err, withSCRAM)
	}
	hash, scramLine, _ := strings.Cut(strings.TrimPrefix(full, "dave:"), ":")
	file := "hash-only:" + hash + "\nscram-only:" + scramLine + "\n"
	p, err := broker.ParsePasswords(strings.NewReader(file), "forms")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Check("hash-only", []byte("pencil")) || p.Check("scram-only", []byte("pencil")) {
		t.Error("Check: want the hash-only user accepted, the SCRAM-only one refused")
	}
	if _, err := p.SCRAM("hash-only"); !errors.Is(err, scram.ErrUnknownUser) {
		t.Errorf("SCRAM of a user without a SCRAM line: %v", err)
	}
	if _, err := p.SCRAM("scram-only"); err != nil {
		t.Errorf("SCRAM of a SCRAM-only user: %v", err)
	}
	line, withSCRAM, err := broker.PasswordEntry("erin", "grüße", bcrypt.MinCost)
	if err != nil || withSCRAM || strings.Count(line, ":") != 1 {
		t.Errorf("a password beyond printable ASCII: %q, SCRAM %v, %v", line, withSCRAM, err)
	}
	for _, bad := range []struct{ user, password string }{{"", "x"}, {"a:b", "x"}, {"a b", "x"}, {"#a", "x"}, {"frank", ""},
		{"frank", strings.Repeat("x", 73)}} {
		if _, _, err := broker.PasswordEntry(bad.user, bad.password, bcrypt.MinCost); err == nil {
			t.Errorf("PasswordEntry(%q, %d bytes) accepted", bad.user, len(bad.password))
		}
	}
}

// A bad line is refused with the file's name and the line's number.
func TestPasswordsErrors(t *testing.T) {
	t.Parallel()
	good := passwordFile(t, "alice:x")
	line := strings.Split(strings.TrimSpace(good), "\n")[2] // after the comment and the blank line
	for _, c := range []struct {
		name, file string
		line       int
		msg        string
	}{
		{"no colon", "# users\nalice\n", 2, "NAME:HASH"},
		{"not a hash", "alice:secret\n", 1, "bcrypt"},
		{"bad SCRAM line", "\n\nalice:" + strings.Split(line, ":")[1] + ":SCRAM-SHA-256$1:AA==$AA==:AA==\n", 3, "alice"},
		{"twice", line + "\n# again\n" + line + "\n", 3, "first on line 1"},
		{"empty name", ":" + strings.SplitN(line, ":", 2)[1] + "\n", 1, "empty user name"},
		{"nothing", "bob:\n", 1, "no hash"},
	} {
		_, err := broker.ParsePasswords(strings.NewReader(c.file), "pw.txt")
		var fe *broker.FileError
		if !errors.As(err, &fe) || fe.Line != c.line || fe.File != "pw.txt" || !strings.Contains(err.Error(), c.msg) ||
			!strings.HasPrefix(err.Error(), fmt.Sprintf("pw.txt:%d: ", c.line)) {
			t.Errorf("%s: %v, want an error on pw.txt line %d about %q", c.name, err, c.line, c.msg)
		}
	}
}
