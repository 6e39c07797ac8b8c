// Package cluster runs the example broker (examples/internal/broker) as
// one node of a cluster over NATS (github.com/nats-io/nats.go), with
// JetStream holding the QoS 1 and QoS 2 messages: a Node is the broker's
// broker.Cluster.
//
//	n, err := cluster.Dial(ctx, cluster.Config{URL: "nats://127.0.0.1:4222", NodeName: "node-1"})
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
// ("MQTT") captures. For each topic filter its clients subscribe to, once
// however many sessions share the filter (the broker counts them and
// calls Subscribe for the first, Unsubscribe after the last), a node
// subscribes to "mqtt.0.<filter>" and adds "mqtt.1.<filter>" to the
// filter subjects of its durable JetStream consumer.
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
// A node delivers what its ordinary subscriptions receive from NATS (QoS
// 0) to its sessions, except its own messages (it delivered them already)
// and the second and later copies of a message that several of its
// subscriptions match (NATS sends one per subscription; the copies are
// told apart by origin and sequence number: they arrive one after
// another, in the order their origin published them). Such a message is
// neither retained on the receiving node nor published again. The origin
// is a hash of Config.NodeName; the sequence starts at the time the node
// started, in nanoseconds, so that it goes on growing across restarts.
//
// # QoS 1 and QoS 2: a durable consumer per node
//
// Each node reads the QoS 1 and QoS 2 messages from the stream through a
// durable pull consumer of its own, "node-" and Config.NodeName
// (consumer.go, interest.go). Its filter subjects are those of the node's
// ordinary subscriptions, the ones another covers left out (JetStream
// refuses filters of which one covers another; filters.go), updated
// asynchronously on Subscribe and Unsubscribe, and the one subject no
// topic maps to ("mqtt.1._") while there are none. A consumer delivers
// each message once however many of its filters match it, so the copies
// check is not needed there; a node drops its own messages. A consumer
// goes on from where it was when its filters change: a message published
// before the filter it matches was added (the stream's last sequence
// then) is dropped, unless a filter wanted before matches it too.
//
// A message is acknowledged to JetStream only once the broker holds it
// (Broker.DeliverTaken): queued to every session it goes to and, with a
// broker Store, committed there. Flow control: JetStream gives a node at
// most Config.MaxInFlight messages unacknowledged (MaxAckPending) and the
// node pulls at most 512 at a time; when an outbox a message went to is
// full (broker.Config.MaxQueued), the node pulls no more until it has
// drained, as the broker holds this node's own publishers (the backlog
// waits in the stream). A full outbox of an offline persistent session
// holds the node's whole consumer, every topic, until its client returns
// or the session expires.
//
// Exactly once: a QoS 1 or QoS 2 message is published with a Nats-Msg-Id
// (origin and sequence), so that a copy the NATS client sends again is
// dropped by the stream. On the receiving side, a message JetStream gives
// again (its acknowledgement lost or late, the node stopped before
// sending it) is not delivered again if the node took it: the node keeps
// its position in the consumer (position.go), and the broker's Store
// records it with the deliveries of each message, so that a node started
// again on the same NodeName and Store knows it. What remains: a message
// taken while a delivery of the consumer had gone missing (a NATS server
// went away) and given again after the node was started again is
// delivered again (at least once); a message of a share group is
// delivered at least once (see below); and a client whose PUBLISH the
// stream did not confirm in time sends it again (at least once, as
// before).
//
// A node started again on the same NodeName resumes its consumer: with a
// broker Store, the persistent sessions it restores get what was
// published while the node was down (up to Config.MaxAge, and the
// consumer is deleted after MaxAge without a pull); without one, the
// consumer drops what was published meanwhile when it comes (the filters
// were not wanted when the node started), and a client that reconnects
// resumes its session as from a node that crashed: the owner key names
// this node under a claim it does not know, so it takes the session as
// last saved and gives it the stream from its floor (Floors, below;
// ClusterClaim.Before: a session the Store restored is kept instead).
//
// QoS 0 and QoS 1 messages of one publisher cross on two paths (the
// subscriptions, the consumer): each in order, but not in order with
// each other.
//
// A shared subscription "$share/{group}/{filter}" is a NATS queue
// subscription (QoS 0), in a queue group named after the group and
// filter, and a durable consumer ("share-" and a hash of the group and
// filter; QoS 1 and QoS 2) that every node with a member pulls from:
// NATS gives each message to one node, which gives it to one of its
// members. The publishing node does not deliver to share groups itself,
// so that each message reaches one member cluster-wide (section 4.8.2).
// A share group's message is delivered at least once: one JetStream gives
// again may go to another node, so the node's position is not kept for
// it. Its consumer is deleted a minute after no node pulls from it; a
// group whose members come back within it gets what was published
// meanwhile.
//
// # Retained messages
//
// A Node is a broker.RetainingCluster: the retained messages are kept in
// the JetStream key-value bucket Config.Retained ("MQTT_RETAINED",
// replicated as the stream), under the topic's subject escaped into a
// key (retainkey.go: TopicKey, KeyTopic; a key holds fewer bytes than a
// subject). The node a retained message is published on writes it (the
// PUBLISH, as on the stream, after a format byte and the absolute time
// its Message Expiry Interval ends), or a delete marker for an empty one
// and for one that expired as it arrived (a Message Expiry Interval of 0:
// sent to no one, it still replaces the topic's, MQTT-3.3.1-5; the broker
// calls DropRetained); the broker does not store it itself. Every node
// watches all the keys and applies each change, in the bucket's order, to
// its broker (Broker.SetRetained), its own writes included, so that all
// nodes end with the bucket's last revision of each key however many of
// them retain to one topic at once; SUBSCRIBE reads the node's copy. Dial
// reads the bucket's current values and Attach loads them before New
// returns, so a node has them all before it serves a SUBSCRIBE. The
// PUBACK of a retained QoS 1 or QoS 2 message waits for the node's copy
// to have it (retained.go).
//
// A retained message whose Message Expiry Interval has ended leaves the
// bucket (retainexpiry.go): every node times the end of each value it
// applied that expires, and after it, and a share of half a second of
// its own for each key, deletes the key, revision-checked (only if its
// last revision is still that value's: a newer retained message written
// meanwhile stays); the delete marker reaches every node through the
// watch and ends its copy and its timer, so that one node deletes it,
// usually, and the others need not try.
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
// replaced is another node, it asks that node for the session (a NATS
// request to "<prefix>.node.<origin>.handover", handover.go: a node whose
// NATS connection is gone has no responders, at once) and waits, for
// Config.HandoverTimeout at most, for the handover of the claim it
// replaced; else it takes the session as last written. Every
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
// last saved (an early session in its broker), and waits until its own
// consumer takes their QoS 1 and QoS 2 subjects, so that what is
// published while the session moves is queued on it too; the session
// handed over comes first, then what the early one queued, less what the
// session handed over has already, queued or in flight, by its stream
// sequence, or had acknowledged, below its floor; a copy of those this
// node's consumer delivers later (it may lag behind the other node's) is
// dropped too, until the node's floor has passed them (the broker's
// moved.go): a QoS 2 message comes once. A message published
// on the node the session leaves, in flight there, may still come twice
// (its position there is a lower bound).
//
// The claiming node asks the node that held the session for it by a NATS
// request (handover.go), which starts the handover there at once; the
// reply carries the session, which is written to the bucket as well. A
// node that is gone has no responders, and one that does not hold the
// session under the claim replaced says so: the claiming node then takes
// the session as last written, and gives it again the stream from its
// floor.
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
// timer) and deletes it from the bucket. The sessions of a node that has
// gone are kept by another (custody.go), which expires them, and
// publishes their wills once.
//
// A node that crashes (no orderly handover) leaves its owner keys naming
// it; a claim still succeeds (it replaces them), finds the node gone by
// the liveness check and resumes what was last written: for a client that
// was connected there, its subscriptions (Session Present 1); for one
// offline there, what was saved when its connection ended; and what was
// queued there, given again (Floors, below). Before it claims, a node
// waits for its own consumer to take the filters of the session as last
// saved, so that nothing published while the session moves falls between
// the node that held it and this one.
//
// # Floors: nothing lost when a node crashes
//
// What was queued on the crashed node for a session, or in flight to its
// client, is given again from the stream (floor.go, replay.go; the
// broker's floor.go). The broker keeps, for each persistent session, its
// floor: the lowest stream sequence among the messages queued for it and
// those sent to its client and not yet acknowledged (PUBACK for QoS 1,
// PUBREC for QoS 2: a client acknowledges each QoS in the order it
// received the messages, MQTT-4.6.0-2 and MQTT-4.6.0-3), or, with none,
// the node's own floor: below every message that reaches the node from
// then on (above the stream's last sequence for one published here; after
// what its consumer has handed the broker, or the stream's last sequence
// when the consumer has nothing pending). Every Config.FloorInterval the
// node saves the floors that moved under "f.<id>" in the sessions bucket,
// and every snapshot of a session has its floor too.
//
// A node that resumes a session without a handover (or with one cut
// short at MaxSessionBytes) waits until its own consumer takes the
// session's filters (the early session has them subscribed), reads the
// stream's last sequence, and gives the session the messages of its
// ordinary QoS 1 and QoS 2 subscriptions from the floor up to that
// sequence (an ephemeral consumer; at most Config.MaxReplay), after what
// was handed over and before what the early session queued meanwhile,
// except those it has by their stream sequence: at least once (what the
// client had received but not acknowledged, and what was acknowledged
// after the floor last saved, comes again), so a QoS 2 message may then
// come twice. Not given again: the messages of share groups, and a
// retained message sent on SUBSCRIBE; nor No Local applied to them (the
// replay does not know the publisher). A session whose Connection state
// came without positions (restored from a broker Store, or a snapshot
// of an older format) has no floor saved until its client has nothing in
// flight.
//
// What stays on its node: the $SYS topics (neither published nor
// subscribed to in NATS, nor retained in the bucket) and the retained
// messages of a topic whose key would be longer than MaxKeyLen (see the
// README for what is still to come).
package cluster
