// Package interop runs the example broker and client against other MQTT
// implementations: the eclipse/paho.golang (v5) and eclipse/paho.mqtt.golang
// (v3.1.1) clients against the example broker, mosquitto_pub and
// mosquitto_sub against the example broker, MQTT.js (node mqttjs/interop.js)
// against the example broker's authentication, ACLs and outgoing Topic
// Aliases over TCP and WebSocket, and the example client against
// a mosquitto broker (over TCP, TLS, WebSocket and WebSocket over TLS, in
// process and as the built command) and against an embedded mochi-mqtt
// broker. TestSensor runs the sensor scenario of issue 11, written with
// our client package (sensor/mqttcore) and with autopaho (sensor/autopaho),
// against a mosquitto it restarts. TestCrashResume kills a publisher
// process of the client package, on a client.FileStore, with SIGKILL at
// random moments while it publishes QoS 1 and QoS 2 to the example broker
// and to mosquitto, and checks that every message it confirmed arrives
// (QoS 2 once). BenchmarkClientPublish and BenchmarkClientPublishSync
// compare the publish throughput of our client package, autopaho and
// paho.mqtt.golang against the example broker. Everything runs on
// loopback; the mosquitto tests skip when its programs are not installed,
// and the WebSocket ones when this mosquitto cannot serve WebSocket; the
// MQTT.js ones skip without node or mqttjs/node_modules (npm ci).
package interop
