// Package interop runs the example broker and client against other MQTT
// implementations: the eclipse/paho.golang (v5) and eclipse/paho.mqtt.golang
// (v3.1.1) clients against the example broker, mosquitto_pub and
// mosquitto_sub against the example broker, and the example client against
// a mosquitto broker. Everything runs on loopback; the mosquitto tests skip
// when its programs are not installed.
package interop
