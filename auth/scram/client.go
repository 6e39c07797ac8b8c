package scram

import (
	"bytes"
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"
)

// Client is the client side of SCRAM-SHA-256: a client.Authenticator
// (package github.com/mqttcore/mqtt/client) that runs a fresh exchange on
// each connection (Start, Answer, Finish), and on each re-authentication.
// One exchange at a time; the calls are safe from any goroutine.
//
// It keeps the salted password of the last salt and iteration count the
// server sent, so reconnecting to the same server costs no second PBKDF2.
type Client struct {
	username, password string
	newNonce           func() (string, error) // tests pin it

	mu              sync.Mutex
	step            clientStep
	nonce           string // the client nonce
	clientFirstBare string
	serverSignature []byte

	cacheSalt  []byte // the salted password's salt and iteration count
	cacheIter  int
	cacheKeys  keys
	cacheValid bool
}

type clientStep uint8

const (
	clientIdle     clientStep = iota // Start next
	clientStarted                    // Answer next
	clientAnswered                   // Finish next
	clientFailed                     // Start again
)

// NewClient returns the client side for a user name and password, both
// printable ASCII (ErrNotPrintable otherwise; see the package
// documentation).
func NewClient(username, password string) (*Client, error) {
	if err := checkPrintable(username, "user name"); err != nil {
		return nil, err
	}
	if err := checkPrintable(password, "password"); err != nil {
		return nil, err
	}
	return &Client{username: username, password: password, newNonce: newNonce}, nil
}

// Method returns "SCRAM-SHA-256".
func (c *Client) Method() string { return Method }

// Start begins an exchange, forgetting any earlier one, and returns the
// client-first-message: "n,,n=<user>,r=<nonce>".
func (c *Client) Start() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = clientFailed
	if c.newNonce == nil {
		return nil, fmt.Errorf("%w: a Client made without NewClient", ErrState)
	}
	nonce, err := c.newNonce()
	if err != nil {
		return nil, err
	}
	c.nonce = nonce
	c.clientFirstBare = "n=" + encodeName(c.username) + ",r=" + nonce
	c.step = clientStarted
	return []byte(gs2Header + c.clientFirstBare), nil
}

// gs2Header is the client's GS2 header: no channel binding, no
// authorization identity.
const gs2Header = "n,,"

// Answer takes the server-first-message ("r=<nonce>,s=<salt>,i=<count>")
// and returns the client-final-message with the client's proof. It
// refuses a nonce that does not extend the client's (ErrNonce) and an
// iteration count out of bounds (ErrIterations) before any work.
func (c *Client) Answer(serverFirst []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.step != clientStarted {
		return nil, c.fail(fmt.Errorf("%w: Answer without Start", ErrState))
	}
	msg := string(serverFirst)
	if len(msg) > maxMessage {
		return nil, c.fail(fmt.Errorf("%w: server-first-message too long", ErrMalformed))
	}
	nonce, rest, err := want(msg, 'r')
	if err != nil {
		return nil, c.fail(err)
	}
	salt64, rest, err := want(rest, 's')
	if err != nil {
		return nil, c.fail(err)
	}
	count, rest, err := want(rest, 'i')
	if err != nil {
		return nil, c.fail(err)
	}
	if err := checkExtensions(rest); err != nil {
		return nil, c.fail(err)
	}
	if !validNonce(nonce) {
		return nil, c.fail(fmt.Errorf("%w: server nonce", ErrMalformed))
	}
	if !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce) {
		return nil, c.fail(fmt.Errorf("%w: the server's nonce does not extend the client's", ErrNonce))
	}
	salt, err := b64.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return nil, c.fail(fmt.Errorf("%w: salt", ErrMalformed))
	}
	iterations, err := parseCount(count)
	if err != nil {
		return nil, c.fail(err)
	}
	k, err := c.keys(salt, iterations)
	if err != nil {
		return nil, c.fail(err)
	}
	withoutProof := "c=" + b64.EncodeToString([]byte(gs2Header)) + ",r=" + nonce
	authMessage := c.clientFirstBare + "," + msg + "," + withoutProof
	proof := mac(k.stored[:], authMessage)
	subtle.XORBytes(proof, proof, k.client[:])
	c.serverSignature = mac(k.server[:], authMessage)
	c.step = clientAnswered
	return []byte(withoutProof + ",p=" + b64.EncodeToString(proof)), nil
}

// keys derives the keys of the password for salt and iterations, or
// reuses the last ones.
func (c *Client) keys(salt []byte, iterations int) (keys, error) {
	if c.cacheValid && c.cacheIter == iterations && bytes.Equal(c.cacheSalt, salt) {
		return c.cacheKeys, nil
	}
	k, err := deriveKeys(c.password, salt, iterations)
	if err != nil {
		return keys{}, err
	}
	c.cacheSalt, c.cacheIter, c.cacheKeys, c.cacheValid = salt, iterations, k, true
	return k, nil
}

// Finish takes the server-final-message ("v=<signature>") and returns nil
// if the server proved it knows the user's credentials: ErrServerSignature
// if not, ErrServerRefused for a server error ("e=..."), ErrState if the
// server ended the exchange before it began (a CONNACK without a
// challenge: a server that proves nothing).
func (c *Client) Finish(serverFinal []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.step != clientAnswered {
		return c.fail(fmt.Errorf("%w: the server ended the exchange before the client's proof", ErrState))
	}
	c.step = clientFailed
	msg := string(serverFinal)
	if len(msg) > maxMessage {
		return fmt.Errorf("%w: server-final-message too long", ErrMalformed)
	}
	if e, ok := strings.CutPrefix(msg, "e="); ok {
		e, _, _ = strings.Cut(e, ",")
		return fmt.Errorf("%w: %.100q", ErrServerRefused, e)
	}
	sig64, rest, err := want(msg, 'v')
	if err != nil {
		return err
	}
	if err := checkExtensions(rest); err != nil {
		return err
	}
	sig, err := b64.DecodeString(sig64)
	if err != nil {
		return fmt.Errorf("%w: server signature", ErrMalformed)
	}
	if !hmac.Equal(sig, c.serverSignature) {
		return ErrServerSignature
	}
	c.step = clientIdle
	return nil
}

// fail ends the exchange with err.
func (c *Client) fail(err error) error {
	c.step = clientFailed
	return err
}
