// Package packet is the MQTT wire codec: every control packet of MQTT 3.1.1
// (14) and MQTT 5.0 (15), their fixed header and framing, and the protocol's
// reason codes.
//
// Each packet is a plain struct. AppendTo validates it and appends its
// encoding to a caller's slice; Size says how many bytes that takes, so one
// allocation, or none with a reused buffer, suffices. Decode parses a body
// without copying: strings and byte slices of the result alias the decoded
// bytes and stay valid while those bytes are unchanged (Clone makes an
// independent copy). Frame splits a byte stream into packets and enforces a
// size limit before anything is buffered; Decoder decodes a stream without
// allocating.
//
//	p := &packet.Publish{Topic: "sensors/room1", QoS: packet.QoS1, PacketID: 7, Payload: []byte("21.5")}
//	buf, err := p.AppendTo(buf[:0], packet.V5)
//
//	var d packet.Decoder[uint16]
//	d.Version = packet.V5
//	pkt, n, err := d.Decode(buf) // n == 0: wait for more bytes
//
// Packets that carry a packet identifier are generic over its type
// (packetid.ID): PublishOf[uint16], the standard two-byte identifier, has the
// short name Publish; PublishOf[uint32] uses four-byte identifiers on the
// wire, an extension for links inside broker clusters.
//
// Decoding is strict: every malformed input is refused with an *Error that
// names the v5 reason code it maps to (MalformedPacket, ProtocolError, ...)
// and the normative statement it breaks. errors.Is(err, packet.ErrMalformed)
// and packet.ReasonOf(err) classify it. Encoding refuses what decoding would
// refuse, never truncates, and writes nothing on error.
package packet
