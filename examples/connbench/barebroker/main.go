//go:build linux

// Command barebroker is the floor that connbench measures brokers
// against: not a broker, a loop of system calls that answers the first
// bytes of each connection with a CONNACK (v5, Success) and keeps it open.
// One thread accepts (accept4), reads once (the CONNECT, which a connbench
// client writes at once) and writes, blocking; no poller, no goroutine or
// buffer per connection, nothing parsed. What a connection costs it is
// what the kernel takes to set up a loopback TCP connection on the
// broker's side:
//
//	go run ./examples/connbench/barebroker -addr 127.0.0.1:1888
//
// It announces itself on a line "mqtt broker listening on HOST:PORT" and
// exits on Ctrl-C or SIGTERM. It is for connbench only: a client that does
// not send at once holds up every other.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "barebroker:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("barebroker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:1888", "IPv4 address and port to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("-addr %q: not IPv4:port", *addr)
	}
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	sa := &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	if err = syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err == nil {
		err = syscall.Bind(lfd, sa)
	}
	if err == nil {
		err = syscall.Listen(lfd, syscall.SOMAXCONN)
	}
	var name syscall.Sockaddr
	if err == nil {
		name, err = syscall.Getsockname(lfd)
	}
	if err != nil {
		syscall.Close(lfd)
		return err
	}
	bound := name.(*syscall.SockaddrInet4)
	fmt.Fprintf(stdout, "mqtt broker listening on %s\n", netip.AddrPortFrom(netip.AddrFrom4(bound.Addr), uint16(bound.Port)))

	var fds []int
	go func() {
		<-ctx.Done()
		syscall.Shutdown(lfd, syscall.SHUT_RDWR) // ends the blocked accept4
	}()
	buf := make([]byte, 512)
	connack := []byte{0x20, 3, 0, 0, 0} // v5 CONNACK: no session, Success, no properties
	for ctx.Err() == nil {
		fd, _, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
		switch {
		case err == syscall.EINTR || err == syscall.ECONNABORTED:
			continue
		case err != nil:
			if ctx.Err() == nil {
				fmt.Fprintln(stderr, "barebroker: accept4:", err)
			}
			continue
		}
		n, err := syscall.Read(fd, buf)
		for err == syscall.EINTR {
			n, err = syscall.Read(fd, buf)
		}
		if err != nil || n == 0 {
			syscall.Close(fd)
			continue
		}
		if _, err := syscall.Write(fd, connack); err != nil {
			syscall.Close(fd)
			continue
		}
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		syscall.Close(fd)
	}
	return syscall.Close(lfd)
}
