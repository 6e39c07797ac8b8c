package broker

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// FileError is an error in a line of a file the broker reads (a password
// file, an ACL file, the command's config file): it names the file and
// the line, as "FILE:LINE: what is wrong".
type FileError struct {
	File string // the file's name as given; "" for a reader without one
	Line int    // from 1
	Err  error
}

func (e *FileError) Error() string {
	name := e.File
	if name == "" {
		name = "(input)"
	}
	return fmt.Sprintf("%s:%d: %v", name, e.Line, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// load opens file and parses it.
func load[T any](file string, parse func(r io.Reader, file string) (T, error)) (T, error) {
	f, err := os.Open(file)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return parse(f, file)
}

// maxLine bounds a line of the files the broker reads.
const maxLine = 64 << 10

// ScanLines calls line for each line of r that is neither blank nor a
// comment (its first non-blank character is #), with the line trimmed of
// surrounding white space and its number from 1. An error from line is
// returned as a *FileError naming file and the line; so is a line over
// 64 KiB.
func ScanLines(r io.Reader, file string, line func(n int, text string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		if err := line(n, text); err != nil {
			return &FileError{File: file, Line: n, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return &FileError{File: file, Line: n + 1, Err: fmt.Errorf("line longer than %d bytes", maxLine)}
		}
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}
