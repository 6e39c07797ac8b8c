//go:build !linux

package server

import (
	"errors"
	"net"
)

// The event loop is for Linux only; elsewhere every connection has its
// goroutine, and what follows is never called.

type poller struct{}

// rawFD: see fd_linux.go.
type rawFD struct{ fd int32 }

func newPoller() (*poller, error) { return nil, errors.New("server: no event loop on this system") }

func (p *poller) close()                        {}
func (p *poller) add(c *Conn) error             { return errors.ErrUnsupported }
func (p *poller) appendConns(c []*Conn) []*Conn { return c }
func (p *poller) wake(c *Conn)                  {}
func (p *poller) schedule(c *Conn)              {}
func (p *poller) pushWake(c *Conn)              {}
func (c *Conn) takeFD(*net.TCPConn) bool        { return false }
func (c *Conn) arm()                            {}
func (c *Conn) armWrite() error                 { return errors.ErrUnsupported }
func (c *Conn) rawRead([]byte) (int, error)     { return 0, errors.ErrUnsupported }
func (c *Conn) rawWrite([]byte) (int, error)    { return 0, errors.ErrUnsupported }
func (c *Conn) shutdownRead() bool              { return false }
func (c *Conn) shutdown()                       {}
func (c *Conn) closeFD()                        {}

func (s *Server) acceptWaiting(*net.TCPListener, *poller) {}
