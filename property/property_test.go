package property_test

import (
	"reflect"
	"slices"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/mqttcore/mqtt/property"
	"pgregory.net/rapid"
)

// spec is the property table of MQTT 5.0 section 2.2.2.2: identifier, name,
// type, and the packets (by control packet type, property.Will for the
// Will Properties) each property may appear in.
var spec = []struct {
	id      property.ID
	name    string
	kind    property.Kind
	packets []byte
}{
	{0x01, "Payload Format Indicator", property.KindByte, []byte{3, property.Will}},
	{0x02, "Message Expiry Interval", property.KindUint32, []byte{3, property.Will}},
	{0x03, "Content Type", property.KindString, []byte{3, property.Will}},
	{0x08, "Response Topic", property.KindString, []byte{3, property.Will}},
	{0x09, "Correlation Data", property.KindBinary, []byte{3, property.Will}},
	{0x0B, "Subscription Identifier", property.KindVarint, []byte{3, 8}},
	{0x11, "Session Expiry Interval", property.KindUint32, []byte{1, 2, 14}},
	{0x12, "Assigned Client Identifier", property.KindString, []byte{2}},
	{0x13, "Server Keep Alive", property.KindUint16, []byte{2}},
	{0x15, "Authentication Method", property.KindString, []byte{1, 2, 15}},
	{0x16, "Authentication Data", property.KindBinary, []byte{1, 2, 15}},
	{0x17, "Request Problem Information", property.KindByte, []byte{1}},
	{0x18, "Will Delay Interval", property.KindUint32, []byte{property.Will}},
	{0x19, "Request Response Information", property.KindByte, []byte{1}},
	{0x1A, "Response Information", property.KindString, []byte{2}},
	{0x1C, "Server Reference", property.KindString, []byte{2, 14}},
	{0x1F, "Reason String", property.KindString, []byte{2, 4, 5, 6, 7, 9, 11, 14, 15}},
	{0x21, "Receive Maximum", property.KindUint16, []byte{1, 2}},
	{0x22, "Topic Alias Maximum", property.KindUint16, []byte{1, 2}},
	{0x23, "Topic Alias", property.KindUint16, []byte{3}},
	{0x24, "Maximum QoS", property.KindByte, []byte{2}},
	{0x25, "Retain Available", property.KindByte, []byte{2}},
	{0x26, "User Property", property.KindStringPair, []byte{1, 2, 3, property.Will, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15}},
	{0x27, "Maximum Packet Size", property.KindUint32, []byte{1, 2}},
	{0x28, "Wildcard Subscription Available", property.KindByte, []byte{2}},
	{0x29, "Subscription Identifier Available", property.KindByte, []byte{2}},
	{0x2A, "Shared Subscription Available", property.KindByte, []byte{2}},
}

