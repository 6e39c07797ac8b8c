package packet_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/packetid"
)

// TestRequestAck: SubscribeOf.Ack and UnsubscribeOf.Ack build the
// acknowledgement a server owes a SUBSCRIBE or an UNSUBSCRIBE from one
// result per topic filter, in the codes of each version, and refuse what
// would break the statements on it.
func TestRequestAck(t *testing.T) {
	sub := &packet.Subscribe{PacketID: 0x1234, Subscriptions: []packet.Subscription{
		{Filter: "a", QoS: 2}, {Filter: "b/+", QoS: 1}, {Filter: "c/#"}}}
	unsub := &packet.Unsubscribe{PacketID: 0x4321, Filters: []string{"a", "b/+", "c/#"}}
	subResults := []packet.ReasonCode{packet.GrantedQoS2, packet.NotAuthorized, packet.GrantedQoS0}
	unsubResults := []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted, packet.NotAuthorized}

	t.Run("MQTT-3.8.4-2/MQTT-3.9.3-1/SUBACK with the identifier of the SUBSCRIBE, a code per filter in order", func(t *testing.T) {
		ack, err := sub.Ack(packet.V5, subResults...)
		wantAck[uint16](t, packet.V5, ack, err, 0x1234, subResults)
	})
	t.Run("MQTT-3.8.4-2/MQTT-3.9.3-1 in 3.1.1/SUBACK with the identifier of the SUBSCRIBE, a return code per filter in order", func(t *testing.T) {
		ack, err := sub.Ack(packet.V311, subResults...)
		wantAck[uint16](t, packet.V311, ack, err, 0x1234, []packet.ReasonCode{2, 0x80, 0})
	})
	t.Run("MQTT-3.9.3-2 in 3.1.1/every failure is written as 0x80", func(t *testing.T) {
		for r := range 256 {
			code := packet.ReasonCode(r)
			if !code.IsError() || !packet.ValidReason(packet.TypeSuback, packet.V5, code) {
				continue
			}
			results := []packet.ReasonCode{code, packet.GrantedQoS1, code}
			ack, err := sub.Ack(packet.V311, results...)
			wantAck[uint16](t, packet.V311, ack, err, 0x1234, []packet.ReasonCode{0x80, 1, 0x80})
			if results[0] != code {
				t.Fatalf("Ack changed the caller's results: %v", results)
			}
		}
	})
	for _, c := range []struct {
		name  string
		v     packet.Version
		count string // the statement of one code per filter
	}{
		{"MQTT-3.8.4-6/MQTT-3.9.3-2/SUBACK codes only, one per filter", packet.V5, "MQTT-3.8.4-6"},
		{"MQTT-3.8.4-5/MQTT-3.9.3-2 in 3.1.1/SUBACK codes only, one per filter", packet.V311, "MQTT-3.8.4-5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantRefused(t, c.v, "MQTT-3.9.3-2", func(r packet.ReasonCode) error {
				_, err := sub.Ack(c.v, 0, r, 0)
				return err
			}, packet.TypeSuback)
			for _, n := range []int{0, 2, 4} {
				ack, err := sub.Ack(c.v, make([]packet.ReasonCode, n)...)
				wantErr(t, c.v, ack != nil, err, c.count)
			}
		})
	}
	t.Run("MQTT-3.10.4-5/MQTT-3.11.3-1/UNSUBACK with the identifier of the UNSUBSCRIBE, a code per filter in order", func(t *testing.T) {
		ack, err := unsub.Ack(packet.V5, unsubResults...)
		wantAck[uint16](t, packet.V5, ack, err, 0x4321, unsubResults)
	})
	t.Run("MQTT-3.10.4-4 in 3.1.1/UNSUBACK with the identifier of the UNSUBSCRIBE and no payload", func(t *testing.T) {
		ack, err := unsub.Ack(packet.V311, unsubResults...)
		wantAck[uint16](t, packet.V311, ack, err, 0x4321, nil)
		if b, _ := ack.AppendTo(nil, packet.V311); string(b) != "\xb0\x02\x43\x21" {
			t.Fatalf("3.1.1 UNSUBACK % x", b)
		}
	})
	t.Run("MQTT-3.11.3-1/MQTT-3.11.3-2/UNSUBACK codes only, one per filter", func(t *testing.T) {
		// The results are checked in 3.1.1 too, where they are left out.
		for _, v := range []packet.Version{packet.V5, packet.V311} {
			wantRefused(t, packet.V5, "MQTT-3.11.3-2", func(r packet.ReasonCode) error {
				_, err := unsub.Ack(v, 0, r, 0)
				return err
			}, packet.TypeUnsuback)
			for _, n := range []int{0, 2, 4} {
				ack, err := unsub.Ack(v, make([]packet.ReasonCode, n)...)
				wantErr(t, packet.V5, ack != nil, err, "MQTT-3.11.3-1")
			}
		}
	})
	t.Run("MQTT-3.8.4-2/MQTT-3.10.4-5/four-byte identifiers", func(t *testing.T) {
		s := &packet.SubscribeOf[uint32]{PacketID: 70000, Subscriptions: []packet.Subscription{{Filter: "a"}}}
		sa, err := s.Ack(packet.V5, packet.GrantedQoS0)
		wantAck[uint32](t, packet.V5, sa, err, 70000, []packet.ReasonCode{0})
		u := &packet.UnsubscribeOf[uint32]{PacketID: 70001, Filters: []string{"a"}}
		ua, err := u.Ack(packet.V5, packet.Success)
		wantAck[uint32](t, packet.V5, ua, err, 70001, []packet.ReasonCode{0})
	})
	t.Run("an unknown version is refused", func(t *testing.T) {
		if ack, err := sub.Ack(0, subResults...); ack != nil || !errors.Is(err, packet.ErrUnsupportedVersion) {
			t.Fatalf("Ack(version 0) = %v, %v", ack, err)
		}
	})
}

