// Package mqtt is a sans-I/O MQTT 5.0 and 3.1.1 protocol engine: a
// Connection holds all the protocol state of one side of one connection,
// client or server, and does no I/O, starts no goroutine and reads no
// clock.
//
// The caller owns the transport and the timers. It feeds the Connection
// bytes it read (Recv), packets it wants sent (Send), timer expiries
// (TimerFired) and the end of the transport (Closed); each call returns a
// slice of Events to carry out: bytes to write, timers to arm or cancel,
// packets received, packet identifiers released, errors, dropped messages
// and "close now". The events, and the packets and bytes they carry, are
// valid until the next call on the same Connection.
//
// The wire codec is in package packet, the v5 properties in package
// property, packet identifier types and their allocator in package
// packetid, and Topic Alias tables in package topicalias.
package mqtt