var packetNames = [16]string{"Will Properties", "CONNECT", "CONNACK", "PUBLISH",
	"PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK",
	"UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// TestIDs checks the identifiers, names and data types against the table
// of section 2.2.2.2, and that nothing else is known.
func TestIDs(t *testing.T) {
	if len(property.All) != 27 || len(spec) != 27 {
		t.Fatalf("len(All) = %d, want the 27 properties of MQTT 5.0", len(property.All))
	}
	for i, want := range spec {
		id := property.All[i]
		if id != want.id {
			t.Errorf("All[%d] = 0x%02X, want 0x%02X (identifier order)", i, byte(id), byte(want.id))
		}
		if !want.id.Known() || want.id.String() != want.name || want.id.Kind() != want.kind {
			t.Errorf("0x%02X: Known %v, String %q, Kind %d; want true, %q, %d",
				byte(want.id), want.id.Known(), want.id.String(), want.id.Kind(), want.name, want.kind)
		}
	}
	for b := 0; b < 256; b++ {
		id := property.ID(b)
		if slices.Contains(property.All, id) {
			continue
		}
		if id.Known() || id.Kind() != 0 {
			t.Errorf("0x%02X: Known %v, Kind %d; want an unknown property", b, id.Known(), id.Kind())
		}
		if got, want := id.String(), "property 0x"+hex2(byte(b)); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

func hex2(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// TestAllowed checks the packets each property may appear in against the
// table of section 2.2.2.2, for every packet type and the will.
func TestAllowed(t *testing.T) {
	var want [16]property.Set
	for _, p := range spec {
		for _, pt := range p.packets {
			want[pt].Add(p.id)
		}
	}
	for pt := range 16 {
		if got := property.Allowed(byte(pt)); got != want[pt] {
			t.Errorf("Allowed(%s) = %v, want %v", packetNames[pt], got, want[pt])
		}
	}
	for _, pt := range []byte{16, 17, 0xFF} {
		if got := property.Allowed(pt); got != 0 {
			t.Errorf("Allowed(%d) = %v, want the empty set", pt, got)
		}
	}
}

// TestAllowedSpotChecks restates a few rows of the table in words, as the
// specification's prose does.
func TestAllowedSpotChecks(t *testing.T) {
	cases := []struct {
		name string
		pt   byte
		id   property.ID
		want bool
	}{
		{"Topic Alias in PUBLISH", 3, property.TopicAlias, true},
		{"Topic Alias not in a will", property.Will, property.TopicAlias, false},
		{"Will Delay Interval in a will", property.Will, property.WillDelayInterval, true},
		{"Will Delay Interval not in CONNECT itself", 1, property.WillDelayInterval, false},
		{"Subscription Identifier in SUBSCRIBE", 8, property.SubscriptionIdentifier, true},
		{"Subscription Identifier not in UNSUBSCRIBE", 10, property.SubscriptionIdentifier, false},
		{"Reason String not in CONNECT", 1, property.ReasonString, false},
		{"Reason String in AUTH", 15, property.ReasonString, true},
		{"Server Reference in DISCONNECT", 14, property.ServerReference, true},
		{"Session Expiry Interval in DISCONNECT", 14, property.SessionExpiryInterval, true},
		{"Maximum QoS only from the server", 1, property.MaximumQoS, false},
		{"Request Problem Information only from the client", 2, property.RequestProblemInformation, false},
		{"User Property in UNSUBSCRIBE", 10, property.UserProperty, true},
		{"nothing in PINGREQ", 12, property.UserProperty, false},
		{"nothing in PINGRESP", 13, property.UserProperty, false},
	}
	for _, c := range cases {
		if got := property.Allowed(c.pt).Has(c.id); got != c.want {
			t.Errorf("%s: Allowed(%s).Has(%v) = %v", c.name, packetNames[c.pt], c.id, got)
		}
	}
}

func TestSet(t *testing.T) {
	var s property.Set
	if s.Has(property.PayloadFormatIndicator) || s.String() != "{}" {
		t.Fatalf("zero Set = %v, want empty", s)
	}
	if _, ok := s.First(); ok {
		t.Fatalf("First of the empty set reports a property")
	}
	s.Add(property.UserProperty)
	s.Add(property.ContentType)
	s.Add(property.UserProperty) // twice: no change
	if want := property.NewSet(property.ContentType, property.UserProperty); s != want {
		t.Fatalf("after Add: %v, want %v", s, want)
	}
	if got := s.String(); got != "{Content Type, User Property}" {
		t.Errorf("String() = %q", got)
	}
	if id, ok := s.First(); !ok || id != property.ContentType {
		t.Errorf("First() = %v, %v; want Content Type", id, ok)
	}
	if w := s.With(property.TopicAlias); !w.Has(property.TopicAlias) || s.Has(property.TopicAlias) {
		t.Errorf("With changed its receiver or did not add")
	}
	s.Remove(property.ContentType)
	s.Remove(property.TopicAlias) // absent: no change
	if s != property.NewSet(property.UserProperty) {
		t.Errorf("after Remove: %v", s)
	}
	for _, id := range []property.ID{64, 0x80, 0xFF} {
		if property.NewSet(property.All...).Has(id) {
			t.Errorf("Has(0x%02X) on a full set = true; identifiers past 63 are never members", byte(id))
		}
	}
}

// TestSetModel checks the set operations against a map.
func TestSetModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s property.Set
		model := map[property.ID]bool{}
		ids := rapid.SampledFrom(property.All)
		for range rapid.IntRange(0, 40).Draw(t, "steps") {
			id := ids.Draw(t, "id")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				s.Add(id)
				model[id] = true
			case 1:
				s.Remove(id)
				delete(model, id)
			case 2:
				s = s.With(id)
				model[id] = true
			}
		}
		var first property.ID
		var members []property.ID
		for _, id := range property.All {
			if s.Has(id) != model[id] {
				t.Fatalf("Has(%v) = %v, model says %v", id, s.Has(id), model[id])
			}
			if model[id] {
				if members == nil {
					first = id
				}
				members = append(members, id)
			}
		}
		if s != property.NewSet(members...) {
			t.Fatalf("%v != NewSet(%v)", s, members)
		}
		if id, ok := s.First(); ok != (len(members) > 0) || ok && id != first {
			t.Fatalf("First() = %v, %v; want %v", id, ok, first)
		}
	})
}

