package topic

import "strings"

// Match reports whether the topic name matches the topic filter: '+'
// stands for exactly one level, '#' for this level and every level below
// it, including none ("a/#" matches "a"), and every other level must be
// equal, byte for byte (MQTT-4.7.3-4). A filter beginning with a wildcard
// does not match a name beginning with '$' (MQTT-4.7.2-1). Empty levels
// count: "a//b" has three levels, and "+/x" matches "/x".
//
// The filter should be valid (ValidFilter); what a malformed filter
// matches is unspecified. Match allocates nothing.
func Match(filter, name string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false // MQTT-4.7.2-1
	}
	// One pass over both, byte by byte: matchLevels in the tests is the
	// same, level by level, and a test pins the two together.
	fi, ni := 0, 0
	for {
		// filter[fi:] and name[ni:] each begin with a level.
		if fi < len(filter) && (filter[fi] == '+' || filter[fi] == '#') && (fi+1 == len(filter) || filter[fi+1] == '/') {
			if filter[fi] == '#' {
				return true
			}
			fi++ // '+': skip the name's level
			if k := strings.IndexByte(name[ni:], '/'); k >= 0 {
				ni += k
			} else {
				ni = len(name)
			}
		} else {
			for fi < len(filter) && ni < len(name) && filter[fi] == name[ni] && filter[fi] != '/' {
				fi++
				ni++
			}
		}
		// Both levels must end here.
		fend, nend := fi == len(filter), ni == len(name)
		if !fend && filter[fi] != '/' || !nend && name[ni] != '/' {
			return false
		}
		switch {
		case fend:
			return nend
		case nend:
			return filter[fi+1:] == "#" // "a/#" matches "a"
		}
		fi++
		ni++
	}
}
