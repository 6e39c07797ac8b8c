module github.com/mqttcore/mqtt/interop

go 1.24.0

require (
	github.com/eclipse/paho.golang v0.23.0
	github.com/google/go-cmp v0.7.0
	github.com/mochi-mqtt/server/v2 v2.7.9
	github.com/mqttcore/mqtt v0.0.0
)

replace github.com/mqttcore/mqtt => ../