// withProperty returns Properties holding property id with a non-zero value.
func withProperty(id property.ID) property.Properties {
	var p property.Properties
	switch id {
	case property.PayloadFormatIndicator:
		p.PayloadFormat = 1
	case property.MessageExpiryInterval:
		p.MessageExpiry = 1
	case property.ContentType:
		p.ContentType = "x"
	case property.ResponseTopic:
		p.ResponseTopic = "x"
	case property.CorrelationData:
		p.CorrelationData = []byte{}
	case property.SubscriptionIdentifier:
		p.SubscriptionIDs = []uint32{1}
	case property.SessionExpiryInterval:
		p.SessionExpiry = 1
	case property.AssignedClientIdentifier:
		p.AssignedClientID = "x"
	case property.ServerKeepAlive:
		p.ServerKeepAlive = 1
	case property.AuthenticationMethod:
		p.AuthMethod = "x"
	case property.AuthenticationData:
		p.AuthData = []byte{}
	case property.RequestProblemInformation:
		p.RequestProblemInfo = 1
	case property.WillDelayInterval:
		p.WillDelay = 1
	case property.RequestResponseInformation:
		p.RequestResponseInfo = 1
	case property.ResponseInformation:
		p.ResponseInfo = "x"
	case property.ServerReference:
		p.ServerReference = "x"
	case property.ReasonString:
		p.ReasonString = "x"
	case property.ReceiveMaximum:
		p.ReceiveMaximum = 1
	case property.TopicAliasMaximum:
		p.TopicAliasMaximum = 1
	case property.TopicAlias:
		p.TopicAlias = 1
	case property.MaximumQoS:
		p.MaximumQoS = 1
	case property.RetainAvailable:
		p.RetainAvailable = 1
	case property.UserProperty:
		p.User = []property.User{{}}
	case property.MaximumPacketSize:
		p.MaximumPacketSize = 1
	case property.WildcardSubscriptionAvailable:
		p.WildcardSubAvailable = 1
	case property.SubscriptionIdentifierAvailable:
		p.SubscriptionIDsAvailable = 1
	case property.SharedSubscriptionAvailable:
		p.SharedSubAvailable = 1
	}
	return p
}

// TestPresent checks that each field, and each Zero mark, makes exactly its
// property present; an empty byte slice counts, a nil one does not.
func TestPresent(t *testing.T) {
	var empty property.Properties
	if !empty.IsEmpty() || empty.Present() != 0 {
		t.Fatalf("zero Properties has %v", empty.Present())
	}
	for _, id := range property.All {
		p := withProperty(id)
		if got := p.Present(); got != property.NewSet(id) {
			t.Errorf("%v set: Present() = %v", id, got)
		}
		if !p.Has(id) || p.IsEmpty() {
			t.Errorf("%v set: Has = %v, IsEmpty = %v", id, p.Has(id), p.IsEmpty())
		}
		z := property.Properties{Zero: property.NewSet(id)}
		if got := z.Present(); got != property.NewSet(id) || !z.Has(id) {
			t.Errorf("%v in Zero: Present() = %v", id, got)
		}
	}
	all := property.Properties{}
	for _, id := range property.All {
		all.Zero.Add(id)
	}
	if all.Present() != property.NewSet(property.All...) {
		t.Errorf("every property in Zero: Present() = %v", all.Present())
	}
}

// TestPresentFields checks that Present looks at every field of
// Properties: each field but Zero, set to a non-zero value through
// reflection, makes something present.
func TestPresentFields(t *testing.T) {
	typ := reflect.TypeFor[property.Properties]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Zero" {
			continue
		}
		var p property.Properties
		v := reflect.ValueOf(&p).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.Uint8, reflect.Uint16, reflect.Uint32:
			v.SetUint(1)
		case reflect.String:
			v.SetString("x")
		case reflect.Slice:
			v.Set(reflect.MakeSlice(f.Type, 1, 1))
		default:
			t.Fatalf("field %s of kind %v not covered", f.Name, f.Type.Kind())
		}
		if n := popcount(uint64(p.Present())); n != 1 {
			t.Errorf("field %s set: %d properties present, want 1", f.Name, n)
		}
		if p.IsEmpty() {
			t.Errorf("field %s set: IsEmpty says empty", f.Name)
		}
	}
}

func popcount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func TestReset(t *testing.T) {
	p := property.Properties{
		Zero:            property.NewSet(property.ServerKeepAlive),
		ReasonString:    "r",
		User:            []property.User{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}},
		SubscriptionIDs: []uint32{1, 2, 3},
	}
	users, ids := cap(p.User), cap(p.SubscriptionIDs)
	p.Reset()
	if !p.IsEmpty() {
		t.Fatalf("after Reset: %v present", p.Present())
	}
	if cap(p.User) != users || cap(p.SubscriptionIDs) != ids {
		t.Errorf("Reset dropped list capacity: %d, %d; want %d, %d", cap(p.User), cap(p.SubscriptionIDs), users, ids)
	}
}

