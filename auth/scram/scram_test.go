package scram

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/packet"
)

// The example exchange of RFC 7677, section 3: user "user", password
// "pencil", the client nonce and server nonce suffix given there.
const (
	rfcClientNonce = "rOprNGfwEbeRWgbNEkqO"
	rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfcSalt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	// The credentials line of the RFC's salt and password (keys computed
	// with Python's hashlib.pbkdf2_hmac and hmac, independently).
	rfcCredentials = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" +
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
)

func fixed(s string) func() (string, error) { return func() (string, error) { return s, nil } }

// rfcClient is the client of the RFC's example, its nonce pinned.
func rfcClient(t *testing.T, password string) *Client {
	t.Helper()
	c, err := NewClient("user", password)
	if err != nil {
		t.Fatal(err)
	}
	c.newNonce = fixed(rfcClientNonce)
	return c
}

// users is a Lookup over a map.
func users(t *testing.T, m map[string]string) Lookup {
	return func(name string) (Credentials, error) {
		line, ok := m[name]
		if !ok {
			return Credentials{}, ErrUnknownUser
		}
		c, err := ParseCredentials(line)
		if err != nil {
			t.Errorf("ParseCredentials(%q): %v", line, err)
		}
		return c, err
	}
}

// rfcAnswered is rfcClient after Start and Answer of the RFC's
// server-first-message: Finish next.
func rfcAnswered(t *testing.T) *Client {
	t.Helper()
	c := rfcClient(t, "pencil")
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Answer([]byte(rfcServerFirst)); err != nil {
		t.Fatal(err)
	}
	return c
}

// rfcServer is the server of the RFC's example, its nonce pinned.
func rfcServer(t *testing.T) *Server {
	s := NewServer(users(t, map[string]string{"user": rfcCredentials}))
	s.newNonce = fixed(rfcServerNonce)
	return s
}

func TestRFC7677Vector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString(rfcSalt)
	creds, err := DeriveCredentials("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if got := creds.String(); got != rfcCredentials {
		t.Fatalf("credentials\n got %s\nwant %s", got, rfcCredentials)
	}
	c, s := rfcClient(t, "pencil"), rfcServer(t)
	step := func(name string, got []byte, err error, want string) string {
		t.Helper()
		if err != nil || string(got) != want {
			t.Fatalf("%s: %q, %v\nwant %q", name, got, err, want)
		}
		return want
	}
	cf, err := c.Start()
	step("client-first", cf, err, rfcClientFirst)
	sf, err := s.Challenge(cf)
	step("server-first", sf, err, rfcServerFirst)
	cl, err := c.Answer(sf)
	step("client-final", cl, err, rfcClientFinal)
	sl, err := s.Verify(cl)
	step("server-final", sl, err, rfcServerFinal)
	if err := c.Finish(sl); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if s.Username() != "user" {
		t.Fatalf("Username %q", s.Username())
	}
}

