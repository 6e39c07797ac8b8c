package fuzz

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/trace"
)

// FuzzTrace parses any bytes as a trace (package trace) and replays what
// parses.
//
// Invariants: no panic; an error matches trace.ErrFormat or
// trace.ErrTruncated; a trace that parses whole encodes to the very bytes
// it was parsed from (each trace has one encoding); and its replay never
// makes the Connection panic, whatever the calls, packets, timers, clock
// readings and identifiers it holds (but a nil packet passed to Send, a
// caller's fault the Connection does not guard against).
//
// The seeds are traces of a client and a server of both versions and
// both identifier widths that connect, subscribe, publish at QoS 0 to 2
// and disconnect, and a few cut or damaged ones.
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzTrace$' -fuzztime 2m
func FuzzTrace(f *testing.F) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, s := range append(traceSeeds[uint16](f, v), traceSeeds[uint32](f, v)...) {
			f.Add(s)
			f.Add(s[:len(s)*2/3])
		}
	}
	f.Add([]byte("MQTR\x01"))
	f.Add([]byte("MQTR\x02\x01\x01"))
	f.Add([]byte("MQTR\x01\x0e\x01\x02\x02\x05\x01\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := trace.Parse(data)
		if err != nil && !errors.Is(err, trace.ErrFormat) && !errors.Is(err, trace.ErrTruncated) {
			t.Fatalf("error %v matches neither ErrFormat nor ErrTruncated", err)
		}
		if tr == nil {
			return
		}
		if err == nil {
			if enc := tr.Encode(); !bytes.Equal(enc, data) {
				t.Fatalf("parsed and encoded again: %x, not %x", enc, data)
			}
		}
		for _, r := range tr.Records {
			if r.Kind == trace.KindSend && (r.Packet[0] == 0 || r.Packet[0]&0xF0 == 0x40) {
				return // nil: the caller's fault
			}
		}
		_, err = trace.Replay(tr)
		var pe *trace.PanicError
		if errors.As(err, &pe) {
			t.Fatal(pe)
		}
	})
}

// traceSeeds returns the traces of a client and a server of version v
// joined by their handlers: CONNECT, SUBSCRIBE, PUBLISH at QoS 0, 1 and 2
// both ways, a ping, DISCONNECT.
func traceSeeds[ID packetid.ID](tb testing.TB, v packet.Version) [][]byte {
	var cb, sb bytes.Buffer
	var client, server *mqtt.Connection[ID]
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	client = mqtt.NewClient(mqtt.Config{Version: v, Clock: clock, Trace: trace.NewRecorder(&cb)}, func(e mqtt.Event[ID]) {
		if e.Kind == mqtt.EventSend {
			server.Recv(e.Bytes)
		}
	})
	server = mqtt.NewServer(mqtt.Config{Trace: trace.NewRecorder(&sb)}, func(e mqtt.Event[ID]) {
		switch {
		case e.Kind == mqtt.EventSend:
			client.Recv(e.Bytes)
		case e.Kind != mqtt.EventPacket:
		case e.Packet.Type() == packet.TypeConnect:
			_ = server.Send(&packet.Connack{})
		case e.Packet.Type() == packet.TypeSubscribe:
			sub := e.Packet.(*packet.SubscribeOf[ID])
			_ = server.Send(&packet.SubackOf[ID]{PacketID: sub.PacketID, Reasons: []packet.ReasonCode{2}})
		}
	})
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(client.Send(&packet.Connect{ClientID: "", CleanStart: true, KeepAlive: 30}))
	must(client.Send(&packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 2}}}))
	for qos := range packet.QoS(3) {
		now = now.Add(time.Second)
		must(client.Send(&packet.PublishOf[ID]{Topic: "a/b", QoS: qos, Payload: []byte("x")}))
		must(server.Send(&packet.PublishOf[ID]{Topic: "a/c", QoS: qos, Payload: []byte("y")}))
	}
	client.TimerFired(mqtt.TimerPing)
	must(client.Send(&packet.Disconnect{}))
	client.Closed()
	server.Closed()
	return [][]byte{cb.Bytes(), sb.Bytes()}
}

// traced gives cfg a Recorder whose trace is written to a file, and its
// path logged, if the test fails: the failing input, to replay in a
// debugger with trace.Replay, call by call.
func traced(t *testing.T, cfg mqtt.Config) mqtt.Config {
	var b bytes.Buffer
	cfg.Trace = trace.NewRecorder(&b)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		f, err := os.CreateTemp("", "mqtt-fuzz-*.trace")
		if err == nil {
			_, err = f.Write(b.Bytes())
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			t.Logf("the Connection's trace was not saved: %v", err)
			return
		}
		t.Logf("the Connection's trace: %s", f.Name())
	})
	return cfg
}
