module github.com/mqttcore/mqtt/examples

go 1.25.0

require (
	github.com/mqttcore/mqtt v0.0.0
	github.com/mqttcore/mqtt/client/websocket v0.0.0
)

require (
	github.com/coder/websocket v1.8.15
	github.com/mochi-mqtt/server/v2 v2.7.9
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/gorilla/websocket v1.5.0 // indirect
	github.com/rs/xid v1.4.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/mqttcore/mqtt => ../
	github.com/mqttcore/mqtt/client/websocket => ../client/websocket
)
