package packet

import "github.com/mqttcore/mqtt/property"

// The one place where v3.1.1 and v5 differ for every packet that has
// properties: v5 carries them, v3.1.1 has none and refuses to encode any.

// propsLenFor returns the size of p's encoding in version v, 0 before v5.
func propsLenFor(v Version, p *property.Properties) int {
	if v != V5 {
		return 0
	}
	e, _ := scanProperties(p, 0, false)
	return e.n
}

// propsEnc is what encoding needs to know of a property list after
// validating it: the size of its encoding without the length prefix, and
// the set of properties present.
type propsEnc struct {
	n       int
	present property.Set
}

// checkPropsFor validates p for a packet of type t in version v and sizes
// its encoding.
func checkPropsFor(v Version, p *property.Properties, t byte) (propsEnc, error) {
	if v != V5 {
		if !p.IsEmpty() {
			return propsEnc{}, errPropsV311
		}
		return propsEnc{}, nil
	}
	return scanProperties(p, t, true)
}

// decodePropsFor reads the property list of a v5 packet of type t at
// b[off:]; before v5 it only empties p.
func decodePropsFor(v Version, p *property.Properties, t byte, b []byte, off int) (int, error) {
	if v != V5 {
		p.Reset()
		return off, nil
	}
	return decodeProperties(p, t, b, off)
}

func cloneString(s string) string {
	if s == "" {
		return ""
	}
	return string(aliasBytes(s))
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
