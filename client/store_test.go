package client

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestFileStore: batches come back in order after reopening; a batch cut
// short or damaged by a crash ends the log there (and is cut off, so that
// later appends follow the good ones); Reset leaves the snapshot alone.
func TestFileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.log")
	s, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{[]byte("one"), {}, bytes.Repeat([]byte("x"), 5000)}
	for _, b := range want {
		if err := s.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	reopen := func() [][]byte {
		t.Helper()
		s, err := OpenFileStore(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		got, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(got, want [][]byte) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%d batches, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
	}
	check(reopen(), want)

	// A crash in the middle of the last write.
	info, _ := os.Stat(path)
	if err := os.Truncate(path, info.Size()-10); err != nil {
		t.Fatal(err)
	}
	check(reopen(), want[:2])
	s2, _ := OpenFileStore(path)
	if _, err := s2.Load(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Append([]byte("after")); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	check(reopen(), [][]byte{want[0], want[1], []byte("after")})

	// A damaged byte.
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 0xFF
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	check(reopen(), want[:2])

	s3, _ := OpenFileStore(path)
	if err := s3.Reset([]byte("snapshot")); err != nil {
		t.Fatal(err)
	}
	if err := s3.Append([]byte("next")); err != nil {
		t.Fatal(err)
	}
	s3.Close()
	check(reopen(), [][]byte{[]byte("snapshot"), []byte("next")})
}
