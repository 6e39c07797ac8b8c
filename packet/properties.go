package packet

import (
	"encoding/binary"
	"math/bits"

	"github.com/mqttcore/mqtt/property"
)

// The property codec: the v5 Properties field of every packet, a Variable
// Byte Integer length followed by identifier/value pairs (section 2.2.2).
// Encoding writes properties in identifier order.

var (
	errPropUnknown    = malformed("", "unknown property identifier")
	errPropNotAllowed = malformed("", "property not allowed in this packet")
	errPropTwice      = protocolErr("", "property included more than once")
	errPropRange      = protocolErr("", "property value out of range")
	errPropShort      = malformed("", "properties run past their length")
	errPropSubIDs     = protocolErr("", "Subscription Identifier more than once in SUBSCRIBE")
	// Topic Alias 0 is answered like an alias above the maximum: 0x94
	// Topic Alias invalid (sections 3.3.2.3.4 and 4.13).
	errTopicAliasZero = &Error{Code: TopicAliasInvalid, Statement: "MQTT-3.3.2-8", Msg: "Topic Alias 0"}
)

// decodeProperties reads a property list at b[off:] into p for packets of
// type t (property.Will for will properties) and returns the offset after it.
func decodeProperties(p *property.Properties, t byte, b []byte, off int) (int, error) {
	var n uint32
	var err error
	if off < len(b) && b[off] < 0x80 { // the common one-byte length
		n, off = uint32(b[off]), off+1
	} else if n, off, err = readVarint(b, off); err != nil {
		return off, err
	}
	end := off + int(n)
	if end > len(b) {
		return off, errPropShort
	}
	p.Reset()
	if n == 0 {
		return off, nil
	}
	b = b[:end]
	allowed := property.Allowed(t)
	repeatable := property.Set(1) << property.UserProperty
	if t == byte(TypePublish) {
		repeatable |= 1 << property.SubscriptionIdentifier
	}
	var seen property.Set
	z := &p.Zero
	for off < end {
		id := property.ID(b[off])
		off++
		if !allowed.Has(id) {
			if id.Known() {
				return off, errPropNotAllowed
			}
			return off, errPropUnknown
		}
		if seen.Has(id) && !repeatable.Has(id) {
			return off, errPropTwice
		}
		seen.Add(id)
		// One case per property, each reading its type, checking its
		// range (section 2.2.2.2) and storing it, with zero values
		// recorded in p.Zero; in line, as this loop is on the hot path.
		switch id {
		case property.PayloadFormatIndicator:
			off, err = readFlag(b, off, &p.PayloadFormat, z, id)
		case property.MessageExpiryInterval:
			off, err = readU32(b, off, &p.MessageExpiry, z, id, nil)
		case property.ContentType:
			off, err = readStringProp(b, off, &p.ContentType, z, id)
		case property.ResponseTopic:
			if off, err = readStringProp(b, off, &p.ResponseTopic, z, id); err == nil {
				err = checkResponseTopic(p.ResponseTopic)
			}
		case property.CorrelationData:
			off, err = readBinaryProp(b, off, &p.CorrelationData)
		case property.SubscriptionIdentifier:
			var v uint32
			if v, off, err = readVarint(b, off); err == nil && v == 0 {
				err = errPropRange
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, v)
		case property.SessionExpiryInterval:
			off, err = readU32(b, off, &p.SessionExpiry, z, id, nil)
		case property.AssignedClientIdentifier:
			off, err = readStringProp(b, off, &p.AssignedClientID, z, id)
		case property.ServerKeepAlive:
			off, err = readU16(b, off, &p.ServerKeepAlive, z, id, nil)
		case property.AuthenticationMethod:
			off, err = readStringProp(b, off, &p.AuthMethod, z, id)
		case property.AuthenticationData:
			off, err = readBinaryProp(b, off, &p.AuthData)
		case property.RequestProblemInformation:
			off, err = readFlag(b, off, &p.RequestProblemInfo, z, id)
		case property.WillDelayInterval:
			off, err = readU32(b, off, &p.WillDelay, z, id, nil)
		case property.RequestResponseInformation:
			off, err = readFlag(b, off, &p.RequestResponseInfo, z, id)
		case property.ResponseInformation:
			off, err = readStringProp(b, off, &p.ResponseInfo, z, id)
		case property.ServerReference:
			off, err = readStringProp(b, off, &p.ServerReference, z, id)
		case property.ReasonString:
			off, err = readStringProp(b, off, &p.ReasonString, z, id)
		case property.ReceiveMaximum:
			off, err = readU16(b, off, &p.ReceiveMaximum, z, id, errPropRange)
		case property.TopicAliasMaximum:
			off, err = readU16(b, off, &p.TopicAliasMaximum, z, id, nil)
		case property.TopicAlias:
			off, err = readU16(b, off, &p.TopicAlias, z, id, errTopicAliasZero)
		case property.MaximumQoS:
			off, err = readFlag(b, off, &p.MaximumQoS, z, id)
		case property.RetainAvailable:
			off, err = readFlag(b, off, &p.RetainAvailable, z, id)
		case property.UserProperty:
			var k, v string
			if k, off, err = readString(b, off); err == nil {
				v, off, err = readString(b, off)
				p.User = append(p.User, property.User{Key: k, Value: v})
			}
		case property.MaximumPacketSize:
			off, err = readU32(b, off, &p.MaximumPacketSize, z, id, errPropRange)
		case property.WildcardSubscriptionAvailable:
			off, err = readFlag(b, off, &p.WildcardSubAvailable, z, id)
		case property.SubscriptionIdentifierAvailable:
			off, err = readFlag(b, off, &p.SubscriptionIDsAvailable, z, id)
		case property.SharedSubscriptionAvailable:
			off, err = readFlag(b, off, &p.SharedSubAvailable, z, id)
		}
		if err != nil {
			if err == errShort {
				err = errPropShort
			}
			return off, err
		}
	}
	if p.AuthData != nil && !seen.Has(property.AuthenticationMethod) {
		return off, errAuthDataAlone
	}
	return off, nil
}

