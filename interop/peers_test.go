package interop

import (
	"bytes"
	"fmt"

	paho "github.com/eclipse/paho.golang/packets"
	mochi "github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// This file adapts the two peer codecs: encode and decode through each
// peer's public API the way its own client or broker does, and translate a
// peer's packet into ours so that the tests can compare fields.

// pahoEncode encodes p as a paho.golang client writes it to its connection.
func pahoEncode(p paho.Packet) ([]byte, error) {
	var b bytes.Buffer
	if _, err := p.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// pahoDecode reads one packet from wire with paho.golang's reader, which
// must consume all of it.
func pahoDecode(wire []byte) (paho.Packet, error) {
	r := bytes.NewReader(wire)
	cp, err := paho.ReadPacket(r)
	if err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("paho left %d bytes unread", r.Len())
	}
	return cp.Content, nil
}

// mochiEncode encodes pk with the encoder mochi's broker uses for its type.
// It works on a copy: mochi's encoders write into the packet.
func mochiEncode(pk *mochi.Packet) ([]byte, error) {
	p := *pk
	var b bytes.Buffer
	var err error
	switch p.FixedHeader.Type {
	case mochi.Connect:
		err = p.ConnectEncode(&b)
	case mochi.Connack:
		err = p.ConnackEncode(&b)
	case mochi.Publish:
		err = p.PublishEncode(&b)
	case mochi.Puback:
		err = p.PubackEncode(&b)
	case mochi.Pubrec:
		err = p.PubrecEncode(&b)
	case mochi.Pubrel:
		err = p.PubrelEncode(&b)
	case mochi.Pubcomp:
		err = p.PubcompEncode(&b)
	case mochi.Subscribe:
		err = p.SubscribeEncode(&b)
	case mochi.Suback:
		err = p.SubackEncode(&b)
	case mochi.Unsubscribe:
		err = p.UnsubscribeEncode(&b)
	case mochi.Unsuback:
		err = p.UnsubackEncode(&b)
	case mochi.Pingreq:
		err = p.PingreqEncode(&b)
	case mochi.Pingresp:
		err = p.PingrespEncode(&b)
	case mochi.Disconnect:
		err = p.DisconnectEncode(&b)
	case mochi.Auth:
		err = p.AuthEncode(&b)
	default:
		err = fmt.Errorf("mochi: no encoder for type %d", p.FixedHeader.Type)
	}
	return b.Bytes(), err
}

// mochiDecode decodes the packet in wire as mochi's broker reads one from a
// client of protocol version v: fixed header byte, Remaining Length, then
// the decoder for the type.
func mochiDecode(v packet.Version, wire []byte) (*mochi.Packet, error) {
	if len(wire) == 0 {
		return nil, fmt.Errorf("mochi: empty input")
	}
	pk := &mochi.Packet{ProtocolVersion: byte(v)}
	if err := pk.FixedHeader.Decode(wire[0]); err != nil {
		return nil, err
	}
	n, bu, err := mochi.DecodeLength(bytes.NewReader(wire[1:]))
	if err != nil {
		return nil, err
	}
	if 1+bu+n != len(wire) {
		return nil, fmt.Errorf("mochi: remaining length %d does not match %d bytes", n, len(wire)-1-bu)
	}
	pk.FixedHeader.Remaining = n
	body := wire[1+bu:]
	switch pk.FixedHeader.Type {
	case mochi.Connect:
		err = pk.ConnectDecode(body)
	case mochi.Connack:
		err = pk.ConnackDecode(body)
	case mochi.Publish:
		err = pk.PublishDecode(body)
	case mochi.Puback:
		err = pk.PubackDecode(body)
	case mochi.Pubrec:
		err = pk.PubrecDecode(body)
	case mochi.Pubrel:
		err = pk.PubrelDecode(body)
	case mochi.Pubcomp:
		err = pk.PubcompDecode(body)
	case mochi.Subscribe:
		err = pk.SubscribeDecode(body)
	case mochi.Suback:
		err = pk.SubackDecode(body)
	case mochi.Unsubscribe:
		err = pk.UnsubscribeDecode(body)
	case mochi.Unsuback:
		err = pk.UnsubackDecode(body)
	case mochi.Pingreq:
		err = pk.PingreqDecode(body)
	case mochi.Pingresp:
		err = pk.PingrespDecode(body)
	case mochi.Disconnect:
		err = pk.DisconnectDecode(body)
	case mochi.Auth:
		err = pk.AuthDecode(body)
	default:
		err = fmt.Errorf("mochi: no decoder for type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		return nil, err
	}
	return pk, nil
}

// nonEmpty maps an empty byte slice to nil, as our decoder reports an empty
// payload.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// present maps a byte slice that is on the wire (possibly empty) to a
// non-nil one, as our decoder reports a present password.
func present(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// fromPaho translates a paho packet into ours, field by field.
func fromPaho(p paho.Packet) packet.Packet {
	switch p := p.(type) {
	case *paho.Connect:
		c := &packet.Connect{Version: packet.Version(p.ProtocolVersion), CleanStart: p.CleanStart,
			KeepAlive: p.KeepAlive, ClientID: p.ClientID, Props: fromPahoProps(p.Properties)}
		if p.WillFlag {
			c.Will = packet.Will{Topic: p.WillTopic, QoS: packet.QoS(p.WillQOS), Retain: p.WillRetain,
				Payload: nonEmpty(p.WillMessage), Props: fromPahoProps(p.WillProperties)}
		}
		if p.UsernameFlag {
			c.Username, c.EmptyUsername = p.Username, p.Username == ""
		}
		if p.PasswordFlag {
			c.Password = present(p.Password)
		}
		return c
	case *paho.Connack:
		return &packet.Connack{SessionPresent: p.SessionPresent, Reason: packet.ReasonCode(p.ReasonCode),
			Props: fromPahoProps(p.Properties)}
	case *paho.Publish:
		q := &packet.Publish{Topic: p.Topic, QoS: packet.QoS(p.QoS), Retain: p.Retain, Dup: p.Duplicate,
			Props: fromPahoProps(p.Properties), Payload: nonEmpty(p.Payload)}
		if p.QoS > 0 {
			q.PacketID = p.PacketID
		}
		return q
	case *paho.Puback:
		return &packet.Puback{PacketID: p.PacketID, Reason: packet.ReasonCode(p.ReasonCode), Props: fromPahoProps(p.Properties)}
	case *paho.Pubrec:
		return &packet.Pubrec{PacketID: p.PacketID, Reason: packet.ReasonCode(p.ReasonCode), Props: fromPahoProps(p.Properties)}
	case *paho.Pubrel:
		return &packet.Pubrel{PacketID: p.PacketID, Reason: packet.ReasonCode(p.ReasonCode), Props: fromPahoProps(p.Properties)}
	case *paho.Pubcomp:
		return &packet.Pubcomp{PacketID: p.PacketID, Reason: packet.ReasonCode(p.ReasonCode), Props: fromPahoProps(p.Properties)}
	case *paho.Subscribe:
		s := &packet.Subscribe{PacketID: p.PacketID, Props: fromPahoProps(p.Properties)}
		for _, o := range p.Subscriptions {
			s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: o.Topic, QoS: packet.QoS(o.QoS),
				NoLocal: o.NoLocal, RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling})
		}
		return s
	case *paho.Suback:
		return &packet.Suback{PacketID: p.PacketID, Props: fromPahoProps(p.Properties), Reasons: reasonCodes(p.Reasons)}
	case *paho.Unsubscribe:
		return &packet.Unsubscribe{PacketID: p.PacketID, Props: fromPahoProps(p.Properties), Filters: p.Topics}
	case *paho.Unsuback:
		return &packet.Unsuback{PacketID: p.PacketID, Props: fromPahoProps(p.Properties), Reasons: reasonCodes(p.Reasons)}
	case *paho.Pingreq:
		return &packet.Pingreq{}
	case *paho.Pingresp:
		return &packet.Pingresp{}
	case *paho.Disconnect:
		return &packet.Disconnect{Reason: packet.ReasonCode(p.ReasonCode), Props: fromPahoProps(p.Properties)}
	case *paho.Auth:
		return &packet.Auth{Reason: packet.ReasonCode(p.ReasonCode), Props: fromPahoProps(p.Properties)}
	}
	panic(fmt.Sprintf("fromPaho: unexpected %T", p))
}

func reasonCodes(b []byte) []packet.ReasonCode {
	var r []packet.ReasonCode
	for _, c := range b {
		r = append(r, packet.ReasonCode(c))
	}
	return r
}

// setOpt copies an optional paho property: a nil pointer is absent, a
// pointer to zero is present with a zero value (our Zero set).
func setOpt[T comparable](q *property.Properties, id property.ID, dst *T, src *T) {
	if src == nil {
		return
	}
	*dst = *src
	var zero T
	if *src == zero {
		q.Zero.Add(id)
	}
}

// fromPahoProps translates paho's properties. paho treats an empty string
// or byte slice as absent, and holds at most one Subscription Identifier.
func fromPahoProps(p *paho.Properties) property.Properties {
	var q property.Properties
	if p == nil {
		return q
	}
	setOpt(&q, property.PayloadFormatIndicator, &q.PayloadFormat, p.PayloadFormat)
	setOpt(&q, property.MessageExpiryInterval, &q.MessageExpiry, p.MessageExpiry)
	q.ContentType = p.ContentType
	q.ResponseTopic = p.ResponseTopic
	q.CorrelationData = nonEmpty(p.CorrelationData)
	if p.SubscriptionIdentifier != nil {
		q.SubscriptionIDs = []uint32{uint32(*p.SubscriptionIdentifier)}
	}
	setOpt(&q, property.SessionExpiryInterval, &q.SessionExpiry, p.SessionExpiryInterval)
	q.AssignedClientID = p.AssignedClientID
	setOpt(&q, property.ServerKeepAlive, &q.ServerKeepAlive, p.ServerKeepAlive)
	q.AuthMethod = p.AuthMethod
	q.AuthData = nonEmpty(p.AuthData)
	setOpt(&q, property.RequestProblemInformation, &q.RequestProblemInfo, p.RequestProblemInfo)
	setOpt(&q, property.WillDelayInterval, &q.WillDelay, p.WillDelayInterval)
	setOpt(&q, property.RequestResponseInformation, &q.RequestResponseInfo, p.RequestResponseInfo)
	q.ResponseInfo = p.ResponseInfo
	q.ServerReference = p.ServerReference
	q.ReasonString = p.ReasonString
	setOpt(&q, property.ReceiveMaximum, &q.ReceiveMaximum, p.ReceiveMaximum)
	setOpt(&q, property.TopicAliasMaximum, &q.TopicAliasMaximum, p.TopicAliasMaximum)
	setOpt(&q, property.TopicAlias, &q.TopicAlias, p.TopicAlias)
	setOpt(&q, property.MaximumQoS, &q.MaximumQoS, p.MaximumQOS)
	setOpt(&q, property.RetainAvailable, &q.RetainAvailable, p.RetainAvailable)
	for _, u := range p.User {
		q.User = append(q.User, property.User{Key: u.Key, Value: u.Value})
	}
	setOpt(&q, property.MaximumPacketSize, &q.MaximumPacketSize, p.MaximumPacketSize)
	setOpt(&q, property.WildcardSubscriptionAvailable, &q.WildcardSubAvailable, p.WildcardSubAvailable)
	setOpt(&q, property.SubscriptionIdentifierAvailable, &q.SubscriptionIDsAvailable, p.SubIDAvailable)
	setOpt(&q, property.SharedSubscriptionAvailable, &q.SharedSubAvailable, p.SharedSubAvailable)
	return q
}

// fromMochi translates a mochi packet into ours, field by field.
func fromMochi(pk *mochi.Packet) packet.Packet {
	v5 := pk.ProtocolVersion == 5
	props := func(p *mochi.Properties) property.Properties {
		if !v5 {
			return property.Properties{}
		}
		return fromMochiProps(p)
	}
	reason := func() packet.ReasonCode {
		if !v5 {
			return 0
		}
		return packet.ReasonCode(pk.ReasonCode)
	}
	switch pk.FixedHeader.Type {
	case mochi.Connect:
		p := &pk.Connect
		c := &packet.Connect{Version: packet.Version(pk.ProtocolVersion), CleanStart: p.Clean,
			KeepAlive: p.Keepalive, ClientID: p.ClientIdentifier, Props: props(&pk.Properties)}
		if p.WillFlag {
			c.Will = packet.Will{Topic: p.WillTopic, QoS: packet.QoS(p.WillQos), Retain: p.WillRetain,
				Payload: nonEmpty(p.WillPayload), Props: props(&p.WillProperties)}
		}
		if p.UsernameFlag {
			c.Username, c.EmptyUsername = string(p.Username), len(p.Username) == 0
		}
		if p.PasswordFlag {
			c.Password = present(p.Password)
		}
		return c
	case mochi.Connack:
		return &packet.Connack{SessionPresent: pk.SessionPresent, Reason: packet.ReasonCode(pk.ReasonCode),
			Props: props(&pk.Properties)}
	case mochi.Publish:
		q := &packet.Publish{Topic: pk.TopicName, QoS: packet.QoS(pk.FixedHeader.Qos), Retain: pk.FixedHeader.Retain,
			Dup: pk.FixedHeader.Dup, Props: props(&pk.Properties), Payload: nonEmpty(pk.Payload)}
		if q.QoS > 0 {
			q.PacketID = pk.PacketID
		}
		return q
	case mochi.Puback:
		return &packet.Puback{PacketID: pk.PacketID, Reason: reason(), Props: props(&pk.Properties)}
	case mochi.Pubrec:
		return &packet.Pubrec{PacketID: pk.PacketID, Reason: reason(), Props: props(&pk.Properties)}
	case mochi.Pubrel:
		return &packet.Pubrel{PacketID: pk.PacketID, Reason: reason(), Props: props(&pk.Properties)}
	case mochi.Pubcomp:
		return &packet.Pubcomp{PacketID: pk.PacketID, Reason: reason(), Props: props(&pk.Properties)}
	case mochi.Subscribe:
		s := &packet.Subscribe{PacketID: pk.PacketID, Props: props(&pk.Properties)}
		for _, f := range pk.Filters {
			s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: f.Filter, QoS: packet.QoS(f.Qos),
				NoLocal: f.NoLocal, RetainAsPublished: f.RetainAsPublished, RetainHandling: f.RetainHandling})
		}
		return s
	case mochi.Suback:
		return &packet.Suback{PacketID: pk.PacketID, Props: props(&pk.Properties), Reasons: reasonCodes(pk.ReasonCodes)}
	case mochi.Unsubscribe:
		u := &packet.Unsubscribe{PacketID: pk.PacketID, Props: props(&pk.Properties)}
		for _, f := range pk.Filters {
			u.Filters = append(u.Filters, f.Filter)
		}
		return u
	case mochi.Unsuback:
		u := &packet.Unsuback{PacketID: pk.PacketID, Props: props(&pk.Properties)}
		if v5 {
			u.Reasons = reasonCodes(pk.ReasonCodes)
		}
		return u
	case mochi.Pingreq:
		return &packet.Pingreq{}
	case mochi.Pingresp:
		return &packet.Pingresp{}
	case mochi.Disconnect:
		return &packet.Disconnect{Reason: reason(), Props: props(&pk.Properties)}
	case mochi.Auth:
		return &packet.Auth{Reason: packet.ReasonCode(pk.ReasonCode), Props: props(&pk.Properties)}
	}
	panic(fmt.Sprintf("fromMochi: unexpected type %d", pk.FixedHeader.Type))
}