// wantAck checks an acknowledgement built by Ack: no error, the packet
// identifier and reason codes wanted, and the same after encoding and
// decoding it in version v.
func wantAck[ID packetid.ID](t *testing.T, v packet.Version, ack packet.Packet, err error, id ID, reasons []packet.ReasonCode) {
	t.Helper()
	if err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if gotID, got := requestAckFields(ack); gotID != uint32(id) || !slices.Equal(got, reasons) {
		t.Fatalf("%v: identifier %d, reasons %v; want %d, %v", ack.Type(), gotID, got, id, reasons)
	}
	b, err := ack.AppendTo(nil, v)
	if err != nil {
		t.Fatalf("encode %v: %v", ack.Type(), err)
	}
	p, n, err := packet.Decode[ID](v, b, 0)
	if err != nil || n != len(b) || p.Type() != ack.Type() {
		t.Fatalf("decode % x: %v, %v", b, p, err)
	}
	if gotID, got := requestAckFields(p); gotID != uint32(id) || len(got)+len(reasons) > 0 && !slices.Equal(got, reasons) {
		t.Fatalf("decoded %v: identifier %d, reasons %v", p.Type(), gotID, got)
	}
}

// requestAckFields returns the packet identifier and reason codes of a SUBACK or
// UNSUBACK of either identifier width.
func requestAckFields(p packet.Packet) (uint32, []packet.ReasonCode) {
	switch a := p.(type) {
	case *packet.Suback:
		return uint32(a.PacketID), a.Reasons
	case *packet.Unsuback:
		return uint32(a.PacketID), a.Reasons
	case *packet.SubackOf[uint32]:
		return a.PacketID, a.Reasons
	case *packet.UnsubackOf[uint32]:
		return a.PacketID, a.Reasons
	}
	panic("not an acknowledgement of a request")
}

// wantRefused checks that ack refuses, naming statement, every reason
// code a packet of type t does not have in v5.
func wantRefused(t *testing.T, v packet.Version, statement string, ack func(packet.ReasonCode) error, typ packet.Type) {
	t.Helper()
	for r := range 256 {
		code := packet.ReasonCode(r)
		err := ack(code)
		if packet.ValidReason(typ, packet.V5, code) {
			if err != nil {
				t.Fatalf("%v code 0x%02x refused: %v", typ, r, err)
			}
			continue
		}
		wantErr(t, v, false, err, statement)
	}
}

// wantErr checks that a refused Ack returned no packet and an error naming
// statement for version v.
func wantErr(t *testing.T, v packet.Version, gotAck bool, err error, statement string) {
	t.Helper()
	var pe *packet.Error
	if gotAck || !errors.As(err, &pe) || pe.StatementFor(v) != statement {
		t.Fatalf("got a packet %v, error %v; want none and %s", gotAck, err, statement)
	}
}