// errAuthDataAlone: Authentication Data without an Authentication Method
// is a Protocol Error (section 3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3).
var errAuthDataAlone = protocolErr("", "Authentication Data without Authentication Method")

// readFlag reads a one-byte property whose values are 0 and 1.
func readFlag(b []byte, off int, dst *byte, z *property.Set, id property.ID) (int, error) {
	if off >= len(b) {
		return off, errShort
	}
	v := b[off]
	if v > 1 {
		return off, errPropRange
	}
	if v == 0 {
		z.Add(id)
	}
	*dst = v
	return off + 1, nil
}

// readU16 reads a Two Byte Integer property; zeroErr, if set, refuses 0.
func readU16(b []byte, off int, dst *uint16, z *property.Set, id property.ID, zeroErr error) (int, error) {
	v, off, err := readUint16(b, off)
	if err != nil {
		return off, err
	}
	if v == 0 {
		if zeroErr != nil {
			return off, zeroErr
		}
		z.Add(id)
	}
	*dst = v
	return off, nil
}

// readU32 reads a Four Byte Integer property; zeroErr, if set, refuses 0.
func readU32(b []byte, off int, dst *uint32, z *property.Set, id property.ID, zeroErr error) (int, error) {
	v, off, err := readUint32(b, off)
	if err != nil {
		return off, err
	}
	if v == 0 {
		if zeroErr != nil {
			return off, zeroErr
		}
		z.Add(id)
	}
	*dst = v
	return off, nil
}