// drawProperties draws Properties with every field possibly set.
func drawProperties(t *rapid.T) property.Properties {
	str := rapid.StringN(0, 8, -1)
	bin := func(label string) []byte {
		if !rapid.Bool().Draw(t, label+" present") {
			return nil
		}
		b := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, label)
		if b == nil {
			b = []byte{}
		}
		return b
	}
	var users []property.User
	for i := range rapid.IntRange(0, 3).Draw(t, "users") {
		_ = i
		users = append(users, property.User{Key: str.Draw(t, "key"), Value: str.Draw(t, "value")})
	}
	return property.Properties{
		Zero:                     property.Set(rapid.Uint64().Draw(t, "zero")),
		PayloadFormat:            rapid.Byte().Draw(t, "payload format"),
		MessageExpiry:            rapid.Uint32().Draw(t, "message expiry"),
		ContentType:              str.Draw(t, "content type"),
		ResponseTopic:            str.Draw(t, "response topic"),
		CorrelationData:          bin("correlation data"),
		SubscriptionIDs:          rapid.SliceOfN(rapid.Uint32(), 0, 3).Draw(t, "subscription ids"),
		SessionExpiry:            rapid.Uint32().Draw(t, "session expiry"),
		AssignedClientID:         str.Draw(t, "assigned client id"),
		ServerKeepAlive:          rapid.Uint16().Draw(t, "server keep alive"),
		AuthMethod:               str.Draw(t, "auth method"),
		AuthData:                 bin("auth data"),
		RequestProblemInfo:       rapid.Byte().Draw(t, "request problem info"),
		WillDelay:                rapid.Uint32().Draw(t, "will delay"),
		RequestResponseInfo:      rapid.Byte().Draw(t, "request response info"),
		ResponseInfo:             str.Draw(t, "response info"),
		ServerReference:          str.Draw(t, "server reference"),
		ReasonString:             str.Draw(t, "reason string"),
		ReceiveMaximum:           rapid.Uint16().Draw(t, "receive maximum"),
		TopicAliasMaximum:        rapid.Uint16().Draw(t, "topic alias maximum"),
		TopicAlias:               rapid.Uint16().Draw(t, "topic alias"),
		MaximumQoS:               rapid.Byte().Draw(t, "maximum qos"),
		RetainAvailable:          rapid.Byte().Draw(t, "retain available"),
		User:                     users,
		MaximumPacketSize:        rapid.Uint32().Draw(t, "maximum packet size"),
		WildcardSubAvailable:     rapid.Byte().Draw(t, "wildcard sub available"),
		SubscriptionIDsAvailable: rapid.Byte().Draw(t, "subscription ids available"),
		SharedSubAvailable:       rapid.Byte().Draw(t, "shared sub available"),
	}
}

// TestClone checks that a clone equals its original, nil and empty kept
// apart, and shares no memory with it: no string data, no slice backing
// array.
func TestClone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawProperties(t)
		c := p.Clone()
		if diff := cmp.Diff(p, c); diff != "" {
			t.Fatalf("clone differs (-orig +clone):\n%s", diff)
		}
		if p.Present() != c.Present() {
			t.Fatalf("Present: %v vs %v", p.Present(), c.Present())
		}
		checkNoSharing(t, reflect.ValueOf(p), reflect.ValueOf(c), "Properties")
	})
}

// checkNoSharing walks a and b, which are equal, and fails if any string or
// slice of b points into memory of a.
func checkNoSharing(t *rapid.T, a, b reflect.Value, path string) {
	switch a.Kind() {
	case reflect.String:
		if a.Len() > 0 && unsafe.StringData(a.String()) == unsafe.StringData(b.String()) {
			t.Fatalf("%s: clone shares string data", path)
		}
	case reflect.Slice:
		if a.Cap() > 0 && b.Cap() > 0 && a.Pointer() == b.Pointer() {
			t.Fatalf("%s: clone shares a backing array", path)
		}
		for i := range a.Len() {
			checkNoSharing(t, a.Index(i), b.Index(i), path+"[]")
		}
	case reflect.Struct:
		for i := range a.NumField() {
			checkNoSharing(t, a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)
		}
	}
}

// TestCloneIndependent changes every byte of an original's slices after
// cloning it and checks that the clone did not change.
func TestCloneIndependent(t *testing.T) {
	p := property.Properties{
		CorrelationData: []byte("corr"),
		AuthData:        []byte("auth"),
		SubscriptionIDs: []uint32{7, 8},
		User:            []property.User{{Key: "k", Value: "v"}},
		ContentType:     string([]byte("text/plain")),
	}
	c := p.Clone()
	want := p.Clone()
	p.CorrelationData[0] = 'X'
	p.AuthData[0] = 'X'
	p.SubscriptionIDs[0] = 99
	p.User[0].Key = "changed"
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("changing the original changed the clone (-want +got):\n%s", diff)
	}
	var zero property.Properties
	if diff := cmp.Diff(zero, zero.Clone()); diff != "" {
		t.Fatalf("clone of the zero value (-want +got):\n%s", diff)
	}
}
