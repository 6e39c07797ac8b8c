package transport

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:1883", "tcp://127.0.0.1:1883"},
		{"tcp://broker", "tcp://broker:1883"},
		{"mqtt://broker:1884", "tcp://broker:1884"},
		{"ssl://broker", "tls://broker:8883"},
		{"mqtts://broker", "tls://broker:8883"},
		{"tls://[::1]:9000", "tls://[::1]:9000"},
		{"ws://broker", "ws://broker:80/mqtt"},
		{"wss://broker/ws?x=1", "wss://broker:443/ws?x=1"},
	} {
		a, err := Parse(tc.in)
		if err != nil || a.String() != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %s", tc.in, a, err, tc.want)
		}
	}
	for _, bad := range []string{"http://broker", "tcp://", "tcp://broker/path", "ws://%zz"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}
