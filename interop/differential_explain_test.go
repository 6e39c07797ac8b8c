package interop

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	paho "github.com/eclipse/paho.golang/packets"
	"github.com/google/go-cmp/cmp"
	mochi "github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// The classifiers of the differential fuzz targets: every disagreement
// between our decoder and a peer's must be one of these, or the target
// fails. Each says which statement of the specification makes us stricter,
// or which peer bug it is, and checks as much of its claim as it can: the
// rule our decoder applied (by the identity of its error, taken from an
// example below), and where possible the evidence in the input or in what
// the peer decoded.
//
// What the peers check, read from their decoders (paho.golang v0.23.0
// packets, mochi v2.7.9 packets): paho checks the packet type, that fields
// are not cut short, and its own table of which property may appear in
// which packet; nothing else. mochi checks the fixed header flags, PUBLISH
// QoS 3 and DUP on QoS 0, UTF-8 in the strings it reads as strings,
// subscription QoS 3, its property table, and that fields are not cut short;
// its broker checks more after decoding (ConnectValidate, PublishValidate,
// ...), which the targets do not call: they compare decoders.

// classifier explains one kind of disagreement.
type classifier struct {
	name     string
	explains func(d *disagreement) bool
}

// classifiers is the table of documented disagreements, tried in order.
var classifiers = []classifier{
	// We are stricter: rules of the specification a peer's decoder does
	// not apply.
	{"reservedHeaderFlags", reservedHeaderFlags},
	{"publishHeaderFlags", publishHeaderFlags},
	{"nonMinimalVarint", nonMinimalVarint},
	{"illFormedString", illFormedString},
	{"bytesAfterLastField", bytesAfterLastField},
	{"protocolNameOrLevel", protocolNameOrLevel},
	{"connectFlags", connectFlags},
	{"invalidTopicName", invalidTopicName},
	{"invalidTopicFilter", invalidTopicFilter},
	{"subscriptionOptions", subscriptionOptions},
	{"zeroPacketID", zeroPacketID},
	{"propertyValue", propertyValue},
	{"duplicateProperty", duplicateProperty},
	{"emptyList", emptyList},
	{"undefinedReasonCode", undefinedReasonCode},
	{"connackFlags", connackFlags},
	{"mochiAuthIn311", mochiAuthIn311},
	// Peer bugs.
	{"pahoMergedConnectProperties", pahoMergedConnectProperties},
	{"propertiesPastLength", propertiesPastLength},
	{"pahoUnsubscribeCutShort", pahoUnsubscribeCutShort},
	{"pahoDisconnectEmpty", pahoDisconnectEmpty},
	{"mochiAuthCutShort", mochiAuthCutShort},
	{"mochiDisconnectReasonOnly", mochiDisconnectReasonOnly},
	{"mochiDisconnectPropertyLength", mochiDisconnectPropertyLength},
	{"pahoOneSubscriptionID", pahoOneSubscriptionID},
}

// classify returns the name of the first classifier that explains d, or "".
func classify(d *disagreement) string {
	for _, c := range classifiers {
		if c.explains(d) {
			return c.name
		}
	}
	return ""
}

// is reports whether d is of kind k with one of peers (with none: any peer).
func (d *disagreement) is(k kind, peers ...string) bool {
	return d.kind == k && (len(peers) == 0 || slices.Contains(peers, d.peer))
}

