package interop

import (
	"fmt"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"
)

// pahoV3Client connects an eclipse/paho.mqtt.golang (MQTT 3.1.1) client;
// messages of its subscriptions arrive on the returned channel.
func pahoV3Client(t *testing.T, addr, id string, clean bool, configure func(*pahov3.ClientOptions)) (pahov3.Client, <-chan msg) {
	t.Helper()
	ch := make(chan msg, 100)
	o := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(clean).SetProtocolVersion(4).SetAutoReconnect(false).
		SetKeepAlive(30 * time.Second).SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ pahov3.Client, m pahov3.Message) {
			ch <- msg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
		})
	if configure != nil {
		configure(o)
	}
	c := pahov3.NewClient(o)
	wait(t, c.Connect())
	t.Cleanup(func() { c.Disconnect(0) })
	return c, ch
}

func wait(t *testing.T, tok pahov3.Token) {
	t.Helper()
	if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("paho.mqtt.golang: %v", tok.Error())
	}
}

func TestPahoV311(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	sub, in := pahoV3Client(t, addr, "v3-sub", true, nil)
	pub, _ := pahoV3Client(t, addr, "v3-pub", true, nil)

	t.Run("wildcards and QoS 0, 1, 2", func(t *testing.T) {
		wait(t, sub.Subscribe("v3/+/q/#", 2, nil))
		for qos := range byte(3) {
			topic := fmt.Sprintf("v3/%d/q/x", qos)
			wait(t, pub.Publish(topic, qos, false, "hello"))
			expect(t, in, msg{topic, "hello", qos, false})
		}
		wait(t, pub.Publish("v3/other", 1, false, "no"))
		quiet(t, in)
	})

	t.Run("retained", func(t *testing.T) {
		wait(t, pub.Publish("v3r/a", 1, true, "kept"))
		wait(t, sub.Subscribe("v3r/#", 1, nil))
		expect(t, in, msg{"v3r/a", "kept", 1, true})
	})

	t.Run("will", func(t *testing.T) {
		wait(t, sub.Subscribe("v3will/#", 1, nil))
		c, _ := pahoV3Client(t, addr, "v3-will", true, func(o *pahov3.ClientOptions) {
			o.SetWill("v3will/x", "gone", 1, false)
		})
		// Disconnect(0) sends DISCONNECT: no will (MQTT-3.14.4-3).
		c.Disconnect(250)
		quiet(t, in)
		pahoV3Client(t, addr, "v3-will2", true, func(o *pahov3.ClientOptions) {
			o.SetWill("v3will/y", "gone", 1, false)
		})
		// A second connection with the same client identifier takes the
		// session over and closes the first without DISCONNECT: the will
		// is published (MQTT-3.1.4-3).
		pahoV3Client(t, addr, "v3-will2", true, nil)
		expect(t, in, msg{"v3will/y", "gone", 1, false})
	})

	t.Run("session resume", func(t *testing.T) {
		c, _ := pahoV3Client(t, addr, "v3-persist", false, nil)
		wait(t, c.Subscribe("v3away/#", 1, nil))
		c.Disconnect(250)
		wait(t, pub.Publish("v3away/1", 1, false, "queued"))
		_, in2 := pahoV3Client(t, addr, "v3-persist", false, nil)
		expect(t, in2, msg{"v3away/1", "queued", 1, false})
	})
}
