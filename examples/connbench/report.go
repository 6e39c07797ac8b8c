//go:build linux

package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// printHeader prints the header of the table of runs.
func printHeader(w io.Writer) {
	fmt.Fprintf(w, "%-17s %7s %10s %11s %11s %9s %9s %9s %10s\n", "broker", "N", "conn/s", "RSS before", "RSS after", "RSS/conn", "CPU/conn", "clients'", "overflows")
}

// printRow prints one run.
func printRow(w io.Writer, r result) {
	fmt.Fprintf(w, "%-17s %7d %10.0f %8.1f MiB %8.1f MiB %7.0f B %6.1f µs %6.1f µs %10d\n",
		r.broker, r.n, r.rate(), mib(r.rssBefore), mib(r.rssAfter), r.perConn(), us(r.cpuPerConn()), us(r.clientCPUPerConn()), r.overflows)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// printSummary prints each broker's medians and ranges over its runs.
func printSummary(w io.Writer, brokers []string, results []result) {
	fmt.Fprintf(w, "medians (ranges) of %d runs:\n", len(results)/len(brokers))
	fmt.Fprintf(w, "%-17s %7s %22s %22s %22s %22s\n", "broker", "N", "conn/s", "RSS after (MiB)", "RSS/conn (B)", "CPU/conn (µs)")
	for _, name := range brokers {
		var rates, after, per, cpu []float64
		var n int
		for _, r := range results {
			if r.broker == name {
				rates = append(rates, r.rate())
				after = append(after, mib(r.rssAfter))
				per = append(per, r.perConn())
				cpu = append(cpu, us(r.cpuPerConn()))
				n = r.n
			}
		}
		fmt.Fprintf(w, "%-17s %7d %22s %22s %22s %22s\n", name, n,
			spread(rates, "%.0f"), spread(after, "%.1f"), spread(per, "%.0f"), spread(cpu, "%.1f"))
	}
}

// spread formats the median of xs and their range: "M (LO–HI)".
func spread(xs []float64, format string) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	f := func(x float64) string { return fmt.Sprintf(format, x) }
	return strings.Join([]string{f(med), " (", f(s[0]), "–", f(s[len(s)-1]), ")"}, "")
}
