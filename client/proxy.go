package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ProxyFromEnvironment is a Config.Proxy that follows the environment as
// net/http does: HTTPS_PROXY for tls://, ssl://, mqtts:// and wss://
// servers, HTTP_PROXY for the others, and NO_PROXY for the servers to
// reach directly (net/http reads them once per process). Proxies may be
// http://, https:// (HTTP CONNECT) or socks5:// (SOCKS5).
func ProxyFromEnvironment(server *url.URL) (*url.URL, error) {
	scheme := "http"
	if secureScheme(server.Scheme) || server.Scheme == "wss" {
		scheme = "https"
	}
	return http.ProxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: scheme, Host: hostPort(server)}})
}

func secureScheme(s string) bool { return s == "tls" || s == "ssl" || s == "mqtts" }

// hostPort is the server's host and port, with MQTT's default ports.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "1883"
	switch {
	case secureScheme(u.Scheme):
		port = "8883"
	case u.Scheme == "ws":
		port = "80"
	case u.Scheme == "wss":
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// dialVia opens a TCP stream to addr through the proxy.
func dialVia(ctx context.Context, proxy *url.URL, addr string) (net.Conn, error) {
	var nd net.Dialer
	switch proxy.Scheme {
	case "http", "https":
		conn, err := nd.DialContext(ctx, "tcp", hostPortOr(proxy, "80", "443"))
		if err != nil {
			return nil, err
		}
		if proxy.Scheme == "https" {
			tc := tls.Client(conn, &tls.Config{ServerName: proxy.Hostname()})
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		return connectHTTP(ctx, conn, proxy, addr)
	case "socks5", "socks5h":
		conn, err := nd.DialContext(ctx, "tcp", hostPortOr(proxy, "1080", "1080"))
		if err != nil {
			return nil, err
		}
		return connectSOCKS5(ctx, conn, proxy, addr)
	}
	return nil, fmt.Errorf("client: proxy scheme %q: only http, https and socks5", proxy.Scheme)
}

func hostPortOr(u *url.URL, plain, secure string) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), secure)
	}
	return net.JoinHostPort(u.Hostname(), plain)
}

// deadlineFrom applies ctx's deadline to conn for the proxy handshake.
func deadlineFrom(ctx context.Context, conn net.Conn) func() {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	return func() { conn.SetDeadline(time.Time{}) }
}

// connectHTTP asks an HTTP proxy for a tunnel with CONNECT.
func connectHTTP(ctx context.Context, conn net.Conn, proxy *url.URL, addr string) (net.Conn, error) {
	defer deadlineFrom(ctx, conn)()
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
	if u := proxy.User; u != nil {
		pass, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)))
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("client: proxy %s refused CONNECT %s: %s", proxy.Redacted(), addr, resp.Status)
	}
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn is a conn whose first bytes were read ahead.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connectSOCKS5 asks a SOCKS5 proxy (RFC 1928, with RFC 1929 user name and
// password when the proxy URL has them) for a stream to addr; the proxy
// resolves host names.
func connectSOCKS5(ctx context.Context, conn net.Conn, proxy *url.URL, addr string) (net.Conn, error) {
	defer deadlineFrom(ctx, conn)()
	fail := func(err error) (net.Conn, error) {
		conn.Close()
		return nil, fmt.Errorf("client: SOCKS5 proxy %s: %w", proxy.Redacted(), err)
	}
	methods := []byte{0x00}
	if proxy.User != nil {
		methods = []byte{0x02}
	}
	if _, err := conn.Write(append([]byte{5, byte(len(methods))}, methods...)); err != nil {
		return fail(err)
	}
	var reply [2]byte
	if _, err := io.ReadFull(conn, reply[:]); err != nil {
		return fail(err)
	}
	switch {
	case reply[0] != 5:
		return fail(errors.New("not a SOCKS5 proxy"))
	case reply[1] == 0x02 && proxy.User != nil:
		user := proxy.User.Username()
		pass, _ := proxy.User.Password()
		if len(user) > 255 || len(pass) > 255 {
			return fail(errors.New("user name or password over 255 bytes"))
		}
		msg := append([]byte{1, byte(len(user))}, user...)
		msg = append(append(msg, byte(len(pass))), pass...)
		if _, err := conn.Write(msg); err != nil {
			return fail(err)
		}
		if _, err := io.ReadFull(conn, reply[:]); err != nil {
			return fail(err)
		}
		if reply[1] != 0 {
			return fail(errors.New("user name or password refused"))
		}
	case reply[1] != 0x00:
		return fail(fmt.Errorf("no acceptable authentication method (0x%02x)", reply[1]))
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fail(err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fail(err)
	}
	req := []byte{5, 1, 0}
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		req = append(append(req, 1), ip.To4()...)
	} else if ip != nil {
		req = append(append(req, 4), ip.To16()...)
	} else {
		if len(host) > 255 {
			return fail(errors.New("host name over 255 bytes"))
		}
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := conn.Write(req); err != nil {
		return fail(err)
	}
	var head [4]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return fail(err)
	}
	if head[1] != 0 {
		return fail(fmt.Errorf("CONNECT %s refused (0x%02x)", addr, head[1]))
	}
	var skip int
	switch head[3] {
	case 1:
		skip = 4
	case 4:
		skip = 16
	case 3:
		var n [1]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return fail(err)
		}
		skip = int(n[0])
	default:
		return fail(errors.New("malformed reply"))
	}
	if _, err := io.ReadFull(conn, make([]byte, skip+2)); err != nil {
		return fail(err)
	}
	return conn, nil
}
