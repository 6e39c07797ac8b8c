package packet

import "github.com/mqttcore/mqtt/property"

// The property codec: the v5 Properties field of every packet, a Variable
// Byte Integer length followed by identifier/value pairs (section 2.2.2).

var (
	errPropUnknown    = malformed("", "unknown property identifier")
	errPropNotAllowed = malformed("", "property not allowed in this packet")
	errPropTwice      = protocolErr("", "property included more than once")
	errPropRange      = protocolErr("", "property value out of range")
	errPropShort      = malformed("", "properties run past their length")
)

// decodeProperties reads a property list at b[off:] into p for packets of
// type t (property.Will for will properties) and returns the offset after it.
func decodeProperties(p *property.Properties, t byte, b []byte, off int) (int, error) {
	n, off, err := readVarint(b, off)
	if err != nil {
		return off, err
	}
	end := off + int(n)
	if end > len(b) || end < off {
		return off, errPropShort
	}
	p.Reset()
	b = b[:end]
	allowed := property.Allowed(t)
	var seen property.Set
	for off < end {
		id := property.ID(b[off])
		off++
		if !allowed.Has(id) {
			if id.Known() {
				return off, errPropNotAllowed
			}
			return off, errPropUnknown
		}
		if seen.Has(id) && id != property.UserProperty && !(id == property.SubscriptionIdentifier && t == byte(TypePublish)) {
			return off, errPropTwice
		}
		seen.Add(id)
		var v uint32
		var s string
		var bin []byte
		switch id.Kind() {
		case property.KindByte:
			var c byte
			c, off, err = readByte(b, off)
			v = uint32(c)
		case property.KindUint16:
			var u uint16
			u, off, err = readUint16(b, off)
			v = uint32(u)
		case property.KindUint32:
			v, off, err = readUint32(b, off)
		case property.KindVarint:
			v, off, err = readVarint(b, off)
		case property.KindString:
			s, off, err = readString(b, off)
		case property.KindBinary:
			bin, off, err = readBinary(b, off)
		case property.KindStringPair:
			var k string
			k, off, err = readString(b, off)
			if err == nil {
				s, off, err = readString(b, off)
				p.User = append(p.User, property.User{Key: k, Value: s})
			}
			if err != nil {
				return off, err
			}
			continue
		}
		if err != nil {
			if err == errShort {
				err = errPropShort
			}
			return off, err
		}
		if err := checkValue(id, v, s); err != nil {
			return off, err
		}
		if v == 0 && s == "" && len(bin) == 0 && id.Kind() != property.KindBinary {
			p.Zero.Add(id)
		}
		setValue(p, id, v, s, bin)
	}
	return off, nil
}

// checkValue applies the range rules of section 2.2.2.2 to one value.
func checkValue(id property.ID, v uint32, s string) error {
	switch id {
	case property.PayloadFormatIndicator, property.RequestProblemInformation,
		property.RequestResponseInformation, property.MaximumQoS,
		property.RetainAvailable, property.WildcardSubscriptionAvailable,
		property.SubscriptionIdentifierAvailable, property.SharedSubscriptionAvailable:
		if v > 1 {
			return errPropRange
		}
	case property.ReceiveMaximum, property.TopicAlias, property.MaximumPacketSize,
		property.SubscriptionIdentifier:
		if v == 0 {
			return errPropRange
		}
	case property.ResponseTopic:
		if s == "" {
			return errTopicEmpty
		}
		return checkNoWildcards(s, errResponseTopic)
	}
	return nil
}

