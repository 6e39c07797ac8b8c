package packetid

import (
	"errors"
	"fmt"
)

// ErrExhausted is returned by Allocator.Next when every identifier is in use.
var ErrExhausted = errors.New("packetid: all packet identifiers are in use")

// Allocator hands out packet identifiers that are not in use. It never
// returns 0, and it walks the identifier space round-robin (the one after
// the last handed out, skipping those in use) rather than reusing the lowest
// free one, so an identifier just released is not reused at once and a late
// acknowledgement from the peer cannot be mistaken for a new exchange.
//
// The in-use set is an open-addressing hash set sized to the peak number of
// identifiers in use, so memory follows the traffic, not the identifier
// space, and Next and Release do not allocate once it has grown.
//
// The zero Allocator is ready to use with the largest range of T.
type Allocator[T ID] struct {
	max   T // the highest identifier handed out; 0 means the largest T
	last  T // the identifier handed out last
	inUse int
	slots []T // 0 marks a free slot; len is a power of two or 0
}

// NewAllocator returns an Allocator that hands out identifiers from 1 to
// max; max 0 means the largest value of T.
func NewAllocator[T ID](max T) *Allocator[T] { return &Allocator[T]{max: max} }

func (a *Allocator[T]) limit() T {
	if a.max == 0 {
		return ^T(0)
	}
	return a.max
}

// InUse returns the number of identifiers in use.
func (a *Allocator[T]) InUse() int { return a.inUse }

// Next returns an identifier not in use and marks it used.
func (a *Allocator[T]) Next() (T, error) {
	limit := a.limit()
	if uint64(a.inUse) >= uint64(limit) {
		return 0, ErrExhausted
	}
	id := a.last
	for {
		if id >= limit {
			id = 1
		} else {
			id++
		}
		if !a.has(id) {
			break
		}
	}
	a.insert(id)
	a.last = id
	return id, nil
}

// Use marks id as in use, for identifiers chosen elsewhere (a session
// restored from storage). It fails for 0, for an identifier beyond the
// range, and for one already in use.
func (a *Allocator[T]) Use(id T) error {
	switch {
	case id == 0 || id > a.limit():
		return fmt.Errorf("packetid: identifier %d out of range", id)
	case a.has(id):
		return fmt.Errorf("packetid: identifier %d already in use", id)
	}
	a.insert(id)
	return nil
}

// InUseID reports whether id is in use.
func (a *Allocator[T]) InUseID(id T) bool { return id != 0 && a.has(id) }

// Release marks id free and reports whether it was in use.
func (a *Allocator[T]) Release(id T) bool {
	if id == 0 || len(a.slots) == 0 {
		return false
	}
	mask := len(a.slots) - 1
	i := hash(id) & mask
	for a.slots[i] != id {
		if a.slots[i] == 0 {
			return false
		}
		i = (i + 1) & mask
	}
	// Backward-shift deletion keeps every probe chain unbroken without
	// tombstones.
	for {
		a.slots[i] = 0
		j := i
		for {
			j = (j + 1) & mask
			if a.slots[j] == 0 {
				a.inUse--
				return true
			}
			home := hash(a.slots[j]) & mask
			// Move slots[j] into the hole at i unless its home lies
			// cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				a.slots[i] = a.slots[j]
				i = j
				break
			}
		}
	}
}

// Reset frees every identifier; the next one handed out follows the last.
func (a *Allocator[T]) Reset() {
	clear(a.slots)
	a.inUse = 0
}

func hash[T ID](id T) int {
	// Fibonacci hashing spreads consecutive identifiers over the table.
	return int((uint64(id) * 0x9E3779B97F4A7C15) >> 32)
}

func (a *Allocator[T]) has(id T) bool {
	if len(a.slots) == 0 {
		return false
	}
	mask := len(a.slots) - 1
	for i := hash(id) & mask; a.slots[i] != 0; i = (i + 1) & mask {
		if a.slots[i] == id {
			return true
		}
	}
	return false
}

func (a *Allocator[T]) insert(id T) {
	if (a.inUse+1)*2 > len(a.slots) {
		a.grow()
	}
	mask := len(a.slots) - 1
	i := hash(id) & mask
	for a.slots[i] != 0 {
		i = (i + 1) & mask
	}
	a.slots[i] = id
	a.inUse++
}

func (a *Allocator[T]) grow() {
	old := a.slots
	n := 16
	if len(old) > 0 {
		n = len(old) * 2
	}
	a.slots = make([]T, n)
	a.inUse = 0
	for _, id := range old {
		if id != 0 {
			a.insert(id)
		}
	}
}

// Last returns the identifier handed out last (0 before the first); Next
// continues after it.
func (a *Allocator[T]) Last() T { return a.last }

// SetLast makes Next continue after id, for an allocator restored from
// storage.
func (a *Allocator[T]) SetLast(id T) { a.last = id }
