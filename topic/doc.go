// Package topic matches MQTT topic names against topic filters (sections
// 4.7 and 4.8.2 of MQTT 5.0, 4.7 of MQTT 3.1.1): the wildcards, the rule
// for topics beginning with '$', shared subscriptions, and a subscription
// tree that finds every subscription matching a topic without allocating.
//
// Match decides one filter against one topic name:
//
//	topic.Match("sensors/+/temp", "sensors/kitchen/temp") // true
//	topic.Match("sensors/#", "sensors")                   // true: '#' includes the parent level
//	topic.Match("#", "$SYS/uptime")                       // false (MQTT-4.7.2-1)
//
// A Tree holds many subscriptions, each a filter and a key (a session, a
// handler, ...) with a value (the subscription's options). Match on a Tree
// visits the ordinary subscriptions whose filters match a topic name, and
// MatchShared the share groups of shared subscriptions
// ("$share/{ShareName}/{filter}"), of which the caller delivers to one
// member: Group.Turn says whose turn it is, and the caller may pass over
// members, as a broker passes over disconnected sessions.
//
// ValidFilter and SplitShared check the syntax of a filter (the wildcards,
// the share name); the codec (package packet) calls them, and adds the
// checks of the encoding (UTF-8, length). Matching takes filters and names
// as they are: no normalization (MQTT-4.7.3-4), case and empty levels
// significant.
package topic
