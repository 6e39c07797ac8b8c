package cluster

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// Slow consumer errors are logged at most once a second, with their
// count; other errors each time.
func TestNATSErrorLog(t *testing.T) {
	var buf bytes.Buffer
	n := &Node{log: slog.New(slog.NewTextHandler(&buf, nil))}
	for range 5 {
		n.natsError(nil, nil, nats.ErrSlowConsumer)
	}
	n.natsError(nil, nil, errors.New("other"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "times=1") || !strings.Contains(lines[1], "other") {
		t.Fatalf("log:\n%s\nwant one slow consumer record and the other error", buf.String())
	}
	if n.slow != 4 {
		t.Errorf("%d slow consumer errors counted since the record, want 4", n.slow)
	}
}
