package topicalias

import "strings"

// Sender maps the topics of outgoing PUBLISH packets to Topic Aliases, up
// to the Topic Alias Maximum the peer announced (never above it,
// MQTT-3.3.2-9, MQTT-3.3.2-11; none when it is 0, MQTT-3.1.2-30,
// MQTT-3.2.2-18). When every alias is taken, a new topic takes the alias
// used least recently. The zero Sender, and a nil *Sender, map nothing.
type Sender struct {
	max     uint16
	byTopic map[string]uint16
	topics  []string // topics[alias-1]; "" is free
	// A doubly linked list of the aliases in use, most recently used
	// first; prev and next are indexed by alias, 0 ends the list.
	prev, next []uint16
	head, tail uint16
	used       uint16
}

// NewSender returns a Sender for the Topic Alias Maximum max announced by
// the peer.
func NewSender(max uint16) *Sender { return &Sender{max: max} }

// Max returns the peer's Topic Alias Maximum.
func (s *Sender) Max() uint16 {
	if s == nil {
		return 0
	}
	return s.max
}

// Lookup returns the alias mapped to topic, and marks it recently used.
func (s *Sender) Lookup(topic string) (alias uint16, ok bool) {
	if s == nil {
		return 0, false
	}
	alias, ok = s.byTopic[topic]
	if ok {
		s.touch(alias)
	}
	return alias, ok
}

// Map returns the alias to send with topic. When the topic already has an
// alias, withTopic is false: the PUBLISH may carry the alias alone. Otherwise
// Map assigns one (evicting the least recently used mapping if all are
// taken) and withTopic is true: the PUBLISH must carry both, which defines
// the mapping at the peer. Map returns 0 when the peer allows no aliases.
// Map is Peek followed by Commit.
func (s *Sender) Map(topic string) (alias uint16, withTopic bool) {
	alias, withTopic = s.Peek(topic)
	s.Commit(alias, topic, withTopic)
	return alias, withTopic
}

// Peek returns what Map would return for topic, changing nothing. A
// sender that may yet fail to send the PUBLISH (too large for the peer,
// say) peeks, and commits once it went out: a PUBLISH never sent then
// neither defines, evicts nor refreshes a mapping, so the next PUBLISH
// gets the alias it would have had.
func (s *Sender) Peek(topic string) (alias uint16, withTopic bool) {
	if s == nil || s.max == 0 || topic == "" {
		return 0, true
	}
	if alias, ok := s.byTopic[topic]; ok {
		return alias, false
	}
	if s.used < s.max {
		return s.used + 1, true
	}
	return s.tail, true
}

// Commit records that a PUBLISH carrying alias went out as Peek(topic)
// said: with the topic (withTopic), the mapping of alias to topic is
// defined, in place of the one evicted; either way it becomes the most
// recently used. It does nothing for alias 0, nor for an alias alone
// (withTopic false) no longer mapped to topic.
func (s *Sender) Commit(alias uint16, topic string, withTopic bool) {
	switch {
	case s == nil || alias == 0 || alias > s.max:
	case !withTopic:
		if int(alias) <= len(s.topics) && s.topics[alias-1] == topic {
			s.touch(alias)
		}
	default:
		if alias == s.used+1 {
			s.used++
		}
		s.Set(alias, topic)
	}
}

// Set maps alias to topic, as a PUBLISH carrying both does, replacing what
// either was mapped to. It reports false, and changes nothing, for alias 0,
// an alias above the peer's maximum, or an empty topic.
func (s *Sender) Set(alias uint16, topic string) bool {
	if s == nil || alias == 0 || alias > s.max || topic == "" {
		return false
	}
	if s.topics == nil {
		s.topics = make([]string, s.max)
		s.prev = make([]uint16, s.max+1)
		s.next = make([]uint16, s.max+1)
		s.byTopic = make(map[string]uint16)
	}
	if old, ok := s.byTopic[topic]; ok && old != alias {
		s.unlink(old)
		s.topics[old-1] = ""
		delete(s.byTopic, topic)
	}
	if t := s.topics[alias-1]; t != "" {
		if t == topic {
			s.touch(alias)
			return true
		}
		delete(s.byTopic, t)
		s.unlink(alias)
	}
	topic = strings.Clone(topic)
	s.topics[alias-1] = topic
	s.byTopic[topic] = alias
	s.pushFront(alias)
	return true
}

// Topic returns the topic mapped to alias, or "" if none.
func (s *Sender) Topic(alias uint16) string {
	if s == nil || alias == 0 || int(alias) > len(s.topics) {
		return ""
	}
	return s.topics[alias-1]
}

// Reset forgets every mapping, for a new network connection.
func (s *Sender) Reset() {
	if s == nil {
		return
	}
	clear(s.topics)
	clear(s.byTopic)
	s.head, s.tail, s.used = 0, 0, 0
}

func (s *Sender) touch(alias uint16) {
	if s.head != alias {
		s.unlink(alias)
		s.pushFront(alias)
	}
}

func (s *Sender) pushFront(alias uint16) {
	s.prev[alias], s.next[alias] = 0, s.head
	if s.head != 0 {
		s.prev[s.head] = alias
	}
	s.head = alias
	if s.tail == 0 {
		s.tail = alias
	}
}

func (s *Sender) unlink(alias uint16) {
	p, n := s.prev[alias], s.next[alias]
	if p != 0 {
		s.next[p] = n
	} else {
		s.head = n
	}
	if n != 0 {
		s.prev[n] = p
	} else {
		s.tail = p
	}
	s.prev[alias], s.next[alias] = 0, 0
}

// Remove forgets the mapping of alias, for a PUBLISH that defined it but
// could not be sent.
func (s *Sender) Remove(alias uint16) {
	if s == nil || alias == 0 || int(alias) > len(s.topics) || s.topics[alias-1] == "" {
		return
	}
	delete(s.byTopic, s.topics[alias-1])
	s.topics[alias-1] = ""
	s.unlink(alias)
}
