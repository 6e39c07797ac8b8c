// Package packetid defines the packet identifier types the codec and the
// Connection are generic over.
//
// Standard MQTT packet identifiers are two bytes (uint16). A Connection or
// codec instantiated with uint32 uses four-byte identifiers on the wire: an
// extension, off the standard, for links between brokers of one cluster that
// want more than 65,535 messages in flight.
package packetid

// ID is the constraint satisfied by packet identifier types: uint16 for the
// standard wire, uint32 for the four-byte extension.
type ID interface{ ~uint16 | ~uint32 }

// Size returns the number of bytes an identifier of type T takes on the
// wire: 2 or 4.
func Size[T ID]() int {
	if uint64(^T(0)) > 0xFFFF {
		return 4
	}
	return 2
}
