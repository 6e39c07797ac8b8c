package packet

import (
	"errors"
	"testing"

	"github.com/mqttcore/mqtt/topic"
)

// Each syntax error of package topic becomes the codec's error for the
// same rule: reason code 0x81 and the statement of each version.
func TestFilterErrors(t *testing.T) {
	cases := []struct {
		err    error
		id     string // the 5.0 statement; in311 has the 3.1.1 one
		filter string
	}{
		{topic.ErrEmpty, "MQTT-4.7.3-1", ""},
		{topic.ErrMultiLevel, "MQTT-4.7.1-1", "a/#/b"},
		{topic.ErrSingleLevel, "MQTT-4.7.1-2", "a/b+"},
		{topic.ErrShareName, "MQTT-4.8.2-1", "$share//a"},
		{topic.ErrShareSyntax, "MQTT-4.8.2-2", "$share/g"},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			var pe *Error
			if !errors.As(filterError(tc.err), &pe) || pe.Code != MalformedPacket ||
				pe.Statement != tc.id || pe.Statement311 != in311[tc.id] {
				t.Errorf("filterError(%v) = %v, want 0x81 with %s and %q", tc.err, pe, tc.id, in311[tc.id])
			}
			if err := ValidTopicFilter(tc.filter, V5); err != filterError(tc.err) {
				t.Errorf("ValidTopicFilter(%q) = %v, want %v", tc.filter, err, filterError(tc.err))
			}
		})
	}
	// In 3.1.1 "$share" is an ordinary level.
	if err := ValidTopicFilter("$share/g", V311); err != nil {
		t.Errorf("ValidTopicFilter($share/g, 3.1.1) = %v", err)
	}
}
