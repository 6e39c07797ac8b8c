package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, &out)
	}
	got := out.String()
	for _, want := range []string{
		"received sensors/room1/temperature qos=0: 21.5\n",
		"received sensors/room2/temperature qos=1: 19.0\n",
		"received sensors/kitchen/temperature qos=2: 23.4\n",
		"3 messages published",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count("\n"+got, "\nreceived "); n != 3 {
		t.Errorf("%d messages received, want 3:\n%s", n, got)
	}
}
