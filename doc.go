// Package mqtt is the root of mqttcore, a sans-I/O MQTT 5.0 and 3.1.1
// protocol core. The wire codec is in package packet, the v5 properties in
// package property, and the packet identifier types in package packetid.
package mqtt
