package packet

import "github.com/mqttcore/mqtt/topic"

// ValidTopicName reports whether s may be used as the Topic Name of a
// PUBLISH: at least one character, no wildcard (MQTT-4.7.3-1,
// MQTT-3.3.2-2), a valid UTF-8 Encoded String of at most 65,535 bytes.
func ValidTopicName(s string) error {
	if s == "" {
		return errTopicEmpty
	}
	if len(s) > 0xFFFF {
		return errStringTooLong
	}
	return validTopicText(aliasBytes(s))
}

// ValidTopicFilter reports whether s is a well-formed Topic Filter for
// version v: a valid UTF-8 Encoded String of at most 65,535 bytes, with the
// syntax package topic checks: at least one character (MQTT-4.7.3-1), '#'
// only as the whole last level (MQTT-4.7.1-1), '+' only as a whole level
// (MQTT-4.7.1-2). In v5 a filter beginning "$share/" must be a well-formed
// shared subscription, "$share/{ShareName}/{filter}" (MQTT-4.8.2-1,
// MQTT-4.8.2-2).
func ValidTopicFilter(s string, v Version) error {
	if s == "" {
		return errTopicEmpty
	}
	if err := checkString(s); err != nil {
		return err
	}
	if v == V5 && topic.IsShared(s) {
		_, filter, err := topic.SplitShared(s)
		if err != nil {
			return filterError(err)
		}
		s = filter
	}
	if err := topic.ValidFilter(s); err != nil {
		return filterError(err)
	}
	return nil
}

// IsShared reports whether filter is a v5 shared subscription filter.
func IsShared(filter string) bool { return topic.IsShared(filter) }

// filterError is the codec's error for an error of package topic: the
// same rule, with its reason code and the statements of both versions.
func filterError(err error) error {
	switch err {
	case topic.ErrEmpty:
		return errTopicEmpty
	case topic.ErrMultiLevel:
		return errFilterHash
	case topic.ErrSingleLevel:
		return errFilterPlus
	case topic.ErrShareName:
		return errShareName
	case topic.ErrShareSyntax:
		return errShareChars
	}
	return err
}
