//go:build linux

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain makes the test binary a client process when connbench starts
// it as one.
func TestMain(m *testing.M) {
	if os.Getenv(clientEnv) != "" {
		if err := runClient(os.Args[1:], os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString("connbench client: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A small measurement of the brokers: every connection accepted and still
// open after the settle time, the memory read, a row printed. (The
// brokers run at once: the figures are not the point. mochi and
// server-goroutines take the same paths in connbench as the others, and
// building mochi takes longest: left out.)
func TestMeasure(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build the brokers")
	}
	for _, name := range []string{"example", "server", "mosquitto", "bare"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // mostly linking the brokers
			args := []string{"-broker", name, "-n", "500", "-per-client", "200", "-settle", "200ms", "-timeout", "10s"}
			if name == "mosquitto" {
				path, err := mosquittoPath()
				if err != nil {
					t.Skip("mosquitto is not installed (apt-get install mosquitto)")
				}
				args = append(args, "-mosquitto", path)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out, errs strings.Builder
			results, err := run(ctx, args, &out, &errs)
			if err != nil {
				t.Fatalf("%v\n%s%s", err, out.String(), errs.String())
			}
			t.Logf("\n%s", out.String())
			if len(results) != 1 {
				t.Fatalf("%d results", len(results))
			}
			r := results[0]
			if r.broker != name || r.n != 500 || r.accepted != 500 || r.alive != 500 {
				t.Errorf("%+v: want 500 connections accepted and alive", r)
			}
			if r.rssBefore <= 0 || r.rssAfter < r.rssBefore || r.rssAfter > 1<<30 {
				t.Errorf("RSS %d before, %d after", r.rssBefore, r.rssAfter)
			}
			if r.ramp <= 0 || r.rate() <= 0 {
				t.Errorf("ramp %v", r.ramp)
			}
			if !strings.Contains(out.String(), "\n"+name+" ") || !strings.Contains(out.String(), "3 client processes") {
				t.Errorf("output:\n%s", out.String())
			}
		})
	}
}

// mosquittoPath finds the mosquitto program.
func mosquittoPath() (string, error) {
	if path, err := exec.LookPath("mosquitto"); err == nil {
		return path, nil
	}
	return exec.LookPath("/usr/sbin/mosquitto")
}

// More connections than a process may open are refused before anything
// starts, naming the limit.
func TestDescriptorLimit(t *testing.T) {
	_, err := run(context.Background(), []string{"-n", "100000000"}, new(strings.Builder), new(strings.Builder))
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Fatalf("run: %v, want a usage error naming RLIMIT_NOFILE", err)
	}
	t.Log(err)
}

// Medians and ranges of the summary.
func TestSpread(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want string
	}{
		{[]float64{3}, "3 (3–3)"},
		{[]float64{5, 1, 3}, "3 (1–5)"},
		{[]float64{4, 1, 2, 9}, "3 (1–9)"},
	} {
		if got := spread(c.xs, "%.0f"); got != c.want {
			t.Errorf("spread(%v) = %q, want %q", c.xs, got, c.want)
		}
	}
}
