// Package topicalias implements both sides of MQTT 5.0 Topic Aliases
// (section 3.3.2.3.4): a Receiver that resolves the aliases of incoming
// PUBLISH packets, and a Sender that maps outgoing topics to aliases, with
// least-recently-used eviction when all the peer allows are taken.
//
// Alias mappings belong to one network connection (MQTT-3.3.2-7): make a
// new Receiver and Sender, or Reset them, for every connection.
package topicalias
