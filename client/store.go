package client

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Store keeps a session's journal (the core's EventJournal batches) so
// that a new process resumes the session of the one before: the messages
// it had in flight are sent again, a QoS 2 message neither lost nor
// duplicated. The Client appends each batch before it writes the bytes
// that depend on it, and replaces the log with a snapshot from time to
// time.
type Store interface {
	// Load returns the batches kept, in the order they were appended.
	Load() ([][]byte, error)
	// Append adds a batch, and returns once it is as durable as the store
	// promises.
	Append(batch []byte) error
	// Reset replaces every batch with snapshot.
	Reset(snapshot []byte) error
}

// MemoryStore is a Store in memory: it carries a session across
// reconnections of Clients of one process, not across a restart.
type MemoryStore struct {
	mu      sync.Mutex
	batches [][]byte
}

// Load returns copies of the batches.
func (s *MemoryStore) Load() ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.batches))
	for i, b := range s.batches {
		out[i] = slices.Clone(b)
	}
	return out, nil
}

// Append keeps a copy of batch.
func (s *MemoryStore) Append(batch []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, slices.Clone(batch))
	return nil
}

// Reset keeps a copy of snapshot alone.
func (s *MemoryStore) Reset(snapshot []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = [][]byte{slices.Clone(snapshot)}
	return nil
}

// FileStore is a Store in an append-only file: each batch is written with
// its length and a CRC-32C, and synced to the disk before Append returns
// (unless NoSync). Load stops at a batch cut short or damaged by a crash
// in its write; Reset writes the snapshot to a new file, syncs it and
// renames it over the log.
type FileStore struct {
	// NoSync skips the fsync of each Append: faster, and a crash of the
	// machine (not of the process) may lose the last batches.
	NoSync bool

	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenFileStore opens, or creates, the log at path.
func OpenFileStore(path string) (*FileStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &FileStore{path: path, f: f}, nil
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks the end of the good batches of a log.
var errTorn = errors.New("client: file store: batch cut short or damaged")

// Load reads the batches, and cuts the file after the last good one.
func (s *FileStore) Load() ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	r := bufio.NewReader(s.f)
	var batches [][]byte
	var good int64
	for {
		b, err := readBatch(r)
		if err != nil {
			if err != io.EOF && !errors.Is(err, errTorn) {
				return nil, err
			}
			break
		}
		batches = append(batches, b)
		good += int64(8 + len(b))
	}
	// A batch cut short by a crash is dropped, so that the next appends
	// follow the good ones.
	if err := s.f.Truncate(good); err != nil {
		return nil, err
	}
	if _, err := s.f.Seek(good, io.SeekStart); err != nil {
		return nil, err
	}
	return batches, nil
}

// readBatch reads one framed batch.
func readBatch(r *bufio.Reader) ([]byte, error) {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, errTorn
		}
		return nil, err
	}
	n, sum := binary.BigEndian.Uint32(head[:4]), binary.BigEndian.Uint32(head[4:])
	if n > 1<<30 {
		return nil, errTorn
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, errTorn
	}
	if crc32.Checksum(b, crcTable) != sum {
		return nil, errTorn
	}
	return b, nil
}

func frame(batch []byte) []byte {
	out := make([]byte, 8, 8+len(batch))
	binary.BigEndian.PutUint32(out, uint32(len(batch)))
	binary.BigEndian.PutUint32(out[4:], crc32.Checksum(batch, crcTable))
	return append(out, batch...)
}

// Append writes the batch at the end of the log and syncs it.
func (s *FileStore) Append(batch []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(frame(batch)); err != nil {
		return err
	}
	if s.NoSync {
		return nil
	}
	return s.f.Sync()
}

// Reset replaces the log by one holding snapshot alone, atomically.
func (s *FileStore) Reset(snapshot []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".new*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(frame(snapshot)); err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("client: file store: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = dir.Sync() // the rename itself survives a crash
		dir.Close()
	}
	s.f.Close()
	s.f = tmp
	_, err = s.f.Seek(0, io.SeekEnd)
	return err
}

// Close closes the log file.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
