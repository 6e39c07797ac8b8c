package topicalias

import (
	"errors"
	"strings"
)

// Errors for aliases the peer may not use. The specification's answer is a
// DISCONNECT (section 4.13) with 0x94 Topic Alias invalid for the first and
// 0x82 Protocol Error for the second (section 3.3.4); a Connection of the
// root package sends it and reports its own error with that code.
var (
	ErrAliasOutOfRange = errors.New("topicalias: topic alias 0 or above the Topic Alias Maximum")
	ErrAliasUnknown    = errors.New("topicalias: topic alias not mapped on this connection, and no topic name")
)

// Receiver resolves the Topic Aliases of incoming PUBLISH packets. It
// accepts every alias from 1 to the Topic Alias Maximum it announced
// (MQTT-3.3.2-10, MQTT-3.3.2-12). The zero Receiver accepts no alias.
type Receiver struct {
	max uint16
	// topics[alias-1], "" when unmapped; made on the first alias (behind
	// a pointer: a Receiver that is never used stays 16 bytes).
	topics *[]string
}

// NewReceiver returns a Receiver for the Topic Alias Maximum max that this
// side announced (in CONNECT for a client, CONNACK for a server).
func NewReceiver(max uint16) *Receiver { return &Receiver{max: max} }

// Max returns the Topic Alias Maximum the Receiver accepts.
func (r *Receiver) Max() uint16 { return r.max }

// Resolve returns the topic of an incoming PUBLISH with the given Topic
// Name and Topic Alias (0 for none). A PUBLISH with both sets the mapping;
// one with an alias and an empty topic uses it. The Receiver keeps its own
// copy of mapped topics, so topic may alias a read buffer.
func (r *Receiver) Resolve(topic string, alias uint16) (string, error) {
	if alias == 0 {
		return topic, nil
	}
	if alias > r.max {
		return "", ErrAliasOutOfRange
	}
	if r.topics == nil {
		topics := make([]string, r.max)
		r.topics = &topics
	}
	slot := &(*r.topics)[alias-1]
	if topic == "" {
		if *slot == "" {
			return "", ErrAliasUnknown
		}
		return *slot, nil
	}
	if *slot != topic {
		*slot = strings.Clone(topic)
	}
	return *slot, nil
}

// Reset forgets every mapping, for a new network connection.
func (r *Receiver) Reset() {
	if r.topics != nil {
		clear(*r.topics)
	}
}
