package interop

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
	"github.com/mqttcore/mqtt/mqtttest"
	"github.com/mqttcore/mqtt/packet"
)

// failures is a testing.T for CheckBroker that records its failures
// instead of failing the test.
type failures struct {
	*testing.T
	mu  sync.Mutex
	got []string
}

func (f *failures) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, s)
}
func (f *failures) Errorf(format string, args ...any) { f.record(fmt.Sprintf(format, args...)) }
func (f *failures) Fatalf(format string, args ...any) { f.record(fmt.Sprintf(format, args...)) }
func (f *failures) Error(args ...any)                 { f.record(fmt.Sprint(args...)) }
func (f *failures) Fatal(args ...any)                 { f.record(fmt.Sprint(args...)) }
func (f *failures) Fail()                             { f.record("Fail") }
func (f *failures) FailNow()                          { f.record("FailNow") }
func (f *failures) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got) > 0
}

// duplicatingProxy serves on loopback and forwards to addr, writing every
// QoS 0 PUBLISH from the broker to the client twice: a broker that
// delivers QoS 0 messages more than once.
func duplicatingProxy(t *testing.T, addr string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(b, c); b.Close() }()
			go func() {
				defer c.Close()
				var buf []byte
				chunk := make([]byte, 32<<10)
				for {
					n, err := b.Read(chunk)
					buf = append(buf, chunk[:n]...)
					for {
						h, need, ferr := packet.Frame(buf, 0)
						if ferr != nil || need != 0 {
							break
						}
						p := buf[:h.Size()]
						c.Write(p)
						if h.Type == packet.TypePublish && p[0]>>1&3 == 0 {
							c.Write(p)
						}
						buf = buf[h.Size():]
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// CheckBroker can fail: in front of the example broker, a proxy that
// delivers every QoS 0 message twice breaks at most once (MQTT-4.3.1-1),
// and the check says so.
func TestCheckBrokerFindsDuplicates(t *testing.T) {
	addr := duplicatingProxy(t, brokertest.Start(t, broker.Config{}))
	f := &failures{T: t}
	t.Cleanup(func() { // rapid's fail file, and the folders it made
		os.RemoveAll(filepath.Join("testdata", "rapid", t.Name()))
		os.Remove(filepath.Join("testdata", "rapid"))
		os.Remove("testdata")
	})
	mqtttest.CheckBroker(f, addr, mqtttest.BrokerOptions{Checks: 50, Timeout: 2 * time.Second})
	all := strings.Join(f.got, "\n")
	if !strings.Contains(all, "MQTT-4.3.1-1") {
		t.Fatalf("CheckBroker against a broker that sends QoS 0 messages twice: want MQTT-4.3.1-1 named, got %q", all)
	}
}
