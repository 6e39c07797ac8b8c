// Package cluster runs the example broker (examples/internal/broker) as
// one node of a cluster over NATS (github.com/nats-io/nats.go), with
// JetStream holding the QoS 1 and QoS 2 messages: a Node is the broker's
// broker.Cluster.
//
//	n, err := cluster.Dial(ctx, cluster.Config{URL: "nats://127.0.0.1:4222"})
//	b := broker.New(broker.Config{Cluster: n})
//	... b.Serve(l) ...; b.Shutdown(ctx); n.Close()
//
// It is a module of its own (examples/cluster/go.mod), so that neither the
// core module nor the examples module depends on NATS: a broker built
// without it is the single node it always was.
//
// # Routing
//
// Each MQTT topic maps to a NATS subject (subject.go: TopicSubject,
// FilterSubjects, SubjectTopic), under the prefix Config.Prefix ("mqtt")
// and a QoS token: "mqtt.0.<topic>" for QoS 0 messages, "mqtt.1.<topic>"
// for QoS 1 and QoS 2 ones, which the JetStream stream Config.Stream
// ("MQTT") captures. A node subscribes to "mqtt.*.<filter>" for each topic
// filter its clients subscribe to, once however many sessions share the
// filter (the broker counts them and calls Subscribe for the first,
// Unsubscribe after the last).
//
// A message published by a client of a node is delivered by that node to
// its own subscribers, then published to NATS: a QoS 0 message as it is,
// a QoS 1 or QoS 2 one through JetStream, and the publisher's PUBACK (or
// PUBCOMP) waits for the stream to have stored it; if it cannot, the
// client's connection is closed unacknowledged and it sends the message
// again once it has reconnected (at least once). The data of a NATS
// message is the node's origin number and sequence number (8 bytes each)
// and the message as an MQTT v5 PUBLISH packet, encoded and decoded by
// the core's codec (properties and Message Expiry included).
//
// A node delivers what its ordinary subscriptions receive from NATS to
// its sessions, except its own messages (it delivered them already) and
// the second and later copies of a message that several of its
// subscriptions match (NATS sends one per subscription; the copies are
// told apart by origin and sequence number: they arrive one after
// another, in the order their origin published them). Such a message is
// neither retained on the receiving node nor published again.
//
// A shared subscription "$share/{group}/{filter}" is a NATS queue
// subscription, in a queue group named after the group and filter, on
// every node with a member: NATS gives each message to one node, which
// gives it to one of its members. The publishing node does not deliver to
// share groups itself, so that each message reaches one member
// cluster-wide (section 4.8.2).
//
// # Retained messages
//
// A Node is a broker.RetainingCluster: the retained messages are kept in
// the JetStream key-value bucket Config.Retained ("MQTT_RETAINED",
// replicated as the stream), under the topic's subject escaped into a
// key (retainkey.go: TopicKey, KeyTopic; a key holds fewer bytes than a
// subject). The node a retained message is published on writes it (the
// PUBLISH, as on the stream, after a format byte and the absolute time
// its Message Expiry Interval ends), or a delete marker for an empty one;
// the broker does not store it itself. Every node watches all the keys
// and applies each change, in the bucket's order, to its broker
// (Broker.SetRetained), its own writes included, so that all nodes end
// with the bucket's last revision of each key however many of them
// retain to one topic at once; SUBSCRIBE reads the node's copy. Dial
// reads the bucket's current values and Attach loads them before New
// returns, so a node has them all before it serves a SUBSCRIBE. The
// PUBACK of a retained QoS 1 or QoS 2 message waits for the node's copy
// to have it (retained.go).
//
// What stays on its node: the $SYS topics (neither published nor
// subscribed to in NATS, nor retained in the bucket), the retained
// messages of a topic whose key would be longer than MaxKeyLen, and, in
// this phase, sessions and wills (see the README for the phases to come).
package cluster
