package topic

import (
	"strings"
	"testing"
)

// ValidFilter checks where the wildcards stand and that a filter is not
// empty.
func TestValidFilter(t *testing.T) {
	cases := []struct {
		name, filter string
		want         error
	}{
		{"plain", "a/b/c", nil},
		{"one level", "a", nil},
		{"empty levels", "/a//b/", nil},
		{"one empty-level separator", "/", nil},
		{"dollar", "$SYS/#", nil},
		{"share prefix as a filter", "$share/g/a", nil},
		{"MQTT-4.7.3-1 empty", "", ErrEmpty},
		{"MQTT-4.7.1-1 hash alone", "#", nil},
		{"MQTT-4.7.1-1 hash last", "a/b/#", nil},
		{"MQTT-4.7.1-1 hash after an empty level", "a//#", nil},
		{"MQTT-4.7.1-1 hash after a separator first", "/#", nil},
		{"MQTT-4.7.1-1 hash not last", "a/#/b", ErrMultiLevel},
		{"MQTT-4.7.1-1 hash first level not last", "#/a", ErrMultiLevel},
		{"MQTT-4.7.1-1 hash in a level", "a/b#", ErrMultiLevel},
		{"MQTT-4.7.1-1 hash starts a level", "a/#b", ErrMultiLevel},
		{"MQTT-4.7.1-1 hash twice", "##", ErrMultiLevel},
		{"MQTT-4.7.1-1 hash trailing separator", "a/#/", ErrMultiLevel},
		{"MQTT-4.7.1-2 plus alone", "+", nil},
		{"MQTT-4.7.1-2 plus levels", "+/a/+/+", nil},
		{"MQTT-4.7.1-2 plus then hash", "+/#", nil},
		{"MQTT-4.7.1-2 plus empty neighbours", "/+/", nil},
		{"MQTT-4.7.1-2 plus ends a level", "a+/b", ErrSingleLevel},
		{"MQTT-4.7.1-2 plus starts a level", "a/+b", ErrSingleLevel},
		{"MQTT-4.7.1-2 plus twice", "++", ErrSingleLevel},
		{"MQTT-4.7.1-2 plus hash in a level", "+#", ErrSingleLevel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidFilter(tc.filter); err != tc.want {
				t.Errorf("ValidFilter(%q) = %v, want %v", tc.filter, err, tc.want)
			}
		})
	}
}

// SplitShared takes the ShareName and filter of a shared subscription
// apart, refusing a ShareName that is empty, has wildcards or no filter
// after it.
func TestSplitShared(t *testing.T) {
	cases := []struct {
		name, in      string
		share, filter string
		err           error
	}{
		{"MQTT-4.8.2-1 shared", "$share/g/a/b", "g", "a/b", nil},
		{"MQTT-4.8.2-1 shared wildcard filter", "$share/consumers/sensors/#", "consumers", "sensors/#", nil},
		{"MQTT-4.8.2-1 shared filter with empty levels", "$share/g//", "g", "/", nil},
		{"MQTT-4.8.2-1 shared filter $share", "$share/g/$share/x", "g", "$share/x", nil},
		{"not shared", "a/b", "", "a/b", nil},
		{"not shared: $share alone", "$share", "", "$share", nil},
		{"not shared: other case", "$SHARE/g/a", "", "$SHARE/g/a", nil},
		{"not shared: $shared", "$shared/g/a", "", "$shared/g/a", nil},
		{"MQTT-4.8.2-1 no share name", "$share/", "", "", ErrShareName},
		{"MQTT-4.8.2-1 empty share name", "$share//a", "", "", ErrShareName},
		{"MQTT-4.8.2-2 no slash after the name", "$share/g", "", "", ErrShareSyntax},
		{"MQTT-4.8.2-2 no filter after the slash", "$share/g/", "", "", ErrShareSyntax},
		{"MQTT-4.8.2-2 plus in the name", "$share/g+/a", "", "", ErrShareSyntax},
		{"MQTT-4.8.2-2 hash in the name", "$share/#/a", "", "", ErrShareSyntax},
		{"MQTT-4.8.2-2 name of a plus", "$share/+/a", "", "", ErrShareSyntax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			share, filter, err := SplitShared(tc.in)
			if share != tc.share || filter != tc.filter || err != tc.err {
				t.Errorf("SplitShared(%q) = %q, %q, %v, want %q, %q, %v",
					tc.in, share, filter, err, tc.share, tc.filter, tc.err)
			}
			if shared := IsShared(tc.in); shared != strings.HasPrefix(tc.in, "$share/") {
				t.Errorf("IsShared(%q) = %v", tc.in, shared)
			}
		})
	}
}
