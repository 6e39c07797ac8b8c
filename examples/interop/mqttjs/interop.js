// MQTT.js against the example broker, driven by examples/interop's Go tests
// (mqttjs_test.go), which start the broker with the users alice
// (password wonderland) and bob (builder) and an ACL: alice reads and
// writes alice/#, bob writes alice/inbox.
//
//	node interop.js SCENARIO URL PROTOCOL_VERSION
//
// SCENARIO is auth, acl or aliases; URL mqtt://host:port or
// ws://host:port/mqtt; PROTOCOL_VERSION 4 (3.1.1) or 5. It prints what
// MQTT.js reports as JSON, an object a line, with "ev" naming the event:
//
//	{"ev":"connack","label":L,"code":N,"sessionPresent":B}   a CONNACK, its return or reason code
//	{"ev":"suback","label":L,"codes":[N,...]}                a SUBACK's codes, in order
//	{"ev":"puback","label":L,"code":N}                       the code of a QoS 1 publish's PUBACK (0 when it has none)
//	{"ev":"publish","label":L,"topic":T,"alias":N}           a PUBLISH as it came, before MQTT.js resolves its Topic Alias (0: none)
//	{"ev":"message","label":L,"topic":T,"payload":P}         a message as MQTT.js hands it over
//	{"ev":"done"}                                            the scenario ran to its end
//
// Anything unexpected prints {"ev":"fail","error":...} and exits with 1.
'use strict'

const mqtt = require('mqtt')

const [scenario, url, versionArg] = process.argv.slice(2)
const version = Number(versionArg)

// step names what the scenario waits for, for the message of a timeout.
let step = 'start'

function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (err) {
  print({ ev: 'fail', error: String(err && err.stack ? err.stack : err) })
  process.exit(1)
}

// connect resolves to {client, code} once the broker answers the CONNECT
// of the user (none when user is undefined): code is the CONNACK's return
// or reason code, and client is connected when it is 0.
function connect (label, user, password, extra) {
  step = 'the CONNACK of ' + label
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      protocolVersion: version,
      clientId: 'mqttjs-' + label + '-' + process.pid,
      username: user,
      password,
      clean: true,
      reconnectPeriod: 0, // once: a refusal must not be retried
      connectTimeout: 5000,
      ...extra
    })
    let connack = null
    client.on('packetreceive', (p) => {
      if (p.cmd === 'connack') {
        connack = p
        print({ ev: 'connack', label, code: version === 5 ? p.reasonCode : p.returnCode, sessionPresent: p.sessionPresent })
      }
    })
    client.once('connect', () => resolve({ client, code: 0 }))
    client.once('error', (err) => {
      if (connack !== null && err.code !== undefined) {
        client.end(true)
        resolve({ client, code: err.code })
        return
      }
      reject(err)
    })
    client.once('close', () => {
      if (connack === null) reject(new Error(label + ': connection closed without a CONNACK'))
    })
  })
}

async function connected (label, user, password, extra) {
  const { client, code } = await connect(label, user, password, extra)
  if (code !== 0) throw new Error(label + ': refused with ' + code)
  return client
}

// subscribe prints the SUBACK's codes, failures included.
function subscribe (client, label, filters) {
  step = 'the SUBACK of ' + label
  return new Promise((resolve) => {
    client.subscribe(filters, { qos: 1 }, (err, granted, packet) => {
      const codes = packet ? packet.granted : []
      print({ ev: 'suback', label, codes, error: err ? err.message : undefined })
      resolve(codes)
    })
  })
}

// publish sends at QoS 1 and prints the PUBACK's code: MQTT.js reports a
// failure code (v5) as the callback's error, with the code in err.code.
function publish (client, label, topic, payload) {
  step = 'the PUBACK of ' + label + ' on ' + topic
  return new Promise((resolve) => {
    client.publish(topic, payload, { qos: 1 }, (err, packet) => {
      const code = err ? err.code : (packet && packet.reasonCode) || 0
      print({ ev: 'puback', label, code })
      resolve(code)
    })
  })
}

// messages prints every message client is handed, and resolves once one
// on topic arrived (or n messages, when n is given).
function messages (client, label, until) {
  return new Promise((resolve) => {
    let n = 0
    client.on('message', (topic, payload) => {
      print({ ev: 'message', label, topic, payload: payload.toString() })
      n++
      if (typeof until === 'string' ? topic === until : n === until) resolve()
    })
  })
}

function end (...clients) {
  step = 'the clients to end'
  return Promise.all(clients.map((c) => c.endAsync()))
}

const scenarios = {
  // Accepted, a wrong password, an unknown user, no user name.
  async auth () {
    const cases = [
      ['accepted', 'alice', 'wonderland'],
      ['bad-password', 'alice', 'Wonderland'],
      ['unknown-user', 'carol', 'x'],
      ['no-user', undefined, undefined]
    ]
    for (const [label, user, password] of cases) {
      const { client, code } = await connect(label, user, password)
      if (code === 0) await end(client)
    }
  },

  // alice subscribes to alice/# (allowed) and bob/# (refused); bob may
  // not read alice/#; bob publishes to alice/diary (refused, QoS 0 then
  // 1), then to alice/inbox: alice receives the last alone.
  async acl () {
    const alice = await connected('alice', 'alice', 'wonderland')
    const bob = await connected('bob', 'bob', 'builder')
    const inbox = messages(alice, 'alice', 'alice/inbox')
    await subscribe(alice, 'alice', ['alice/#', 'bob/#'])
    await subscribe(bob, 'bob', ['alice/#'])
    bob.publish('alice/diary', 'refused at QoS 0', { qos: 0 })
    await publish(bob, 'refused', 'alice/diary', 'refused at QoS 1')
    await publish(bob, 'allowed', 'alice/inbox', 'from bob')
    step = 'the message on alice/inbox'
    await inbox
    await end(alice, bob)
  },

  // A subscriber announcing a Topic Alias Maximum of 2 receives 12
  // messages on 3 topics, in an order that makes the broker replace
  // aliases; every PUBLISH is printed as it came and as MQTT.js resolves it.
  async aliases () {
    const sub = await connected('sub', 'alice', 'wonderland', { properties: { topicAliasMaximum: 2 } })
    sub.on('packetreceive', (p) => {
      // Printed before MQTT.js puts the topic of an alias in p.topic.
      if (p.cmd === 'publish') print({ ev: 'publish', label: 'sub', topic: p.topic, alias: (p.properties && p.properties.topicAlias) || 0 })
    })
    const order = ['a', 'b', 'a', 'c', 'b', 'a', 'c', 'c', 'b', 'a', 'b', 'c']
    const all = messages(sub, 'sub', order.length)
    await subscribe(sub, 'sub', ['alice/aliases/#'])
    const pub = await connected('pub', 'alice', 'wonderland')
    for (const [i, t] of order.entries()) {
      await publish(pub, 'pub', 'alice/aliases/' + t, 'message ' + i)
    }
    step = 'the messages'
    await all
    await end(sub, pub)
  }
}

const run = scenarios[scenario]
if (!run || !url || (version !== 4 && version !== 5)) {
  fail('usage: node interop.js auth|acl|aliases URL 4|5')
}
// Far more than a run takes (a fraction of a second), for a loaded machine.
setTimeout(() => fail(scenario + ': still waiting after 20 s for ' + step), 20000).unref()
run().then(() => {
  print({ ev: 'done' })
  process.exit(0)
}, fail)