func TestCredentialsText(t *testing.T) {
	c, err := NewCredentials("p@ss word", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Iterations != DefaultIterations || len(c.Salt) != 16 {
		t.Fatalf("%+v", c)
	}
	text, err := c.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var d Credentials
	if err := d.UnmarshalText(text); err != nil || d.String() != string(text) {
		t.Fatalf("round trip: %v\n%s\n%s", err, text, d)
	}
	if _, err := NewCredentials("pässword", 0); !errors.Is(err, ErrNotPrintable) {
		t.Fatalf("non-ASCII password: %v", err)
	}
	for _, n := range []int{MinIterations - 1, MaxIterations + 1} {
		if _, err := NewCredentials("x", n); !errors.Is(err, ErrIterations) {
			t.Fatalf("%d iterations: %v", n, err)
		}
	}
	for _, line := range []string{
		"", "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$a:b",
		strings.Replace(rfcCredentials, "4096", "4095", 1),
		strings.Replace(rfcCredentials, "4096", "04096", 1),
		strings.Replace(rfcCredentials, "4096", "99999999999999999999", 1),
		strings.Replace(rfcCredentials, "W22ZaJ0SNY7soEsUEjb6gQ==", "", 1),
		strings.Replace(rfcCredentials, "W22ZaJ0SNY7soEsUEjb6gQ==", "W22ZaJ0SNY7soEsUEjb6gQ", 1),
		strings.Replace(rfcCredentials, "qY=:", "q=:", 1),
		strings.Replace(rfcCredentials, ":wfP", "wfP", 1),
		strings.Replace(rfcCredentials, "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=", strings.Repeat("0", 44), 1),
		rfcCredentials + "$",
	} {
		if _, err := ParseCredentials(line); err == nil {
			t.Errorf("ParseCredentials(%q) accepted", line)
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIterations) {
			t.Errorf("ParseCredentials(%q): %v", line, err)
		}
	}
}

func TestNewClientRefusesNonASCII(t *testing.T) {
	for _, up := range [][2]string{{"", "x"}, {"x", ""}, {"üser", "x"}, {"user", "pass\tword"}, {"user", "naïve"}, {"user", "x\x7f"}} {
		if _, err := NewClient(up[0], up[1]); !errors.Is(err, ErrNotPrintable) {
			t.Errorf("NewClient(%q, %q): %v", up[0], up[1], err)
		}
	}
	if _, err := (&Client{}).Start(); !errors.Is(err, ErrState) {
		t.Errorf("zero Client: %v", err)
	}
	if _, err := (&Server{}).Challenge([]byte(rfcClientFirst)); !errors.Is(err, ErrState) {
		t.Errorf("zero Server: %v", err)
	}
}

// exchange runs a whole exchange between c and s, and returns the error of
// the first step that fails.
func exchange(c *Client, s *Server) (clientErr, serverErr error) {
	cf, err := c.Start()
	if err != nil {
		return err, nil
	}
	sf, err := s.Challenge(cf)
	if err != nil {
		return nil, err
	}
	cl, err := c.Answer(sf)
	if err != nil {
		return err, nil
	}
	sl, err := s.Verify(cl)
	if err != nil {
		return nil, err
	}
	return c.Finish(sl), nil
}

func TestExchange(t *testing.T) {
	alice, err := NewCredentials("s3cret, with = signs", 5000)
	if err != nil {
		t.Fatal(err)
	}
	lookup := users(t, map[string]string{"al,ice=": alice.String(), "user": rfcCredentials})
	t.Run("success, names with ',' and '='", func(t *testing.T) {
		c, _ := NewClient("al,ice=", "s3cret, with = signs")
		s := NewServer(lookup)
		if ce, se := exchange(c, s); ce != nil || se != nil || s.Username() != "al,ice=" {
			t.Fatalf("%v, %v, %q", ce, se, s.Username())
		}
		// A second exchange (a reconnection, a re-authentication) with the
		// same Client: fresh nonce, cached keys.
		cf1 := c.clientFirstBare
		if ce, se := exchange(c, NewServer(lookup)); ce != nil || se != nil || c.clientFirstBare == cf1 {
			t.Fatalf("second exchange: %v, %v (client-first %q twice?)", ce, se, cf1)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		c, _ := NewClient("user", "pencil2")
		s := NewServer(lookup)
		_, se := exchange(c, s)
		if !errors.Is(se, ErrBadCredentials) || Reason(se) != packet.BadUserNameOrPassword || s.Username() != "" {
			t.Fatalf("%v, reason %v, user %q", se, Reason(se), s.Username())
		}
	})
	t.Run("unknown user looks like a wrong password", func(t *testing.T) {
		c, _ := NewClient("mallory", "pencil")
		s1, s2 := NewServer(lookup), NewServer(lookup)
		_, se := exchange(c, s1)
		if !errors.Is(se, ErrBadCredentials) {
			t.Fatalf("%v", se)
		}
		exchange(c, s2)
		if salt := func(s *Server) string { return strings.Split(s.serverFirst, ",")[1] }; salt(s1) != salt(s2) {
			t.Fatalf("made-up salt changes: %s, %s", salt(s1), salt(s2))
		}
	})
	t.Run("lookup failure", func(t *testing.T) {
		c, _ := NewClient("user", "pencil")
		boom := errors.New("database down")
		_, se := exchange(c, NewServer(func(string) (Credentials, error) { return Credentials{}, boom }))
		if !errors.Is(se, ErrLookup) || !errors.Is(se, boom) || Reason(se) != packet.ServerUnavailable {
			t.Fatalf("%v", se)
		}
		_, se = exchange(c, NewServer(func(string) (Credentials, error) { return Credentials{Salt: []byte{1}, Iterations: 1}, nil }))
		if !errors.Is(se, ErrLookup) {
			t.Fatalf("unusable credentials: %v", se)
		}
	})
}

// TestTampering: a proof or a server signature changed by one bit, and
// messages of the wrong step or replayed, are refused.
func TestTampering(t *testing.T) {
	flip := func(msg, prefix string) []byte {
		i := strings.Index(msg, prefix) + len(prefix)
		b, _ := base64.StdEncoding.DecodeString(msg[i:])
		b[len(b)/2] ^= 0x10
		return []byte(msg[:i] + base64.StdEncoding.EncodeToString(b))
	}
	t.Run("tampered proof", func(t *testing.T) {
		s := rfcServer(t)
		s.Challenge([]byte(rfcClientFirst))
		if _, err := s.Verify(flip(rfcClientFinal, ",p=")); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("%v", err)
		}
		if _, err := s.Verify([]byte(rfcClientFinal)); !errors.Is(err, ErrState) {
			t.Fatalf("a second try after a failure: %v", err)
		}
	})
	t.Run("tampered server signature", func(t *testing.T) {
		c := rfcAnswered(t)
		if err := c.Finish(flip(rfcServerFinal, "v=")); !errors.Is(err, ErrServerSignature) {
			t.Fatalf("%v", err)
		}
		if err := c.Finish([]byte(rfcServerFinal)); !errors.Is(err, ErrState) {
			t.Fatalf("Finish again after a failure: %v", err)
		}
	})
	t.Run("server that knows a wrong password", func(t *testing.T) {
		other, _ := DeriveCredentials("not pencil", []byte("salt"), 4096)
		s := NewServer(users(t, map[string]string{"user": other.String()}))
		c := rfcClient(t, "pencil")
		cf, _ := c.Start()
		sf, _ := s.Challenge(cf)
		cl, _ := c.Answer(sf)
		// The server cannot verify the proof; even one that lets the
		// client's proof through cannot sign: simulate it with the
		// signature its keys give.
		s.step, s.unknown = serverChallenged, false
		s.creds.StoredKey = other.StoredKey
		if _, err := s.Verify(cl); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("server accepted: %v", err)
		}
		withoutProof := string(cl[:strings.LastIndex(string(cl), ",p=")])
		forged := "v=" + base64.StdEncoding.EncodeToString(mac(other.ServerKey[:], c.clientFirstBare+","+string(sf)+","+withoutProof))
		if err := c.Finish([]byte(forged)); !errors.Is(err, ErrServerSignature) {
			t.Fatalf("client accepted a server without the credentials: %v", err)
		}
	})
	t.Run("CONNACK without a challenge", func(t *testing.T) {
		c := rfcClient(t, "pencil")
		c.Start()
		if err := c.Finish(nil); !errors.Is(err, ErrState) {
			t.Fatalf("%v", err)
		}
		if _, err := c.Answer([]byte(rfcServerFirst)); !errors.Is(err, ErrState) {
			t.Fatalf("Answer after a failed exchange: %v", err)
		}
	})
	t.Run("server error", func(t *testing.T) {
		c := rfcAnswered(t)
		if err := c.Finish([]byte("e=invalid-proof")); !errors.Is(err, ErrServerRefused) || !strings.Contains(err.Error(), "invalid-proof") {
			t.Fatalf("%v", err)
		}
	})
}

