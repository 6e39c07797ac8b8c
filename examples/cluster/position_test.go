package cluster

import "testing"

// A message given again is skipped only if it was taken: while the
// deliveries come one after another, by firm; once one went missing, by
// the messages taken one by one, until the ack floor has passed them.
func TestPosition(t *testing.T) {
	var p position
	for _, d := range []struct{ seq, dseq uint64 }{{10, 1}, {12, 2}} {
		if p.given(d.seq, d.dseq, false) {
			t.Fatalf("first delivery of %d taken for one given again", d.seq)
		}
		p.took(d.seq, false)
	}
	if !p.given(10, 3, true) || p.unsure() {
		t.Fatalf("10, taken, given again: not skipped, or the position unsure: %+v", p)
	}
	// Delivery 4 (stream 13) is lost on the way; 14 comes as 5.
	if p.given(14, 5, false) {
		t.Fatal("14 skipped")
	}
	if got := p.took(14, false); got != 12 {
		t.Fatalf("firm %d after a missing delivery, want it to stay at 12", got)
	}
	if p.given(13, 6, true) {
		t.Fatal("13, lost on the way and given again, skipped: lost")
	}
	p.took(13, true)
	if !p.given(14, 7, true) || !p.given(13, 8, true) || !p.unsure() {
		t.Fatalf("14 and 13, taken, given again: not skipped, or the position sure: %+v", p)
	}
	p.acked(13)
	if p.firm != 13 || !p.unsure() {
		t.Fatalf("ack floor 13 below the top 14: %+v", p)
	}
	p.acked(14)
	if p.firm != 14 || p.unsure() || len(p.taken) != 0 {
		t.Fatalf("ack floor at the top: %+v, want firm 14 and sure", p)
	}
	p.given(20, 9, false)
	if p.took(20, false) != 20 {
		t.Fatal("firm does not follow deliveries in order again")
	}
}
