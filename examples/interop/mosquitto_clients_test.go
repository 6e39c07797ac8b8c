package interop

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"testing"

	"github.com/mqttcore/mqtt/client"
	"github.com/mqttcore/mqtt/packet"
)

// mosquitto_pub and mosquitto_sub against the example client, through the
// example broker, in both protocol versions: what mosquitto_pub publishes
// at QoS 0, 1 and 2 reaches the example client, and what the example
// client publishes reaches mosquitto_sub.
func TestMosquittoClientsWithExampleClient(t *testing.T) {
	t.Parallel()
	pub, sub := tool(t, "mosquitto_pub"), tool(t, "mosquitto_sub")
	addr := startBroker(t)
	host, port, _ := net.SplitHostPort(addr)
	d := urlDialer("tcp://"+addr, nil)
	for _, ver := range mosquittoVersions {
		t.Run("mosquitto_pub to the example client/"+ver.flag, func(t *testing.T) {
			root := "mx/" + ver.flag + "/in"
			c := connectClient(t, d, ver.v, &packet.Connect{ClientID: "mx-in-" + ver.flag, CleanStart: true, KeepAlive: 30}, nil)
			if err := c.Subscribe(testContext(t), packet.Subscription{Filter: root + "/#", QoS: packet.QoS2}, nil); err != nil {
				t.Fatal(err)
			}
			for qos := range 3 {
				topic, payload := fmt.Sprintf("%s/q%d", root, qos), fmt.Sprintf("from mosquitto_pub %d", qos)
				out, err := exec.CommandContext(testContext(t), pub, "-h", host, "-p", port, "-V", ver.flag,
					"-q", fmt.Sprint(qos), "-t", topic, "-m", payload).CombinedOutput()
				if err != nil {
					t.Fatalf("mosquitto_pub: %v: %s", err, out)
				}
				received(t, c, topic, payload, packet.QoS(qos), false)
			}
		})
		t.Run("the example client to mosquitto_sub/"+ver.flag, func(t *testing.T) {
			root := "mx/" + ver.flag + "/out"
			c := connectClient(t, d, ver.v, &packet.Connect{ClientID: "mx-out-" + ver.flag, CleanStart: true, KeepAlive: 30}, nil)
			// A retained marker tells when mosquitto_sub has subscribed:
			// it is the first line it prints.
			ready := client.Message{Topic: root + "/ready", QoS: packet.QoS1, Retain: true, Payload: []byte("ready")}
			if err := c.Publish(testContext(t), ready); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(testContext(t), sub, "-h", host, "-p", port, "-V", ver.flag,
				"-q", "2", "-t", root+"/#", "-v", "-C", "4", "-W", "10")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			next := func() string {
				if !lines.Scan() {
					t.Fatalf("mosquitto_sub ended early: %v", cmd.Wait())
				}
				return lines.Text()
			}
			if got := next(); got != root+"/ready ready" {
				t.Fatalf("mosquitto_sub printed %q first, want the retained marker", got)
			}
			for qos := range packet.QoS(3) {
				topic, payload := fmt.Sprintf("%s/q%d", root, qos), fmt.Sprintf("from the example client %d", qos)
				if err := c.Publish(testContext(t), client.Message{Topic: topic, QoS: qos, Payload: []byte(payload)}); err != nil {
					t.Fatalf("publish at QoS %d: %v", qos, err)
				}
				if got, want := next(), topic+" "+payload; got != want {
					t.Fatalf("mosquitto_sub printed %q, want %q", got, want)
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("mosquitto_sub: %v", err)
			}
		})
	}
}
