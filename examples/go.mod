module github.com/mqttcore/mqtt/examples

go 1.26.0

require (
	github.com/mqttcore/mqtt v0.0.0
	github.com/mqttcore/mqtt/client/websocket v0.0.0
	github.com/mqttcore/mqtt/quic v0.0.0
)

require (
	github.com/coder/websocket v1.8.15
	github.com/mochi-mqtt/server/v2 v2.7.9
	github.com/prometheus/client_golang v1.25.0
	go.etcd.io/bbolt v1.5.0
	golang.org/x/crypto v0.59.0
	golang.org/x/term v0.48.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/gorilla/websocket v1.5.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/quic-go/quic-go v0.65.0 // indirect
	github.com/rs/xid v1.4.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/mqttcore/mqtt => ../
	github.com/mqttcore/mqtt/client/websocket => ../client/websocket
	github.com/mqttcore/mqtt/quic => ../quic
)
