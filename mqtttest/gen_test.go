package mqtttest

import (
	"bytes"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

var versions = []packet.Version{packet.V311, packet.V5}

// exactBytes compares byte slices in one call, nil and empty apart.
var exactBytes = cmp.Comparer(func(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
})

// TestValidByConstruction checks the generators' promise: every packet of
// every type of both versions, with two- and four-byte packet identifiers,
// encodes and decodes back equal.
func TestValidByConstruction(t *testing.T) {
	for _, v := range versions {
		for _, pt := range Types(v) {
			t.Run(fmt.Sprintf("%v/%v/uint16", v, pt), func(t *testing.T) {
				rapid.Check(t, func(t *rapid.T) {
					roundTrip[uint16](t, v, Of[uint16](Options{Version: v}, pt).Draw(t, "packet"))
				})
			})
			t.Run(fmt.Sprintf("%v/%v/uint32", v, pt), func(t *testing.T) {
				rapid.Check(t, func(t *rapid.T) {
					roundTrip[uint32](t, v, Of[uint32](Options{Version: v}, pt).Draw(t, "packet"))
				})
			})
		}
	}
}

func roundTrip[ID packetid.ID](t *rapid.T, v packet.Version, p packet.Packet) []byte {
	b, err := p.AppendTo(nil, v)
	if err != nil {
		t.Fatalf("encode %T: %v", p, err)
	}
	got, n, err := packet.Decode[ID](v, b, 0)
	if err != nil || n != len(b) {
		t.Fatalf("decode %T: n = %d of %d, %v", p, n, len(b), err)
	}
	if diff := cmp.Diff(p, got, exactBytes); diff != "" {
		t.Fatalf("decoded packet differs (-want +got):\n%s", diff)
	}
	return b
}

// TestOptionsBound checks that small Options hold: topics, strings,
// payloads, properties and subscriptions within their caps, and the packets
// still valid.
func TestOptionsBound(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				o := Options{
					Version:          v,
					MaxTopicLen:      rapid.IntRange(1, 40).Draw(t, "max topic"),
					MaxStringLen:     rapid.IntRange(1, 40).Draw(t, "max string"),
					MaxPayload:       rapid.IntRange(-1, 100).Draw(t, "max payload"),
					MaxProperties:    rapid.IntRange(-1, 3).Draw(t, "max properties"),
					MaxSubscriptions: rapid.IntRange(1, 3).Draw(t, "max subscriptions"),
				}
				p := Packet[uint16](o).Draw(t, "packet")
				roundTrip[uint16](t, v, p)
				checkBounds(t, o, p)
			})
		})
	}
}

func checkBounds(t *rapid.T, o Options, p packet.Packet) {
	topic := func(s string) {
		if len(s) > o.MaxTopicLen || !utf8.ValidString(s) {
			t.Fatalf("topic %q is over %d bytes", s, o.MaxTopicLen)
		}
	}
	payload := func(b []byte) {
		if o.MaxPayload != 0 && len(b) > max(o.MaxPayload, 0) {
			t.Fatalf("payload of %d bytes, max %d", len(b), o.MaxPayload)
		}
	}
	props := func(ps *property.Properties) {
		n := 0
		for _, id := range property.All {
			if ps.Has(id) {
				n++
			}
		}
		if o.MaxProperties != 0 && n > max(o.MaxProperties, 0) {
			t.Fatalf("%d properties, max %d", n, o.MaxProperties)
		}
		if len(ps.ContentType) > o.MaxStringLen || len(ps.CorrelationData) > o.MaxStringLen {
			t.Fatalf("property value over %d bytes", o.MaxStringLen)
		}
	}
	count := func(n int) {
		if n > o.MaxSubscriptions {
			t.Fatalf("%d subscriptions, max %d", n, o.MaxSubscriptions)
		}
	}
	switch p := p.(type) {
	case *packet.Connect:
		if len(p.ClientID) > o.MaxStringLen {
			t.Fatalf("client id of %d bytes, max %d", len(p.ClientID), o.MaxStringLen)
		}
		props(&p.Props)
		if p.HasWill() {
			topic(p.Will.Topic)
			payload(p.Will.Payload)
			props(&p.Will.Props)
		}
	case *packet.Publish:
		if p.Topic != "" {
			topic(p.Topic)
		}
		payload(p.Payload)
		props(&p.Props)
	case *packet.Subscribe:
		count(len(p.Subscriptions))
		for _, s := range p.Subscriptions {
			topic(s.Filter)
		}
		props(&p.Props)
	case *packet.Unsubscribe:
		count(len(p.Filters))
		for _, f := range p.Filters {
			topic(f)
		}
	case *packet.Suback:
		count(len(p.Reasons))
	case *packet.Unsuback:
		count(len(p.Reasons))
	case *packet.Disconnect:
		props(&p.Props)
	}
}

