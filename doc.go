// Package mqtt is a sans-I/O MQTT 5.0 and 3.1.1 protocol engine: a
// Connection holds all the protocol state of one side of one connection,
// client or server, and does no I/O, starts no goroutine and reads no
// clock (the one outside input it may read is crypto/rand, for a Client
// Identifier a server assigns when Config.AssignClientID is not set).
//
// The caller owns the transport and the timers. It feeds the Connection
// bytes it read (Recv), packets it wants sent (Send), timer expiries
// (TimerFired) and the end of the transport (Closed); the Connection hands
// the events of each call to the Handler the caller gave it: bytes to
// write, timers to arm or cancel, packets received, packet identifiers
// released, errors, dropped messages, journal records and "close now". The
// handler may call the Connection again (subscribe when the CONNACK
// arrives, acknowledge a message): those calls take effect at once, and
// their events follow those of the call being carried out. An event's
// packet and bytes are valid until the next call made from outside the
// handler.
//
// The wire codec is in package packet, the v5 properties in package
// property, packet identifier types and their allocator in package
// packetid, and Topic Alias tables in package topicalias.
package mqtt
