package packet

import (
	"errors"
	"testing"
)

// TestFrameFastPathMatchesFrame checks that Frame's fast path answers as
// the full framer does, for every first byte, one-byte lengths at the
// edges, streams cut short or running on, and maxSize around the size.
func TestFrameFastPathMatchesFrame(t *testing.T) {
	for c := range 256 {
		for _, n := range []int{0, 1, 2, 126, 127} {
			full := make([]byte, n+2+3)
			full[0], full[1] = byte(c), byte(n)
			for _, have := range []int{1, 2, n + 1, n + 2, n + 5} {
				b := full[:have]
				for _, max := range []int{-1, 0, 1, n + 1, n + 2, n + 3, MaxPacketSize, MaxPacketSize + 1} {
					h, need, err := Frame(b, max)
					wh, wneed, werr := frame(b, max, 0)
					var tl, wtl *TooLargeError
					sameErr := err == werr || errors.As(err, &tl) && errors.As(werr, &wtl) && *tl == *wtl
					if h != wh || need != wneed || !sameErr {
						t.Fatalf("first byte %#02x, length %d, %d bytes, max %d: Frame = %+v, %d, %v; frame = %+v, %d, %v",
							c, n, have, max, h, need, err, wh, wneed, werr)
					}
				}
			}
		}
	}
}