// TestGeneratorsReach checks that the generators of the round-trip
// properties reach what they claim to: in many deterministic examples of
// each kind of both versions, every allowed property appears, and every one whose range
// includes zero appears with it marked in Zero; every reason code valid for
// the packet appears; PUBLISH has several Subscription Identifiers and an
// empty topic with an alias; CONNECT has a will with properties.
func TestGeneratorsReach(t *testing.T) {
	const examples = 300
	for _, v := range versions {
		for _, pt := range Types(v) {
			gen := Of[uint16](Options{Version: v}, pt)
			var present, zero property.Set
			reasons := map[packet.ReasonCode]bool{}
			var multiSubIDs, multiUser, aliasOnly, willProps bool
			for i := range examples {
				p := gen.Example(i)
				var props *property.Properties
				switch p := p.(type) {
				case *packet.Connect:
					props = &p.Props
					willProps = willProps || p.HasWill() && !p.Will.Props.IsEmpty()
				case *packet.Connack:
					props, reasons[p.Reason] = &p.Props, true
				case *packet.Publish:
					props = &p.Props
					multiSubIDs = multiSubIDs || len(p.Props.SubscriptionIDs) > 1
					aliasOnly = aliasOnly || p.Topic == ""
				case *packet.Puback:
					props, reasons[p.Reason] = &p.Props, true
				case *packet.Pubrec:
					props, reasons[p.Reason] = &p.Props, true
				case *packet.Pubrel:
					props, reasons[p.Reason] = &p.Props, true
				case *packet.Pubcomp:
					props, reasons[p.Reason] = &p.Props, true
				case *packet.Subscribe:
					props = &p.Props
				case *packet.Suback:
					props = &p.Props
					for _, r := range p.Reasons {
						reasons[r] = true
					}
				case *packet.Unsubscribe:
					props = &p.Props
				case *packet.Unsuback:
					props = &p.Props
					for _, r := range p.Reasons {
						reasons[r] = true
					}
				case *packet.Disconnect:
					props, reasons[p.Reason] = &p.Props, true
				case *packet.Auth:
					props, reasons[p.Reason] = &p.Props, true
				default:
					continue // PINGREQ, PINGRESP
				}
				present |= props.Present()
				zero |= props.Zero
				multiUser = multiUser || len(props.User) > 1
			}
			var allowed property.Set
			if v == packet.V5 {
				allowed = property.Allowed(byte(pt))
			}
			if present != allowed {
				t.Errorf("%v %s: properties drawn %v, allowed %v", v, pt, present, allowed)
			}
			for _, id := range property.All {
				if allowed.Has(id) && zeroValid(id) && !zero.Has(id) {
					t.Errorf("%v %s: %v never drawn with a zero value", v, pt, id)
				}
			}
			if allowed.Has(property.UserProperty) && !multiUser {
				t.Errorf("%v %s: never several User Properties", v, pt)
			}
			if len(reasons) > 0 {
				for _, r := range reasonsOf(pt, v) {
					if !reasons[r] {
						t.Errorf("%v %s: reason code 0x%02X never drawn", v, pt, byte(r))
					}
				}
			}
			if v != packet.V5 {
				continue
			}
			if pt == packet.TypePublish && (!multiSubIDs || !aliasOnly) {
				t.Errorf("PUBLISH: several Subscription Identifiers %v, topic alias alone %v", multiSubIDs, aliasOnly)
			}
			if pt == packet.TypeConnect && !willProps {
				t.Errorf("CONNECT: never a will with properties")
			}
		}
	}
}
