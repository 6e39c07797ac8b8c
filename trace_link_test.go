package mqtt_test

import (
	"io"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/trace"
)

// The model tests (package mqtt) record their Connections with package
// trace, which they cannot import: it imports package mqtt.
func init() {
	mqtt.TraceRecorder = func(w io.Writer) mqtt.Tracer { return trace.NewRecorder(w) }
}
