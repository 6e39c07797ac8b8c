package interop

import (
	"fmt"
	"math/rand/v2"
	"testing"

	paho "github.com/eclipse/paho.golang/packets"
	mochi "github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqttcore/mqtt/packet"
)

// TestInteropRandom is a differential test: it builds random valid packets
// in each peer's own struct, translates them to ours, and runs them through
// the same two directions as the table cases (peer bytes decode with ours;
// our bytes decode with the peer). mochi writes properties in identifier
// order, as we do, so its bytes must equal ours too; paho's order differs,
// so its bytes are not compared. The seed is fixed: a failure reproduces.
func TestInteropRandom(t *testing.T) {
	const n = 300
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		p := randPahoPacket(r)
		name := fmt.Sprintf("paho/%d", i)
		t.Run(name, func(t *testing.T) {
			pc := withPaho(p).differ("random case: paho's property order is not ours")
			pc.anyBytes = true
			runInterop(t, interopCase{name: name, v: packet.V5, ours: fromPaho(p)}, pc, pahoCodec)
		})
	}
	for i := range n {
		v := packet.V5
		if i%3 == 2 {
			v = packet.V311
		}
		p := randMochiPacket(r, v)
		name := fmt.Sprintf("mochi/%d", i)
		t.Run(name, func(t *testing.T) {
			runInterop(t, interopCase{name: name, v: v, ours: fromMochi(p)}, withMochi(p), mochiCodec)
		})
	}
}

// randText returns a valid UTF-8 Encoded String of 0 to 12 pieces, some of
// them multi-byte, none a wildcard or U+0000.
func randText(r *rand.Rand, minLen int) string {
	pieces := []string{"a", "b", "z", "0", "/", "-", "é", "日本", "\U0001F600", "\uFEFF", " ", "~", "$", "\u007F"}
	var s string
	for n := minLen + r.IntN(12); len(s) < n; {
		s += pieces[r.IntN(len(pieces))]
	}
	return s
}

