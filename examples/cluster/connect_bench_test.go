package cluster

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// BenchmarkConnect measures what a CONNECT costs in the cluster: one
// operation is a v5 client's connection (TCP, CONNECT, CONNACK),
// DISCONNECT and the broker's close, one client at a time with the same
// client identifier every time (in the cases ending "/x16", 16 clients
// at a time, each with an identifier of its own), the CONNACK's Session
// Present checked:
//
//   - resume: Clean Start 0, Session Expiry 300 s: the session, kept
//     offline between connections, is resumed (Session Present 1);
//   - fresh: Clean Start 1, Session Expiry 300 s: the session kept is
//     discarded and a new one kept;
//   - ephemeral: Clean Start 1, Session Expiry 0: the session ends with
//     its connection.
//
// on one broker without a cluster ("single"), on the same node of a
// cluster of three every time ("node": every CONNECT claims the client
// identifier in the bucket MQTT_SESSIONS, revision-checked, its CONNACK
// deferred), and alternately on nodes A and B ("handover": the node
// that held the session last hands it over, or an empty one for a clean
// start). conns/s is connections a second; allocs/op counts those of
// the whole process: client, brokers and the NATS servers embedded.
//
//	go test ./examples/cluster -run '^$' -bench Connect -benchtime 2000x -count 3
//
// MQTT_CLUSTER_NATS=1 runs the cluster on one NATS server (JetStream
// not replicated) instead of three.
func BenchmarkConnect(b *testing.B) {
	single := brokertest.Start(b, broker.Config{})
	servers := 3
	if os.Getenv("MQTT_CLUSTER_NATS") == "1" {
		servers = 1
	}
	tc := startClusterOn(b, servers, broker.Config{})
	kinds := []struct {
		name   string
		clean  bool
		expiry uint32
	}{{"resume", false, 300}, {"fresh", true, 300}, {"ephemeral", true, 0}}
	places := []struct {
		name  string
		addrs []string // the brokers connected to, in turn
	}{{"single", []string{single}}, {"node", tc.addrs[:1]}, {"handover", tc.addrs[:2]}}
	var ids atomic.Int64
	for _, k := range kinds {
		for _, p := range places {
			connect := func(id string) *packet.Connect {
				cn := &packet.Connect{ClientID: id, CleanStart: k.clean, Props: property.Properties{SessionExpiry: k.expiry}}
				if k.expiry == 0 {
					cn.Props.Zero = property.NewSet(property.SessionExpiryInterval)
				}
				return cn
			}
			b.Run(k.name+"/"+p.name, func(b *testing.B) {
				cn := connect(fmt.Sprintf("bench-%d", ids.Add(1)))
				// Once before: a session to resume, held by the last node.
				if err := connectOnce(p.addrs[len(p.addrs)-1], cn, false); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := connectOnce(p.addrs[i%len(p.addrs)], cn, !k.clean); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
			})
			// connectParallel clients at a time, each with a client
			// identifier of its own: its first connection makes the
			// session the others resume.
			b.Run(fmt.Sprintf("%s/%s/x%d", k.name, p.name, connectParallel), func(b *testing.B) {
				b.SetParallelism(max(1, connectParallel/runtime.GOMAXPROCS(0)))
				b.ReportAllocs()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					cn := connect(fmt.Sprintf("bench-%d", ids.Add(1)))
					for i := 0; pb.Next(); i++ {
						if err := connectOnce(p.addrs[i%len(p.addrs)], cn, !k.clean && i > 0); err != nil {
							b.Error(err) // not Fatal: not the benchmark's goroutine
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
			})
		}
	}
}

// connectParallel is how many clients connect at a time in the parallel
// cases of BenchmarkConnect (with GOMAXPROCS a divisor of it).
const connectParallel = 16

// connectOnce connects to addr with cn, checks the CONNACK's Session
// Present, sends DISCONNECT and waits for the broker to close the
// connection.
func connectOnce(addr string, cn *packet.Connect, present bool) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return err
	}
	out, err := cn.AppendTo(make([]byte, 0, 64), packet.V5)
	if err != nil {
		return err
	}
	if _, err := conn.Write(out); err != nil {
		return err
	}
	in := make([]byte, 0, 64)
	for {
		pk, n, err := packet.Decode[uint16](packet.V5, in, 0)
		if err != nil {
			return fmt.Errorf("CONNACK: %w", err)
		}
		if n > 0 {
			ack, ok := pk.(*packet.Connack)
			if !ok || ack.Reason != packet.Success || ack.SessionPresent != present {
				return fmt.Errorf("%s: %v, want a CONNACK 0 with Session Present %v", cn.ClientID, pk, present)
			}
			break
		}
		m, err := conn.Read(in[len(in):cap(in)])
		if err != nil {
			return fmt.Errorf("CONNACK: %w", err)
		}
		in = in[:len(in)+m]
	}
	if out, err = (&packet.Disconnect{}).AppendTo(out[:0], packet.V5); err != nil {
		return err
	}
	if _, err := conn.Write(out); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		return fmt.Errorf("after DISCONNECT: %w", err)
	}
	return nil
}
