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
// # Sessions
//
// One node at a time holds the session of a client identifier (session.go,
// sessionkv.go; broker.SessionCluster on the broker's side). The
// JetStream key-value bucket Config.SessionBucket ("MQTT_SESSIONS",
// Config.Replicas replicas) has two keys for each identifier, escaped
// into a key token (letters, digits, '-' and '_' kept, other bytes
// "=XX"): "o.<id>", the owner (the node's origin number, and whether its
// claim asked for a clean start), and "s.<id>", the session as last
// written (by whom, under which claim, whether as a handover, and the
// broker's snapshot: subscriptions, the Connection's exported state, the
// QoS 1 and QoS 2 messages queued, the expiry deadline).
//
// Every CONNECT claims the identifier before the broker touches the
// session, its CONNACK deferred: the node reads the owner key and
// replaces it with itself, revision-checked (Create, or Update with the
// revision read: of two nodes that claim at once, one wins and the other
// reads again). The revision of its write is the claim; the latest claim
// wins, on any node (a connection whose claim a later one overtook is
// closed without a CONNACK, as the broker does locally). If the owner it
// replaced is another node, it asks that node whether it is alive (a
// NATS request to "<prefix>.node.<origin>": a node whose NATS connection
// is gone has no responders, at once) and, if so, waits, for
// Config.HandoverTimeout at most, for the handover written under the
// claim it replaced; else it takes the session as last written. Every
// node watches the owner keys (a KV watch): another node's claim of a
// client identifier it holds makes it end its connection of the client
// (DISCONNECT 0x8E Session taken over in v5; closed in 3.1.1) and hand
// the session over (Broker.HandOver), or an empty one for a clean start,
// which ends the session cluster-wide. A will waiting for its Will Delay
// Interval on the node that held the session is cancelled there (the
// client reconnected on another node, MQTT-3.1.2-26), or published for a
// clean start (the session ended, MQTT-3.1.2-8): only the holding node
// has it, so it fires once. A claiming node that is overtaken while it
// waits hands on what it got, under its own claim.
//
// Before it claims, a node subscribes to the filters of the session as
// last saved (an early session in its broker), so that what is published
// while the session moves is queued on it too; the session handed over
// comes first, then what the early one queued (a QoS 1 or QoS 2 message
// may then come twice).
//
// What is written when: a persistent session's subscriptions when its
// connection is accepted and when SUBSCRIBE or UNSUBSCRIBE change them;
// the whole session, with its expiry deadline (wall clock), when its
// connection ends and it is kept, and for every session held offline on
// the broker's Shutdown; its end (both keys deleted, the owner key only if
// still of the holder's claim) when it ends or expires. The writes are
// made one at a time in order by one goroutine of the node, so that a
// handover comes after the saves before it; Close makes those queued.
//
// Session expiry: the node that holds an offline session expires it (its
// timer) and deletes it from the bucket. A session whose node crashed is
// not expired by anyone until a node claims it: that node does not take
// it if its saved deadline has passed.
//
// A node that crashes (no orderly handover) leaves its owner keys naming
// it; a claim still succeeds (it replaces them), finds the node gone by
// the liveness check and resumes what was last written: for a client that
// was connected there, its subscriptions (Session Present 1), not the
// messages in flight or queued there since it connected; for one offline
// there, what was saved when its connection ended. Wills held by the
// crashed node are lost.
//
// What stays on its node: the $SYS topics (neither published nor
// subscribed to in NATS) and, in this phase, retained messages (see the
// README for the phases to come).
package cluster
