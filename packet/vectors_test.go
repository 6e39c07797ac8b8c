package packet_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mqttcore/mqtt/internal/testvectors"
	"github.com/mqttcore/mqtt/packet"
)

// decodeVector decodes wire as v's packet, with the identifier width v asks for.
func decodeVector(v testvectors.Vector, wire []byte) (packet.Packet, int, error) {
	if v.ID32 {
		return packet.Decode[uint32](v.Version, wire, 0)
	}
	return packet.Decode[uint16](v.Version, wire, 0)
}

// TestValidVectorsDecode decodes each hand-written vector and compares the
// result with the expected struct.
func TestValidVectorsDecode(t *testing.T) {
	for _, v := range testvectors.Valid {
		t.Run(v.Name, func(t *testing.T) {
			got, n, err := decodeVector(v, v.Wire)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if n != len(v.Wire) {
				t.Fatalf("decode took %d bytes, want %d", n, len(v.Wire))
			}
			if diff := cmp.Diff(v.Packet, got); diff != "" {
				t.Errorf("decoded packet differs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidVectorsDecoder decodes each vector with a Decoder set to its
// version, as a connection would.
func TestValidVectorsDecoder(t *testing.T) {
	for _, v := range testvectors.Valid {
		t.Run(v.Name, func(t *testing.T) {
			var got packet.Packet
			var n int
			var err error
			if v.ID32 {
				d := packet.Decoder[uint32]{Version: v.Version}
				got, n, err = d.Decode(v.Wire)
			} else {
				d := packet.Decoder[uint16]{Version: v.Version}
				got, n, err = d.Decode(v.Wire)
			}
			if err != nil || n != len(v.Wire) {
				t.Fatalf("Decode = %d, %v; want %d, nil", n, err, len(v.Wire))
			}
			if diff := cmp.Diff(v.Packet, got); diff != "" {
				t.Errorf("decoded packet differs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidVectorsEncode encodes each expected struct and compares the bytes
// with the hand-written wire, and Size with their length.
func TestValidVectorsEncode(t *testing.T) {
	for _, v := range testvectors.Valid {
		t.Run(v.Name, func(t *testing.T) {
			if got := v.Packet.Size(v.Version); got != len(v.Wire) {
				t.Errorf("Size = %d, want %d", got, len(v.Wire))
			}
			prefix := []byte{0xAB, 0xCD}
			got, err := v.Packet.AppendTo(append([]byte(nil), prefix...), v.Version)
			if err != nil {
				t.Fatalf("AppendTo: %v", err)
			}
			if !bytes.Equal(got[:2], prefix) {
				t.Fatalf("AppendTo overwrote dst")
			}
			if !bytes.Equal(got[2:], v.Wire) {
				t.Errorf("AppendTo\n got % X\nwant % X", got[2:], v.Wire)
			}
		})
	}
}

// TestValidVectorsTruncated checks that every proper prefix of a vector is
// reported incomplete, never decoded and never an error: a packet's fields
// are only read once its Remaining Length is all there.
func TestValidVectorsTruncated(t *testing.T) {
	for _, v := range testvectors.Valid {
		t.Run(v.Name, func(t *testing.T) {
			for i := 0; i < len(v.Wire); i++ {
				p, n, err := decodeVector(v, v.Wire[:i])
				if p != nil || n != 0 || err != nil {
					t.Fatalf("prefix of %d bytes: Decode = %v, %d, %v; want nil, 0, nil", i, p, n, err)
				}
			}
		})
	}
}
