// Package server serves MQTT 5.0 and 3.1.1 clients over any net.Listener,
// one sans-I/O core (mqtt.Connection) per client: the starting point of a
// broker. It owns the sockets, the goroutines and the clocks; the core
// owns every rule of the protocol (acknowledgements, flow control, Topic
// Aliases, keep-alive, malformed input); the broker's logic — sessions,
// routing, retained messages, wills, authorisation — is a Handler.
//
//	srv := server.New(server.Config{Handler: myBroker})
//	go srv.Serve(listener) // tls.NewListener(...) for TLS
//	...
//	srv.Shutdown(ctx)      // DISCONNECT 0x8B to v5 clients, then close
//
// # The API
//
// A Handler gets three calls per client: OnConnect with the CONNECT,
// returning the CONNACK (the zero value accepts); OnPacket with every
// packet after it; OnClose once, with why the connection ended (nil for a
// DISCONNECT, io.EOF and the like for a client that vanished and whose
// will is due). A *Conn is the handle to a client: Send and Close are safe
// from any goroutine, so a PUBLISH received from one client is routed by
// calling Send on each subscriber's Conn, from inside OnPacket. Conn.Core
// hands the Handler's calls the connection's core for the rest: a session
// kept by the broker is resumed with ImportSession in OnConnect, and saved
// with ExportSession in OnClose (see TestSessionResumed).
//
// Why this shape: the core already answers what the protocol answers by
// itself, so the Handler sees packets, not events, and returns only the
// one decision the core cannot make (accept the CONNECT, with which
// session). Send taking a packet rather than bytes keeps the core in
// charge of packet identifiers, the send quota (a PUBLISH beyond the
// client's Receive Maximum waits in the core's queue, bounded by
// Config.Conn.MaxQueued), Topic Aliases and the client's Maximum Packet
// Size. The Handler's calls for one connection are made in order by the
// goroutine that reads it (or the event loop's worker), so a broker needs no lock of its own per
// connection, and its packets may alias the read buffer (no copy unless
// the broker keeps them).
//
// # Beyond Send and Close
//
// A broker that keeps a queue of its own per session (the broker's one
// copy of each message, counted while its client is away) wakes the
// subscriber's connection rather than calling Send per message: Wake has
// the Handler's OnWake (a Waker) called with the connection's lock held,
// at once if the connection is free and otherwise by its holder, with no
// allocation; WakeAtBacklog(n) calls it again once fewer than n bytes
// wait for the client. PauseReading and ResumeReading hold a client's
// reading back between 4 KiB pieces of a read, the rest kept (a 3.1.1
// publisher the broker cannot tell to stop). DeferConnack leaves the
// CONNACK to a later Connack from any goroutine, so that OnConnect never
// waits on a worker of the event loop (there are GOMAXPROCS of them: a
// takeover that waited there for the old connection to end, which needs a
// worker to read it, would deadlock with as many takeovers as workers);
// with ReadAuth the client is read meanwhile, and the AUTH packets of v5
// enhanced authentication reach OnPacket before the CONNACK.
// CloseRead ends a connection once what its client sent before has been
// read, its reading side shut down (a DISCONNECT already on its way
// counts). SetValue and Value keep the Handler's state of a connection
// with it. The example broker (examples/internal/broker) uses them all.
//
// # Concurrency
//
// Each Conn has one mutex that serialises the calls on its core; the
// core's events are carried out under it (bytes appended to the
// connection's output, timers armed) and the Handler is called under it.
// Send and Close never wait for another connection's mutex: they take it
// if it is free and otherwise leave the packet (a copy) in a mailbox that
// the holder carries out before letting go of the mutex. So a Handler of
// one connection may Send to another whose Handler Sends back, with no
// lock order to respect and no deadlock; and the Handler's packets stay
// valid during its call, since nothing else calls the core meanwhile. The
// price: a Send that finds the connection busy is not checked by the
// core before it returns, and its error (the client's Maximum Packet Size,
// a full queue) is lost.
//
// # Writes and backpressure
//
// Bytes the core asks to send are appended to the connection's output
// under its mutex. What a read makes the core send (acknowledgements,
// PINGRESP, a CONNACK, the Handler's SUBACK) the reader writes itself,
// in one write, before it reads again; what other goroutines send (a
// publisher's messages to this subscriber) is written as many as have
// gathered in one write: on the goroutine path by a writer goroutine,
// started when there are bytes and ended when they are written, on the
// event loop by a worker (below). So a publisher never blocks on a slow
// subscriber's socket, and a client that does not read stops being read.
// (BenchmarkPuback: 20% more acknowledged PUBLISH packets per second with
// the reader writing its own replies than with every write left to the
// writer goroutine; BenchmarkFanout: no difference.)
//
// Config.MaxBacklog bounds the bytes accepted and not yet written: beyond
// it Send returns ErrBacklog (the broker drops the message, or closes a
// client that does not keep up), and the connection's reading stops until
// the backlog drains, so a client that sends without reading cannot make
// the server buffer its acknowledgements. Config.WriteTimeout ends a
// client that takes no bytes at all.
//
// # The event loop (Linux)
//
// On Linux a connection over TCP (Serve on a *net.TCPListener, or
// ServeConn of a *net.TCPConn) is served by the Server's event loop
// unless Config.NoEventLoop: it becomes a bare socket descriptor
// registered with one epoll instance, with no net.Conn, no goroutine and
// no buffer of its own while idle. Serve waits for clients in the
// listener's Accept and accepts those that wait behind the first with
// accept4(2), so a burst of clients costs no net.Conn each. A few
// workers (GOMAXPROCS, at least 2) wait for events; the one that gets a
// connection's reads it once into its own buffer, hands the bytes to the
// core (the Handler's calls are made then, on the worker), writes the
// replies without waiting, and arms the connection again. The
// registration is level-triggered and one-shot: one worker at a time
// owns a connection, a busy one gets a read per turn rather than a worker
// until it runs dry, and a connection over MaxBacklog is simply not armed
// until its backlog drains. What other goroutines send marks the
// connection for a worker, which writes it once it has served its events
// (as many packets as gathered, in one write; a sender outside the
// workers wakes one); bytes the socket does not take wait for it to take
// more (EPOLLOUT, armed on its own), so no goroutine ever waits on a slow
// client, and one that takes nothing for WriteTimeout is disconnected
// (OnClose gets os.ErrDeadlineExceeded). TLS, Unix sockets and ServeConn
// with other transports take the goroutine path.
//
// # Memory of an idle connection
//
// An idle connection holds its core with its scratch let go of after the
// handshake (336 bytes), its Conn (240 bytes), and the entry of its
// keep-alive in the Server's timer queue (a heap of deadlines under one runtime timer: a
// time.AfterFunc per connection cost 200 bytes more); no writer and no
// output buffer; on the goroutine path also its reader, blocked in Read,
// a read buffer of 512 bytes (it grows to 32 KiB for busy clients and
// shrinks again) and the net.Conn. TestIdleMemory measures it over
// loopback TCP with about 10,000 connections: about 0.7 KB of heap and no
// goroutine on the event loop (0.85 to 1 KB of resident memory with the
// collector's default GOGC), 5.5 to 6.2 KB on the goroutine path (4 KB of
// it the goroutine's stack).
//
// # Transports
//
// Serve takes any net.Listener: TCP, TLS (crypto/tls.NewListener), a Unix
// socket. ServeConn serves a single net.Conn, for transports that are not
// listeners, such as a WebSocket connection wrapped as a net.Conn by the
// HTTP handler that upgraded it: the nested module server/websocket is
// that handler (outside this standard-library-only module).
package server
