package packet

import "strings"

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
// version v: at least one character (MQTT-4.7.3-1), '#' only as the whole
// last level (MQTT-4.7.1-1), '+' only as a whole level (MQTT-4.7.1-2). In v5
// a filter beginning "$share/" must be a well-formed shared subscription,
// "$share/{ShareName}/{filter}" (MQTT-4.8.2-1, MQTT-4.8.2-2).
func ValidTopicFilter(s string, v Version) error {
	if s == "" {
		return errTopicEmpty
	}
	if err := checkString(s); err != nil {
		return err
	}
	if v == V5 {
		if rest, ok := strings.CutPrefix(s, sharePrefix); ok {
			name, filter, found := strings.Cut(rest, "/")
			if name == "" {
				return errShareName
			}
			if !found || filter == "" || strings.ContainsAny(name, "+#") {
				return errShareChars
			}
			s = filter
		}
	}
	return checkFilterLevels(s)
}

const sharePrefix = "$share/"

// IsShared reports whether filter is a v5 shared subscription filter.
func IsShared(filter string) bool { return strings.HasPrefix(filter, sharePrefix) }

// checkFilterLevels checks the wildcard placement of a filter in one pass.
func checkFilterLevels(s string) error {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '#':
			if i > 0 && s[i-1] != '/' || i != len(s)-1 {
				return errFilterHash
			}
		case '+':
			if i > 0 && s[i-1] != '/' || i+1 < len(s) && s[i+1] != '/' {
				return errFilterPlus
			}
		}
	}
	return nil
}
