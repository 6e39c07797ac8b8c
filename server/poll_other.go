//go:build !linux

package server

import (
	"errors"
	"syscall"
)

// poller: the event loop is for Linux only; elsewhere every connection
// has its goroutine.
type poller struct{ epfd int }

func newPoller() (*poller, error) { return nil, errors.New("server: no event loop on this system") }

func (p *poller) close()                           {}
func (p *poller) prepare(c *Conn, sc syscall.Conn) {}
func (p *poller) add(c *Conn) error                { return errors.ErrUnsupported }
func (p *poller) forget(c *Conn)                   {}
func (c *Conn) arm()                               {}
func (c *Conn) rawRead(buf []byte) (int, error)    { return 0, errors.ErrUnsupported }
func (c *Conn) rawWrite(b []byte) (int, error)     { return 0, errors.ErrUnsupported }
func (c *Conn) shutdown()                          {}