func readStringProp(b []byte, off int, dst *string, z *property.Set, id property.ID) (int, error) {
	// readBinary and readString's validation in line, as Content Type and
	// Response Topic are on the PUBLISH hot path.
	if len(b)-off < 2 {
		return off, errShort
	}
	end := off + 2 + int(binary.BigEndian.Uint16(b[off:]))
	if end > len(b) {
		return off + 2, errShort
	}
	v := b[off+2 : end]
	off = end
	// Short values (a Content Type such as "json") are checked in line.
	if !(len(v) >= 4 && len(v) <= 8 && plainASCII4to8(v, false)) && !plainASCII(v, false) {
		if err := scanText(v, false); err != nil {
			return off, err
		}
	}
	if len(v) == 0 {
		z.Add(id)
	}
	*dst = aliasString(v)
	return off, nil
}

func readBinaryProp(b []byte, off int, dst *[]byte) (int, error) {
	v, off, err := readBinary(b, off)
	*dst = v
	return off, err
}

var errResponseTopic = malformed("MQTT-3.3.2-14", "response topic is not a valid topic name")

func checkResponseTopic(s string) error {
	if ValidTopicName(s) != nil {
		return errResponseTopic
	}
	return nil
}

// checkNumber applies the range rules of section 2.2.2.2 to a numeric value.
func checkNumber(id property.ID, v uint32) error {
	switch id {
	case property.PayloadFormatIndicator, property.RequestProblemInformation,
		property.RequestResponseInformation, property.MaximumQoS,
		property.RetainAvailable, property.WildcardSubscriptionAvailable,
		property.SubscriptionIdentifierAvailable, property.SharedSubscriptionAvailable:
		if v > 1 {
			return errPropRange
		}
	case property.ReceiveMaximum, property.MaximumPacketSize, property.SubscriptionIdentifier:
		if v == 0 {
			return errPropRange
		}
	case property.TopicAlias:
		if v == 0 {
			return errTopicAliasZero
		}
	}
	if id == property.SubscriptionIdentifier && v > maxVarint {
		return errPropRange
	}
	return nil
}

func stringField(p *property.Properties, id property.ID) *string {
	switch id {
	case property.ContentType:
		return &p.ContentType
	case property.ResponseTopic:
		return &p.ResponseTopic
	case property.AssignedClientIdentifier:
		return &p.AssignedClientID
	case property.AuthenticationMethod:
		return &p.AuthMethod
	case property.ResponseInformation:
		return &p.ResponseInfo
	case property.ServerReference:
		return &p.ServerReference
	}
	return &p.ReasonString
}

func binaryField(p *property.Properties, id property.ID) *[]byte {
	if id == property.CorrelationData {
		return &p.CorrelationData
	}
	return &p.AuthData
}

// number returns the value of a numeric property of p.
func number(p *property.Properties, id property.ID) uint32 {
	switch id {
	case property.PayloadFormatIndicator:
		return uint32(p.PayloadFormat)
	case property.MessageExpiryInterval:
		return p.MessageExpiry
	case property.SessionExpiryInterval:
		return p.SessionExpiry
	case property.ServerKeepAlive:
		return uint32(p.ServerKeepAlive)
	case property.RequestProblemInformation:
		return uint32(p.RequestProblemInfo)
	case property.WillDelayInterval:
		return p.WillDelay
	case property.RequestResponseInformation:
		return uint32(p.RequestResponseInfo)
	case property.ReceiveMaximum:
		return uint32(p.ReceiveMaximum)
	case property.TopicAliasMaximum:
		return uint32(p.TopicAliasMaximum)
	case property.TopicAlias:
		return uint32(p.TopicAlias)
	case property.MaximumQoS:
		return uint32(p.MaximumQoS)
	case property.RetainAvailable:
		return uint32(p.RetainAvailable)
	case property.MaximumPacketSize:
		return p.MaximumPacketSize
	case property.WildcardSubscriptionAvailable:
		return uint32(p.WildcardSubAvailable)
	case property.SubscriptionIdentifierAvailable:
		return uint32(p.SubscriptionIDsAvailable)
	case property.SharedSubscriptionAvailable:
		return uint32(p.SharedSubAvailable)
	}
	return 0
}

