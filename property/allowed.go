package property

// Will is the pseudo packet type under which Allowed reports the properties
// of a CONNECT packet's Will Properties.
const Will = 0

// Allowed returns the properties that may appear in the packet of the given
// MQTT control packet type (1 CONNECT … 15 AUTH), or in the Will Properties
// when packetType is Will. Packets without properties get the empty set.
func Allowed(packetType byte) Set {
	if int(packetType) >= len(allowed) {
		return 0
	}
	return allowed[packetType]
}

var (
	messageProps = NewSet(PayloadFormatIndicator, MessageExpiryInterval,
		ContentType, ResponseTopic, CorrelationData, UserProperty)
	ackProps = NewSet(ReasonString, UserProperty)
)

var allowed = [16]Set{
	Will: messageProps.With(WillDelayInterval),
	1: NewSet(SessionExpiryInterval, AuthenticationMethod, AuthenticationData, // CONNECT
		RequestProblemInformation, RequestResponseInformation, ReceiveMaximum,
		TopicAliasMaximum, UserProperty, MaximumPacketSize),
	2: NewSet(SessionExpiryInterval, AssignedClientIdentifier, ServerKeepAlive, // CONNACK
		AuthenticationMethod, AuthenticationData, ResponseInformation,
		ServerReference, ReasonString, ReceiveMaximum, TopicAliasMaximum,
		MaximumQoS, RetainAvailable, UserProperty, MaximumPacketSize,
		WildcardSubscriptionAvailable, SubscriptionIdentifierAvailable,
		SharedSubscriptionAvailable),
	3:  messageProps.With(SubscriptionIdentifier).With(TopicAlias),                   // PUBLISH
	4:  ackProps,                                                                     // PUBACK
	5:  ackProps,                                                                     // PUBREC
	6:  ackProps,                                                                     // PUBREL
	7:  ackProps,                                                                     // PUBCOMP
	8:  NewSet(SubscriptionIdentifier, UserProperty),                                 // SUBSCRIBE
	9:  ackProps,                                                                     // SUBACK
	10: NewSet(UserProperty),                                                         // UNSUBSCRIBE
	11: ackProps,                                                                     // UNSUBACK
	14: NewSet(SessionExpiryInterval, ServerReference, ReasonString, UserProperty),   // DISCONNECT
	15: NewSet(AuthenticationMethod, AuthenticationData, ReasonString, UserProperty), // AUTH
}