func setValue(p *property.Properties, id property.ID, v uint32, s string, bin []byte) {
	switch id {
	case property.PayloadFormatIndicator:
		p.PayloadFormat = byte(v)
	case property.MessageExpiryInterval:
		p.MessageExpiry = v
	case property.ContentType:
		p.ContentType = s
	case property.ResponseTopic:
		p.ResponseTopic = s
	case property.CorrelationData:
		p.CorrelationData = bin
	case property.SubscriptionIdentifier:
		p.SubscriptionIDs = append(p.SubscriptionIDs, v)
	case property.SessionExpiryInterval:
		p.SessionExpiry = v
	case property.AssignedClientIdentifier:
		p.AssignedClientID = s
	case property.ServerKeepAlive:
		p.ServerKeepAlive = uint16(v)
	case property.AuthenticationMethod:
		p.AuthMethod = s
	case property.AuthenticationData:
		p.AuthData = bin
	case property.RequestProblemInformation:
		p.RequestProblemInfo = byte(v)
	case property.WillDelayInterval:
		p.WillDelay = v
	case property.RequestResponseInformation:
		p.RequestResponseInfo = byte(v)
	case property.ResponseInformation:
		p.ResponseInfo = s
	case property.ServerReference:
		p.ServerReference = s
	case property.ReasonString:
		p.ReasonString = s
	case property.ReceiveMaximum:
		p.ReceiveMaximum = uint16(v)
	case property.TopicAliasMaximum:
		p.TopicAliasMaximum = uint16(v)
	case property.TopicAlias:
		p.TopicAlias = uint16(v)
	case property.MaximumQoS:
		p.MaximumQoS = byte(v)
	case property.RetainAvailable:
		p.RetainAvailable = byte(v)
	case property.MaximumPacketSize:
		p.MaximumPacketSize = v
	case property.WildcardSubscriptionAvailable:
		p.WildcardSubAvailable = byte(v)
	case property.SubscriptionIdentifierAvailable:
		p.SubscriptionIDsAvailable = byte(v)
	case property.SharedSubscriptionAvailable:
		p.SharedSubAvailable = byte(v)
	}
}

// propertyWriter encodes a property list in identifier order. One pass over
// the fields (each) serves both sizing and writing, so the two cannot
// disagree.
type propertyWriter struct {
	dst  []byte
	size int
	emit bool // false: only count
}

func (w *propertyWriter) num(id property.ID, v uint32, zero *property.Set) {
	if v == 0 && !zero.Has(id) {
		return
	}
	switch id.Kind() {
	case property.KindByte:
		w.size += 2
		if w.emit {
			w.dst = append(w.dst, byte(id), byte(v))
		}
	case property.KindUint16:
		w.size += 3
		if w.emit {
			w.dst = appendUint16(append(w.dst, byte(id)), uint16(v))
		}
	case property.KindUint32:
		w.size += 5
		if w.emit {
			w.dst = appendUint32(append(w.dst, byte(id)), v)
		}
	case property.KindVarint:
		w.size += 1 + varintSize(int(v))
		if w.emit {
			w.dst = appendVarint(append(w.dst, byte(id)), int(v))
		}
	}
}

func (w *propertyWriter) str(id property.ID, s string, zero *property.Set) {
	if s == "" && !zero.Has(id) {
		return
	}
	w.size += 3 + len(s)
	if w.emit {
		w.dst = appendString(append(w.dst, byte(id)), s)
	}
}

func (w *propertyWriter) bin(id property.ID, b []byte) {
	if b == nil {
		return
	}
	w.size += 3 + len(b)
	if w.emit {
		w.dst = appendBinary(append(w.dst, byte(id)), b)
	}
}

