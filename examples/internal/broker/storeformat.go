package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

// The records of the store, format 1 (meta "format"). Integers are
// big-endian; times are Unix nanoseconds, 0 for none.
//
//	session      format 1, session id 8, protocol level 1, flags 1 (bit 0:
//	             persistent; bit 1: its connection was live when written;
//	             bit 2: a will follows), Session Expiry Interval 4, expires
//	             at 8, Will Delay Interval 4, will at 8, then the will (a
//	             message)
//	subscription format 1, maximum QoS 1, flags 1 (bit 0: No Local; bit 1:
//	             Retain As Published), Subscription Identifier 4
//	delivery     a message: its PUBLISH is the delivery's (QoS, retain
//	             flag, Subscription Identifiers)
//	retained     sequence 8, then a message (an empty payload: deleted)
//	message      expires at 8, then the message as an MQTT 5.0 PUBLISH
//	             packet: topic, payload, QoS, retain flag, and the
//	             properties forwarded (packet identifier 1 at QoS 1 and 2;
//	             no Message Expiry Interval: "expires at" is absolute, so
//	             that the downtime counts)
//
// Keys: sessions by client identifier; subscriptions by session id and
// topic filter; deliveries by session id and sequence; journal batches (the
// Connection's EventJournal bytes, as they came) by session id and a
// sequence of the store's; retained messages by topic.
const storeFormat = 1

// Flags of the session record.
const (
	sessPersistent = 1 << iota
	sessOnline
	sessWill
)

// errRecord is the error of a damaged record.
var errRecord = fmt.Errorf("%w: damaged record", ErrStore)

// sessionRecord is what the store keeps of a session besides its
// subscriptions, deliveries and journal.
type sessionRecord struct {
	clientID   string
	sid        uint64
	version    packet.Version
	persistent bool
	online     bool      // its connection was live
	expiry     uint32    // Session Expiry Interval
	expiresAt  time.Time // while offline: when it ends (zero: never)
	will       *message  // the will, while it may still be published
	willDelay  uint32
	willAt     time.Time // while offline: when the will is due
}

func unixNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

func fromUnixNano(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

func (r *sessionRecord) encode() []byte {
	b := append(make([]byte, 0, 64), storeFormat)
	b = binary.BigEndian.AppendUint64(b, r.sid)
	var flags byte
	if r.persistent {
		flags |= sessPersistent
	}
	if r.online {
		flags |= sessOnline
	}
	if r.will != nil {
		flags |= sessWill
	}
	b = append(b, byte(r.version), flags)
	b = binary.BigEndian.AppendUint32(b, r.expiry)
	b = binary.BigEndian.AppendUint64(b, unixNano(r.expiresAt))
	b = binary.BigEndian.AppendUint32(b, r.willDelay)
	b = binary.BigEndian.AppendUint64(b, unixNano(r.willAt))
	if r.will != nil {
		b = appendMessageRecord(b, r.will, r.will.qos, r.will.retain, nil)
	}
	return b
}

func decodeSession(clientID string, v []byte) (*sessionRecord, error) {
	if len(v) < 1+8+2+4+8+4+8 || v[0] != storeFormat {
		return nil, errRecord
	}
	r := &sessionRecord{clientID: clientID, sid: binary.BigEndian.Uint64(v[1:]), version: packet.Version(v[9])}
	flags := v[10]
	r.persistent, r.online = flags&sessPersistent != 0, flags&sessOnline != 0
	r.expiry = binary.BigEndian.Uint32(v[11:])
	r.expiresAt = fromUnixNano(binary.BigEndian.Uint64(v[15:]))
	r.willDelay = binary.BigEndian.Uint32(v[23:])
	r.willAt = fromUnixNano(binary.BigEndian.Uint64(v[27:]))
	if !r.version.Valid() || flags > 7 {
		return nil, errRecord
	}
	if flags&sessWill != 0 {
		d, err := decodeMessageRecord(v[35:])
		if err != nil {
			return nil, err
		}
		r.will = d.msg
	} else if len(v) != 35 {
		return nil, errRecord
	}
	return r, nil
}

func encodeSubscription(sub subscription) []byte {
	var flags byte
	if sub.noLocal {
		flags |= 1
	}
	if sub.retainAsPublished {
		flags |= 2
	}
	var id uint32
	if len(sub.ids) > 0 {
		id = sub.ids[0]
	}
	return binary.BigEndian.AppendUint32([]byte{storeFormat, byte(sub.qos), flags}, id)
}

func decodeSubscription(v []byte) (subscription, error) {
	if len(v) != 7 || v[0] != storeFormat || v[1] > 2 || v[2] > 3 {
		return subscription{}, errRecord
	}
	return subscription{qos: packet.QoS(v[1]), noLocal: v[2]&1 != 0, retainAsPublished: v[2]&2 != 0,
		ids: subscriptionIDs(binary.BigEndian.Uint32(v[3:]))}, nil
}

// appendMessageRecord appends the record of m delivered at qos with the
// retain flag retain and the Subscription Identifiers subIDs.
func appendMessageRecord(b []byte, m *message, qos packet.QoS, retain bool, subIDs []uint32) []byte {
	b = binary.BigEndian.AppendUint64(b, unixNano(m.expires))
	p := packet.Publish{Topic: m.topic, Payload: m.payload, QoS: qos, Retain: retain}
	if qos > packet.QoS0 {
		p.PacketID = 1
	}
	if m.props != nil {
		p.Props = *m.props
	}
	p.Props.SubscriptionIDs = subIDs
	out, err := p.AppendTo(b, packet.V5)
	if err != nil {
		// The message came in a PUBLISH that the codec accepted: it
		// encodes. A topic or payload the codec refuses here is a bug.
		panic(fmt.Sprintf("broker: stored message does not encode: %v", err))
	}
	return out
}

// decodeMessageRecord decodes a message record into a delivery (its
// seq and unit left zero).
func decodeMessageRecord(v []byte) (delivery, error) {
	if len(v) < 8 {
		return delivery{}, errRecord
	}
	expires := fromUnixNano(binary.BigEndian.Uint64(v))
	wire := v[8:]
	h, need, err := packet.Frame(wire, 0)
	if err != nil || need != 0 || h.Size() != len(wire) || h.Type != packet.TypePublish {
		return delivery{}, errors.Join(errRecord, err)
	}
	var p packet.Publish
	if err := p.Decode(packet.V5, h.Flags, wire[h.Len:]); err != nil {
		return delivery{}, errors.Join(errRecord, err)
	}
	props := p.Props
	props.Zero &^= property.Set(0).With(property.MessageExpiryInterval)
	m := newMessage(p.Topic, p.Payload, p.QoS, p.Retain, &props, nil)
	m.expires = expires
	var ids []uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		ids = append(ids, p.Props.SubscriptionIDs...)
	}
	return delivery{msg: m, qos: p.QoS, retain: p.Retain, subIDs: ids}, nil
}
