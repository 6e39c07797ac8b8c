package trace

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/mqtttest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// TestRandomSessions records 1,000 random sessions and replays each: a
// client and a server Connection of a random version, identifier width
// and Config, joined by a pipe that delivers random chunks, with random
// packets sent from both sides (from outside the Handler and from within
// it), random timer firings, clock steps, garbage, reconnections and
// restarts (ExportSession and ImportSession, or the journal replayed).
// Every Connection's trace must parse and replay to the very events and
// returns it recorded. MQTT_TRACE_SESSIONS sets the number of sessions.
func TestRandomSessions(t *testing.T) {
	n := 1000
	if s := os.Getenv("MQTT_TRACE_SESSIONS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	var traces, records, events, size int
	for seed := range n {
		got, panicked := runSession(uint64(seed))
		if panicked != nil {
			// The traces end at the call that panicked: its replay panics
			// the same way.
			for _, r := range got {
				path := saveTrace(t, fmt.Sprintf("session-%d-%s", seed, r.name), r.data)
				tr, err := Parse(r.data)
				if err == nil {
					_, err = Replay(tr)
				}
				var pe *PanicError
				t.Logf("%s: replay: panic reproduced %v (trace in %s)", r.name, errors.As(err, &pe), path)
			}
			t.Fatalf("seed %d: a Connection panicked: %v", seed, panicked)
		}
		for _, r := range got {
			tr, err := Parse(r.data)
			if err == nil {
				err = Check(tr)
			}
			if err != nil {
				path := saveTrace(t, fmt.Sprintf("session-%d-%s", seed, r.name), r.data)
				t.Fatalf("seed %d, %s: %v (trace in %s)", seed, r.name, err, path)
			}
			traces, size = traces+1, size+len(r.data)
			for _, rec := range tr.Records {
				records++
				if rec.Kind == KindEvent {
					events++
				}
			}
		}
	}
	t.Logf("%d sessions, %d Connections, %d records (%d events), %d bytes of traces: every replay identical",
		n, traces, records, events, size)
	if events < n*10 {
		t.Fatalf("only %d events in %d sessions: the sessions do too little", events, n)
	}
}

// saveTrace writes a failing run's trace where it outlives the test, and
// returns its path.
func saveTrace(t *testing.T, name string, data []byte) string {
	dir := filepath.Join(os.TempDir(), "mqtt-traces")
	path := filepath.Join(dir, name+".trace")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Log(err)
	} else if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Log(err)
	}
	return path
}

// recorded is the trace of one Connection of a session.
type recorded struct {
	name string
	data []byte
}

// session is a client and a server joined by a pipe.
type session[ID packetid.ID] struct {
	rnd            *rand.Rand
	v              packet.Version
	opts           mqtttest.Options
	now            time.Time
	client, server *mqtt.Connection[ID]
	toServer       []byte
	toClient       []byte
	owed           []packet.Packet // acknowledgements and answers the server sends later
	clientOwed     []packet.Packet
	journal        [][]byte // the client's EventJournal batches
	traces         []*bytes.Buffer
	names          []string
	clientCfg      mqtt.Config
}

// runSession runs the session of seed, of identifier width uint16 for an
// even seed and uint32 for an odd one, and returns its traces, and what a
// Connection panicked with if one did.
func runSession(seed uint64) (out []recorded, panicked any) {
	if seed%2 == 0 {
		return runSessionOf[uint16](seed)
	}
	return runSessionOf[uint32](seed)
}

func runSessionOf[ID packetid.ID](seed uint64) (out []recorded, panicked any) {
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	s := &session[ID]{rnd: rnd, now: time.Unix(1_700_000_000, 0)}
	s.v = []packet.Version{packet.V311, packet.V5, packet.V5}[rnd.IntN(3)]
	s.opts = mqtttest.Options{Version: s.v, MaxTopicLen: 12, MaxStringLen: 8, MaxPayload: 32,
		MaxProperties: rnd.IntN(3) - 1, MaxSubscriptions: 3}
	s.clientCfg = s.config()
	s.clientCfg.Version = s.v
	s.clientCfg.OfflineQueue = rnd.IntN(4) == 0
	s.clientCfg.Journal = rnd.IntN(3) == 0
	s.clientCfg.PingInterval = time.Duration(rnd.IntN(3)) * time.Second
	s.client = mqtt.NewClient(s.traced(s.clientCfg, "client"), s.clientHandler())
	scfg := s.config()
	if rnd.IntN(2) == 0 {
		scfg.Version = s.v
	}
	s.server = mqtt.NewServer(s.traced(scfg, "server"), s.serverHandler())
	defer func() {
		panicked = recover()
		for i, b := range s.traces {
			out = append(out, recorded{s.names[i], b.Bytes()})
		}
	}()
	s.server.Opened()
	s.connect()
	for range 20 + rnd.IntN(40) {
		s.step()
	}
	s.client.Closed()
	s.server.Closed()
	return nil, nil
}

