package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mqttcore/mqtt/packet"
)

// Method is the Authentication Method of SCRAM-SHA-256, in CONNECT, AUTH
// and CONNACK.
const Method = "SCRAM-SHA-256"

// The bounds of an iteration count: RFC 7677 asks for at least 4096; above
// a million, a server could make a client (or a password file a server)
// spend seconds per connection.
const (
	MinIterations     = 4096
	MaxIterations     = 1_000_000
	DefaultIterations = MinIterations
)

// maxMessage bounds every message of the exchange (and a Credentials
// line): the longest honest one is a few hundred bytes.
const maxMessage = 4096

// Errors. Every error of this package matches one of them (errors.Is).
var (
	// ErrNotPrintable: a user name or password with characters other than
	// printable ASCII (see the package documentation), or an empty one.
	ErrNotPrintable = errors.New("scram: user name and password must be printable ASCII")
	// ErrMalformed: a message that is not SCRAM (or not this step's).
	ErrMalformed = errors.New("scram: malformed message")
	// ErrUnsupported: the client requires what this package does not do:
	// channel binding, an authorization identity, a mandatory extension.
	ErrUnsupported = errors.New("scram: unsupported")
	// ErrNonce: the nonce does not continue the exchange's.
	ErrNonce = errors.New("scram: nonce mismatch")
	// ErrIterations: an iteration count outside MinIterations to
	// MaxIterations.
	ErrIterations = errors.New("scram: iteration count out of range")
	// ErrBadCredentials (server side): the client's proof does not verify
	// (a wrong password, or an unknown user: the two look the same to the
	// client).
	ErrBadCredentials = errors.New("scram: bad user name or password")
	// ErrLookup (server side): the credential lookup failed, or gave
	// unusable credentials.
	ErrLookup = errors.New("scram: credential lookup failed")
	// ErrServerSignature (client side): the server's signature does not
	// verify: it does not know the credentials, and the client must not
	// trust it.
	ErrServerSignature = errors.New("scram: server signature does not verify")
	// ErrServerRefused (client side): the server-final-message is an
	// error ("e=...").
	ErrServerRefused = errors.New("scram: server refused")
	// ErrState: a step called out of order (Verify before Challenge,
	// Finish before Answer, anything after a failure).
	ErrState = errors.New("scram: step out of order")
)

// ErrUnknownUser is returned by a Lookup for a user it does not know. The
// Server then plays the exchange out with made-up credentials and refuses
// the proof with ErrBadCredentials, so that a client cannot tell an unknown
// user from a wrong password (RFC 5802, section 5.1).
var ErrUnknownUser = errors.New("scram: unknown user")

// Reason is the reason code of the CONNACK a server refuses a connection
// with when its exchange fails: 0x86 Bad User Name
// or Password for ErrBadCredentials and ErrNotPrintable, 0x8C Bad authentication method for
// ErrUnsupported, 0x88 Server unavailable for ErrLookup, and 0x87 Not
// authorized for the rest (malformed messages, a wrong nonce).
func Reason(err error) packet.ReasonCode {
	switch {
	case errors.Is(err, ErrBadCredentials), errors.Is(err, ErrNotPrintable):
		return packet.BadUserNameOrPassword
	case errors.Is(err, ErrUnsupported):
		return packet.BadAuthenticationMethod
	case errors.Is(err, ErrLookup):
		return packet.ServerUnavailable
	}
	return packet.NotAuthorized
}

// DisconnectReason is the reason code of the DISCONNECT a server ends a
// connection with when a re-authentication fails (MQTT-4.12.1-2), where
// the CONNACK's 0x86, 0x88 and 0x8C are not allowed: 0x80 Unspecified
// error for ErrLookup, 0x87 Not authorized for the rest.
func DisconnectReason(err error) packet.ReasonCode {
	if errors.Is(err, ErrLookup) {
		return packet.UnspecifiedError
	}
	return packet.NotAuthorized
}

// Credentials are what a server keeps of a password (RFC 5802, section
// 3): enough to verify a client's proof and to prove itself, not enough to
// log in as the user.
type Credentials struct {
	Salt       []byte
	Iterations int
	StoredKey  [sha256.Size]byte // H(HMAC(SaltedPassword, "Client Key"))
	ServerKey  [sha256.Size]byte // HMAC(SaltedPassword, "Server Key")
}

// NewCredentials derives the Credentials of a password with a random
// 16-byte salt and the given iteration count (0 means DefaultIterations).
func NewCredentials(password string, iterations int) (Credentials, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return Credentials{}, err
	}
	return DeriveCredentials(password, salt, iterations)
}

// DeriveCredentials derives the Credentials of a password with the given
// salt and iteration count (0 means DefaultIterations).
func DeriveCredentials(password string, salt []byte, iterations int) (Credentials, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if err := checkPrintable(password, "password"); err != nil {
		return Credentials{}, err
	}
	if err := checkIterations(iterations); err != nil {
		return Credentials{}, err
	}
	if len(salt) == 0 {
		return Credentials{}, fmt.Errorf("%w: empty salt", ErrMalformed)
	}
	k, err := deriveKeys(password, salt, iterations)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{Salt: append([]byte(nil), salt...), Iterations: iterations,
		StoredKey: k.stored, ServerKey: k.server}, nil
}

// keys are what either side derives from the salted password.
type keys struct {
	client, stored, server [sha256.Size]byte
}

func deriveKeys(password string, salt []byte, iterations int) (keys, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return keys{}, err
	}
	var k keys
	copy(k.client[:], mac(salted, "Client Key"))
	k.stored = sha256.Sum256(k.client[:])
	copy(k.server[:], mac(salted, "Server Key"))
	return k, nil
}

