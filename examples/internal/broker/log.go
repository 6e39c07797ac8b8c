package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/server"
)

// Logging: the broker writes structured records (log/slog) to
// Config.Logger. Info: clients connecting, refused and leaving, sessions
// expiring. Warn: connections ended by an error, messages dropped or not
// delivered, acknowledgements not sent. Each record of a connection
// carries its client identifier ("client") or, before the CONNECT names
// one, its address ("remote").

// newLogger returns l, or a Logger that discards everything for nil.
func newLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// logf logs a formatted warning about the broker.
func (b *Broker) logf(format string, args ...any) {
	b.log.Warn(fmt.Sprintf(format, args...))
}

// logf logs a formatted warning about the connection.
func (c *conn) logf(format string, args ...any) {
	c.logAt(slog.LevelWarn, fmt.Sprintf(format, args...))
}

// logConnected logs a client whose CONNECT was accepted with ack.
func (c *conn) logConnected(p *packet.Connect, ack *packet.Connack) {
	if !c.logs(slog.LevelInfo) {
		return // the arguments are not made: they would be garbage of every connection
	}
	c.logAt(slog.LevelInfo, "client connected", "remote", c.sc.RemoteAddr().String(), "version", int(p.Version),
		"clean_start", p.CleanStart, "session_present", ack.SessionPresent, "keepalive", p.KeepAlive)
}

// logRefused logs a CONNECT refused with the CONNACK code reason.
func (c *conn) logRefused(reason packet.ReasonCode) {
	if !c.logs(slog.LevelInfo) {
		return
	}
	c.logAt(slog.LevelInfo, "connection refused", "remote", c.sc.RemoteAddr().String(), "version", int(c.version),
		"code", fmt.Sprintf("0x%02X", byte(reason)))
}

// logClosed logs the end of the connection; err is OnClose's. An end
// that is no error (the client's DISCONNECT, the transport closed by the
// client or by the broker) is logged at Info, any other at Warn.
func (c *conn) logClosed(err error) {
	if !c.connected {
		return // refused, or never answered: logged as such
	}
	level, reason := slog.LevelInfo, "client disconnected"
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		reason = "connection lost"
	case errors.Is(err, server.ErrClosed):
		reason = "closed by the broker"
	default:
		level, reason = slog.LevelWarn, err.Error()
	}
	c.logAt(level, "client gone", "reason", reason, "will", c.x != nil && c.x.will != nil && !c.normal)
}

// logs reports whether the broker logs records of level.
func (c *conn) logs(level slog.Level) bool { return c.b.log.Enabled(context.Background(), level) }

// logAt logs msg about the connection at level, with the key-value pairs
// args.
func (c *conn) logAt(level slog.Level, msg string, args ...any) {
	l := c.b.log
	ctx := context.Background()
	if !l.Enabled(ctx, level) {
		return
	}
	if c.clientID != "" {
		args = append([]any{"client", c.clientID}, args...)
	} else if c.sc != nil {
		args = append([]any{"remote", c.sc.RemoteAddr().String()}, args...)
	}
	l.Log(ctx, level, msg, args...)
}