// config draws what the two sides may have in common.
func (s *session[ID]) config() mqtt.Config {
	r := s.rnd
	cfg := mqtt.Config{ManualPuback: r.IntN(3) == 0, ManualPubrec: r.IntN(3) == 0,
		ManualPubrel: r.IntN(3) == 0, ManualPubcomp: r.IntN(3) == 0, ManualPingresp: r.IntN(4) == 0,
		QueueWhenQuotaExhausted: r.IntN(2) == 0, MaxQueued: r.IntN(4),
		TopicAliases: mqtt.AliasMode(r.IntN(3)), ConnectTimeout: time.Duration(r.IntN(2)) * time.Second}
	if r.IntN(3) != 0 {
		cfg.Clock = func() time.Time { return s.now }
	}
	if r.IntN(4) == 0 {
		cfg.MaxPacketSize = 20 + r.IntN(100)
	}
	return cfg
}

// traced gives cfg a Recorder of its own.
func (s *session[ID]) traced(cfg mqtt.Config, name string) mqtt.Config {
	b := new(bytes.Buffer)
	s.traces, s.names = append(s.traces, b), append(s.names, fmt.Sprintf("%s-%d", name, len(s.traces)))
	cfg.Trace = NewRecorder(b)
	return cfg
}

func (s *session[ID]) connect() {
	c := &packet.Connect{ClientID: []string{"", "c1"}[s.rnd.IntN(2)], CleanStart: s.rnd.IntN(3) != 0,
		KeepAlive: uint16(s.rnd.IntN(3))}
	if s.v == packet.V5 {
		c.Props.SessionExpiry = uint32(s.rnd.IntN(2)) * 60
		c.Props.ReceiveMaximum = uint16(s.rnd.IntN(4))
		c.Props.TopicAliasMaximum = uint16(s.rnd.IntN(3))
	}
	if c.ClientID == "" && s.v != packet.V5 {
		c.CleanStart = true
	}
	_ = s.client.Send(c)
}

func (s *session[ID]) clientHandler() mqtt.Handler[ID] {
	return func(e mqtt.Event[ID]) {
		switch e.Kind {
		case mqtt.EventSend:
			s.toServer = append(s.toServer, e.Bytes...)
		case mqtt.EventJournal:
			s.journal = append(s.journal, bytes.Clone(e.Bytes))
		case mqtt.EventPacket:
			switch p := e.Packet.(type) {
			case *packet.Connack:
				if s.rnd.IntN(2) == 0 { // a call from within the handler
					_ = s.client.Send(&packet.SubscribeOf[ID]{Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 2}}})
				}
			case *packet.PublishOf[ID]:
				s.clientOwed = append(s.clientOwed, ackFor(p)...)
			case *packet.PubrecOf[ID]:
				s.clientOwed = append(s.clientOwed, &packet.PubrelOf[ID]{PacketID: p.PacketID})
			case *packet.PubrelOf[ID]:
				s.clientOwed = append(s.clientOwed, &packet.PubcompOf[ID]{PacketID: p.PacketID})
			}
		}
	}
}

// ackFor returns the acknowledgement a manual receiver owes p.
func ackFor[ID packetid.ID](p *packet.PublishOf[ID]) []packet.Packet {
	switch p.QoS {
	case packet.QoS1:
		return []packet.Packet{&packet.PubackOf[ID]{PacketID: p.PacketID}}
	case packet.QoS2:
		return []packet.Packet{&packet.PubrecOf[ID]{PacketID: p.PacketID}}
	}
	return nil
}

