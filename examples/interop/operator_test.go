package interop

import (
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
	"github.com/mqttcore/mqtt/examples/internal/brokertest"
)

// mosquitto_sub reads the example broker's $SYS topics, retained, in both
// protocol versions. (Not tested with mosquitto_sub: outgoing Topic
// Aliases. libmosquitto 2.0.11, Debian 12's, announces a Topic Alias
// Maximum when told to (-D connect topic-alias-maximum N) but takes a
// PUBLISH carrying an alias alone for a protocol error and disconnects:
// mosquitto issue 1468.)
func TestMosquittoSubSys(t *testing.T) {
	t.Parallel()
	sub := tool(t, "mosquitto_sub")
	addr := brokertest.Start(t, broker.Config{Logger: brokertest.Logger(t, slog.LevelInfo), SysInterval: 50 * time.Millisecond})
	host, port, _ := net.SplitHostPort(addr)
	for _, ver := range mosquittoVersions {
		out, err := exec.CommandContext(testContext(t), sub, "-h", host, "-p", port, "-V", ver.flag,
			"-t", "$SYS/broker/version", "-t", "$SYS/broker/uptime", "-v", "-C", "2", "-W", "3").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: mosquitto_sub: %v: %s", ver.flag, err, out)
		}
		got := string(out)
		if !strings.Contains(got, "$SYS/broker/version mqttcore example broker\n") ||
			!strings.Contains(got, "$SYS/broker/uptime ") || !strings.Contains(got, " seconds\n") {
			t.Errorf("%s: mosquitto_sub printed %q", ver.flag, got)
		}
	}
}
