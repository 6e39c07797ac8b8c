package broker

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mqttcore/mqtt/packet"
)

// The $SYS topics, as mosquitto names them (its man page, "Broker
// status"). Every one is published retained, at QoS 0, when its value
// changes, every Config.SysInterval; the version once.
const (
	sysPrefix = "$SYS/"

	sysVersion          = "$SYS/broker/version"
	sysUptime           = "$SYS/broker/uptime"
	sysConnected        = "$SYS/broker/clients/connected"
	sysDisconnected     = "$SYS/broker/clients/disconnected"
	sysMaximum          = "$SYS/broker/clients/maximum"
	sysTotal            = "$SYS/broker/clients/total"
	sysExpired          = "$SYS/broker/clients/expired"
	sysReceived         = "$SYS/broker/publish/messages/received"
	sysSent             = "$SYS/broker/publish/messages/sent"
	sysDropped          = "$SYS/broker/publish/messages/dropped"
	sysBytesReceived    = "$SYS/broker/bytes/received"
	sysBytesSent        = "$SYS/broker/bytes/sent"
	sysSubscriptions    = "$SYS/broker/subscriptions/count"
	sysRetained         = "$SYS/broker/retained messages/count"
	sysLoadPrefix       = "$SYS/broker/load/" // + publish/received/1min, ...
	defaultBrokerString = "mqttcore example broker"
)

// isSys reports whether topic is in the $SYS tree, which only the broker
// publishes to.
func isSys(topic string) bool {
	return strings.HasPrefix(topic, sysPrefix) || topic == "$SYS"
}

// loads are the moving averages of $SYS/broker/load/...: per minute, over
// 1, 5 and 15 minutes, as mosquitto's.
type loads struct {
	ready bool // there are averages: update has had two samples
	last  time.Time
	prev  [len(loadNames)]uint64     // the counts at last
	avg   [len(loadNames)][3]float64 // by count, then period
}

// loadNames are the counts averaged, in the order of loadCounts.
var loadNames = [...]string{"publish/received", "publish/sent", "bytes/received", "bytes/sent", "connections"}

var loadPeriods = [3]struct {
	name string
	d    time.Duration
}{{"1min", time.Minute}, {"5min", 5 * time.Minute}, {"15min", 15 * time.Minute}}

func loadCounts(st *Stats) [len(loadNames)]uint64 {
	return [...]uint64{st.Received, st.Sent, st.BytesIn, st.BytesOut, st.Connections}
}

// update moves the averages to now, given the counts of st.
func (l *loads) update(st *Stats, now time.Time) {
	counts := loadCounts(st)
	if l.last.IsZero() {
		l.last, l.prev = now, counts
		return
	}
	dt := now.Sub(l.last)
	if dt <= 0 {
		return
	}
	for i, c := range counts {
		perMinute := float64(c-l.prev[i]) * float64(time.Minute) / float64(dt)
		for j, p := range loadPeriods {
			decay := math.Exp(-float64(dt) / float64(p.d))
			l.avg[i][j] = l.avg[i][j]*decay + perMinute*(1-decay)
		}
	}
	l.last, l.prev, l.ready = now, counts, true
}

// sysValues returns the $SYS topics and their values for st.
func sysValues(st *Stats, l *loads, version string) [][2]string {
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	i := func(n int) string { return strconv.Itoa(n) }
	vs := [][2]string{
		{sysVersion, version},
		{sysUptime, i(int(st.Uptime/time.Second)) + " seconds"},
		{sysConnected, i(st.Connected)},
		{sysDisconnected, i(max(st.Sessions-st.Connected, 0))},
		{sysMaximum, i(st.MaxConnected)},
		{sysTotal, i(st.Sessions)},
		{sysExpired, u(st.Expired)},
		{sysReceived, u(st.Received)},
		{sysSent, u(st.Sent)},
		{sysDropped, u(st.DroppedQoS0)},
		{sysBytesReceived, u(st.BytesIn)},
		{sysBytesSent, u(st.BytesOut)},
		{sysSubscriptions, i(st.Subscriptions)},
		{sysRetained, i(st.Retained)},
	}
	if l.ready {
		for k, name := range loadNames {
			for j, p := range loadPeriods {
				vs = append(vs, [2]string{sysLoadPrefix + name + "/" + p.name, strconv.FormatFloat(l.avg[k][j], 'f', 2, 64)})
			}
		}
	}
	return vs
}

// runSys publishes the $SYS topics every interval until stop is closed:
// each retained, and only when its value changed since it was last
// published.
func (b *Broker) runSys(interval time.Duration, stop <-chan struct{}) {
	var (
		l    loads
		r    router
		last = map[string]string{}
	)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		st := b.Stats()
		l.update(&st, time.Now())
		for _, kv := range sysValues(&st, &l, b.cfg.Version) {
			if last[kv[0]] == kv[1] {
				continue
			}
			last[kv[0]] = kv[1]
			b.route(newMessage(kv[0], []byte(kv[1]), packet.QoS0, true, &noProperties, nil), &r, nil)
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
