package fuzz

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqttcore/mqtt/auth/scram"
)

// The targets of package auth/scram: the parsers of both sides of a
// SCRAM-SHA-256 exchange, and of the credentials line. Every error matches
// one of the package's errors; nothing panics.

var scramErrors = []error{scram.ErrNotPrintable, scram.ErrMalformed, scram.ErrUnsupported, scram.ErrNonce,
	scram.ErrIterations, scram.ErrBadCredentials, scram.ErrLookup, scram.ErrServerSignature,
	scram.ErrServerRefused, scram.ErrState}

func checkSCRAMError(t *testing.T, step string, err error) {
	t.Helper()
	for _, e := range scramErrors {
		if errors.Is(err, e) {
			if r := scram.Reason(err); !r.IsError() {
				t.Fatalf("%s: %v: reason %v", step, err, r)
			}
			return
		}
	}
	t.Fatalf("%s: %v matches no error of package scram", step, err)
}

// The RFC 7677 example's messages; {c} stands for the client's nonce,
// {r} for the client's and server's.
const (
	scramSalt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
	scramCredentials = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" +
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
)

// scramClient is shared by the executions: it keeps the salted password of
// the last salt, so that only inputs with a new salt pay for PBKDF2.
var scramClient, _ = scram.NewClient("user", "pencil")

// FuzzSCRAMClient feeds any server-first-message and server-final-message
// to a client (a "{c}" in the first stands for the client's nonce).
func FuzzSCRAMClient(f *testing.F) {
	for _, s := range [][2]string{
		{"r={c}%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=" + scramSalt + ",i=4096", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
		{"r={c}x,s=" + scramSalt + ",i=4096,e=1", "e=invalid-proof"},
		{"m=1,r={c}x,s=" + scramSalt + ",i=4096", ""},
		{"r=other,s=" + scramSalt + ",i=4096", ""},
		{"r={c}x,s=" + scramSalt + ",i=1000001", ""},
		{"r={c}x,s=W22=,i=04096", "v=,x=1"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, serverFirst, serverFinal string) {
		// Beyond 4096 iterations (the least allowed) the work is only
		// slower, not different.
		for _, a := range strings.Split(serverFirst, ",") {
			if n, ok := strings.CutPrefix(a, "i="); ok && strings.Trim(n, "0123456789") == "" && (len(n) > 4 || len(n) == 4 && n > "4096") {
				return
			}
		}
		c := scramClient
		first, err := c.Start()
		if err != nil {
			t.Fatal(err)
		}
		_, nonce, _ := strings.Cut(string(first), ",r=")
		final, err := c.Answer([]byte(strings.ReplaceAll(serverFirst, "{c}", nonce)))
		if err != nil {
			checkSCRAMError(t, "Answer", err)
			return
		}
		if !strings.HasPrefix(string(final), "c=biws,r="+nonce) || !strings.Contains(string(final), ",p=") {
			t.Fatalf("client-final-message %q", final)
		}
		if err := c.Finish([]byte(serverFinal)); err != nil {
			checkSCRAMError(t, "Finish", err)
		}
	})
}

// FuzzSCRAMServer feeds any client-first-message and client-final-message
// to a server that knows "user" (a "{r}" in the second stands for the
// exchange's nonce).
func FuzzSCRAMServer(f *testing.F) {
	for _, s := range [][2]string{
		{"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", "c=biws,r={r},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="},
		{"y,,n=nobody,r=abc,x=1", "c=eSws,r={r},x=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="},
		{"p=tls-unique,,n=user,r=abc", ""},
		{"n,a=admin,n=us=2Cer,r=abc", ""},
		{"n,,m=x,n=user,r=abc", ""},
		{"n,,n=us=3Der,r=abc", "c=biws,r={r}x,p=dHzb"},
	} {
		f.Add(s[0], s[1])
	}
	lookup := func(name string) (scram.Credentials, error) {
		if name != "user" {
			return scram.Credentials{}, scram.ErrUnknownUser
		}
		return scram.ParseCredentials(scramCredentials)
	}
	f.Fuzz(func(t *testing.T, clientFirst, clientFinal string) {
		s := scram.NewServer(lookup)
		first, err := s.Challenge([]byte(clientFirst))
		if err != nil {
			checkSCRAMError(t, "Challenge", err)
			return
		}
		nonce, _, _ := strings.Cut(strings.TrimPrefix(string(first), "r="), ",")
		if !strings.HasPrefix(string(first), "r=") || !strings.Contains(string(first), ",s=") {
			t.Fatalf("server-first-message %q", first)
		}
		final, err := s.Verify([]byte(strings.ReplaceAll(clientFinal, "{r}", nonce)))
		if err != nil {
			checkSCRAMError(t, "Verify", err)
			if s.Username() != "" {
				t.Fatalf("refused, but Username is %q", s.Username())
			}
			return
		}
		if !strings.HasPrefix(string(final), "v=") || s.Username() == "" {
			t.Fatalf("server-final-message %q for %q", final, s.Username())
		}
	})
}

// FuzzSCRAMCredentials parses any credentials line: what parses is usable
// and encodes back to the same line.
func FuzzSCRAMCredentials(f *testing.F) {
	f.Add(scramCredentials)
	f.Add("SCRAM-SHA-256$04096:" + scramSalt + "$a:b")
	f.Fuzz(func(t *testing.T, line string) {
		c, err := scram.ParseCredentials(line)
		if err != nil {
			checkSCRAMError(t, "ParseCredentials", err)
			return
		}
		text, err := c.MarshalText()
		if err != nil || string(text) != line {
			t.Fatalf("%q encodes to %q, %v", line, text, err)
		}
	})
}
