package interop

import (
	"fmt"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// pahoClient connects an eclipse/paho.golang (MQTT v5) client to addr; its
// messages arrive on the returned channel.
func pahoClient(t *testing.T, addr string, cp *paho.Connect) (*paho.Client, *paho.Connack, <-chan msg) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan msg, 100)
	c := paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(r paho.PublishReceived) (bool, error) {
				p := r.Packet
				ch <- msg{p.Topic, string(p.Payload), p.QoS, p.Retain}
				return true, nil
			},
		},
	})
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	ack, err := c.Connect(testContext(t), cp)
	if err != nil {
		nc.Close()
		t.Fatalf("paho connect %q: %v", cp.ClientID, err)
	}
	t.Cleanup(func() { nc.Close() })
	return c, ack, ch
}

func pahoSubscribe(t *testing.T, c *paho.Client, filter string, qos byte) {
	t.Helper()
	ack, err := c.Subscribe(testContext(t), &paho.Subscribe{
		Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		t.Fatalf("subscribe %q: %v", filter, err)
	}
	if len(ack.Reasons) != 1 || ack.Reasons[0] != qos {
		t.Fatalf("SUBACK for %q: %v, want %d", filter, ack.Reasons, qos)
	}
}

func pahoPublish(t *testing.T, c *paho.Client, p *paho.Publish) {
	t.Helper()
	if _, err := c.Publish(testContext(t), p); err != nil {
		t.Fatalf("publish %q: %v", p.Topic, err)
	}
}

func TestPahoV5(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	sub, _, in := pahoClient(t, addr, &paho.Connect{ClientID: "paho-sub", CleanStart: true})
	pub, ack, _ := pahoClient(t, addr, &paho.Connect{ClientID: "paho-pub", CleanStart: true})
	if ack.Properties == nil || ack.Properties.TopicAliasMaximum == nil || *ack.Properties.TopicAliasMaximum == 0 {
		t.Fatalf("CONNACK without a Topic Alias Maximum: %+v", ack.Properties)
	}

	t.Run("wildcards and QoS 0, 1, 2", func(t *testing.T) {
		pahoSubscribe(t, sub, "v5/+/q/#", 2)
		for qos := range byte(3) {
			topic := fmt.Sprintf("v5/%d/q/x/y", qos)
			pahoPublish(t, pub, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte("hello")})
			expect(t, in, msg{topic, "hello", qos, false})
		}
		pahoPublish(t, pub, &paho.Publish{Topic: "v5/other", QoS: 1, Payload: []byte("no")})
		quiet(t, in)
	})

	t.Run("retained", func(t *testing.T) {
		pahoPublish(t, pub, &paho.Publish{Topic: "v5r/a", QoS: 1, Retain: true, Payload: []byte("kept")})
		pahoSubscribe(t, sub, "v5r/#", 1)
		expect(t, in, msg{"v5r/a", "kept", 1, true})
	})

	t.Run("topic aliases", func(t *testing.T) {
		pahoSubscribe(t, sub, "alias/t", 1)
		one := uint16(1)
		pahoPublish(t, pub, &paho.Publish{Topic: "alias/t", QoS: 1, Payload: []byte("1"),
			Properties: &paho.PublishProperties{TopicAlias: &one}})
		pahoPublish(t, pub, &paho.Publish{QoS: 1, Payload: []byte("2"),
			Properties: &paho.PublishProperties{TopicAlias: &one}})
		expect(t, in, msg{"alias/t", "1", 1, false})
		expect(t, in, msg{"alias/t", "2", 1, false})
	})

	t.Run("will", func(t *testing.T) {
		pahoSubscribe(t, sub, "v5will/#", 1)
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := paho.NewClient(paho.ClientConfig{Conn: nc})
		_, err = c.Connect(testContext(t), &paho.Connect{ClientID: "paho-will", CleanStart: true, KeepAlive: 30,
			WillMessage: &paho.WillMessage{Topic: "v5will/x", QoS: 1, Payload: []byte("gone")}})
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
		expect(t, in, msg{"v5will/x", "gone", 1, false})
	})

	t.Run("shared subscription", func(t *testing.T) {
		a, _, inA := pahoClient(t, addr, &paho.Connect{ClientID: "paho-share-a", CleanStart: true})
		b, _, inB := pahoClient(t, addr, &paho.Connect{ClientID: "paho-share-b", CleanStart: true})
		pahoSubscribe(t, a, "$share/workers/jobs", 1)
		pahoSubscribe(t, b, "$share/workers/jobs", 1)
		for i := range 4 {
			pahoPublish(t, pub, &paho.Publish{Topic: "jobs", QoS: 1, Payload: []byte(fmt.Sprint(i))})
		}
		for i := range 4 {
			ch := inA
			if i%2 == 1 {
				ch = inB
			}
			expect(t, ch, msg{"jobs", fmt.Sprint(i), 1, false})
		}
		quiet(t, inA)
		quiet(t, inB)
	})

	t.Run("session resume", func(t *testing.T) {
		expiry := uint32(60)
		cp := &paho.Connect{ClientID: "paho-persist", CleanStart: true,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
		c, _, _ := pahoClient(t, addr, cp)
		pahoSubscribe(t, c, "away/#", 1)
		if err := c.Disconnect(&paho.Disconnect{ReasonCode: 0}); err != nil {
			t.Fatal(err)
		}
		<-c.Done()
		pahoPublish(t, pub, &paho.Publish{Topic: "away/1", QoS: 1, Payload: []byte("queued")})
		cp2 := *cp
		cp2.CleanStart = false
		_, ack, in2 := pahoClient(t, addr, &cp2)
		if !ack.SessionPresent {
			t.Fatal("session not present")
		}
		expect(t, in2, msg{"away/1", "queued", 1, false})
	})
}
