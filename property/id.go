package property

import "fmt"

// ID is a property identifier as it appears on the wire.
type ID byte

// The properties of MQTT 5.0 (section 2.2.2.2).
const (
	PayloadFormatIndicator          ID = 0x01
	MessageExpiryInterval           ID = 0x02
	ContentType                     ID = 0x03
	ResponseTopic                   ID = 0x08
	CorrelationData                 ID = 0x09
	SubscriptionIdentifier          ID = 0x0B
	SessionExpiryInterval           ID = 0x11
	AssignedClientIdentifier        ID = 0x12
	ServerKeepAlive                 ID = 0x13
	AuthenticationMethod            ID = 0x15
	AuthenticationData              ID = 0x16
	RequestProblemInformation       ID = 0x17
	WillDelayInterval               ID = 0x18
	RequestResponseInformation      ID = 0x19
	ResponseInformation             ID = 0x1A
	ServerReference                 ID = 0x1C
	ReasonString                    ID = 0x1F
	ReceiveMaximum                  ID = 0x21
	TopicAliasMaximum               ID = 0x22
	TopicAlias                      ID = 0x23
	MaximumQoS                      ID = 0x24
	RetainAvailable                 ID = 0x25
	UserProperty                    ID = 0x26
	MaximumPacketSize               ID = 0x27
	WildcardSubscriptionAvailable   ID = 0x28
	SubscriptionIdentifierAvailable ID = 0x29
	SharedSubscriptionAvailable     ID = 0x2A
)

// Kind is the data type of a property's value on the wire.
type Kind byte

// The data types properties use.
const (
	KindByte       Kind = iota + 1 // one byte
	KindUint16                     // Two Byte Integer
	KindUint32                     // Four Byte Integer
	KindVarint                     // Variable Byte Integer
	KindString                     // UTF-8 Encoded String
	KindBinary                     // Binary Data
	KindStringPair                 // UTF-8 String Pair
)

type info struct {
	name string
	kind Kind
}

var infos = [SharedSubscriptionAvailable + 1]info{
	PayloadFormatIndicator:          {"Payload Format Indicator", KindByte},
	MessageExpiryInterval:           {"Message Expiry Interval", KindUint32},
	ContentType:                     {"Content Type", KindString},
	ResponseTopic:                   {"Response Topic", KindString},
	CorrelationData:                 {"Correlation Data", KindBinary},
	SubscriptionIdentifier:          {"Subscription Identifier", KindVarint},
	SessionExpiryInterval:           {"Session Expiry Interval", KindUint32},
	AssignedClientIdentifier:        {"Assigned Client Identifier", KindString},
	ServerKeepAlive:                 {"Server Keep Alive", KindUint16},
	AuthenticationMethod:            {"Authentication Method", KindString},
	AuthenticationData:              {"Authentication Data", KindBinary},
	RequestProblemInformation:       {"Request Problem Information", KindByte},
	WillDelayInterval:               {"Will Delay Interval", KindUint32},
	RequestResponseInformation:      {"Request Response Information", KindByte},
	ResponseInformation:             {"Response Information", KindString},
	ServerReference:                 {"Server Reference", KindString},
	ReasonString:                    {"Reason String", KindString},
	ReceiveMaximum:                  {"Receive Maximum", KindUint16},
	TopicAliasMaximum:               {"Topic Alias Maximum", KindUint16},
	TopicAlias:                      {"Topic Alias", KindUint16},
	MaximumQoS:                      {"Maximum QoS", KindByte},
	RetainAvailable:                 {"Retain Available", KindByte},
	UserProperty:                    {"User Property", KindStringPair},
	MaximumPacketSize:               {"Maximum Packet Size", KindUint32},
	WildcardSubscriptionAvailable:   {"Wildcard Subscription Available", KindByte},
	SubscriptionIdentifierAvailable: {"Subscription Identifier Available", KindByte},
	SharedSubscriptionAvailable:     {"Shared Subscription Available", KindByte},
}

// Known reports whether id is one of the 27 properties of MQTT 5.0.
func (id ID) Known() bool {
	return int(id) < len(infos) && infos[id].kind != 0
}

// Kind returns the data type of the property, or 0 for an unknown id.
func (id ID) Kind() Kind {
	if int(id) >= len(kinds) {
		return 0
	}
	return kinds[id]
}

// kinds mirrors the kinds of infos in a compact table for the codec's hot path.
var kinds = func() (k [len(infos)]Kind) {
	for id := range infos {
		k[id] = infos[id].kind
	}
	return k
}()

// String returns the property's name as the specification writes it.
func (id ID) String() string {
	if !id.Known() {
		return fmt.Sprintf("property 0x%02X", byte(id))
	}
	return infos[id].name
}

// All lists the 27 properties in identifier order.
var All = []ID{
	PayloadFormatIndicator, MessageExpiryInterval, ContentType, ResponseTopic,
	CorrelationData, SubscriptionIdentifier, SessionExpiryInterval,
	AssignedClientIdentifier, ServerKeepAlive, AuthenticationMethod,
	AuthenticationData, RequestProblemInformation, WillDelayInterval,
	RequestResponseInformation, ResponseInformation, ServerReference,
	ReasonString, ReceiveMaximum, TopicAliasMaximum, TopicAlias, MaximumQoS,
	RetainAvailable, UserProperty, MaximumPacketSize,
	WildcardSubscriptionAvailable, SubscriptionIdentifierAvailable,
	SharedSubscriptionAvailable,
}