// ourErrorIs reports whether our decoder refused d with one of rules.
func (d *disagreement) ourErrorIs(rules ...error) bool {
	for _, r := range rules {
		if errors.Is(d.ours.err, r) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- we are stricter

// reservedHeaderFlags: the flags of every fixed header but PUBLISH's are
// fixed (MQTT-2.1.3-1, and per packet MQTT-3.6.1-1, MQTT-3.8.1-1,
// MQTT-3.10.1-1, MQTT-3.14.1-1, MQTT-3.15.1-1; 3.1.1 MQTT-2.2.2-1). paho
// reads the flags of a PUBLISH only and ignores them elsewhere.
func reservedHeaderFlags(d *disagreement) bool {
	fixed := byte(0)
	switch d.h.typ {
	case packet.TypePubrel, packet.TypeSubscribe, packet.TypeUnsubscribe:
		fixed = 0b0010
	}
	return d.is(weRefuse, "paho") && d.h.typ != packet.TypePublish && d.h.flags != fixed
}

// publishHeaderFlags: a PUBLISH must not have QoS 3 (MQTT-3.3.1-4) nor DUP
// set with QoS 0 (MQTT-3.3.1-2). paho takes both as they come.
func publishHeaderFlags(d *disagreement) bool {
	qos, dup := d.h.flags>>1&3, d.h.flags&0b1000 != 0
	return d.is(weRefuse, "paho") && d.h.typ == packet.TypePublish && (qos == 3 || dup && qos == 0)
}

// nonMinimalVarint: a Variable Byte Integer must use the fewest bytes, four
// at most (MQTT-1.5.5-1). Neither peer checks that an encoding is minimal;
// paho reads one of any length.
func nonMinimalVarint(d *disagreement) bool {
	return d.is(weRefuse) && d.ourErrorIs(ruleVarintMinimal, ruleVarintLong)
}

// illFormedString: a UTF-8 Encoded String must be well-formed UTF-8
// without U+0000 (MQTT-1.5.4-1, MQTT-1.5.4-2; 3.1.1 MQTT-1.5.3-1,
// MQTT-1.5.3-2). paho checks no string (and keeps the last of a repeated
// property, so the ill-formed one may be gone from its packet); mochi checks
// every string but the Protocol Name and the User Name, which it reads as
// Binary Data. Evidence, for mochi: it decoded a string that is not
// well-formed.
func illFormedString(d *disagreement) bool {
	if !d.is(weRefuse) || !d.ourErrorIs(ruleUTF8, ruleNull) {
		return false
	}
	return d.peer == "paho" || holdsIllFormedString(d.theirs.raw)
}

// bytesAfterLastField: a packet ends with its last field; what follows it
// within the Remaining Length is not part of any field, and a packet that
// does not conform to the specification is malformed (section 4.13; a
// PINGREQ, PINGRESP and 3.1.1 DISCONNECT have no body at all, sections
// 3.12, 3.13, 3.14 of 3.1.1). Both peers stop reading at the last field they
// expect and ignore the rest. Evidence: some prefix of the body decodes,
// with ours, to the packet the peer decoded. The search decodes every
// prefix, so it is made for bodies up to maxEvidenceBody bytes; a longer one
// is explained by the rule alone.
func bytesAfterLastField(d *disagreement) bool {
	if !d.is(weRefuse) || !d.ourErrorIs(ruleTrailing, ruleNotEmpty) {
		return false
	}
	body := d.body()
	if len(body) > maxEvidenceBody {
		return true
	}
	want := commonForm(d.peer, d.theirs.p)
	for n := len(body) - 1; n >= 0; n-- {
		wire := append(appendVBI([]byte{d.wire[0]}, n), body[:n]...)
		if p, _, err := packet.Decode[uint16](d.v, wire, 0); err == nil && cmp.Equal(commonForm(d.peer, p), want, eq) {
			return true
		}
	}
	return false
}

// maxEvidenceBody bounds the quadratic search of bytesAfterLastField.
const maxEvidenceBody = 1024

// protocolNameOrLevel: the Protocol Name must be "MQTT" (MQTT-3.1.2-1) with
// a level this codec speaks (MQTT-3.1.2-2), or "MQIsdp" with level 3 for
// MQTT 3.1. mochi checks both in ConnectValidate, after decoding; paho does
// not check them. Evidence: the name and level the peer read.
func protocolNameOrLevel(d *disagreement) bool {
	if !d.is(weRefuse) || !d.ourErrorIs(ruleProtocolName, ruleProtocolVersion) {
		return false
	}
	var name string
	var level byte
	switch raw := d.theirs.raw.(type) {
	case *paho.Connect:
		name, level = raw.ProtocolName, raw.ProtocolVersion
	case *mochi.Packet:
		name, level = string(raw.Connect.ProtocolName), raw.ProtocolVersion
	default:
		return false
	}
	return !(name == "MQTT" && (level == 4 || level == 5) || name == "MQIsdp" && level == 3)
}

// connectFlags: the reserved Connect Flag must be 0 (MQTT-3.1.2-3), Will QoS
// and Will Retain 0 without the Will Flag (MQTT-3.1.2-11), Will QoS at most
// 2 (MQTT-3.1.2-14), and in 3.1.1 the Password Flag 0 without the User Name
// Flag (3.1.1 MQTT-3.1.2-22). Neither peer checks the flags in its decoder.
// Evidence: the flags byte breaks one of these rules.
func connectFlags(d *disagreement) bool {
	if !d.is(weRefuse) || !d.ourErrorIs(ruleConnectReserved, ruleWillFlags, ruleWillQoS, rulePasswordNoUser) {
		return false
	}
	body := d.body()
	at := 2 + (int(body[0])<<8 | int(body[1])) + 1 // after the name and the level
	f, level := body[at], body[at-1]
	will := f&0x04 != 0
	return f&0x01 != 0 || !will && f&0x38 != 0 || f>>3&3 == 3 || level != 5 && f&0x40 != 0 && f&0x80 == 0
}

// invalidTopicName: a Topic Name, of a PUBLISH or a will, must not contain
// a wildcard (MQTT-3.3.2-2) and must not be empty (MQTT-4.7.3-1), except
// for a v5 PUBLISH whose Topic Alias stands in for it (MQTT-3.3.2-1 and
// section 3.3.2.3.4). mochi checks the PUBLISH Topic Name in PublishValidate,
// after decoding; neither peer checks it in its decoder. Evidence: the
// peer's topic is invalid.
func invalidTopicName(d *disagreement) bool {
	if !d.is(weRefuse) || !d.ourErrorIs(ruleTopicWildcard, ruleTopicEmpty, ruleTopicNoAlias) {
		return false
	}
	switch p := d.theirs.p.(type) {
	case *packet.Publish:
		if p.Topic == "" {
			return d.v != packet.V5 || p.Props.TopicAlias == 0
		}
		return packet.ValidTopicName(p.Topic) != nil
	case *packet.Connect:
		return willFlag(d) && packet.ValidTopicName(p.Will.Topic) != nil
	}
	return false
}

// willFlag reports whether the CONNECT of d has the Will Flag set.
func willFlag(d *disagreement) bool {
	body := d.body()
	at := 2 + (int(body[0])<<8 | int(body[1])) + 1
	return at < len(body) && body[at]&0x04 != 0
}

// invalidTopicFilter: a Topic Filter must not be empty (MQTT-4.7.3-1), its
// wildcards must fill whole levels, '#' the last one (MQTT-4.7.1-1,
// MQTT-4.7.1-2), and a v5 shared subscription must name a share and a
// filter (MQTT-4.8.2-1, MQTT-4.8.2-2). Neither peer checks filters in its
// decoder. Evidence: a filter the peer decoded is invalid.
func invalidTopicFilter(d *disagreement) bool {
	if !d.is(weRefuse) || !d.ourErrorIs(ruleTopicEmpty, ruleFilterHash, ruleFilterPlus, ruleShareName, ruleShareChars) {
		return false
	}
	var filters []string
	switch p := d.theirs.p.(type) {
	case *packet.Subscribe:
		for _, s := range p.Subscriptions {
			filters = append(filters, s.Filter)
		}
	case *packet.Unsubscribe:
		filters = p.Filters
	}
	return slices.ContainsFunc(filters, func(f string) bool { return packet.ValidTopicFilter(f, d.v) != nil })
}

// subscriptionOptions: the reserved bits of the Subscription Options must
// be 0 (MQTT-3.8.3-5; 3.1.1 MQTT-3.8.3-4, where all six upper bits are
// reserved), Retain Handling 3 and QoS 3 are Protocol Errors (section
// 3.8.3.1), and No Local is a Protocol Error on a shared subscription
// (MQTT-3.8.3-4). paho checks none of these; mochi checks QoS 3 (and so
// every 3.1.1 options byte above 2) and nothing else.
func subscriptionOptions(d *disagreement) bool {
	switch {
	case !d.is(weRefuse):
		return false
	case d.ourErrorIs(ruleSubReserved, ruleSubRetainHandling, ruleSubNoLocalShared):
		return true
	}
	return d.peer == "paho" && d.ourErrorIs(ruleSubQoS, ruleSubQoS311, ruleSubOptions311)
}

// zeroPacketID: a PUBLISH of QoS 1 or 2, a SUBSCRIBE and an UNSUBSCRIBE
// must carry a non-zero Packet Identifier (MQTT-2.2.1-3; 3.1.1
// MQTT-2.3.1-1), and so do their answers, which must carry the same one
// (MQTT-2.2.1-5, MQTT-2.2.1-6). Neither peer's decoder checks it. Evidence:
// the peer's Packet Identifier is 0.
func zeroPacketID(d *disagreement) bool {
	return d.is(weRefuse) && d.ourErrorIs(ruleZeroID) && packetID(d.theirs.p) == 0
}

func packetID(p packet.Packet) uint16 {
	switch p := p.(type) {
	case *packet.Publish:
		return p.PacketID
	case *packet.Puback:
		return p.PacketID
	case *packet.Pubrec:
		return p.PacketID
	case *packet.Pubrel:
		return p.PacketID
	case *packet.Pubcomp:
		return p.PacketID
	case *packet.Subscribe:
		return p.PacketID
	case *packet.Suback:
		return p.PacketID
	case *packet.Unsubscribe:
		return p.PacketID
	case *packet.Unsuback:
		return p.PacketID
	}
	return 1
}

// propertyValue: property values have ranges (section 2.2.2.2 and each
// property's section: the one-byte flags are 0 or 1, Receive Maximum,
// Maximum Packet Size and Subscription Identifier are not 0), Topic Alias 0
// is refused with 0x94 Topic Alias invalid (MQTT-3.3.2-8), a Response Topic must be a valid Topic
// Name (MQTT-3.3.2-14), and Authentication Data needs an Authentication
// Method (sections 3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3). Neither peer checks
// property values.
func propertyValue(d *disagreement) bool {
	return d.is(weRefuse) && d.ourErrorIs(rulePropRange, ruleTopicAliasZero, ruleResponseTopic, ruleAuthDataAlone)
}

// duplicateProperty: a property other than User Property (and Subscription
// Identifier in a PUBLISH) must not appear twice: "It is a Protocol Error to
// include ... more than once" in each property's section. Both peers keep
// the last value (mochi also collects repeated Subscription Identifiers of
// a SUBSCRIBE).
func duplicateProperty(d *disagreement) bool {
	return d.is(weRefuse) && d.ourErrorIs(rulePropTwice)
}

// emptyList: a SUBSCRIBE and an UNSUBSCRIBE carry at least one Topic Filter
// (MQTT-3.8.3-2, MQTT-3.10.3-2; 3.1.1 MQTT-3.8.3-3, MQTT-3.10.3-2) and their
// v5 answers one Reason Code per filter (MQTT-3.9.3-1, MQTT-3.11.3-1), so
// at least one. mochi checks the filters in SubscribeValidate and
// UnsubscribeValidate, after decoding; neither peer's decoder checks.
// Evidence: the peer's list is empty.
func emptyList(d *disagreement) bool {
	if !d.is(weRefuse) || !d.ourErrorIs(ruleSubscribeEmpty, ruleUnsubscribeEmpty, ruleSubackEmpty, ruleUnsubackEmpty) {
		return false
	}
	switch p := d.theirs.p.(type) {
	case *packet.Subscribe:
		return len(p.Subscriptions) == 0
	case *packet.Unsubscribe:
		return len(p.Filters) == 0
	case *packet.Suback:
		return len(p.Reasons) == 0
	case *packet.Unsuback:
		return len(p.Reasons) == 0
	}
	return false
}

// undefinedReasonCode: each v5 packet may carry only the Reason Codes its
// section lists (MQTT-3.2.2-8, MQTT-3.4.2-1, MQTT-3.5.2-1, MQTT-3.6.2-1,
// MQTT-3.7.2-1, MQTT-3.9.3-2, MQTT-3.11.3-2, MQTT-3.14.2-1,
// MQTT-3.15.2-1), and 3.1.1 only its return codes (3.1.1 section 3.2.2.3,
// MQTT-3.9.3-2). Neither peer's decoder checks them. Evidence: a code the
// peer decoded is not defined for the packet.
func undefinedReasonCode(d *disagreement) bool {
	if !d.is(weRefuse) || !d.ourErrorIs(ruleReason...) {
		return false
	}
	t := d.theirs.p.Type()
	var codes []packet.ReasonCode
	switch p := d.theirs.p.(type) {
	case *packet.Connack:
		codes = []packet.ReasonCode{p.Reason}
	case *packet.Puback:
		codes = []packet.ReasonCode{p.Reason}
	case *packet.Pubrec:
		codes = []packet.ReasonCode{p.Reason}
	case *packet.Pubrel:
		codes = []packet.ReasonCode{p.Reason}
	case *packet.Pubcomp:
		codes = []packet.ReasonCode{p.Reason}
	case *packet.Suback:
		codes = p.Reasons
	case *packet.Unsuback:
		codes = p.Reasons
	case *packet.Disconnect:
		codes = []packet.ReasonCode{p.Reason}
	case *packet.Auth:
		codes = []packet.ReasonCode{p.Reason}
	}
	return slices.ContainsFunc(codes, func(r packet.ReasonCode) bool { return !packet.ValidReason(t, d.v, r) })
}

// connackFlags: bits 7-1 of the Connect Acknowledge Flags are reserved and 0
// (MQTT-3.2.2-1), and Session Present is 0 with a non-zero Reason Code
// (MQTT-3.2.2-6; 3.1.1 MQTT-3.2.2-4). Both peers read bit 0 only and check
// nothing. Evidence: the flags byte or the peer's packet breaks the rule.
func connackFlags(d *disagreement) bool {
	if !d.is(weRefuse) || !d.ourErrorIs(ruleConnackFlags, ruleConnackSession) {
		return false
	}
	c, ok := d.theirs.p.(*packet.Connack)
	return ok && (d.body()[0]&^1 != 0 || c.SessionPresent && c.Reason != 0)
}

// mochiAuthIn311: packet type 15 is reserved in MQTT 3.1.1 (AUTH exists in
// 5.0 only; 3.1.1 section 2.2.1). mochi decodes an AUTH whatever the
// protocol version; its broker refuses it later, for a 3.1.1 client too.
func mochiAuthIn311(d *disagreement) bool {
	return d.is(weRefuse, "mochi") && d.v != packet.V5 && d.h.typ == packet.TypeAuth && d.ourErrorIs(ruleAuth311)
}

// ---------------------------------------------------------------- peer bugs

// pahoMergedConnectProperties is a paho bug its source admits: it checks
// both the CONNECT properties and the Will Properties against one merged
// table, so it accepts a Will-only property (Payload Format Indicator,
// Message Expiry Interval, Content Type, Response Topic, Correlation Data,
// Will Delay Interval) among the CONNECT properties and a CONNECT-only one
// among the Will Properties (sections 3.1.2.11 and 3.1.3.2 list them
// apart). Evidence: a property in the wrong list, read from the wire (paho's
// struct cannot show it when its value is an empty string, which paho takes
// for absent).
func pahoMergedConnectProperties(d *disagreement) bool {
	if !d.is(weRefuse, "paho") || !d.ourErrorIs(rulePropNotAllowed) || d.h.typ != packet.TypeConnect {
		return false
	}
	props, will := connectPropertyIDs(d.body())
	return props&^property.Allowed(byte(packet.TypeConnect)) != 0 ||
		will&^property.Allowed(property.Will) != 0
}

// connectPropertyIDs returns the identifiers in the CONNECT properties and
// in the Will Properties of a v5 CONNECT body, as far as the body can be
// read; it checks nothing else.
func connectPropertyIDs(body []byte) (props, will property.Set) {
	r := wireReader{b: body}
	r.skip(int(r.uint16())) // Protocol Name
	r.skip(1)               // Protocol Version
	flags := r.byte()
	r.skip(2) // Keep Alive
	props = r.propertyIDs()
	r.skip(int(r.uint16())) // Client Identifier
	if flags&0b100 != 0 {
		will = r.propertyIDs()
	}
	return props, will
}

// wireReader reads fields from a packet body for the classifiers' evidence;
// a read past the end yields zeros and stops every later read.
type wireReader struct{ b []byte }

func (r *wireReader) skip(n int) { r.b = r.b[min(n, len(r.b)):] }

func (r *wireReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.skip(1)
	return v
}

func (r *wireReader) uint16() uint16 { return uint16(r.byte())<<8 | uint16(r.byte()) }

func (r *wireReader) varint() int {
	n := 0
	for shift := 0; shift < 28; shift += 7 {
		c := r.byte()
		n |= int(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return n
}

// propertyIDs reads a Property Length and the properties it covers.
func (r *wireReader) propertyIDs() property.Set {
	n := r.varint()
	list := wireReader{b: r.b[:min(n, len(r.b))]}
	r.skip(n)
	var ids property.Set
	for len(list.b) > 0 {
		id := property.ID(list.varint())
		if !id.Known() {
			break
		}
		ids.Add(id)
		switch id.Kind() {
		case property.KindByte:
			list.skip(1)
		case property.KindUint16:
			list.skip(2)
		case property.KindUint32:
			list.skip(4)
		case property.KindVarint:
			list.varint()
		case property.KindString, property.KindBinary:
			list.skip(int(list.uint16()))
		case property.KindStringPair:
			list.skip(int(list.uint16()))
			list.skip(int(list.uint16()))
		}
	}
	return ids
}

// propertiesPastLength: the properties of a packet end where its Property
// Length says (section 2.2.2.1); a property cut short by it, or a Property
// Length beyond the packet, makes a malformed packet. paho reads the
// properties from r.Next(length), which returns fewer bytes without error
// when the length runs past the packet, and its Variable Byte Integer
// reader takes a Subscription Identifier cut short as complete; mochi reads
// each value from the rest of the packet, past the Property Length, then
// goes on after the Property Length, so that bytes can be read twice.
func propertiesPastLength(d *disagreement) bool {
	return d.is(weRefuse) && d.ourErrorIs(rulePropShort)
}

// pahoUnsubscribeCutShort is a paho bug: Unsubscribe.Unpack stops at any
// io.EOF while reading a Topic Filter, so a last filter cut short (a lone
// length byte, or fewer bytes than its length) is dropped without error
// where the packet is malformed.
func pahoUnsubscribeCutShort(d *disagreement) bool {
	return d.is(weRefuse, "paho") && d.h.typ == packet.TypeUnsubscribe && d.ourErrorIs(ruleShort)
}

// pahoDisconnectEmpty is a paho bug (pahoDisconnect0 of the interop cases):
// Disconnect.Unpack reads a Reason Code unconditionally, so the shortest
// normal DISCONNECT, Remaining Length 0 as section 3.14.2.1 allows, fails
// with EOF.
func pahoDisconnectEmpty(d *disagreement) bool {
	return d.is(peerRefuses, "paho") && d.h.typ == packet.TypeDisconnect && len(d.body()) == 0
}

// mochiAuthCutShort is a mochi bug (mochiAuthShort of the interop cases):
// AuthDecode requires a Reason Code and a Property Length, but section
// 3.15.2.1 lets a Success AUTH without properties have Remaining Length 0,
// and we read a Reason Code alone (Remaining Length 1) with a Property
// Length of 0, as section 3.14.2.2.1 says for DISCONNECT.
func mochiAuthCutShort(d *disagreement) bool {
	return d.is(peerRefuses, "mochi") && d.h.typ == packet.TypeAuth && len(d.body()) < 2
}

// mochiDisconnectReasonOnly is a mochi bug (mochiDisconnect1 of the
// interop cases): DisconnectDecode reads the Reason Code only when the
// Remaining Length is above 1, so a DISCONNECT of a Reason Code alone
// (section 3.14.2.1) decodes as Normal Disconnection, whatever the code,
// even one not defined for DISCONNECT (MQTT-3.14.2-1). Evidence: with its
// Reason Code set to 0, ours is the peer's packet; or we refused the code.
func mochiDisconnectReasonOnly(d *disagreement) bool {
	if d.peer != "mochi" || d.v != packet.V5 || d.h.typ != packet.TypeDisconnect || len(d.body()) != 1 {
		return false
	}
	if d.is(weRefuse) {
		return d.ourErrorIs(ruleReason...)
	}
	if !d.is(fieldsDiffer) {
		return false
	}
	ours := *d.ours.p.(*packet.Disconnect)
	ours.Reason = 0
	return cmp.Equal(commonForm(d.peer, &ours), commonForm(d.peer, d.theirs.p), eq)
}

// mochiDisconnectPropertyLength is a mochi bug: DisconnectDecode reads the
// properties only when the Remaining Length is above 2, so with a Remaining
// Length of 2 it never reads the Property Length byte, and a Property Length
// that promises properties which are not there (or a Variable Byte Integer
// cut short) goes unnoticed where the packet is malformed (section
// 2.2.2.1).
func mochiDisconnectPropertyLength(d *disagreement) bool {
	return d.is(weRefuse, "mochi") && d.v == packet.V5 && d.h.typ == packet.TypeDisconnect &&
		len(d.body()) == 2 && d.ourErrorIs(rulePropShort, ruleShort)
}

// pahoOneSubscriptionID is a paho limitation: its Properties hold one
// Subscription Identifier, the last read, but a PUBLISH carries one for
// each matching subscription (section 3.3.2.3.8). Evidence: with only its
// last Subscription Identifier, ours is the peer's packet.
func pahoOneSubscriptionID(d *disagreement) bool {
	if !d.is(fieldsDiffer, "paho") || d.h.typ != packet.TypePublish {
		return false
	}
	ours := *d.ours.p.(*packet.Publish)
	ids := ours.Props.SubscriptionIDs
	if len(ids) < 2 {
		return false
	}
	ours.Props.SubscriptionIDs = ids[len(ids)-1:]
	return cmp.Equal(commonForm(d.peer, &ours), commonForm(d.peer, d.theirs.p), eq)
}

// ---------------------------------------------------------------- evidence

// holdsIllFormedString reports whether the peer's own packet value holds a
// string, or mochi's Protocol Name or User Name, that is not a well-formed
// UTF-8 Encoded String.
func holdsIllFormedString(raw any) bool {
	bad := func(s string) bool { return !utf8.ValidString(s) || strings.Contains(s, "\x00") }
	if pk, ok := raw.(*mochi.Packet); ok && (bad(string(pk.Connect.ProtocolName)) || bad(string(pk.Connect.Username))) {
		return true
	}
	found := false
	walkStrings(reflect.ValueOf(raw), func(s string) { found = found || bad(s) })
	return found
}

// walkStrings calls f with every string reachable from v.
func walkStrings(v reflect.Value, f func(string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), f)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			walkStrings(v.Field(i), f)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkStrings(v.Index(i), f)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			walkStrings(it.Value(), f)
		}
	case reflect.String:
		f(v.String())
	}
}

// ---------------------------------------------------------------- our rules

// The errors our decoder gives for each rule, taken from an example of the
// rule so that the classifiers follow the codec's errors by identity.
var (
	ruleShort             = ourError(packet.V5, 0x40, 0x01, 0x00)
	ruleTrailing          = ourError(packet.V5, 0x40, 0x05, 0x00, 0x01, 0x80, 0x00, 0x00)
	ruleNotEmpty          = ourError(packet.V5, 0xC0, 0x01, 0x00)
	ruleVarintMinimal     = ourError(packet.V5, 0xC0, 0x80, 0x00)
	ruleVarintLong        = ourError(packet.V5, 0x30, 0x08, 0x00, 0x01, 'a', 0xFF, 0xFF, 0xFF, 0xFF, 0x7F)
	ruleUTF8              = ourError(packet.V5, 0x30, 0x03, 0x00, 0x01, 0xFF)
	ruleNull              = ourError(packet.V5, 0x30, 0x03, 0x00, 0x01, 0x00)
	ruleZeroID            = ourError(packet.V5, 0x40, 0x02, 0x00, 0x00)
	ruleTopicWildcard     = ourError(packet.V5, 0x30, 0x03, 0x00, 0x01, '+')
	ruleTopicEmpty        = ourError(packet.V311, 0x30, 0x02, 0x00, 0x00)
	ruleTopicNoAlias      = ourError(packet.V5, 0x30, 0x03, 0x00, 0x00, 0x00)
	rulePropShort         = ourError(packet.V5, 0xE0, 0x02, 0x00, 0x03)
	rulePropTwice         = ourError(packet.V5, 0x30, 0x08, 0x00, 0x01, 'a', 0x04, 0x01, 0x00, 0x01, 0x00)
	rulePropRange         = ourError(packet.V5, 0x30, 0x06, 0x00, 0x01, 'a', 0x02, 0x01, 0x02)
	ruleTopicAliasZero    = ourError(packet.V5, 0x30, 0x07, 0x00, 0x01, 'a', 0x03, 0x23, 0x00, 0x00)
	ruleResponseTopic     = ourError(packet.V5, 0x30, 0x09, 0x00, 0x01, 'a', 0x05, 0x08, 0x00, 0x02, 'a', '+')
	ruleAuthDataAlone     = ourError(packet.V5, 0x20, 0x07, 0x00, 0x00, 0x04, 0x16, 0x00, 0x01, 'a')
	rulePropNotAllowed    = ourError(packet.V5, 0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01)
	ruleFilterHash        = ourError(packet.V5, 0xA2, 0x07, 0x00, 0x01, 0x00, 0x00, 0x02, 'a', '#')
	ruleFilterPlus        = ourError(packet.V5, 0xA2, 0x07, 0x00, 0x01, 0x00, 0x00, 0x02, 'a', '+')
	ruleShareName         = ourError(packet.V5, append([]byte{0xA2, 0x0E, 0x00, 0x01, 0x00, 0x00, 0x09}, "$share//a"...)...)
	ruleShareChars        = ourError(packet.V5, append([]byte{0xA2, 0x0D, 0x00, 0x01, 0x00, 0x00, 0x08}, "$share/a"...)...)
	ruleProtocolName      = ourError(packet.V5, connect('M', 'Q', 'T', 'X', 5, 0x02)...)
	ruleProtocolVersion   = ourError(packet.V5, connect('M', 'Q', 'T', 'T', 6, 0x02)...)
	ruleConnectReserved   = ourError(packet.V5, connect('M', 'Q', 'T', 'T', 5, 0x03)...)
	ruleWillFlags         = ourError(packet.V5, connect('M', 'Q', 'T', 'T', 5, 0x22)...)
	ruleWillQoS           = ourError(packet.V5, connect('M', 'Q', 'T', 'T', 5, 0x1E)...)
	rulePasswordNoUser    = ourError(packet.V311, connect('M', 'Q', 'T', 'T', 4, 0x42)...)
	ruleConnackFlags      = ourError(packet.V5, 0x20, 0x03, 0x02, 0x00, 0x00)
	ruleConnackSession    = ourError(packet.V5, 0x20, 0x03, 0x01, 0x80, 0x00)
	ruleSubReserved       = ourError(packet.V5, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0xC0)
	ruleSubRetainHandling = ourError(packet.V5, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30)
	ruleSubNoLocalShared  = ourError(packet.V5, append(append([]byte{0x82, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0A}, "$share/g/a"...), 0x04)...)
	ruleSubQoS            = ourError(packet.V5, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03)
	ruleSubQoS311         = ourError(packet.V311, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03)
	ruleSubOptions311     = ourError(packet.V311, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04)
	ruleSubscribeEmpty    = ourError(packet.V5, 0x82, 0x03, 0x00, 0x01, 0x00)
	ruleUnsubscribeEmpty  = ourError(packet.V5, 0xA2, 0x03, 0x00, 0x01, 0x00)
	ruleSubackEmpty       = ourError(packet.V5, 0x90, 0x03, 0x00, 0x01, 0x00)
	ruleUnsubackEmpty     = ourError(packet.V5, 0xB0, 0x03, 0x00, 0x01, 0x00)
	ruleAuth311           = ourError(packet.V311, 0xF0, 0x00)
	// ruleReason holds the error for an undefined Reason Code of each
	// packet that has one, and for a 3.1.1 CONNACK return code.
	ruleReason = []error{
		ourError(packet.V5, 0x20, 0x03, 0x00, 0x01, 0x00),
		ourError(packet.V5, 0x40, 0x03, 0x00, 0x01, 0x01),
		ourError(packet.V5, 0x50, 0x03, 0x00, 0x01, 0x01),
		ourError(packet.V5, 0x62, 0x03, 0x00, 0x01, 0x01),
		ourError(packet.V5, 0x70, 0x03, 0x00, 0x01, 0x01),
		ourError(packet.V5, 0x90, 0x04, 0x00, 0x01, 0x00, 0x03),
		ourError(packet.V5, 0xB0, 0x04, 0x00, 0x01, 0x00, 0x01),
		ourError(packet.V5, 0xE0, 0x01, 0x01),
		ourError(packet.V5, 0xF0, 0x01, 0x01),
		ourError(packet.V311, 0x20, 0x02, 0x00, 0x06),
	}
)

// connect returns a CONNECT with an empty client identifier, the protocol
// name n, level and flags f, and properties when level is 5.
func connect(n0, n1, n2, n3, level, f byte) []byte {
	body := []byte{0x00, 0x04, n0, n1, n2, n3, level, f, 0x00, 0x00}
	if level == 5 {
		body = append(body, 0x00)
	}
	body = append(body, 0x00, 0x00)
	return append([]byte{0x10, byte(len(body))}, body...)
}

// ourError returns the error our decoder gives for wire in version v; the
// example must be refused.
func ourError(v packet.Version, wire ...byte) error {
	_, _, err := packet.Decode[uint16](v, wire, 0)
	var pe *packet.Error
	if !errors.As(err, &pe) {
		panic(fmt.Sprintf("differential: the example % x of a rule gives %v, not a *packet.Error", wire, err))
	}
	return err
}
