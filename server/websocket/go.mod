module github.com/mqttcore/mqtt/server/websocket

go 1.24.0

require (
	github.com/coder/websocket v1.8.15
	github.com/mqttcore/mqtt v0.0.0
	github.com/mqttcore/mqtt/client/websocket v0.0.0
)

replace (
	github.com/mqttcore/mqtt => ../..
	github.com/mqttcore/mqtt/client/websocket => ../../client/websocket
)
