package packet

import "testing"

// TestReasonZeroValidEverywhere holds checkReason's shortcut for 0 to the
// tables: every packet type with reason codes, in either version, lists 0.
func TestReasonZeroValidEverywhere(t *testing.T) {
	for typ, e := range reasonErrs {
		if e == nil {
			continue
		}
		for _, v := range []Version{V311, V5} {
			if s := reasonsFor(Type(typ), v); s != nil && !s.has(0) {
				t.Errorf("%v in version %v: 0 is not among its reason codes, but checkReason accepts it", Type(typ), v)
			}
		}
	}
}
