package scram_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mqttcore/mqtt/auth/scram"
	"github.com/mqttcore/mqtt/client"
)

// A client connects with SCRAM-SHA-256 to a broker that keeps, for each
// user, a line of derived credentials instead of the password. The broker
// here is a core server Connection at the other end of a net.Pipe (the
// Config's Dialer); with a real broker it is Servers:
// "tls://host:8883" and no Dialer.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// The broker's side: derive the credentials once (when the password is
	// set) and keep the line, here after the user name and a colon.
	creds, err := scram.NewCredentials("pencil", 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	passwordFile := "user:" + creds.String()
	lookup := func(name string) (scram.Credentials, error) {
		user, line, _ := strings.Cut(passwordFile, ":")
		if name != user {
			return scram.Credentials{}, scram.ErrUnknownUser
		}
		return scram.ParseCredentials(line)
	}
	fmt.Println(passwordFile[:len("user:SCRAM-SHA-256$4096:")] + "<salt>$<StoredKey>:<ServerKey>")

	// The client's side.
	auth, err := scram.NewClient("user", "pencil")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := client.Config{Servers: []string{"tcp://broker"}, ClientID: "sensor-7", Auth: auth,
		Dialer: &broker{lookup: lookup}}
	c, err := client.Connect(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("connected with", c.Connack().Props.AuthMethod)
	if err := c.Reauthenticate(ctx); err == nil {
		fmt.Println("re-authenticated")
	}
	c.Close(ctx)

	// A wrong password: the broker refuses the proof with CONNACK 0x86.
	cfg.Auth, _ = scram.NewClient("user", "pen")
	_, err = client.Connect(ctx, cfg)
	var refused *client.RefusedError
	if errors.As(err, &refused) {
		fmt.Printf("refused: 0x%02X %v\n", byte(refused.Reason), refused.Reason)
	}
	// Output:
	// user:SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>
	// connected with SCRAM-SHA-256
	// re-authenticated
	// refused: 0x86 Bad User Name or Password
}

// The credentials of RFC 7677's example (password "pencil", its salt), as
// a password file keeps them.
func ExampleDeriveCredentials() {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	creds, err := scram.DeriveCredentials("pencil", salt, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(creds)
	// Output:
	// SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=
}