// mac is HMAC-SHA-256.
func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// String is MarshalText's line.
func (c Credentials) String() string {
	return Method + "$" + strconv.Itoa(c.Iterations) + ":" + b64.EncodeToString(c.Salt) + "$" +
		b64.EncodeToString(c.StoredKey[:]) + ":" + b64.EncodeToString(c.ServerKey[:])
}

// MarshalText encodes the Credentials as one line, in the form of RFC 5803
// (section 3), which PostgreSQL keeps too:
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// with the salt and keys in standard base64. It holds no user name: a
// password file puts one in front, with a separator of its choosing.
func (c Credentials) MarshalText() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return []byte(c.String()), nil
}

// UnmarshalText decodes MarshalText's line.
func (c *Credentials) UnmarshalText(text []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: credentials: %s", ErrMalformed, what) }
	if len(text) > maxMessage {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(string(text), Method+"$")
	if !ok {
		return bad("not " + Method)
	}
	info, value, ok := strings.Cut(rest, "$")
	if !ok {
		return bad("no keys")
	}
	iter, salt, ok1 := strings.Cut(info, ":")
	stored, server, ok2 := strings.Cut(value, ":")
	if !ok1 || !ok2 {
		return bad("missing field")
	}
	var d Credentials
	var err error
	if d.Iterations, err = parseCount(iter); err != nil {
		return err
	}
	if d.Salt, err = b64.DecodeString(salt); err != nil || len(d.Salt) == 0 {
		return bad("salt")
	}
	if decodeKey(d.StoredKey[:], stored) != nil || decodeKey(d.ServerKey[:], server) != nil {
		return bad("key")
	}
	*c = d
	return nil
}

// ParseCredentials decodes a line of MarshalText.
func ParseCredentials(line string) (Credentials, error) {
	var c Credentials
	err := c.UnmarshalText([]byte(line))
	return c, err
}

// check validates Credentials before use.
func (c *Credentials) check() error {
	if len(c.Salt) == 0 {
		return fmt.Errorf("%w: credentials without a salt", ErrMalformed)
	}
	return checkIterations(c.Iterations)
}

// b64 is the base64 of SCRAM: standard alphabet, padded, strict.
var b64 = base64.StdEncoding.Strict()

// decodeKey decodes a key (a proof, a signature) of exactly len(dst)
// bytes.
func decodeKey(dst []byte, s string) error {
	if len(s) != b64.EncodedLen(len(dst)) {
		return fmt.Errorf("%w: key length", ErrMalformed)
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		return fmt.Errorf("%w: key", ErrMalformed)
	}
	copy(dst, b)
	return nil
}

func checkIterations(n int) error {
	if n < MinIterations || n > MaxIterations {
		return fmt.Errorf("%w: %d (allowed: %d to %d)", ErrIterations, n, MinIterations, MaxIterations)
	}
	return nil
}

// parseCount parses an iteration count: a positive decimal number without
// leading zeros (posit-number, RFC 5802 section 7), bounded.
func parseCount(s string) (int, error) {
	if s == "" || s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: iteration count %.12q", ErrMalformed, s)
	}
	if len(s) > 9 {
		return 0, fmt.Errorf("%w: %.12s... (allowed: %d to %d)", ErrIterations, s, MinIterations, MaxIterations)
	}
	n, _ := strconv.Atoi(s)
	return n, checkIterations(n)
}

// checkPrintable applies the package's stand-in for SASLprep.
func checkPrintable(s, what string) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrNotPrintable, what)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return fmt.Errorf("%w: %s has byte 0x%02X at %d", ErrNotPrintable, what, s[i], i)
		}
	}
	return nil
}

// nonce returns 24 random bytes in base64: 32 printable characters
// without a comma.
func newNonce() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return b64.EncodeToString(b[:]), nil
}

// validNonce: printable ASCII except ',' (RFC 5802, section 7).
func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7E || s[i] == ',' {
			return false
		}
	}
	return true
}

// attr cuts the next attribute of a message: its one-letter name, value,
// and the rest after the comma ("" at the end).
func attr(msg string) (name byte, value, rest string, ok bool) {
	field, rest, _ := strings.Cut(msg, ",")
	if len(field) < 2 || field[1] != '=' {
		return 0, "", "", false
	}
	return field[0], field[2:], rest, true
}

// want cuts the attribute named name from the front of msg.
func want(msg string, name byte) (value, rest string, err error) {
	n, v, rest, ok := attr(msg)
	if !ok || n != name {
		if ok && n == 'm' {
			return "", "", fmt.Errorf("%w: mandatory extension", ErrUnsupported)
		}
		return "", "", fmt.Errorf("%w: expected attribute %c", ErrMalformed, name)
	}
	return v, rest, nil
}

// checkExtensions accepts the optional extensions at the end of a message
// (attr-val, RFC 5802 section 7) and ignores them.
func checkExtensions(rest string) error {
	for rest != "" {
		n, _, r, ok := attr(rest)
		if !ok || !(n >= 'a' && n <= 'z' || n >= 'A' && n <= 'Z') {
			return fmt.Errorf("%w: extension", ErrMalformed)
		}
		rest = r
	}
	return nil
}

// encodeName escapes a user name as a saslname: ',' as =2C, '=' as =3D.
func encodeName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// decodeName undoes encodeName, refusing any other '=' sequence.
func decodeName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("%w: user name escape", ErrMalformed)
		}
		i += 2
	}
	return b.String(), nil
}
