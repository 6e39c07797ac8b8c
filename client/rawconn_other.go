//go:build !unix

package client

import "net"

const writeThroughSupported = false

// socketWriter is not supported here: a QoS 0 Publish hands its bytes
// to the writer.
type socketWriter struct{}

func rawSocket(net.Conn) *socketWriter { return nil }

func (*socketWriter) writeNow([]byte) int { return 0 }
