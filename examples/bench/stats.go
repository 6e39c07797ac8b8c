package main

import (
	"math/bits"
	"time"
)

// histogram counts latencies in logarithmic buckets with 64 linear steps
// per power of two: a value is known to within 1.6%, in constant memory
// whatever the number of messages.
type histogram struct {
	counts [128 + 57*64]int64
	n      int64
	max    time.Duration
}

func bucketOf(v uint64) int {
	if v < 128 {
		return int(v)
	}
	e := bits.Len64(v) - 7 // v >> e is in [64, 128)
	return 128 + (e-1)*64 + int(v>>e) - 64
}

// valueOf returns the middle of bucket i.
func valueOf(i int) uint64 {
	if i < 128 {
		return uint64(i)
	}
	e := (i-128)/64 + 1
	m := uint64((i-128)%64 + 64)
	return m<<e + (uint64(1)<<e)/2
}

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency below which a fraction q of the values
// lie (0 for an empty histogram); never more than the maximum.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(valueOf(i)), h.max)
		}
	}
	return h.max
}

// seqSet records which sequence numbers of one publisher arrived.
type seqSet struct{ words []uint64 }

// add records seq and reports whether it was new.
func (s *seqSet) add(seq uint64) bool {
	w := int(seq / 64)
	if w >= len(s.words) {
		s.words = append(s.words, make([]uint64, w+1-len(s.words)+len(s.words))...)
	}
	bit := uint64(1) << (seq % 64)
	if s.words[w]&bit != 0 {
		return false
	}
	s.words[w] |= bit
	return true
}