// setFlagged copies a mochi property that has a presence flag.
func setFlagged[T comparable](q *property.Properties, id property.ID, dst *T, src T, flag bool) {
	if !flag {
		return
	}
	*dst = src
	var zero T
	if src == zero {
		q.Zero.Add(id)
	}
}

// fromMochiProps translates mochi's properties. mochi marks the presence
// of the properties whose zero value is meaningful with a Flag field; the
// others are absent when zero.
func fromMochiProps(p *mochi.Properties) property.Properties {
	var q property.Properties
	setFlagged(&q, property.PayloadFormatIndicator, &q.PayloadFormat, p.PayloadFormat, p.PayloadFormatFlag)
	q.MessageExpiry = p.MessageExpiryInterval
	q.ContentType = p.ContentType
	q.ResponseTopic = p.ResponseTopic
	q.CorrelationData = nonEmpty(p.CorrelationData)
	for _, id := range p.SubscriptionIdentifier {
		q.SubscriptionIDs = append(q.SubscriptionIDs, uint32(id))
	}
	setFlagged(&q, property.SessionExpiryInterval, &q.SessionExpiry, p.SessionExpiryInterval, p.SessionExpiryIntervalFlag)
	q.AssignedClientID = p.AssignedClientID
	setFlagged(&q, property.ServerKeepAlive, &q.ServerKeepAlive, p.ServerKeepAlive, p.ServerKeepAliveFlag)
	q.AuthMethod = p.AuthenticationMethod
	q.AuthData = nonEmpty(p.AuthenticationData)
	setFlagged(&q, property.RequestProblemInformation, &q.RequestProblemInfo, p.RequestProblemInfo, p.RequestProblemInfoFlag)
	q.WillDelay = p.WillDelayInterval
	q.RequestResponseInfo = p.RequestResponseInfo
	q.ResponseInfo = p.ResponseInfo
	q.ServerReference = p.ServerReference
	q.ReasonString = p.ReasonString
	q.ReceiveMaximum = p.ReceiveMaximum
	q.TopicAliasMaximum = p.TopicAliasMaximum
	setFlagged(&q, property.TopicAlias, &q.TopicAlias, p.TopicAlias, p.TopicAliasFlag)
	setFlagged(&q, property.MaximumQoS, &q.MaximumQoS, p.MaximumQos, p.MaximumQosFlag)
	setFlagged(&q, property.RetainAvailable, &q.RetainAvailable, p.RetainAvailable, p.RetainAvailableFlag)
	for _, u := range p.User {
		q.User = append(q.User, property.User{Key: u.Key, Value: u.Val})
	}
	q.MaximumPacketSize = p.MaximumPacketSize
	setFlagged(&q, property.WildcardSubscriptionAvailable, &q.WildcardSubAvailable, p.WildcardSubAvailable, p.WildcardSubAvailableFlag)
	setFlagged(&q, property.SubscriptionIdentifierAvailable, &q.SubscriptionIDsAvailable, p.SubIDAvailable, p.SubIDAvailableFlag)
	setFlagged(&q, property.SharedSubscriptionAvailable, &q.SharedSubAvailable, p.SharedSubAvailable, p.SharedSubAvailableFlag)
	return q
}