func (s *session[ID]) serverHandler() mqtt.Handler[ID] {
	return func(e mqtt.Event[ID]) {
		if e.Kind == mqtt.EventSend {
			s.toClient = append(s.toClient, e.Bytes...)
			return
		}
		if e.Kind != mqtt.EventPacket {
			return
		}
		var answer []packet.Packet
		switch p := e.Packet.(type) {
		case *packet.Connect:
			answer = []packet.Packet{&packet.Connack{SessionPresent: !p.CleanStart && s.rnd.IntN(2) == 0}}
		case *packet.SubscribeOf[ID]:
			reasons := make([]packet.ReasonCode, len(p.Subscriptions))
			answer = []packet.Packet{&packet.SubackOf[ID]{PacketID: p.PacketID, Reasons: reasons}}
		case *packet.UnsubscribeOf[ID]:
			sa := &packet.UnsubackOf[ID]{PacketID: p.PacketID}
			if s.v == packet.V5 {
				sa.Reasons = make([]packet.ReasonCode, len(p.Filters))
			}
			answer = []packet.Packet{sa}
		case *packet.PublishOf[ID]:
			answer = ackFor(p)
		case *packet.PubrecOf[ID]:
			answer = []packet.Packet{&packet.PubrelOf[ID]{PacketID: p.PacketID}}
		case *packet.PubrelOf[ID]:
			answer = []packet.Packet{&packet.PubcompOf[ID]{PacketID: p.PacketID}}
		case *packet.Pingreq:
			answer = []packet.Packet{&packet.Pingresp{}}
		}
		for _, a := range answer {
			if s.rnd.IntN(2) == 0 {
				_ = s.server.Send(a) // from within the handler
			} else {
				s.owed = append(s.owed, a)
			}
		}
	}
}

// step does one random thing.
func (s *session[ID]) step() {
	r := s.rnd
	seed := int(r.Uint32())
	switch n := r.IntN(20); {
	case n < 6: // the pipe delivers a random part of what waits, either way
		if r.IntN(2) == 0 {
			k := r.IntN(len(s.toServer) + 1)
			chunk := s.toServer[:k]
			s.toServer = s.toServer[k:]
			s.server.Recv(chunk)
		} else {
			k := r.IntN(len(s.toClient) + 1)
			chunk := s.toClient[:k]
			s.toClient = s.toClient[k:]
			s.client.Recv(chunk)
		}
	case n < 9:
		p := mqtttest.Publish[ID](s.opts).Example(seed)
		if r.IntN(2) == 0 {
			p.PacketID = 0
		}
		p.Dup = r.IntN(4) == 0
		if r.IntN(2) == 0 {
			_ = s.client.Send(p)
		} else {
			_ = s.server.Send(p)
		}
	case n < 10:
		_ = s.client.Send(mqtttest.Subscribe[ID](s.opts).Example(seed))
	case n < 11: // answers owed, sent from outside the handler, or any packet at all
		if len(s.owed) > 0 {
			_ = s.server.Send(s.owed[0])
			s.owed = s.owed[1:]
		} else if len(s.clientOwed) > 0 {
			_ = s.client.Send(s.clientOwed[0])
			s.clientOwed = s.clientOwed[1:]
		} else {
			_ = s.client.Send(mqtttest.Packet[ID](s.opts).Example(seed))
		}
	case n < 13:
		k := mqtt.TimerKind(1 + r.IntN(4))
		if r.IntN(2) == 0 {
			s.client.TimerFired(k)
		} else {
			s.server.TimerFired(k)
		}
	case n < 15:
		s.now = s.now.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
	case n < 16: // garbage, or a rule broken
		if r.IntN(2) == 0 {
			junk := make([]byte, r.IntN(8))
			for i := range junk {
				junk[i] = byte(r.Uint32())
			}
			s.server.Recv(junk)
		} else {
			x := mqtttest.Invalid[ID](s.opts).Example(seed)
			if x.To == mqtttest.ToServer {
				s.server.Recv(x.Wire)
			} else {
				s.client.Recv(x.Wire)
			}
		}
	case n < 17:
		s.client.Recv(nil)
		s.server.Recv(nil)
	case n < 19: // the transport goes away; the client connects again
		s.reconnect()
	default:
		s.restart()
	}
}

func (s *session[ID]) reconnect() {
	s.client.Closed()
	s.server.Closed()
	s.toServer, s.toClient, s.owed, s.clientOwed = nil, nil, nil, nil
	s.server.Opened()
	s.connect()
}

// restart ends the client's process: a new client Connection carries on
// from its exported session, or from its journal.
func (s *session[ID]) restart() {
	s.client.Closed()
	s.server.Closed()
	data := s.client.ExportSession()
	s.client = mqtt.NewClient(s.traced(s.clientCfg, "client"), s.clientHandler())
	if s.clientCfg.Journal && s.rnd.IntN(2) == 0 {
		for _, b := range s.journal {
			_ = s.client.Replay(b)
		}
	} else if err := s.client.ImportSession(data); err != nil && !errors.Is(err, mqtt.ErrState) {
		panic(err)
	}
	s.toServer, s.toClient, s.owed, s.clientOwed = nil, nil, nil, nil
	s.server.Opened()
	s.connect()
}
