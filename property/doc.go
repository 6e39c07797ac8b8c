// Package property describes the 27 properties of MQTT 5.0: their
// identifiers, value types, names and the packets each may appear in, and the
// Properties struct that carries them in every v5 packet.
//
// The wire codec for properties lives in package packet, next to the other
// wire primitives, so that one package owns framing, primitives and errors.
//
// A property is present when its field holds a non-zero value (a non-zero
// number, a non-empty string, a non-nil byte slice, a non-empty list). To send
// a property with a zero value (Server Keep Alive 0, Maximum QoS 0, an empty
// Reason String), add its identifier to Properties.Zero. Decoding fills Zero
// only for properties that arrived with a zero value, so a decoded Properties
// equals the one that was encoded.
package property
