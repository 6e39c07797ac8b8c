package property

import "strings"

// Set is a set of property identifiers, one bit per identifier.
// The zero value is the empty set.
type Set uint64

// NewSet returns the set holding ids.
func NewSet(ids ...ID) Set {
	var s Set
	for _, id := range ids {
		s |= 1 << id
	}
	return s
}

// Has reports whether id is in s.
func (s Set) Has(id ID) bool { return id < 64 && s&(1<<id) != 0 }

// Add puts id in s.
func (s *Set) Add(id ID) { *s |= 1 << id }

// Remove takes id out of s.
func (s *Set) Remove(id ID) { *s &^= 1 << id }

// With returns s with id added.
func (s Set) With(id ID) Set { return s | 1<<id }

// First returns the property with the lowest identifier in s, and false if s
// is empty.
func (s Set) First() (ID, bool) {
	for _, id := range All {
		if s.Has(id) {
			return id, true
		}
	}
	return 0, false
}

// String lists the property names in s.
func (s Set) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for _, id := range All {
		if s.Has(id) {
			if b.Len() > 1 {
				b.WriteString(", ")
			}
			b.WriteString(id.String())
		}
	}
	b.WriteByte('}')
	return b.String()
}
