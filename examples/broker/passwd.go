package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/mqttcore/mqtt/examples/internal/broker"
)

// passwdUsage is the synopsis of the passwd command.
const passwdUsage = `usage: broker passwd [-cost N] [-D] FILE USER

Adds USER to the password file FILE (made if missing, mode 0600), or
changes their password: the bcrypt hash of the password and, for a
printable ASCII user name and password, SCRAM-SHA-256 credentials. The
password is read from the terminal (asked twice, not echoed) or, from a
pipe, as the first line of standard input. -D deletes USER instead.
`

// passwd runs "broker passwd".
func passwd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("broker passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, passwdUsage)
		fs.PrintDefaults()
	}
	cost := fs.Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost (%d to %d)", bcrypt.MinCost, bcrypt.MaxCost))
	del := fs.Bool("D", false, "delete USER")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("passwd: want FILE and USER")
	}
	file, user := fs.Arg(0), fs.Arg(1)
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		return fmt.Errorf("passwd: -cost %d: want %d to %d", *cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// A file the broker would refuse is not written over.
	if _, err := broker.ParsePasswords(bytes.NewReader(old), file); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	entry := ""
	if !*del {
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
		var withSCRAM bool
		if entry, withSCRAM, err = broker.PasswordEntry(user, password, *cost); err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
		if !withSCRAM {
			fmt.Fprintf(stderr, "passwd: no SCRAM-SHA-256 for %q: it takes printable ASCII user names and passwords only\n", user)
		}
	}
	lines, found := replaceEntry(old, user, entry)
	if *del && !found {
		return fmt.Errorf("passwd: no user %q in %s", user, file)
	}
	if err := writeFileAtomic(file, lines); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	switch {
	case *del:
		fmt.Fprintf(stdout, "deleted %s\n", user)
	case found:
		fmt.Fprintf(stdout, "changed the password of %s\n", user)
	default:
		fmt.Fprintf(stdout, "added %s\n", user)
	}
	return nil
}

// replaceEntry returns the password file old with user's line replaced
// by entry (deleted when entry is empty), or entry appended; found
// reports whether user had a line. Comments and other lines are kept.
func replaceEntry(old []byte, user, entry string) (out []byte, found bool) {
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(old), "\n") {
		name, _, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && name == user && !strings.HasPrefix(name, "#") {
			found = true
			if entry != "" {
				b.WriteString(entry + "\n")
			}
			continue
		}
		b.WriteString(line)
	}
	if !found && entry != "" {
		if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
			b.WriteByte('\n')
		}
		b.WriteString(entry + "\n")
	}
	return b.Bytes(), found
}

// readPassword reads the password: from a terminal, asked twice without
// echo; otherwise the first line.
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(what string) (string, error) {
			fmt.Fprint(prompt, what)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			return string(b), err
		}
		p, err := ask("Password: ")
		if err != nil {
			return "", err
		}
		again, err := ask("Password again: ")
		if err != nil {
			return "", err
		}
		if p != again {
			return "", errors.New("the passwords differ")
		}
		return p, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// writeFileAtomic replaces file with data (mode 0600): written to a
// temporary file beside it, synced, then renamed over it.
func writeFileAtomic(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
