// Package scram is SCRAM-SHA-256 (RFC 5802, with SHA-256 as RFC 7677
// registers it) for MQTT 5.0 enhanced authentication, both sides, as
// sans-I/O state machines: they turn one message of the exchange into the
// next and leave the packets to the caller.
//
// Over MQTT (section 4.12), with Authentication Method "SCRAM-SHA-256":
//
//	client-first-message   CONNECT  Authentication Data
//	server-first-message   AUTH 0x18 Continue authentication
//	client-final-message   AUTH 0x18 Continue authentication
//	server-final-message   CONNACK 0x00  Authentication Data
//
// and for a re-authentication the same, started by AUTH 0x19
// Re-authenticate and ended by AUTH 0x00 Success.
//
// The client side, Client, is a client.Authenticator (package
// github.com/mqttcore/mqtt/client):
//
//	auth, err := scram.NewClient("user", "pencil")
//	...
//	c, err := client.Connect(ctx, client.Config{Servers: ..., Auth: auth})
//
// The server side, Server, checks one exchange against stored Credentials
// (salt, iteration count, StoredKey, ServerKey: never the password), which
// NewCredentials derives from a password and MarshalText writes as one
// line in the form of RFC 5803 (the form PostgreSQL keeps too):
//
//	SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=
//
// Normalisation: SCRAM prepares user names and passwords with SASLprep
// (RFC 4013), which the standard library lacks. SASLprep leaves printable
// ASCII (U+0020 to U+007E) as it is, so this package accepts user names
// and passwords made of those characters only and refuses others with
// ErrNotPrintable, on both sides, rather than send or store a string that
// another implementation would prepare differently.
//
// Channel binding: none. The client sends the GS2 header "n,,"; the server
// accepts "n,," and "y,," (it offers no -PLUS variant) and refuses a
// client that requires channel binding ("p=") or an authorization
// identity, as it refuses any mandatory extension ("m="), with
// ErrUnsupported.
//
// Bad input from the peer gives an error, never a panic; an iteration
// count outside MinIterations to MaxIterations is refused, by the client
// before it spends the work. Reason maps the server side's errors to the
// reason code of the CONNACK to refuse a connection with, DisconnectReason
// to that of the DISCONNECT that ends a failed re-authentication.
package scram
