package scram

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// Lookup returns the stored Credentials of a user, ErrUnknownUser for a
// user it does not know, or another error if it cannot tell.
type Lookup func(username string) (Credentials, error)

// Server is the server side of one SCRAM-SHA-256 exchange: Challenge takes
// the client-first-message (the CONNECT's Authentication Data, or the AUTH
// 0x19's) and returns the server-first-message for an AUTH 0x18; Verify
// takes the client-final-message (the client's AUTH 0x18) and returns the
// server-final-message for the CONNACK (or the AUTH 0x00 that ends a
// re-authentication). On an error, answer with a CONNACK of Reason(err)
// (during a re-authentication, a DISCONNECT of DisconnectReason(err)) and
// close; the exchange is over. Use a new Server for each exchange; it is
// not safe for concurrent use.
type Server struct {
	lookup   Lookup
	newNonce func() (string, error) // tests pin it

	step            serverStep
	username        string
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string // client's and server's
	creds           Credentials
	unknown         bool // made-up credentials: the proof must fail
}

type serverStep uint8

const (
	serverIdle       serverStep = iota // Challenge next
	serverChallenged                   // Verify next
	serverDone                         // verified: Username holds
	serverFailed
)

// NewServer returns the server side of an exchange that checks proofs
// against the credentials lookup returns.
func NewServer(lookup Lookup) *Server {
	return &Server{lookup: lookup, newNonce: newNonce}
}

// Challenge takes the client-first-message and returns the
// server-first-message: "r=<client nonce><server nonce>,s=<salt>,i=<count>".
// For a user the lookup does not know it answers with made-up credentials
// (a salt that is the same for every attempt of that user name in this
// process, DefaultIterations), and Verify refuses the proof: keep real
// users at DefaultIterations too, or the count tells them apart.
func (s *Server) Challenge(clientFirst []byte) ([]byte, error) {
	if s.step != serverIdle {
		return nil, s.fail(fmt.Errorf("%w: Challenge twice", ErrState))
	}
	if s.lookup == nil || s.newNonce == nil {
		return nil, s.fail(fmt.Errorf("%w: a Server made without NewServer", ErrState))
	}
	if err := s.parseClientFirst(string(clientFirst)); err != nil {
		return nil, s.fail(err)
	}
	creds, err := s.lookup(s.username)
	switch {
	case errors.Is(err, ErrUnknownUser):
		creds, s.unknown = madeUp(s.username), true
	case err != nil:
		return nil, s.fail(fmt.Errorf("%w: %w", ErrLookup, err))
	default:
		if err := creds.check(); err != nil {
			return nil, s.fail(fmt.Errorf("%w: %w", ErrLookup, err))
		}
	}
	s.creds = creds
	serverNonce, err := s.newNonce()
	if err != nil {
		return nil, s.fail(err)
	}
	s.nonce += serverNonce
	s.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, b64.EncodeToString(creds.Salt), creds.Iterations)
	s.step = serverChallenged
	return []byte(s.serverFirst), nil
}

// parseClientFirst reads gs2-header client-first-message-bare.
func (s *Server) parseClientFirst(msg string) error {
	if len(msg) > maxMessage {
		return fmt.Errorf("%w: client-first-message too long", ErrMalformed)
	}
	cbind, rest, ok1 := strings.Cut(msg, ",")
	authzid, bare, ok2 := strings.Cut(rest, ",")
	switch {
	case !ok1 || !ok2:
		return fmt.Errorf("%w: no GS2 header", ErrMalformed)
	case strings.HasPrefix(cbind, "p="):
		return fmt.Errorf("%w: channel binding (SCRAM-SHA-256-PLUS)", ErrUnsupported)
	case cbind != "n" && cbind != "y":
		return fmt.Errorf("%w: GS2 channel binding flag", ErrMalformed)
	case strings.HasPrefix(authzid, "a="):
		return fmt.Errorf("%w: authorization identity", ErrUnsupported)
	case authzid != "":
		return fmt.Errorf("%w: GS2 header", ErrMalformed)
	}
	s.gs2Header = cbind + ",,"
	name, rest, err := want(bare, 'n')
	if err != nil {
		return err
	}
	nonce, rest, err := want(rest, 'r')
	if err != nil {
		return err
	}
	if err := checkExtensions(rest); err != nil {
		return err
	}
	if s.username, err = decodeName(name); err != nil {
		return err
	}
	if err := checkPrintable(s.username, "user name"); err != nil {
		return err
	}
	if !validNonce(nonce) {
		return fmt.Errorf("%w: client nonce", ErrMalformed)
	}
	s.clientFirstBare, s.nonce = bare, nonce
	return nil
}

// Verify takes the client-final-message, checks the client's proof in
// constant time, and returns the server-final-message: "v=<signature>".
// A proof that does not verify is ErrBadCredentials.
func (s *Server) Verify(clientFinal []byte) ([]byte, error) {
	if s.step != serverChallenged {
		return nil, s.fail(fmt.Errorf("%w: Verify without Challenge", ErrState))
	}
	s.step = serverFailed
	msg := string(clientFinal)
	if len(msg) > maxMessage {
		return nil, fmt.Errorf("%w: client-final-message too long", ErrMalformed)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, fmt.Errorf("%w: no proof", ErrMalformed)
	}
	withoutProof, proof64 := msg[:i], msg[i+len(",p="):]
	cbind64, rest, err := want(withoutProof, 'c')
	if err != nil {
		return nil, err
	}
	nonce, rest, err := want(rest, 'r')
	if err != nil {
		return nil, err
	}
	if err := checkExtensions(rest); err != nil {
		return nil, err
	}
	if cbind, err := b64.DecodeString(cbind64); err != nil || string(cbind) != s.gs2Header {
		return nil, fmt.Errorf("%w: channel binding differs from the GS2 header", ErrMalformed)
	}
	if nonce != s.nonce {
		return nil, fmt.Errorf("%w: client-final-message", ErrNonce)
	}
	var proof [sha256.Size]byte
	if decodeKey(proof[:], proof64) != nil {
		return nil, fmt.Errorf("%w: proof", ErrMalformed)
	}
	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	// ClientKey = proof XOR HMAC(StoredKey, AuthMessage); the proof holds
	// if H(ClientKey) is the StoredKey.
	clientKey := mac(s.creds.StoredKey[:], authMessage)
	subtle.XORBytes(clientKey, clientKey, proof[:])
	stored := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(stored[:], s.creds.StoredKey[:]) != 1 || s.unknown {
		return nil, ErrBadCredentials
	}
	s.step = serverDone
	return []byte("v=" + b64.EncodeToString(mac(s.creds.ServerKey[:], authMessage))), nil
}

// Username returns the user name the client gave, once Verify has
// accepted its proof; "" before. A broker checks that a re-authentication
// names the same user as the connection's first one.
func (s *Server) Username() string {
	if s.step != serverDone {
		return ""
	}
	return s.username
}

func (s *Server) fail(err error) error {
	s.step = serverFailed
	return err
}

// fakeKey makes the made-up credentials of unknown users: the same salt
// for the same user name within a process, unrelated to any real one.
var fakeKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

// madeUp returns credentials for a user the lookup does not know: a salt
// that depends on the user name only (asking twice shows nothing new) and
// random keys that no proof matches.
func madeUp(username string) Credentials {
	h := hmac.New(sha256.New, fakeKey)
	h.Write([]byte(username))
	c := Credentials{Salt: h.Sum(nil)[:16], Iterations: DefaultIterations}
	_, _ = rand.Read(c.StoredKey[:])
	return c
}
