package cluster

import (
	"errors"
	"fmt"
	"strings"
)

// The mapping between MQTT topics and NATS subjects.
//
// An MQTT topic name is a list of levels separated by '/'; a level may be
// empty and may hold any character but U+0000. A NATS subject is a list
// of tokens separated by '.'; a token may not be empty and may not hold
// '.' or white space, and the tokens "*" (one token) and ">" (one or more
// tokens, at the end) are wildcards. Subjects beginning with '$' are NATS's
// own ($JS, $KV, $SYS).
//
// Each level becomes one token, escaped so that every byte NATS reserves
// or gives a meaning to — '.', '*', '>', white space and the other control
// bytes, DEL, '$', and the escape byte '%' itself — is written "%XX" (two
// upper-case hex digits), and an empty level is the token "%" alone, which
// no escaped level can be (every '%' an escaped level holds is followed by
// two hex digits). The tokens are then prefixed by a namespace token, "m"
// for ordinary topics and "d" for topics beginning with '$': a filter
// beginning with a wildcard maps into "m" only and so never matches a
// '$' topic (MQTT-4.7.2-1), as in MQTT.
//
// In a filter, "+" becomes "*" and "#" becomes ">"; since MQTT's "a/#"
// matches "a" too and NATS's "a.>" needs at least one more token, a filter
// ending in "/#" maps to two subjects, its parent's and the wildcard one.

// escapeByte starts an escape; emptyLevel is the token of an empty level.
const (
	escapeByte = '%'
	emptyLevel = "%"
)

// Namespace tokens: the first token of every mapped subject.
const (
	nsPlain  = "m" // topics that do not begin with '$'
	nsDollar = "d" // topics that begin with '$'
)

// MaxSubjectLen bounds a mapped subject, well inside NATS's default
// control line limit (4 KiB), which holds the subject with the rest of the
// MSG line.
const MaxSubjectLen = 3072

// Errors of the mapping, matchable with errors.Is.
var (
	// ErrTooLong: the mapped subject would exceed MaxSubjectLen.
	ErrTooLong = errors.New("cluster: mapped subject too long")
	// ErrBadTopic: not a topic name (empty, or with a wildcard).
	ErrBadTopic = errors.New("cluster: not a topic name")
	// ErrBadFilter: not a topic filter ('+' or '#' inside a level, '#'
	// not last).
	ErrBadFilter = errors.New("cluster: not a topic filter")
	// ErrBadSubject: not a subject TopicSubject could have made.
	ErrBadSubject = errors.New("cluster: not a mapped subject")
)

// mustEscape reports whether byte c of a level is written "%XX".
func mustEscape(c byte) bool {
	switch c {
	case '.', '*', '>', '$', escapeByte:
		return true
	}
	return c <= ' ' || c == 0x7f
}

const hexDigits = "0123456789ABCDEF"

