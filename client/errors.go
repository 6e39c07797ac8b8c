package client

import (
	"errors"
	"fmt"

	"github.com/mqttcore/mqtt/packet"
)

// ErrClosed is returned by the methods of a Client that has ended, by
// Close or otherwise; errors.Is(err, ErrClosed) also holds for the errors
// that say why a connection ended (ConnectionLostError).
var ErrClosed = errors.New("client: connection closed")

// ErrSessionLost is returned by Publish for a QoS 1 or QoS 2 message in
// flight when the server did not keep the session across a reconnection
// (or the session did not outlive the connection): the message may not
// have arrived, and the Client goes on; publish it again. When the Client
// ends instead, Publish returns why (matching ErrClosed).
var ErrSessionLost = errors.New("client: message in flight when the session was lost")

// RefusedError is returned by Connect when the server answers CONNACK with
// a failure: Reason is its reason code (3.1.1 return codes keep their
// values, 1 to 5).
type RefusedError struct{ Reason packet.ReasonCode }

// Error names the reason code.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("client: connection refused: 0x%02X %v", byte(e.Reason), e.Reason)
}

// AckError is returned by Publish when the server answers a QoS 1 or QoS 2
// message with a failure reason code (v5), and by Subscribe and
// Unsubscribe for a filter it refused.
type AckError struct {
	Reason packet.ReasonCode
	Filter string // Subscribe, Unsubscribe: the filter refused
}

// Error names the reason code, and the filter if any.
func (e *AckError) Error() string {
	if e.Filter != "" {
		return fmt.Sprintf("client: %q refused: 0x%02X %v", e.Filter, byte(e.Reason), e.Reason)
	}
	return fmt.Sprintf("client: message refused: 0x%02X %v", byte(e.Reason), e.Reason)
}

// ConnectionLostError says why a connection ended: the transport's error,
// the core's (a protocol violation by the server, a keep-alive timeout),
// or the server's DISCONNECT (Reason, v5). It matches ErrClosed.
type ConnectionLostError struct {
	Err    error             // nil when the server sent DISCONNECT
	Reason packet.ReasonCode // the DISCONNECT's reason code
}

// Error says why the connection ended.
func (e *ConnectionLostError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("client: disconnected by the server: 0x%02X %v", byte(e.Reason), e.Reason)
	}
	return "client: connection lost: " + e.Err.Error()
}

// Unwrap returns the cause, if any.
func (e *ConnectionLostError) Unwrap() error { return e.Err }

// Is reports whether target is ErrClosed.
func (e *ConnectionLostError) Is(target error) bool { return target == ErrClosed }
