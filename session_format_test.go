package mqtt

import "testing"

// TestSessionFormatSteps pins the steps of the export format to the
// exchanges they stand for, whatever the values of the exchange type: a
// mapping that follows the exchange type's values (byte(x)) fails here as
// soon as an exchange constant is renumbered.
func TestSessionFormatSteps(t *testing.T) {
	pinned := []struct {
		x       exchange
		step    byte
		inbound bool
	}{
		{awaitPuback, 1, false},
		{awaitPubrec, 2, false},
		{owePubrel, 3, false},
		{awaitPubcomp, 4, false},
		{owePubrec, 8, true},
		{awaitPubrel, 9, true},
		{owePubcomp, 10, true},
	}
	steps := map[byte]bool{}
	exchanges := map[exchange]bool{}
	for _, p := range pinned {
		steps[p.step], exchanges[p.x] = true, true
		if got := exportStep(p.x); got != p.step {
			t.Errorf("exportStep(%d) = %d, want %d", p.x, got, p.step)
		}
		if x, ok := importStep(p.step, p.inbound); !ok || x != p.x {
			t.Errorf("importStep(%d, inbound %v) = %d, %v; want %d", p.step, p.inbound, x, ok, p.x)
		}
		if x, ok := importStep(p.step, !p.inbound); ok {
			t.Errorf("importStep(%d, inbound %v) = %d: the step of the other direction", p.step, !p.inbound, x)
		}
	}
	for i := range 256 {
		x, b := exchange(i), byte(i)
		if got := exportStep(x); !exchanges[x] && got != 0 {
			t.Errorf("exportStep(%d) = %d for an exchange no session keeps", x, got)
		}
		for _, inbound := range []bool{false, true} {
			if _, ok := importStep(b, inbound); ok && !steps[b] {
				t.Errorf("importStep(%d, inbound %v) accepts a step the format does not have", b, inbound)
			}
		}
	}
}