// appendLevel appends the token of one topic level.
func appendLevel(dst []byte, level string) []byte {
	if level == "" {
		return append(dst, emptyLevel...)
	}
	for i := 0; i < len(level); i++ {
		c := level[i]
		if mustEscape(c) {
			dst = append(dst, escapeByte, hexDigits[c>>4], hexDigits[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// namespace returns the namespace token of a topic or filter.
func namespace(s string) string {
	if s != "" && s[0] == '$' {
		return nsDollar
	}
	return nsPlain
}

// TopicSubject maps an MQTT topic name to its NATS subject (without the
// cluster's prefix).
func TopicSubject(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "+#") {
		return "", fmt.Errorf("%w: %q", ErrBadTopic, name)
	}
	dst := make([]byte, 0, len(name)+8)
	dst = append(dst, namespace(name)...)
	for level := range strings.SplitSeq(name, "/") {
		dst = append(dst, '.')
		dst = appendLevel(dst, level)
	}
	if len(dst) > MaxSubjectLen {
		return "", fmt.Errorf("%w: topic of %d bytes", ErrTooLong, len(name))
	}
	return string(dst), nil
}

// FilterSubjects maps an MQTT topic filter (not shared: without
// "$share/{ShareName}/") to the NATS subjects that together match what it
// matches: one, or two for a filter ending in "#" below the first level
// ("a/#": "m.a" and "m.a.>").
func FilterSubjects(filter string) ([]string, error) {
	if filter == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadFilter)
	}
	ns := namespace(filter)
	if filter[0] == '+' || filter[0] == '#' {
		ns = nsPlain // MQTT-4.7.2-1: never a '$' topic
	}
	dst := make([]byte, 0, len(filter)+8)
	dst = append(dst, ns...)
	parent := -1 // the length of dst before a trailing ".>"
	levels := strings.Split(filter, "/")
	for i, level := range levels {
		dst = append(dst, '.')
		switch {
		case level == "+":
			dst = append(dst, '*')
		case level == "#":
			if i != len(levels)-1 {
				return nil, fmt.Errorf("%w: %q: '#' not last", ErrBadFilter, filter)
			}
			if i > 0 {
				parent = len(dst) - 1
			}
			dst = append(dst, '>')
		case strings.ContainsAny(level, "+#"):
			return nil, fmt.Errorf("%w: %q: wildcard inside a level", ErrBadFilter, filter)
		default:
			dst = appendLevel(dst, level)
		}
	}
	if len(dst) > MaxSubjectLen {
		return nil, fmt.Errorf("%w: filter of %d bytes", ErrTooLong, len(filter))
	}
	if parent < 0 {
		return []string{string(dst)}, nil
	}
	return []string{string(dst[:parent]), string(dst)}, nil
}

// SubjectTopic is the inverse of TopicSubject: the topic name a subject
// (without the cluster's prefix) was mapped from.
func SubjectTopic(subject string) (string, error) {
	ns, rest, ok := strings.Cut(subject, ".")
	if !ok || ns != nsPlain && ns != nsDollar {
		return "", fmt.Errorf("%w: %q", ErrBadSubject, subject)
	}
	dst := make([]byte, 0, len(rest))
	for i, tok := range strings.Split(rest, ".") {
		if i > 0 {
			dst = append(dst, '/')
		}
		var err error
		if dst, err = appendUnescaped(dst, tok); err != nil {
			return "", fmt.Errorf("%w: %q: %v", ErrBadSubject, subject, err)
		}
	}
	if len(dst) == 0 {
		return "", fmt.Errorf("%w: %q: an empty topic", ErrBadSubject, subject)
	}
	if (dst[0] == '$') != (ns == nsDollar) {
		return "", fmt.Errorf("%w: %q: namespace %q does not fit the topic", ErrBadSubject, subject, ns)
	}
	return string(dst), nil
}

// appendUnescaped appends the level a token was made from. It refuses
// what appendLevel never makes, so that each topic has one subject.
func appendUnescaped(dst []byte, tok string) ([]byte, error) {
	if tok == emptyLevel {
		return dst, nil
	}
	if tok == "" {
		return nil, errors.New("empty token")
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != escapeByte {
			if mustEscape(c) || c == '+' || c == '#' || c == '/' {
				return nil, fmt.Errorf("byte %#x not escaped", c)
			}
			dst = append(dst, c)
			continue
		}
		if i+2 >= len(tok) {
			return nil, errors.New("short escape")
		}
		hi, lo := strings.IndexByte(hexDigits, tok[i+1]), strings.IndexByte(hexDigits, tok[i+2])
		if hi < 0 || lo < 0 {
			return nil, errors.New("bad escape")
		}
		e := byte(hi<<4 | lo)
		if !mustEscape(e) {
			return nil, fmt.Errorf("byte %#x escaped needlessly", e)
		}
		dst = append(dst, e)
		i += 2
	}
	return dst, nil
}
