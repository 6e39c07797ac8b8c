package mqtttest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/mqttcore/mqtt"
	"github.com/mqttcore/mqtt/packet"
)

// checkConn is one client of a CheckBroker scenario: a core client
// Connection over a network connection, the goroutine that reads it, and
// what arrived. The Connection acknowledges what arrives, resolves Topic
// Aliases, enforces the Receive Maximum it announced and refuses whatever
// breaks the protocol; the check reads the results under mu.
type checkConn struct {
	name string
	wake chan struct{} // shared by the scenario's clients: something arrived

	mu       sync.Mutex
	c        *mqtt.Connection[uint16]
	nc       net.Conn
	epoch    int             // network connections made so far
	connack  *packet.Connack // of the current network connection
	open     bool            // the current network connection is up
	got      []delivery
	acks     map[uint16]packet.Packet // SUBACK and UNSUBACK by packet identifier
	released map[uint16]bool          // packet identifiers whose exchange ended
	errs     []error                  // what the broker did wrong, as the Connection found it
	byServer *packet.Disconnect       // a DISCONNECT the broker sent
	timers   map[mqtt.TimerKind]*time.Timer
}

// delivery is a PUBLISH as the client received it.
type delivery struct {
	topic   string
	payload string
	qos     packet.QoS
	retain  bool
	dup     bool
	epoch   int // the network connection it came on
}

func newCheckConn(name string, cfg mqtt.Config, wake chan struct{}) *checkConn {
	k := &checkConn{name: name, wake: wake, acks: map[uint16]packet.Packet{},
		released: map[uint16]bool{}, timers: map[mqtt.TimerKind]*time.Timer{}}
	cfg.Clock = time.Now
	cfg.QueueWhenQuotaExhausted = true // the broker's Receive Maximum paces the publisher
	k.c = mqtt.NewClient(cfg, k.handle)
	return k
}

func (k *checkConn) signal() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// handle carries out the Connection's events; it runs under mu.
func (k *checkConn) handle(e mqtt.Event[uint16]) {
	switch e.Kind {
	case mqtt.EventSend:
		if k.nc != nil {
			k.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := k.nc.Write(e.Bytes); err != nil {
				k.nc.Close()
			}
		}
	case mqtt.EventTimerReset:
		kind := e.Timer
		if t, ok := k.timers[kind]; ok {
			t.Reset(e.Duration)
		} else {
			k.timers[kind] = time.AfterFunc(e.Duration, func() {
				k.mu.Lock()
				defer k.mu.Unlock()
				k.c.TimerFired(kind)
			})
		}
	case mqtt.EventTimerCancel:
		if t, ok := k.timers[e.Timer]; ok {
			t.Stop()
		}
	case mqtt.EventPacket:
		switch p := e.Packet.(type) {
		case *packet.Connack:
			c := *p
			k.connack = &c
		case *packet.Publish:
			k.got = append(k.got, delivery{topic: strings.Clone(p.Topic), payload: string(p.Payload),
				qos: p.QoS, retain: p.Retain, dup: p.Dup, epoch: k.epoch})
		case *packet.Suback:
			k.acks[p.PacketID] = p.Clone()
		case *packet.Unsuback:
			k.acks[p.PacketID] = p.Clone()
		case *packet.Disconnect:
			d := *p
			k.byServer = &d
		}
	case mqtt.EventIDReleased:
		k.released[e.PacketID] = true
	case mqtt.EventError:
		k.errs = append(k.errs, e.Err)
	case mqtt.EventClose:
		if k.nc != nil {
			k.nc.Close()
		}
	}
	k.signal()
}

// connect opens a network connection to addr and sends p on it; the
// CONNACK arrives later (see connected).
func (k *checkConn) connect(dial func(ctx context.Context, addr string) (net.Conn, error), addr string, p *packet.Connect) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.nc, k.connack, k.open, k.byServer = nc, nil, true, nil
	k.epoch++
	err = k.c.Send(p)
	k.mu.Unlock()
	if err != nil {
		nc.Close()
		return err
	}
	go k.read(nc)
	return nil
}

// read feeds what arrives on nc to the Connection until nc ends.
func (k *checkConn) read(nc net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := nc.Read(buf)
		k.mu.Lock()
		if k.nc != nc { // dropped and replaced: not ours any more
			k.mu.Unlock()
			return
		}
		if n > 0 {
			k.c.Recv(buf[:n])
		}
		if err != nil {
			k.c.Closed()
			k.open = false
			k.nc = nil
			nc.Close()
			k.mu.Unlock()
			k.signal()
			return
		}
		k.mu.Unlock()
	}
}

// send hands p to the Connection.
func (k *checkConn) send(p packet.Packet) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c.Send(p)
}

// drop ends the network connection without DISCONNECT, as a crash would.
func (k *checkConn) drop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.nc != nil {
		k.nc.Close()
		k.nc = nil
	}
	if k.open {
		k.c.Closed()
		k.open = false
	}
}

// disconnect sends DISCONNECT (reason 0: the will is discarded) and
// closes the network connection.
func (k *checkConn) disconnect() {
	k.mu.Lock()
	if k.open {
		_ = k.c.Send(&packet.Disconnect{})
	}
	k.mu.Unlock()
	k.drop()
}

// stopTimers stops the Connection's timers for good.
func (k *checkConn) stopTimers() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, t := range k.timers {
		t.Stop()
	}
}

// brokerFault describes what the broker did wrong on this client's
// connections, or returns "".
func (k *checkConn) brokerFault() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.errs) == 0 {
		return ""
	}
	var b bytes.Buffer
	for _, err := range k.errs {
		fmt.Fprintf(&b, "%s: %v\n", k.name, err)
	}
	return b.String()
}
