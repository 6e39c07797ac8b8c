package cluster

import (
	"errors"
	"fmt"
	"strings"
)

// The keys of the bucket of retained messages.
//
// A key of a NATS key-value bucket is a subject, but a narrower one: its
// bytes are only "-/_=.", ASCII letters and digits, and it neither begins
// nor ends with '.' nor holds "..". (nats.go refuses any other key;
// ADR-8.) A topic's key is its subject (TopicSubject) with every other
// byte, and '=' itself, written "=XX" (two upper-case hex digits): the
// '%' of the subject's escapes, and the bytes of a level that the subject
// keeps as they are (UTF-8 beyond ASCII, most punctuation). The tokens of
// a subject are never empty, so neither are a key's.

// keyEscape starts an escape in a key.
const keyEscape = '='

// MaxKeyLen bounds a key: like a subject (MaxSubjectLen), it has to fit
// NATS's control line with the bucket's prefix and a reply subject. The
// retained messages of a topic whose key would be longer stay on their
// node.
const MaxKeyLen = MaxSubjectLen

// ErrBadKey: not a key TopicKey could have made.
var ErrBadKey = errors.New("cluster: not a key of a retained message")

// keyKeeps reports whether byte c of a subject is written as it is in
// its key.
func keyKeeps(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '_' || c == '/' || c == '.'
}

// TopicKey maps an MQTT topic name to its key in the bucket of retained
// messages.
func TopicKey(name string) (string, error) {
	subj, err := TopicSubject(name)
	if err != nil {
		return "", err
	}
	dst := make([]byte, 0, len(subj)+16)
	for i := 0; i < len(subj); i++ {
		c := subj[i]
		if keyKeeps(c) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, keyEscape, hexDigits[c>>4], hexDigits[c&0xf])
	}
	if len(dst) > MaxKeyLen {
		return "", fmt.Errorf("%w: key of topic of %d bytes", ErrTooLong, len(name))
	}
	return string(dst), nil
}

// KeyTopic is the inverse of TopicKey: the topic name a key was made
// from. It refuses what TopicKey never makes (an escape of a byte kept
// as it is, lower-case hex), so that each topic has one key.
func KeyTopic(key string) (string, error) {
	subj := make([]byte, 0, len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c != keyEscape {
			if !keyKeeps(c) {
				return "", fmt.Errorf("%w: %q: byte %#x not escaped", ErrBadKey, key, c)
			}
			subj = append(subj, c)
			continue
		}
		if i+2 >= len(key) {
			return "", fmt.Errorf("%w: %q: short escape", ErrBadKey, key)
		}
		hi, lo := strings.IndexByte(hexDigits, key[i+1]), strings.IndexByte(hexDigits, key[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: %q: bad escape", ErrBadKey, key)
		}
		e := byte(hi<<4 | lo)
		if keyKeeps(e) {
			return "", fmt.Errorf("%w: %q: byte %#x escaped needlessly", ErrBadKey, key, e)
		}
		subj = append(subj, e)
		i += 2
	}
	name, err := SubjectTopic(string(subj))
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrBadKey, key, err)
	}
	return name, nil
}
