package topic

import (
	"errors"
	"strings"
)

// Errors of ValidFilter and SplitShared, one per rule of the syntax. The
// codec (package packet) maps them to its errors, which carry the reason
// code and the statements of both versions.
var (
	// ErrEmpty is a topic filter of no characters (MQTT-4.7.3-1).
	ErrEmpty = errors.New("topic: empty topic filter")
	// ErrMultiLevel is a '#' that is not the whole last level of a filter
	// (MQTT-4.7.1-1).
	ErrMultiLevel = errors.New("topic: multi-level wildcard not alone in the last level of a topic filter")
	// ErrSingleLevel is a '+' that is not a whole level of a filter
	// (MQTT-4.7.1-2).
	ErrSingleLevel = errors.New("topic: single-level wildcard not alone in its level of a topic filter")
	// ErrShareName is a shared subscription without a ShareName
	// (MQTT-4.8.2-1).
	ErrShareName = errors.New("topic: shared subscription without a share name")
	// ErrShareSyntax is a ShareName with '+' or '#', or one not followed by
	// '/' and a topic filter (MQTT-4.8.2-2).
	ErrShareSyntax = errors.New("topic: share name contains '+', '#' or lacks the '/' and topic filter after it")
)

// SharePrefix begins the topic filter of an MQTT 5.0 shared subscription,
// "$share/{ShareName}/{filter}". In MQTT 3.1.1 it is an ordinary level.
const SharePrefix = "$share/"

// IsShared reports whether filter begins with SharePrefix: in MQTT 5.0, a
// shared subscription.
func IsShared(filter string) bool { return strings.HasPrefix(filter, SharePrefix) }

// SplitShared splits the topic filter of a shared subscription,
// "$share/{ShareName}/{filter}", into its ShareName and filter. A filter
// that does not begin with SharePrefix is returned whole, with share "".
// It checks the ShareName: at least one character (MQTT-4.8.2-1), no '+'
// or '#', followed by '/' and a filter of at least one character
// (MQTT-4.8.2-2); ValidFilter checks the filter.
func SplitShared(s string) (share, filter string, err error) {
	rest, ok := strings.CutPrefix(s, SharePrefix)
	if !ok {
		return "", s, nil
	}
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '/':
			switch {
			case i == 0:
				return "", "", ErrShareName
			case i == len(rest)-1:
				return "", "", ErrShareSyntax
			}
			return rest[:i], rest[i+1:], nil
		case '+', '#':
			return "", "", ErrShareSyntax
		}
	}
	if rest == "" {
		return "", "", ErrShareName
	}
	return "", "", ErrShareSyntax
}

// ValidFilter checks the syntax of a topic filter, or of the filter of a
// shared subscription after SplitShared: at least one character
// (MQTT-4.7.3-1), '#' only as the whole last level (MQTT-4.7.1-1), '+'
// only as a whole level (MQTT-4.7.1-2). It does not check the encoding
// (well-formed UTF-8 without U+0000, at most 65,535 bytes): the codec does.
func ValidFilter(filter string) error {
	if filter == "" {
		return ErrEmpty
	}
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '#':
			if i > 0 && filter[i-1] != '/' || i != len(filter)-1 {
				return ErrMultiLevel
			}
		case '+':
			if i > 0 && filter[i-1] != '/' || i+1 < len(filter) && filter[i+1] != '/' {
				return ErrSingleLevel
			}
		}
	}
	return nil
}
