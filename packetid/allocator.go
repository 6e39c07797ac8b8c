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
// The in-use set is a Map, sized to the peak number of identifiers in use,
// so memory follows the traffic, not the identifier space, and Next and
// Release do not allocate once it has grown.
//
// The zero Allocator is ready to use with the largest range of T.
type Allocator[T ID] struct {
	max  T // the highest identifier handed out; 0 means the largest T
	last T // the identifier handed out last
	used Map[T, struct{}]
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
func (a *Allocator[T]) InUse() int { return a.used.Len() }

// Cap returns how many slots the table of identifiers in use holds (see
// Map.Cap).
func (a *Allocator[T]) Cap() int { return a.used.Cap() }

// Next returns an identifier not in use and marks it used.
func (a *Allocator[T]) Next() (T, error) {
	limit := a.limit()
	if uint64(a.used.Len()) >= uint64(limit) {
		return 0, ErrExhausted
	}
	id := a.last
	for {
		if id >= limit {
			id = 1
		} else {
			id++
		}
		if !a.used.Has(id) {
			break
		}
	}
	a.used.Set(id, struct{}{})
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
	case a.used.Has(id):
		return fmt.Errorf("packetid: identifier %d already in use", id)
	}
	a.used.Set(id, struct{}{})
	return nil
}

// InUseID reports whether id is in use.
func (a *Allocator[T]) InUseID(id T) bool { return a.used.Has(id) }

// Release marks id free and reports whether it was in use.
func (a *Allocator[T]) Release(id T) bool { return a.used.Delete(id) }

// Reset frees every identifier; the next one handed out follows the last.
func (a *Allocator[T]) Reset() { a.used.Clear() }

// Last returns the identifier handed out last (0 before the first); Next
// continues after it.
func (a *Allocator[T]) Last() T { return a.last }

// SetLast makes Next continue after id, for an allocator restored from
// storage.
func (a *Allocator[T]) SetLast(id T) { a.last = id }