// each walks p's present properties in identifier order.
func (w *propertyWriter) each(p *property.Properties) {
	z := &p.Zero
	w.num(property.PayloadFormatIndicator, uint32(p.PayloadFormat), z)
	w.num(property.MessageExpiryInterval, p.MessageExpiry, z)
	w.str(property.ContentType, p.ContentType, z)
	w.str(property.ResponseTopic, p.ResponseTopic, z)
	w.bin(property.CorrelationData, p.CorrelationData)
	for _, id := range p.SubscriptionIDs {
		w.num(property.SubscriptionIdentifier, id, z)
	}
	w.num(property.SessionExpiryInterval, p.SessionExpiry, z)
	w.str(property.AssignedClientIdentifier, p.AssignedClientID, z)
	w.num(property.ServerKeepAlive, uint32(p.ServerKeepAlive), z)
	w.str(property.AuthenticationMethod, p.AuthMethod, z)
	w.bin(property.AuthenticationData, p.AuthData)
	w.num(property.RequestProblemInformation, uint32(p.RequestProblemInfo), z)
	w.num(property.WillDelayInterval, p.WillDelay, z)
	w.num(property.RequestResponseInformation, uint32(p.RequestResponseInfo), z)
	w.str(property.ResponseInformation, p.ResponseInfo, z)
	w.str(property.ServerReference, p.ServerReference, z)
	w.str(property.ReasonString, p.ReasonString, z)
	w.num(property.ReceiveMaximum, uint32(p.ReceiveMaximum), z)
	w.num(property.TopicAliasMaximum, uint32(p.TopicAliasMaximum), z)
	w.num(property.TopicAlias, uint32(p.TopicAlias), z)
	w.num(property.MaximumQoS, uint32(p.MaximumQoS), z)
	w.num(property.RetainAvailable, uint32(p.RetainAvailable), z)
	for _, u := range p.User {
		w.size += 5 + len(u.Key) + len(u.Value)
		if w.emit {
			w.dst = appendString(appendString(append(w.dst, byte(property.UserProperty)), u.Key), u.Value)
		}
	}
	w.num(property.MaximumPacketSize, p.MaximumPacketSize, z)
	w.num(property.WildcardSubscriptionAvailable, uint32(p.WildcardSubAvailable), z)
	w.num(property.SubscriptionIdentifierAvailable, uint32(p.SubscriptionIDsAvailable), z)
	w.num(property.SharedSubscriptionAvailable, uint32(p.SharedSubAvailable), z)
}

// propertiesSize returns the size of p's encoding without its length prefix.
func propertiesSize(p *property.Properties) int {
	if p.IsEmpty() {
		return 0
	}
	w := propertyWriter{}
	w.each(p)
	return w.size
}

// appendProperties appends p with its length prefix; n is propertiesSize(p).
func appendProperties(dst []byte, p *property.Properties, n int) []byte {
	dst = appendVarint(dst, n)
	if n == 0 {
		return dst
	}
	w := propertyWriter{dst: dst, emit: true}
	w.each(p)
	return w.dst
}

var errPropSubIDs = protocolErr("", "Subscription Identifier more than once in SUBSCRIBE")

// neverZero are the properties that cannot be present with a zero value.
var neverZero = property.NewSet(property.ReceiveMaximum, property.TopicAlias,
	property.MaximumPacketSize, property.SubscriptionIdentifier,
	property.UserProperty, property.CorrelationData, property.AuthenticationData)

// checkProperties validates p for encoding in a packet of type t
// (property.Will for will properties): only allowed properties, values in
// range, strings valid and short enough.
func checkProperties(p *property.Properties, t byte) error {
	present := p.Present()
	if present == 0 {
		return nil
	}
	if present&^property.Allowed(t) != 0 {
		return errPropNotAllowed
	}
	if p.Zero&neverZero != 0 {
		return errPropRange
	}
	for _, b := range [...]byte{p.PayloadFormat, p.RequestProblemInfo, p.RequestResponseInfo,
		p.MaximumQoS, p.RetainAvailable, p.WildcardSubAvailable,
		p.SubscriptionIDsAvailable, p.SharedSubAvailable} {
		if b > 1 {
			return errPropRange
		}
	}
	for _, s := range [...]string{p.ContentType, p.ResponseTopic, p.AssignedClientID,
		p.AuthMethod, p.ResponseInfo, p.ServerReference, p.ReasonString} {
		if err := checkString(s); err != nil {
			return err
		}
	}
	if present.Has(property.ResponseTopic) {
		if err := checkValue(property.ResponseTopic, 0, p.ResponseTopic); err != nil {
			return err
		}
	}
	if len(p.CorrelationData) > 0xFFFF || len(p.AuthData) > 0xFFFF {
		return errStringTooLong
	}
	for _, u := range p.User {
		if err := checkString(u.Key); err != nil {
			return err
		}
		if err := checkString(u.Value); err != nil {
			return err
		}
	}
	if len(p.SubscriptionIDs) > 1 && t == byte(TypeSubscribe) {
		return errPropSubIDs
	}
	for _, id := range p.SubscriptionIDs {
		if id == 0 || id > maxVarint {
			return errPropRange
		}
	}
	return nil
}