// TestClientRefuses: every malformed or hostile server-first-message and
// server-final-message is an error of the right kind.
func TestClientRefuses(t *testing.T) {
	r := "r=" + rfcClientNonce + rfcServerNonce
	for _, tc := range []struct {
		name, msg string
		want      error
	}{
		{"empty", "", ErrMalformed},
		{"no nonce", "s=" + rfcSalt + ",i=4096", ErrMalformed},
		{"mandatory extension", "m=x," + r + ",s=" + rfcSalt + ",i=4096", ErrUnsupported},
		{"nonce of another exchange", "r=AAAA" + rfcServerNonce + ",s=" + rfcSalt + ",i=4096", ErrNonce},
		{"nonce not extended", "r=" + rfcClientNonce + ",s=" + rfcSalt + ",i=4096", ErrNonce},
		{"nonce with a control character", r + "\x01,s=" + rfcSalt + ",i=4096", ErrMalformed},
		{"salt not base64", r + ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096", ErrMalformed},
		{"empty salt", r + ",s=,i=4096", ErrMalformed},
		{"iterations below 4096", r + ",s=" + rfcSalt + ",i=4095", ErrIterations},
		{"iterations above 1,000,000", r + ",s=" + rfcSalt + ",i=1000001", ErrIterations},
		{"iterations absurd", r + ",s=" + rfcSalt + ",i=99999999999999999999999", ErrIterations},
		{"iterations negative", r + ",s=" + rfcSalt + ",i=-4096", ErrMalformed},
		{"iterations not a number", r + ",s=" + rfcSalt + ",i=4k", ErrMalformed},
		{"missing iterations", r + ",s=" + rfcSalt, ErrMalformed},
		{"bad extension", r + ",s=" + rfcSalt + ",i=4096,junk", ErrMalformed},
		{"attributes out of order", "s=" + rfcSalt + "," + r + ",i=4096", ErrMalformed},
		{"too long", r + strings.Repeat("x", maxMessage) + ",s=" + rfcSalt + ",i=4096", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rfcClient(t, "pencil")
			c.Start()
			if _, err := c.Answer([]byte(tc.msg)); !errors.Is(err, tc.want) {
				t.Fatalf("Answer(%q): %v, want %v", tc.msg, err, tc.want)
			}
		})
	}
	c := rfcClient(t, "pencil")
	if _, err := c.Answer([]byte(rfcServerFirst)); !errors.Is(err, ErrState) {
		t.Fatalf("Answer before Start: %v", err)
	}
	for _, msg := range []string{"", "v=", "v=###", "x=1", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,bad", "m=1"} {
		if err := rfcAnswered(t).Finish([]byte(msg)); err == nil {
			t.Errorf("Finish(%q) accepted", msg)
		}
	}
	// Optional extensions are ignored; the server-first-message's count
	// in the AuthMessage as sent, so the RFC's signature no longer fits.
	c.Start()
	if _, err := c.Answer([]byte(rfcServerFirst + ",x=ext")); err != nil {
		t.Fatalf("extension: %v", err)
	}
	if err := c.Finish([]byte(rfcServerFinal + ",x=ext")); !errors.Is(err, ErrServerSignature) {
		t.Fatalf("extension: %v", err)
	}
}

