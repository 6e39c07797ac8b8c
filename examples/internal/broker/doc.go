// Package broker is a small MQTT broker built on the sans-I/O core
// (github.com/mqttcore/mqtt): every rule of the protocol on the wire is
// the core's, the network I/O is package server's, and this package adds
// what makes a broker: sessions keyed by client identifier, a topic tree,
// retained messages and wills, flow control.
//
// # Structure
//
// The connections are served by package server (github.com/mqttcore/mqtt/server):
// on Linux a TCP connection by its event loop (epoll: an idle connection
// has no goroutine), a TLS or WebSocket one by a goroutine that reads it.
// The broker is the server's Handler (handler.go): OnConnect, OnPacket and
// OnClose for each client, and OnWake, the server's call when another
// goroutine wakes the connection (server.Conn.Wake). Each of these calls
// is made with the connection's lock held, so the broker's state of a
// connection (a conn) and its core need no lock of their own.
//
// A message published by one client is matched against the topic tree
// (a topic.Tree of the core module, keyed by session, guarded by a
// sync.RWMutex, read-locked while matching) in the publisher's OnPacket,
// which appends a delivery to the outbox of each matching session (a
// slice under that session's own mutex). Once the publisher's read is
// handled and its answers written, the sessions' connections are woken
// (server.Conn.Wake, which never waits): each at once on the publisher's
// goroutine if it is free, otherwise by whoever works on it before
// letting go. In OnWake the connection takes its outbox in batches and
// sends it with its own core; the server writes the bytes. There is no broker-wide lock on the publish path. The
// broker-wide mutex guards only the table of sessions, taken when
// clients connect and disconnect.
//
// The publish path allocates only the broker's one copy of each message
// (its struct, and one buffer for the topic, the payload and the
// properties forwarded), which every delivery shares read-only: the topic
// tree is walked level by level in place, each connection keeps its
// scratch lists from one message to the next, and the connection takes
// its outbox in batches (swapping arrays with it). What waits to be
// written is bounded: a connection stops taking its outbox while 256 KiB
// wait for its client, and the server wakes it when they are down to 64
// KiB (server.Conn.WakeAtBacklog); the rest stays in the outbox, under
// Config.MaxQueued.
//
// The files, by layer:
//
//   - broker.go: the Broker, its Config, Serve and Shutdown, and the table
//     of sessions (claim, keep, discard, expire).
//   - handler.go: the server's Handler: each call handed to the
//     connection's conn; what a wake-up does; the idle watch of 3.1.1
//     clients and the trim after a burst.
//   - conn.go: a connection, its fields grouped by what they are for, and
//     its timers, which wake it.
//   - session.go: a session; its mutex is taken by its methods only.
//   - outbox.go: the queue of deliveries from publishers to a session,
//     and the connection's side of it (flushPending, deliver).
//   - flow.go: the publisher's side of flow control: acknowledgements
//     withheld while an outbox is full, and reads paused.
//   - connect.go, publish.go, subscribe.go, disconnect.go: the handlers of
//     CONNECT, PUBLISH, SUBSCRIBE and UNSUBSCRIBE, DISCONNECT and the end of
//     the connection (the session kept or discarded, the will).
//   - takeover.go: a connection that takes the session of another over.
//   - topics.go, route.go, message.go: subscriptions in the topic tree,
//     routing, the broker's copy of a message, retained messages.
//   - store.go, storeformat.go, storeload.go, persist.go: persistence
//     (Config.Store): the bbolt file and its group commit, the records, the
//     start from a store, and what the broker records when.
//   - cluster.go: the broker as a node of a cluster (Config.Cluster):
//     the Cluster interface, what is handed to it, and the messages of
//     the other nodes (Deliver, DeliverShared).
//   - remote.go: the cluster's durable delivery of the other nodes' QoS
//     1 and QoS 2 messages (DeliverTaken, ClusterMark): when the broker
//     holds a message, and the full outboxes the cluster waits for.
//   - cluster_session.go, sessionsnap.go: sessions across the nodes of a
//     cluster whose Cluster is a SessionCluster: the claim of a client
//     identifier before its session is taken, the session another node
//     hands over (adopt) or this one hands over (HandOver), what is saved
//     for a node to resume, and the snapshot's format.
//
// # What it does
//
//   - MQTT 3.1.1 and 5.0 clients on the same listener: each server
//     Connection learns the version from the CONNECT.
//   - Client identifiers assigned for an empty one (returned to v5 clients
//     as Assigned Client Identifier); a second connection with a client
//     identifier in use takes the session over, and the first is sent a
//     DISCONNECT with 0x8E Session taken over (v5) and closed (MQTT-3.1.4-3).
//     What the first connection had received is handled before the
//     session is handed over: a client that sends DISCONNECT (Session
//     Expiry 0, say) and reconnects at once finds the session it ended
//     gone, not resumed. (On Linux the reading side of the socket is shut
//     down and read to its end; elsewhere, and over WebSocket, the first
//     connection reads for up to 50 ms more when a DISCONNECT would change
//     how it ends: server.Conn.CloseRead.) The second connection's
//     CONNACK waits meanwhile (server.Conn.DeferConnack), without holding
//     the goroutine that read its CONNECT; of several connections that
//     wait for the same session, the latest gets it and the others are
//     closed without a CONNACK.
//   - Sessions that outlive the connection (clean session 0 in 3.1.1, a
//     Session Expiry Interval above 0 in v5), kept in memory (and in a Store: see Persistence): the
//     subscriptions, the QoS 1 and QoS 2 messages that arrive while the
//     client is away, and the Connection's own state (unacknowledged
//     exchanges in both directions) as exported by
//     Connection.ExportSession and imported into the next connection's
//     Connection, which re-sends what was unacknowledged.
//   - SUBSCRIBE and UNSUBSCRIBE with + and # wildcards; filters beginning
//     with a wildcard never match topics beginning with $ (MQTT-4.7.2-1).
//     v5 subscription options (No Local, Retain As Published, Retain
//     Handling) and Subscription Identifiers.
//   - PUBLISH at QoS 0, 1 and 2, delivered at the lower of the message's
//     QoS and the subscription's granted QoS; a client with several
//     matching subscriptions gets the message once, at the highest of
//     them. Message Expiry is counted down and expired messages are not
//     delivered.
//   - Retained messages: stored, replaced, deleted by an empty retained
//     PUBLISH, and sent on subscription as Retain Handling asks.
//   - Shared subscriptions "$share/{group}/{filter}" for v5 clients
//     (announced by leaving Shared Subscription Available out of CONNACK):
//     each message goes to one member of the group, taken round-robin,
//     preferring connected members, at that member's granted QoS
//     (MQTT-4.8.2-3); a message handed to a member stays with its session
//     (MQTT-4.8.2-4, MQTT-4.8.2-5); no retained messages on subscribing.
//     No Local on a shared subscription is refused by the Connection
//     (MQTT-3.8.3-4). In 3.1.1 "$share" is an ordinary topic level.
//   - Wills, published when the connection ends in any way other than a
//     DISCONNECT with reason 0x00 (a v5 DISCONNECT 0x04 publishes it),
//     after the Will Delay Interval or when the session ends, whichever
//     is first (MQTT-3.1.2-8); a reconnection before then cancels it
//     (MQTT-3.1.2-26).
//   - Session Expiry: a persistent session left offline is discarded when
//     its Session Expiry Interval passes (MQTT-4.1.0-2); 3.1.1 sessions
//     do not expire.
//   - No QoS 1 or QoS 2 message the broker acknowledged is lost, and
//     memory stays bounded: a subscriber that falls behind slows down the
//     publishers that feed it (see Flow control below). A session holds
//     at most Config.MaxSubscriptions (1,000) subscriptions: a filter
//     beyond them is refused in its SUBACK with 0x97 Quota exceeded (0x80
//     Failure in 3.1.1), the other filters of the SUBSCRIBE being
//     granted; subscribing again to a filter the session has replaces it
//     and does not count. A v5 client may have at most
//     Config.ReceiveMaximum (256, announced in the CONNACK) QoS 1 and
//     QoS 2 messages unacknowledged; one more and the Connection
//     disconnects it with 0x93 Receive Maximum exceeded (a 3.1.1 client,
//     which cannot be told, is bounded by its 65,535 packet identifiers,
//     and is not read while it waits for a full outbox with that many).
//     The broker has at most 4,096 QoS 1 and QoS 2 messages
//     unacknowledged with one client, below the client's own Receive
//     Maximum (the rest wait in its outbox). A client that sends a burst of
//     many small packets and goes quiet does not leave the broker holding
//     what the burst needed: after more than 64 packets, the connection
//     calls Recv(nil) once the client has been quiet for 20 ms, and the
//     Connection keeps only its minimum. A client that
//     breaks the protocol is disconnected with the reason code the
//     Connection chose; other clients never notice.
//   - Keep-alive, flow control (Receive Maximum, with messages queued by
//     the Connection while the client's quota is used up), Maximum Packet
//     Size and incoming Topic Aliases, all by the Connection; outgoing
//     Topic Aliases to v5 clients that announce a Topic Alias Maximum,
//     the hottest Config.TopicAliasesOut topics of each (aliases.go).
//   - Clusters (Config.Cluster; examples/cluster runs it over NATS with
//     JetStream): the messages published on any node reach the
//     subscribers of every node, a message to a share group one member
//     cluster-wide; the acknowledgement of a QoS 1 or QoS 2 message waits
//     for the cluster to hold it, and the cluster's delivery of one from
//     another node stops while outboxes it went to are full. With a
//     SessionCluster, a session moves to the node its client connects to
//     (the node that held it ends its connection with 0x8E and hands it
//     over), wills fire once cluster-wide, and a clean start discards the
//     session cluster-wide. $SYS topics stay on their node; retained
//     messages too, unless the cluster keeps them cluster-wide (a
//     RetainingCluster, as examples/cluster's: cluster_retained.go).
//   - For its operator: the $SYS topics (sys.go), Stats and a Prometheus
//     Collector (metrics.go), structured logs to Config.Logger (log.go).
//   - A maximum Keep Alive, Config.MaxKeepAlive (300 s, as mosquitto's
//     max_keepalive), so that no client holds a connection for ever by
//     sending nothing: a v5 client asking for 0 (no keep-alive) or for
//     more is sent the maximum as Server Keep Alive in the CONNACK, which
//     it must use (MQTT-3.2.2-21) and its Connection enforces. 3.1.1 has
//     no way to tell the client: when a 3.1.1 client asks for 0 or for
//     more, the broker closes its connection after one and a half times
//     the maximum without a whole packet from it, as if that were its
//     Keep Alive (a 3.1.1 client that means to stay idle longer must send
//     PINGREQ meanwhile).
//   - Shutdown: listeners close, v5 clients get DISCONNECT 0x8B.
//   - Authentication (auth.go): Config.Passwords, a password file
//     (passwords.go: bcrypt hashes and SCRAM-SHA-256 credentials), checks
//     the CONNECT's user name and password off the server's workers, or
//     runs v5 enhanced authentication with SCRAM-SHA-256 (AUTH packets
//     before the CONNACK, and re-authentication); bad credentials are
//     refused after Config.AuthDelay (0x86; 4 in 3.1.1), clients without
//     a user name unless Config.AllowAnonymous (0x87; 5), other
//     Authentication Methods at once (0x8C).
//   - Authorisation (acl.go): Config.ACL, rules in the format of
//     mosquitto's acl_file per user and per client-identifier pattern,
//     for publishing (a v5 PUBLISH refused gets PUBACK or PUBREC 0x87, a
//     3.1.1 one is acknowledged and dropped), wills (refused: the
//     CONNECT is), subscribing (SUBACK 0x87; 0x80 in 3.1.1) and every
//     message sent to a client, retained ones included.
//   - Optional hooks: Config.Authenticate accepts or refuses each CONNECT
//     (user name, password, client identifier), and Config.MayPublish
//     each topic a client publishes on (its will included), as the ACL
//     does.
//
// # Persistence
//
// With Config.Store (the command's -store FILE) the broker keeps in a
// bbolt file what a restart would otherwise lose: sessions (their
// subscriptions, the QoS 1 and QoS 2 messages queued for them, and the
// Connection's own state of the session, written through its session
// journal: messages in flight both ways, QoS 2 exchanges held), retained
// messages, and the wills still to publish, with the deadlines of
// offline sessions (Session Expiry, Will Delay) as wall-clock times.
//
// The durability rule: a QoS 1 or QoS 2 message is acknowledged to its
// publisher (PUBACK, PUBREC) only once it is durable in the outbox of
// every persistent session it goes to; a message no persistent session
// gets is not recorded (the sessions it reaches end with a restart
// anyway). What connections record goes into units, one per connection
// between taking its lock and letting go of it, and every unit sealed
// while the last commit ran goes into the next one (group commit: one
// transaction and fsync for all of them, across connections). No byte of a
// connection is written before the commit holding the units recorded for
// it before that byte (server.Journal), and a subscriber takes a message
// from its outbox only once it is committed, so the records that it was
// sent never outlive the record of the message. A QoS 2 PUBLISH sent
// again by its publisher after a restart is acknowledged and not routed
// again (the publisher's journal holds it, in the same commit as its
// deliveries); one sent to a subscriber is sent again with the same
// packet identifier.
//
// At start the broker loads the store. A session whose connection was live
// when the last broker stopped, by a crash or by Shutdown, is taken as
// lost then (when it last committed: the store commits the time once a
// second when idle): a persistent one stays, its Session Expiry and Will
// Delay counted from then, so the downtime counts (a session whose
// interval passed meanwhile is gone, MQTT-4.1.0-2); the others end. Their
// wills are due as for any connection closed without DISCONNECT
// (MQTT-3.1.2-8): published at start if the Will Delay Interval has passed
// or the session ended, otherwise when it passes, unless the client
// reconnects first (MQTT-3.1.2-26). A will deleted by DISCONNECT 0x00 is
// not published.
//
// # Flow control
//
// The promise: a QoS 1 or QoS 2 message the broker has acknowledged
// (PUBACK; PUBREC for QoS 2) reaches every matching subscriber whose
// session lives, unless it expires first; and memory stays bounded. The
// broker keeps it by pushing back on publishers rather than by dropping
// messages or by growing its queues without limit:
//
//   - Every QoS 1 and QoS 2 delivery goes into the outbox of its
//     session, however long. Once an outbox holds Config.MaxQueued
//     (10,000) deliveries it is full, until its connection has taken it
//     down to three quarters of that.
//   - A publisher whose message went to a full outbox has its
//     acknowledgements withheld: the PUBACK of a QoS 1 message, the
//     PUBCOMP of a QoS 2 one (its PUBREC goes out at once, so that a
//     PUBLISH sent again is answered and not delivered twice,
//     MQTT-4.3.3-10), and those of every later message of that client,
//     in order, until every full outbox it waits for has drained. A v5
//     publisher stops once Config.ReceiveMaximum of its messages are
//     unacknowledged (MQTT-3.3.4-7) and goes on with its other packets
//     (MQTT-3.3.4-8): pings, and acknowledgements of what it receives. A
//     3.1.1 publisher, which cannot be told, is not read once it has that
//     many unacknowledged while it waits, unless the broker is waiting for
//     an acknowledgement from it (it subscribes too, and has messages in
//     flight): that one is read on, and bounded only by its 65,535 packet
//     identifiers.
//   - So an outbox holds at most Config.MaxQueued and, for each
//     publisher that waits for it, its Receive Maximum more (for a 3.1.1
//     publisher, also the rest of the 4 KiB piece of a read being
//     handled, and more for the one read on). The publishers run at the
//     pace of the subscriber. The messages themselves are shared by all
//     the outboxes they are in.
//   - QoS 0 messages are not pushed back on: one that finds Config.MaxQueued
//     deliveries in the outbox is dropped. Broker.Stats counts them, and the
//     log says so once each time an outbox fills.
//   - A message that expires while queued is not delivered
//     (MQTT-3.3.2-5); expired messages stop counting towards a full outbox
//     when a publisher waiting for it looks again (every second).
//
// Why withhold acknowledgements rather than stop reading the publishers
// (or write to disk): the protocol has the mechanism (Receive Maximum),
// a held-up publisher stays connected and keeps its Keep Alive and its own
// subscriptions, its program sees it (Publish waits, which is what a
// publisher faster than its readers should see), and the broker always
// reads a client that owes it acknowledgements, which keeps it free of
// deadlocks: what drains an outbox is only its subscriber reading. Disk
// would let a broker hold more than memory allows, at the cost of a
// store; back-pressure bounds memory with none, and what a subscriber
// has not yet taken stays with the publishers (who may keep it on disk:
// client.FileStore).
//
// What it means:
//
//   - A publisher goes at the pace of the slowest subscriber of what it
//     publishes. Its messages to fast subscribers of the same topics, and
//     its messages on other topics, are slowed too (its acknowledgements
//     go out in order); other publishers are not, and nor is what other
//     clients publish to the fast subscribers.
//   - A subscriber that stops reading holds up the publishers that feed it
//     until it reads again, or its connection ends (its Keep Alive) and its
//     session with it. A 3.1.1 publisher held up for longer than its Keep
//     Alive is not read meanwhile, so its PINGREQ is not either: its
//     connection ends, and it sends again what was not acknowledged once
//     it has reconnected (a v5 publisher goes on pinging). A persistent session whose client is offline fills
//     its outbox and then holds up its publishers until the client comes
//     back or the session expires (v5 Session Expiry): a 3.1.1 session,
//     which does not expire here, holds them up until its client comes
//     back. Subscribers that may vanish for good should use a clean
//     session, or v5 with a Session Expiry Interval.
//   - A client that publishes to a topic it subscribes to waits for its
//     own outbox only once it holds Config.MaxQueued more than the other
//     publishers can have put there: a client whose handler publishes and
//     waits for the acknowledgement (a message of its own for each it
//     reads) never waits for itself, and one that publishes to itself
//     faster than it reads is slowed to its own pace. Clients whose
//     handlers wait for each other's acknowledgements in a cycle through
//     full outboxes can still wait for each other.
//   - A publisher whose connection ends with acknowledgements withheld
//     has had its messages routed: when it resumes its session and sends
//     them again, a QoS 1 message is delivered again (at least once) and a
//     QoS 2 one is not; its new connection waits for the same full
//     outboxes before it completes them. On a clean start the client
//     cannot tell its unacknowledged messages went through.
//   - A message to a share group goes to the member picked, and its
//     publisher waits for that member's outbox if it is full.
//
// # Not yet
//
// TODO: enhanced authentication: a v5 CONNECT with an Authentication
// Method is refused with 0x8C; authorization of subscriptions.
// TODO: a limit on the number of sessions, and
// the packet size limit as a command-line flag (the command has
// -max-subscriptions, -max-keepalive, -receive-maximum and -max-queued).
// TODO: outboxes written to disk past Config.MaxQueued, as an alternative
// to holding up publishers; a limit in bytes as well as in messages.
package broker