func randBytes(r *rand.Rand, max int) []byte {
	b := make([]byte, r.IntN(max+1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func maybe(r *rand.Rand) bool { return r.IntN(2) == 0 }

func randPahoUsers(r *rand.Rand) []paho.User {
	var u []paho.User
	for range r.IntN(3) {
		u = append(u, paho.User{Key: randText(r, 0), Value: randText(r, 0)})
	}
	return u
}

func randMochiUsers(r *rand.Rand) []mochi.UserProperty {
	var u []mochi.UserProperty
	for range r.IntN(3) {
		u = append(u, mochi.UserProperty{Key: randText(r, 0), Val: randText(r, 0)})
	}
	return u
}

func randPahoPacket(r *rand.Rand) paho.Packet {
	switch r.IntN(3) {
	case 0:
		p := &paho.Publish{Topic: randText(r, 1), QoS: byte(r.IntN(3)), Retain: maybe(r), Payload: randBytes(r, 300),
			Properties: &paho.Properties{User: randPahoUsers(r)}}
		if p.QoS > 0 {
			p.PacketID, p.Duplicate = uint16(1+r.IntN(65535)), maybe(r)
		}
		pp := p.Properties
		if maybe(r) {
			pp.PayloadFormat = ptr(byte(r.IntN(2)))
		}
		if maybe(r) {
			pp.MessageExpiry = ptr(r.Uint32())
		}
		if maybe(r) {
			pp.ContentType = randText(r, 1)
		}
		if maybe(r) {
			pp.ResponseTopic = randText(r, 1)
		}
		if maybe(r) {
			pp.CorrelationData = randBytes(r, 20)
		}
		if maybe(r) {
			pp.TopicAlias = ptr(uint16(1 + r.IntN(65535)))
		}
		if maybe(r) {
			pp.SubscriptionIdentifier = ptr(1 + r.IntN(268_435_455))
		}
		return p
	case 1:
		c := &paho.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: maybe(r), KeepAlive: uint16(r.Uint32()),
			ClientID: randText(r, 0), Properties: &paho.Properties{User: randPahoUsers(r)}}
		pp := c.Properties
		if maybe(r) {
			pp.SessionExpiryInterval = ptr(r.Uint32())
		}
		if maybe(r) {
			pp.ReceiveMaximum = ptr(uint16(1 + r.IntN(65535)))
		}
		if maybe(r) {
			pp.MaximumPacketSize = ptr(1 + r.Uint32N(1<<31))
		}
		if maybe(r) {
			pp.TopicAliasMaximum = ptr(uint16(r.Uint32()))
		}
		if maybe(r) {
			pp.RequestProblemInfo = ptr(byte(r.IntN(2)))
		}
		if maybe(r) {
			pp.RequestResponseInfo = ptr(byte(r.IntN(2)))
		}
		if maybe(r) {
			pp.AuthMethod, pp.AuthData = randText(r, 1), randBytes(r, 30)
		}
		if maybe(r) {
			// paho's encoder keeps only these two of the Will Properties.
			c.WillFlag, c.WillTopic, c.WillQOS, c.WillRetain = true, randText(r, 1), byte(r.IntN(3)), maybe(r)
			c.WillMessage = randBytes(r, 50)
			c.WillProperties = &paho.Properties{User: randPahoUsers(r)}
			if maybe(r) {
				c.WillProperties.WillDelayInterval = ptr(r.Uint32())
			}
		}
		if maybe(r) {
			c.UsernameFlag, c.Username = true, randText(r, 0)
		}
		if maybe(r) {
			c.PasswordFlag, c.Password = true, randBytes(r, 20)
		}
		return c
	}
	s := &paho.Subscribe{PacketID: uint16(1 + r.IntN(65535)), Properties: &paho.Properties{User: randPahoUsers(r)}}
	if maybe(r) {
		s.Properties.SubscriptionIdentifier = ptr(1 + r.IntN(268_435_455))
	}
	for range 1 + r.IntN(4) {
		f := randFilter(r)
		o := paho.SubOptions{Topic: f, QoS: byte(r.IntN(3)), RetainAsPublished: maybe(r), RetainHandling: byte(r.IntN(3))}
		o.NoLocal = !packet.IsShared(f) && maybe(r)
		s.Subscriptions = append(s.Subscriptions, o)
	}
	return s
}

// randFilter returns a valid topic filter, sometimes with wildcards or a
// shared-subscription prefix.
func randFilter(r *rand.Rand) string {
	var f string
	for i, n := 0, 1+r.IntN(4); i < n; i++ {
		if i > 0 {
			f += "/"
		}
		switch r.IntN(5) {
		case 0:
			f += "+"
		case 1:
			f += randText(r, 0)
		default:
			f += randText(r, 1)
		}
	}
	if r.IntN(4) == 0 {
		f += "/#"
	}
	if r.IntN(5) == 0 {
		f = "$share/g" + fmt.Sprint(r.IntN(9)) + "/" + f
	}
	if packet.ValidTopicFilter(f, packet.V5) != nil {
		return "fallback/+"
	}
	return f
}

func randMochiPacket(r *rand.Rand, v packet.Version) *mochi.Packet {
	v5 := v == packet.V5
	props := func() mochi.Properties {
		if !v5 {
			return mochi.Properties{}
		}
		return mochi.Properties{User: randMochiUsers(r)}
	}
	switch r.IntN(3) {
	case 0:
		pk := &mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: byte(r.IntN(3)), Retain: maybe(r)},
			ProtocolVersion: byte(v), Mods: mochiAllowResponse, TopicName: randText(r, 1), Payload: randBytes(r, 300),
			Properties: props()}
		if pk.FixedHeader.Qos > 0 {
			pk.PacketID, pk.FixedHeader.Dup = uint16(1+r.IntN(65535)), maybe(r)
		}
		if v5 {
			pp := &pk.Properties
			pp.PayloadFormat, pp.PayloadFormatFlag = byte(r.IntN(2)), maybe(r)
			if maybe(r) {
				pp.MessageExpiryInterval = r.Uint32()
			}
			if maybe(r) {
				pp.ContentType = randText(r, 1)
			}
			if maybe(r) {
				pp.ResponseTopic = randText(r, 1)
			}
			if maybe(r) {
				pp.CorrelationData = randBytes(r, 20)
			}
			if maybe(r) {
				pp.TopicAlias, pp.TopicAliasFlag = uint16(1+r.IntN(65535)), true
			}
			for range r.IntN(3) {
				pp.SubscriptionIdentifier = append(pp.SubscriptionIdentifier, 1+r.IntN(268_435_455))
			}
		}
		return pk
	case 1:
		pk := &mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: byte(v),
			Mods: mochiAllowResponse, Properties: props(),
			Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), Clean: maybe(r), Keepalive: uint16(r.Uint32()),
				ClientIdentifier: randText(r, 0)}}
		c := &pk.Connect
		if v5 {
			pp := &pk.Properties
			pp.SessionExpiryInterval, pp.SessionExpiryIntervalFlag = r.Uint32(), maybe(r)
			if maybe(r) {
				pp.ReceiveMaximum = uint16(1 + r.IntN(65535))
			}
			if maybe(r) {
				pp.MaximumPacketSize = 1 + r.Uint32N(1<<31)
			}
			if maybe(r) {
				pp.TopicAliasMaximum = uint16(r.Uint32())
			}
			pp.RequestProblemInfo, pp.RequestProblemInfoFlag = byte(r.IntN(2)), maybe(r)
			if maybe(r) {
				pp.RequestResponseInfo = 1
			}
			if maybe(r) {
				pp.AuthenticationMethod, pp.AuthenticationData = randText(r, 1), randBytes(r, 30)
			}
		}
		if maybe(r) {
			c.WillFlag, c.WillTopic, c.WillQos, c.WillRetain = true, randText(r, 1), byte(r.IntN(3)), maybe(r)
			c.WillPayload = randBytes(r, 50)
			if v5 {
				c.WillProperties = mochi.Properties{User: randMochiUsers(r), ContentType: randText(r, 0),
					PayloadFormat: byte(r.IntN(2)), PayloadFormatFlag: maybe(r)}
				if maybe(r) {
					c.WillProperties.WillDelayInterval = r.Uint32()
				}
				if maybe(r) {
					c.WillProperties.MessageExpiryInterval = r.Uint32()
				}
				if maybe(r) {
					c.WillProperties.ResponseTopic, c.WillProperties.CorrelationData = randText(r, 1), randBytes(r, 8)
				}
			}
		}
		if maybe(r) || !v5 {
			if maybe(r) {
				c.UsernameFlag, c.Username = true, []byte(randText(r, 0))
			}
		}
		if maybe(r) && (v5 || c.UsernameFlag) {
			c.PasswordFlag, c.Password = true, randBytes(r, 20)
		}
		return pk
	}
	pk := &mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Subscribe, Qos: 1}, ProtocolVersion: byte(v),
		PacketID: uint16(1 + r.IntN(65535)), Properties: props()}
	if v5 && maybe(r) {
		pk.Properties.SubscriptionIdentifier = []int{1 + r.IntN(268_435_455)}
	}
	for range 1 + r.IntN(4) {
		f := randFilter(r)
		s := mochi.Subscription{Filter: f, Qos: byte(r.IntN(3))}
		if !v5 && packet.IsShared(f) {
			s.Filter = f[len("$share/"):]
		}
		if v5 {
			s.RetainAsPublished, s.RetainHandling = maybe(r), byte(r.IntN(3))
			s.NoLocal = !packet.IsShared(f) && maybe(r)
		}
		pk.Filters = append(pk.Filters, s)
	}
	return pk
}