// TestServerRefuses: every malformed or unsupported client message is an
// error with the reason code to answer it with.
func TestServerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		want      error
		reason    packet.ReasonCode
	}{
		{"empty", "", ErrMalformed, packet.NotAuthorized},
		{"channel binding required", "p=tls-unique,,n=user,r=abc", ErrUnsupported, packet.BadAuthenticationMethod},
		{"authorization identity", "n,a=admin,n=user,r=abc", ErrUnsupported, packet.BadAuthenticationMethod},
		{"mandatory extension", "n,,m=ext,n=user,r=abc", ErrUnsupported, packet.BadAuthenticationMethod},
		{"bad cbind flag", "x,,n=user,r=abc", ErrMalformed, packet.NotAuthorized},
		{"bad authzid field", "n,zz,n=user,r=abc", ErrMalformed, packet.NotAuthorized},
		{"no user", "n,,r=abc", ErrMalformed, packet.NotAuthorized},
		{"empty user", "n,,n=,r=abc", ErrNotPrintable, packet.BadUserNameOrPassword},
		{"non-ASCII user", "n,,n=üser,r=abc", ErrNotPrintable, packet.BadUserNameOrPassword},
		{"bad escape", "n,,n=us=2Ber,r=abc", ErrMalformed, packet.NotAuthorized},
		{"no nonce", "n,,n=user", ErrMalformed, packet.NotAuthorized},
		{"empty nonce", "n,,n=user,r=", ErrMalformed, packet.NotAuthorized},
		{"bad extension", "n,,n=user,r=abc,=", ErrMalformed, packet.NotAuthorized},
		{"too long", "n,,n=user,r=" + strings.Repeat("a", maxMessage), ErrMalformed, packet.NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rfcServer(t).Challenge([]byte(tc.msg))
			if !errors.Is(err, tc.want) || Reason(err) != tc.reason {
				t.Fatalf("Challenge(%q): %v (%v), want %v (%v)", tc.msg, err, Reason(err), tc.want, tc.reason)
			}
		})
	}
	nonce := rfcClientNonce + rfcServerNonce
	proof := ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	for _, tc := range []struct {
		name, msg string
		want      error
	}{
		{"empty", "", ErrMalformed},
		{"no proof", "c=biws,r=" + nonce, ErrMalformed},
		{"channel binding differs", "c=eSws,r=" + nonce + proof, ErrMalformed},
		{"channel binding not base64", "c=biw,r=" + nonce + proof, ErrMalformed},
		{"wrong nonce", "c=biws,r=" + rfcClientNonce + "x" + proof, ErrNonce},
		{"client nonce only", "c=biws,r=" + rfcClientNonce + proof, ErrNonce},
		{"proof too short", "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndA==", ErrMalformed},
		{"proof not base64", "c=biws,r=" + nonce + ",p=!HzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", ErrMalformed},
		{"no channel binding", "r=" + nonce + proof, ErrMalformed},
		// 44 characters without padding decode to 33 bytes (a panic the
		// fuzzer found, decoding into a 32-byte array).
		{"proof of 33 bytes", "c=biws,r=" + nonce + ",p=" + strings.Repeat("0", 44), ErrMalformed},
		{"too long", "c=biws,r=" + nonce + strings.Repeat(",x=1", maxMessage) + proof, ErrMalformed},
	} {
		t.Run("final/"+tc.name, func(t *testing.T) {
			s := rfcServer(t)
			if _, err := s.Challenge([]byte(rfcClientFirst)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Verify([]byte(tc.msg)); !errors.Is(err, tc.want) {
				t.Fatalf("Verify(%q): %v, want %v", tc.msg, err, tc.want)
			}
		})
	}
	if _, err := rfcServer(t).Verify([]byte(rfcClientFinal)); !errors.Is(err, ErrState) {
		t.Fatalf("Verify before Challenge: %v", err)
	}
	s := rfcServer(t)
	s.Challenge([]byte(rfcClientFirst))
	if _, err := s.Challenge([]byte(rfcClientFirst)); !errors.Is(err, ErrState) {
		t.Fatalf("Challenge twice: %v", err)
	}
	// "y,," (the client could bind, thinks the server cannot) is accepted,
	// and its client-final-message must carry "y,," back.
	s = rfcServer(t)
	if _, err := s.Challenge([]byte("y,," + rfcClientFirst[3:])); err != nil {
		t.Fatalf("y,,: %v", err)
	}
	if _, err := s.Verify([]byte(rfcClientFinal)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("y,, answered with c=biws: %v", err)
	}
}

// TestReasonCodes: whatever the error, Reason is a failure a CONNACK may
// carry (MQTT-3.2.2-8) and DisconnectReason one a DISCONNECT may
// (MQTT-3.14.2-1).
func TestReasonCodes(t *testing.T) {
	for _, err := range []error{ErrNotPrintable, ErrMalformed, ErrUnsupported, ErrNonce, ErrIterations,
		ErrBadCredentials, ErrLookup, ErrState, errors.New("other")} {
		if r := Reason(err); !r.IsError() || !packet.ValidReason(packet.TypeConnack, packet.V5, r) {
			t.Errorf("MQTT-3.2.2-8: Reason(%v) = %v", err, r)
		}
		if r := DisconnectReason(err); !r.IsError() || !packet.ValidReason(packet.TypeDisconnect, packet.V5, r) {
			t.Errorf("MQTT-3.14.2-1: DisconnectReason(%v) = %v", err, r)
		}
	}
}
