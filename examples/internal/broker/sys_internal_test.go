package broker

import (
	"math"
	"testing"
	"time"
)

// The load averages are per minute, moving towards the rate of each
// interval as mosquitto's $SYS/broker/load topics do: 1 - e^(-t/period)
// of the way.
func TestLoadAverages(t *testing.T) {
	var l loads
	t0 := time.Unix(1000, 0)
	l.update(&Stats{Received: 100}, t0)
	if vs := sysValues(&Stats{}, &l, "v"); len(vs) != 14 {
		t.Fatalf("%d values before a second sample, want the 14 without loads", len(vs))
	}
	// 30 messages in 10 s: 180 a minute.
	l.update(&Stats{Received: 130, Connections: 1}, t0.Add(10*time.Second))
	for j, p := range loadPeriods {
		want := 180 * (1 - math.Exp(-10/p.d.Seconds()))
		if got := l.avg[0][j]; math.Abs(got-want) > 1e-9 {
			t.Errorf("publish/received/%s = %v, want %v", p.name, got, want)
		}
		if got, want := l.avg[4][j], 6*(1-math.Exp(-10/p.d.Seconds())); math.Abs(got-want) > 1e-9 {
			t.Errorf("connections/%s = %v, want %v", p.name, got, want)
		}
	}
	vs := sysValues(&Stats{}, &l, "v")
	if len(vs) != 14+15 {
		t.Fatalf("%d values, want 29", len(vs))
	}
	if got := vs[14]; got != [2]string{"$SYS/broker/load/publish/received/1min", "27.63"} {
		t.Errorf("first load value %v", got)
	}
}

func TestIsSys(t *testing.T) {
	for topic, want := range map[string]bool{"$SYS": true, "$SYS/broker/uptime": true, "$SYSTEM/x": false,
		"SYS/x": false, "$share/g/$SYS": false, "a/$SYS/b": false} {
		if got := isSys(topic); got != want {
			t.Errorf("isSys(%q) = %v, want %v", topic, got, want)
		}
	}
}
