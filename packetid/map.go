package packetid

import (
	"iter"
	"slices"
)

// Map maps packet identifiers to values of type V. It is an open-addressing
// hash table sized to the identifiers it holds (at most half full), with
// backward-shift deletion, so lookups stay short, memory follows the
// traffic rather than the identifier space, and Set and Delete allocate
// nothing once the table has grown. Identifier 0 is never a key. The order
// of All is deterministic for a given history, table size included; Keys
// gives the identifiers in increasing order. The zero Map is empty and
// ready to use.
type Map[T ID, V any] struct {
	keys []T // 0 marks a free slot; len is a power of two or 0
	vals []V
	n    int
}

// Len returns the number of identifiers in m.
func (m *Map[T, V]) Len() int { return m.n }

// Cap returns how many slots the table holds: what it keeps of its
// largest size, for callers that bound what they keep.
func (m *Map[T, V]) Cap() int { return len(m.keys) }

func hash[T ID](id T) int {
	// Fibonacci hashing spreads consecutive identifiers over the table.
	return int((uint64(id) * 0x9E3779B97F4A7C15) >> 32)
}

// find returns the slot of id, or of the free slot that ends its probe
// chain, and whether id is there.
func (m *Map[T, V]) find(id T) (int, bool) {
	mask := len(m.keys) - 1
	i := hash(id) & mask
	for m.keys[i] != 0 {
		if m.keys[i] == id {
			return i, true
		}
		i = (i + 1) & mask
	}
	return i, false
}

// Get returns the value of id and whether m holds it.
func (m *Map[T, V]) Get(id T) (V, bool) {
	if m.n == 0 || id == 0 {
		var zero V
		return zero, false
	}
	i, ok := m.find(id)
	return m.vals[i], ok
}

// Value returns the value of id, or the zero V if m does not hold it.
func (m *Map[T, V]) Value(id T) V {
	v, _ := m.Get(id)
	return v
}

// Has reports whether m holds id.
func (m *Map[T, V]) Has(id T) bool {
	_, ok := m.Get(id)
	return ok
}

// Set maps id to v. Identifier 0 is not a packet identifier: Set reports
// false and does nothing for it.
func (m *Map[T, V]) Set(id T, v V) bool {
	if id == 0 {
		return false
	}
	if (m.n+1)*2 > len(m.keys) {
		m.grow()
	}
	i, ok := m.find(id)
	if !ok {
		m.keys[i] = id
		m.n++
	}
	m.vals[i] = v
	return true
}

// Delete removes id and reports whether m held it.
func (m *Map[T, V]) Delete(id T) bool {
	if m.n == 0 || id == 0 {
		return false
	}
	i, ok := m.find(id)
	if !ok {
		return false
	}
	mask := len(m.keys) - 1
	var zero V
	for {
		m.keys[i], m.vals[i] = 0, zero
		j := i
		for {
			j = (j + 1) & mask
			if m.keys[j] == 0 {
				m.n--
				return true
			}
			// Move the entry at j into the hole at i unless its home slot
			// lies cyclically in (i, j].
			home := hash(m.keys[j]) & mask
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				m.keys[i], m.vals[i] = m.keys[j], m.vals[j]
				i = j
				break
			}
		}
	}
}

// Clear removes every identifier, keeping the table for reuse.
func (m *Map[T, V]) Clear() {
	clear(m.keys)
	clear(m.vals)
	m.n = 0
}

// All iterates over the identifiers and values in m. m must not be changed
// during the iteration; collect the keys first to delete while iterating.
func (m *Map[T, V]) All() iter.Seq2[T, V] {
	return func(yield func(T, V) bool) {
		for i, id := range m.keys {
			if id != 0 && !yield(id, m.vals[i]) {
				return
			}
		}
	}
}

// Keys returns the identifiers in m, appended to dst in increasing order:
// an order that depends on the identifiers alone, not on the size of the
// table (which follows the peak it held, or a pooled table's), so that a
// caller that acts on each in turn acts the same whatever m's history.
func (m *Map[T, V]) Keys(dst []T) []T {
	start := len(dst)
	for _, id := range m.keys {
		if id != 0 {
			dst = append(dst, id)
		}
	}
	slices.Sort(dst[start:])
	return dst
}

func (m *Map[T, V]) grow() {
	oldKeys, oldVals := m.keys, m.vals
	size := 16
	if len(oldKeys) > 0 {
		size = len(oldKeys) * 2
	}
	m.keys, m.vals, m.n = make([]T, size), make([]V, size), 0
	for i, id := range oldKeys {
		if id != 0 {
			m.Set(id, oldVals[i])
		}
	}
}
