package property

// User is one name/value pair of the User Property property.
type User struct {
	Key   string
	Value string
}

// Properties holds the properties of one v5 packet (or of a will). Each
// packet may carry only the properties Allowed for its type; encoding others
// is an error.
//
// A property is present when its field is non-zero: a non-zero number, a
// non-empty string, a non-nil byte slice or a non-empty list. A property that
// is to be present with a zero value is added to Zero. Has tells presence.
//
// Strings and byte slices of a decoded Properties alias the decoded bytes;
// Clone returns a copy that does not.
type Properties struct {
	// Zero lists the properties present with a zero value.
	Zero Set

	PayloadFormat            byte   // Payload Format Indicator: 0 bytes, 1 UTF-8
	MessageExpiry            uint32 // Message Expiry Interval, seconds
	ContentType              string
	ResponseTopic            string
	CorrelationData          []byte
	SubscriptionIDs          []uint32 // Subscription Identifier: one in SUBSCRIBE, any number in PUBLISH
	SessionExpiry            uint32   // Session Expiry Interval, seconds
	AssignedClientID         string
	ServerKeepAlive          uint16 // seconds
	AuthMethod               string
	AuthData                 []byte
	RequestProblemInfo       byte // absent means 1
	WillDelay                uint32
	RequestResponseInfo      byte
	ResponseInfo             string
	ServerReference          string
	ReasonString             string
	ReceiveMaximum           uint16 // absent means 65,535
	TopicAliasMaximum        uint16
	TopicAlias               uint16
	MaximumQoS               byte // absent means 2
	RetainAvailable          byte // absent means 1
	User                     []User
	MaximumPacketSize        uint32 // absent means no limit
	WildcardSubAvailable     byte   // absent means 1
	SubscriptionIDsAvailable byte   // absent means 1
	SharedSubAvailable       byte   // absent means 1
}

// Present returns the set of properties present in p.
func (p *Properties) Present() Set {
	s := p.Zero |
		bit(PayloadFormatIndicator, p.PayloadFormat != 0) |
		bit(MessageExpiryInterval, p.MessageExpiry != 0) |
		bit(ContentType, p.ContentType != "") |
		bit(ResponseTopic, p.ResponseTopic != "") |
		bit(CorrelationData, p.CorrelationData != nil) |
		bit(SubscriptionIdentifier, len(p.SubscriptionIDs) != 0) |
		bit(SessionExpiryInterval, p.SessionExpiry != 0) |
		bit(AssignedClientIdentifier, p.AssignedClientID != "") |
		bit(ServerKeepAlive, p.ServerKeepAlive != 0) |
		bit(AuthenticationMethod, p.AuthMethod != "") |
		bit(AuthenticationData, p.AuthData != nil) |
		bit(RequestProblemInformation, p.RequestProblemInfo != 0) |
		bit(WillDelayInterval, p.WillDelay != 0) |
		bit(RequestResponseInformation, p.RequestResponseInfo != 0)
	return s |
		bit(ResponseInformation, p.ResponseInfo != "") |
		bit(ServerReference, p.ServerReference != "") |
		bit(ReasonString, p.ReasonString != "") |
		bit(ReceiveMaximum, p.ReceiveMaximum != 0) |
		bit(TopicAliasMaximum, p.TopicAliasMaximum != 0) |
		bit(TopicAlias, p.TopicAlias != 0) |
		bit(MaximumQoS, p.MaximumQoS != 0) |
		bit(RetainAvailable, p.RetainAvailable != 0) |
		bit(UserProperty, len(p.User) != 0) |
		bit(MaximumPacketSize, p.MaximumPacketSize != 0) |
		bit(WildcardSubscriptionAvailable, p.WildcardSubAvailable != 0) |
		bit(SubscriptionIdentifierAvailable, p.SubscriptionIDsAvailable != 0) |
		bit(SharedSubscriptionAvailable, p.SharedSubAvailable != 0)
}

// bit returns the set {id} when present is true, else the empty set.
func bit(id ID, present bool) Set {
	var b Set
	if present {
		b = 1
	}
	return b << id
}

// Has reports whether the property id is present in p.
func (p *Properties) Has(id ID) bool { return p.Present().Has(id) }

// IsEmpty reports whether p holds no property at all; it is cheaper than
// Present.
func (p *Properties) IsEmpty() bool {
	// One OR of every length and number, so that the common empty list
	// costs no branch per field.
	n := uint64(p.Zero) |
		uint64(len(p.User)|len(p.SubscriptionIDs)|len(p.ContentType)|len(p.ResponseTopic)|
			len(p.AssignedClientID)|len(p.AuthMethod)|len(p.ResponseInfo)|len(p.ServerReference)|
			len(p.ReasonString)) |
		uint64(p.MessageExpiry|p.SessionExpiry|p.WillDelay|p.MaximumPacketSize) |
		uint64(p.ServerKeepAlive|p.ReceiveMaximum|p.TopicAliasMaximum|p.TopicAlias) |
		uint64(p.PayloadFormat|p.RequestProblemInfo|p.RequestResponseInfo|p.MaximumQoS|
			p.RetainAvailable|p.WildcardSubAvailable|p.SubscriptionIDsAvailable|p.SharedSubAvailable)
	return n == 0 && p.CorrelationData == nil && p.AuthData == nil
}

// Reset empties p, keeping the capacity of its lists for reuse.
func (p *Properties) Reset() {
	*p = Properties{User: p.User[:0], SubscriptionIDs: p.SubscriptionIDs[:0]}
}

// Clone returns a deep copy of p that shares no memory with it.
func (p *Properties) Clone() Properties {
	c := *p
	c.ContentType = cloneString(p.ContentType)
	c.ResponseTopic = cloneString(p.ResponseTopic)
	c.CorrelationData = cloneBytes(p.CorrelationData)
	c.AssignedClientID = cloneString(p.AssignedClientID)
	c.AuthMethod = cloneString(p.AuthMethod)
	c.AuthData = cloneBytes(p.AuthData)
	c.ResponseInfo = cloneString(p.ResponseInfo)
	c.ServerReference = cloneString(p.ServerReference)
	c.ReasonString = cloneString(p.ReasonString)
	if p.SubscriptionIDs != nil {
		c.SubscriptionIDs = append(make([]uint32, 0, len(p.SubscriptionIDs)), p.SubscriptionIDs...)
	}
	if p.User != nil {
		c.User = make([]User, len(p.User))
		for i, u := range p.User {
			c.User[i] = User{cloneString(u.Key), cloneString(u.Value)}
		}
	}
	return c
}

func cloneString(s string) string {
	if s == "" {
		return ""
	}
	return string([]byte(s))
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
