package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttcore/mqtt/auth/scram"
)

// Passwords is a password file: for each user name, a bcrypt hash of the
// password (for the CONNECT's User Name and Password) and SCRAM-SHA-256
// credentials (for v5 enhanced authentication with the method
// SCRAM-SHA-256, scram.Method). One line per user:
//
//	NAME:BCRYPT-HASH:SCRAM-LINE
//
// where BCRYPT-HASH is as bcrypt writes it ("$2a$10$...": no colon) and
// SCRAM-LINE is the RFC 5803 form that package scram reads and writes
// ("SCRAM-SHA-256$4096:SALT$STOREDKEY:SERVERKEY"). Either may be left out:
// "NAME:BCRYPT-HASH" allows the password in CONNECT only, and
// "NAME:SCRAM-LINE" SCRAM only. Blank lines and lines that start with #
// are skipped. Neither form keeps the password: the hash and the
// credentials verify one, they do not give it back. PasswordEntry makes a
// line; the command `broker passwd` adds one to a file.
type Passwords struct {
	users map[string]userCredentials
	// decoy is the hash Check compares a password with when the user
	// has none: of a random password, at the cost of the file's first
	// hash (bcrypt.DefaultCost for none), made on first use.
	decoy func() []byte
}

type userCredentials struct {
	hash  []byte             // bcrypt; nil: no password in CONNECT
	scram *scram.Credentials // nil: no SCRAM-SHA-256
}

// LoadPasswords reads a password file; an error names the file, and the
// line for one in the file (*FileError).
func LoadPasswords(file string) (*Passwords, error) { return load(file, ParsePasswords) }

// ParsePasswords reads the lines of a password file from r; file names
// it in errors.
func ParsePasswords(r io.Reader, file string) (*Passwords, error) {
	p := &Passwords{users: make(map[string]userCredentials)}
	first := make(map[string]int)
	decoyCost := 0
	err := ScanLines(r, file, func(n int, line string) error {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			return errors.New(`want "NAME:HASH[:SCRAM-LINE]"`)
		}
		if err := checkUserName(name); err != nil {
			return err
		}
		if at, dup := first[name]; dup {
			return fmt.Errorf("user %q given again (first on line %d)", name, at)
		}
		var u userCredentials
		hash, scramLine := rest, ""
		if strings.HasPrefix(rest, scram.Method+"$") {
			hash, scramLine = "", rest
		} else {
			hash, scramLine, _ = strings.Cut(rest, ":")
		}
		if hash != "" {
			cost, err := bcrypt.Cost([]byte(hash))
			if err != nil {
				return fmt.Errorf("user %q: not a bcrypt hash: %w", name, err)
			}
			u.hash = []byte(hash)
			if decoyCost == 0 {
				decoyCost = cost
			}
		}
		if scramLine != "" {
			c, err := scram.ParseCredentials(scramLine)
			if err != nil {
				return fmt.Errorf("user %q: %w", name, err)
			}
			u.scram = &c
		}
		if u.hash == nil && u.scram == nil {
			return fmt.Errorf("user %q: no hash and no SCRAM credentials", name)
		}
		first[name] = n
		p.users[name] = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	if decoyCost == 0 {
		decoyCost = bcrypt.DefaultCost
	}
	p.decoy = decoyHash(decoyCost)
	return p, nil
}

// checkUserName refuses a user name a password file cannot hold: empty,
// with a colon, white space or control characters, or a # first (a
// comment).
func checkUserName(name string) error {
	if name == "" {
		return errors.New("empty user name")
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return r == ':' || r <= ' ' || r == 0x7F }); i >= 0 || name[0] == '#' {
		return fmt.Errorf("user name %q: no colon, white space or control character allowed, nor a # first", name)
	}
	return nil
}

// Len returns the number of users.
func (p *Passwords) Len() int { return len(p.users) }

// Check reports whether password is user's, by the user's bcrypt hash. It
// takes as long for an unknown user, or one without a hash, as for a
// wrong password (a bcrypt comparison, against a hash of the cost of the
// file's first: about 100 milliseconds at the default cost), so that the
// time does not tell which names exist.
func (p *Passwords) Check(user string, password []byte) bool {
	u, ok := p.users[user]
	hash := u.hash
	if hash == nil {
		hash = p.decoy()
	}
	err := bcrypt.CompareHashAndPassword(hash, password)
	return err == nil && ok && u.hash != nil
}

// SCRAM returns user's SCRAM-SHA-256 credentials, or scram.ErrUnknownUser
// for a user the file does not know or gives none: it is a scram.Lookup.
func (p *Passwords) SCRAM(user string) (scram.Credentials, error) {
	u, ok := p.users[user]
	if !ok || u.scram == nil {
		return scram.Credentials{}, scram.ErrUnknownUser
	}
	return *u.scram, nil
}

// decoyHash returns a function that makes, on its first call, a bcrypt
// hash of a random password at cost, and returns it on every call.
func decoyHash(cost int) func() []byte {
	return sync.OnceValue(func() []byte {
		pw := make([]byte, 16)
		_, _ = rand.Read(pw)
		// 16 bytes at a cost read from a valid hash: no error. Were there
		// one, nil matches no password, which is all a decoy must do.
		h, _ := bcrypt.GenerateFromPassword(pw, cost)
		return h
	})
}

// PasswordEntry returns the password file line of user with password: a
// bcrypt hash of the given cost (0: bcrypt.DefaultCost) and, when both
// are printable ASCII (package scram's rule), SCRAM-SHA-256 credentials
// at scram.DefaultIterations; withSCRAM reports which. bcrypt takes
// passwords of at most 72 bytes.
func PasswordEntry(user, password string, cost int) (line string, withSCRAM bool, err error) {
	if err := checkUserName(user); err != nil {
		return "", false, err
	}
	if password == "" {
		return "", false, errors.New("empty password")
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", false, fmt.Errorf("bcrypt: %w", err)
	}
	line = user + ":" + string(hash)
	creds, err := scram.NewCredentials(password, 0)
	switch {
	case errors.Is(err, scram.ErrNotPrintable):
		return line, false, nil
	case err != nil:
		return "", false, err
	}
	if err := checkPrintableName(user); err != nil {
		return line, false, nil
	}
	return line + ":" + creds.String(), true, nil
}

// checkPrintableName refuses a user name SCRAM cannot carry here (see
// package scram: printable ASCII only).
func checkPrintableName(user string) error {
	for i := 0; i < len(user); i++ {
		if user[i] < 0x20 || user[i] > 0x7E {
			return scram.ErrNotPrintable
		}
	}
	return nil
}
