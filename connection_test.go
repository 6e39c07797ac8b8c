package mqtt

import (
	"errors"
	"testing"

	"github.com/mqttcore/mqtt/packet"
	"github.com/mqttcore/mqtt/property"
)

func TestConnackMustHonourConnect(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.send(RoleClient, &packet.Connect{ClientID: "w", Will: packet.Will{Topic: "w", QoS: 2, Retain: true}})
	// MQTT-3.2.2-12, MQTT-3.2.2-13: a server that cannot honour the will
	// must refuse the connection rather than accept it.
	if _, err := p.server.Send(&packet.Connack{Props: property.Properties{MaximumQoS: 1}}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("MQTT-3.2.2-12: accepting a QoS 2 will with Maximum QoS 1: %v", err)
	}
	if _, err := p.server.Send(&packet.Connack{Props: property.Properties{Zero: property.NewSet(property.RetainAvailable)}}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("MQTT-3.2.2-13: accepting a retained will without retain: %v", err)
	}
	// MQTT-3.1.2-31: Response Information only when asked for.
	if _, err := p.server.Send(&packet.Connack{Props: property.Properties{ResponseInfo: "r/"}}); err != ErrResponseInformation {
		t.Fatalf("MQTT-3.1.2-31: unrequested response information: %v", err)
	}
	p.send(RoleServer, &packet.Connack{Reason: packet.QoSNotSupported})
	if !p.closed[RoleServer] {
		t.Fatal("refusing CONNACK did not close")
	}
}