// scanProperties returns the size of p's encoding (without its length
// prefix) and, when check is set, validates p for a packet of type t
// (property.Will for will properties): only allowed properties, values in
// range, strings valid and short enough. It visits only the properties
// present, so an empty or small list costs little.
func scanProperties(p *property.Properties, t byte, check bool) (propsEnc, error) {
	present := p.Present()
	if present == 0 {
		return propsEnc{}, nil
	}
	if check && present&^property.Allowed(t) != 0 {
		return propsEnc{}, errPropNotAllowed
	}
	if check && present.Has(property.AuthenticationData) && !present.Has(property.AuthenticationMethod) {
		return propsEnc{}, errAuthDataAlone
	}
	size := 0
	for s := uint64(present); s != 0; s &= s - 1 {
		id := property.ID(bits.TrailingZeros64(s))
		switch id.Kind() {
		case property.KindString:
			v := *stringField(p, id)
			size += 3 + len(v)
			if check {
				if err := checkString(v); err != nil {
					return propsEnc{}, err
				}
				if id == property.ResponseTopic {
					if err := checkResponseTopic(v); err != nil {
						return propsEnc{}, err
					}
				}
			}
		case property.KindBinary:
			v := *binaryField(p, id)
			size += 3 + len(v)
			if check && (v == nil || len(v) > 0xFFFF) {
				return propsEnc{}, errPropValue
			}
		case property.KindStringPair:
			if check && len(p.User) == 0 {
				return propsEnc{}, errPropValue
			}
			for _, u := range p.User {
				size += 5 + len(u.Key) + len(u.Value)
				if check {
					if err := checkString(u.Key); err != nil {
						return propsEnc{}, err
					}
					if err := checkString(u.Value); err != nil {
						return propsEnc{}, err
					}
				}
			}
		case property.KindVarint:
			if check && len(p.SubscriptionIDs) > 1 && t == byte(TypeSubscribe) {
				return propsEnc{}, errPropSubIDs
			}
			for _, v := range p.SubscriptionIDs {
				size += 1 + varintSize(int(v))
				if check {
					if err := checkNumber(id, v); err != nil {
						return propsEnc{}, err
					}
				}
			}
			if check && len(p.SubscriptionIDs) == 0 {
				return propsEnc{}, errPropValue
			}
		default:
			size += 1 + kindSize(id.Kind())
			if check {
				if err := checkNumber(id, number(p, id)); err != nil {
					return propsEnc{}, err
				}
			}
		}
	}
	return propsEnc{n: size, present: present}, nil
}

var errPropValue = malformed("", "list or binary property marked present without a value")

func kindSize(k property.Kind) int {
	switch k {
	case property.KindUint16:
		return 2
	case property.KindUint32:
		return 4
	}
	return 1
}

// appendProperties appends p with its length prefix, as sized by
// scanProperties.
func appendProperties(dst []byte, p *property.Properties, e propsEnc) []byte {
	dst = appendVarint(dst, e.n)
	for s := uint64(e.present); s != 0; s &= s - 1 {
		id := property.ID(bits.TrailingZeros64(s))
		switch k := id.Kind(); k {
		case property.KindString:
			dst = appendString(append(dst, byte(id)), *stringField(p, id))
		case property.KindBinary:
			dst = appendBinary(append(dst, byte(id)), *binaryField(p, id))
		case property.KindStringPair:
			for _, u := range p.User {
				dst = appendString(appendString(append(dst, byte(id)), u.Key), u.Value)
			}
		case property.KindVarint:
			for _, v := range p.SubscriptionIDs {
				dst = appendVarint(append(dst, byte(id)), int(v))
			}
		case property.KindByte:
			dst = append(dst, byte(id), byte(number(p, id)))
		case property.KindUint16:
			dst = appendUint16(append(dst, byte(id)), uint16(number(p, id)))
		case property.KindUint32:
			dst = appendUint32(append(dst, byte(id)), number(p, id))
		}
	}
	return dst
}
