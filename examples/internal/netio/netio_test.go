package netio

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/testcert"
	"github.com/mqttcore/mqtt/examples/internal/transport"
)

// A connection whose reading side is shut down hands its reader what the
// socket received, over TCP and over TLS (two records: the second may
// wait in the TLS layer), then io.EOF, while the peer is still connected;
// the connection may still be written to.
func TestCloseRead(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := "tcp"
		if secure {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			server, client := pair(t, secure)
			stop := make(chan struct{})
			defer close(stop)
			r := NewReader(server, stop)
			for _, s := range []string{"one", "two"} {
				if _, err := client.Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			if !CloseRead(server) {
				if closeReadKeeps {
					t.Fatalf("CloseRead of a %s connection reports false", name)
				}
				return // this system does not shut the reading side down
			}
			got := ""
			timeout := time.After(5 * time.Second)
			for done := false; !done; {
				select {
				case chunk, ok := <-r.Chunks():
					if !ok {
						done = true
						break
					}
					got += string(chunk)
					r.Release()
				case <-timeout:
					t.Fatalf("the reader did not end; it delivered %q", got)
				}
			}
			if got != "onetwo" || r.Err() != io.EOF {
				t.Fatalf("read %q, then %v; want \"onetwo\", then EOF", got, r.Err())
			}
			if _, err := server.Write([]byte("after")); err != nil {
				t.Fatalf("write after CloseRead: %v", err)
			}
			b := make([]byte, 5)
			_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(client, b); err != nil || string(b) != "after" {
				t.Fatalf("the peer read %q, %v", b, err)
			}
		})
	}
}

// A connection with no socket of its own has no reading side to shut
// down.
func TestCloseReadWithoutSocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if CloseRead(a) {
		t.Fatal("CloseRead of a net.Pipe reports true")
	}
}

// pair returns the two ends of a loopback TCP connection, TLS on top if
// secure.
func pair(t *testing.T, secure bool) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	if secure {
		files, err := testcert.Write(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		scfg, err := transport.TLSFiles{CertFile: files.Cert, KeyFile: files.Key}.ServerConfig()
		if err != nil {
			t.Fatal(err)
		}
		ccfg, err := transport.TLSFiles{CAFile: files.CA}.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		ccfg.ServerName = "127.0.0.1"
		server, client = tls.Server(server, scfg), tls.Client(client, ccfg)
	}
	t.Cleanup(func() {
		server.Close()
		client.Close()
	})
	return server, client
}
