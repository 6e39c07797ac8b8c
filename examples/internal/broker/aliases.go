package broker

import "github.com/mqttcore/mqtt"

// Outgoing Topic Aliases: a v5 client that announces a Topic Alias
// Maximum in its CONNECT gets the topics of the messages delivered to it
// replaced by aliases (the core's mqtt.AliasAuto): the first PUBLISH on a
// topic carries the topic and a new alias, the following ones the alias
// alone, and once Config.TopicAliasesOut aliases (or the client's
// maximum, if lower) are taken a new topic takes over the one used least
// recently. The core makes the mapping for such a client only (none for
// 3.1.1 clients and v5 clients announcing no maximum) and fills it on
// first use; each holds at most that many topics. A message kept for a
// session is kept with its topic: the mapping belongs to one network
// connection (MQTT-3.3.2-7).

// defaultAliasesOut is Config.TopicAliasesOut's default.
const defaultAliasesOut = 16

// outgoingAliases returns the core's alias mode and cap for
// Config.TopicAliasesOut n (0: the default, negative: none).
func outgoingAliases(n int) (mqtt.AliasMode, uint16) {
	switch {
	case n < 0:
		return mqtt.AliasOff, 0
	case n == 0:
		return mqtt.AliasAuto, defaultAliasesOut
	}
	return mqtt.AliasAuto, uint16(min(n, 0xFFFF))
}
