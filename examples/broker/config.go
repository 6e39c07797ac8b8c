package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mqttcore/mqtt/examples/internal/broker"
)

// The config file (-config FILE): one setting a line, "KEY VALUE", where
// KEY is the name of a command-line flag without its dash and VALUE the
// rest of the line (spaces inside kept, around trimmed); a boolean flag's
// KEY alone means true. Blank lines and lines whose first non-blank
// character is # are skipped; there are no comments at the end of a line
// (a # there is part of the value). Each line takes effect as "-KEY VALUE"
// on the command line would, in the order of the file: a KEY given twice
// takes the later value, or both for a flag that takes several. A flag
// given on the command line overrides the file. An unknown KEY, a missing
// or bad VALUE, is an error naming the file and the line.

// applyConfig sets the flags of fs that file sets and the command line
// (already parsed into fs) does not.
func applyConfig(fs *flag.FlagSet, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	defer f.Close()
	onCommandLine := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	return broker.ScanLines(f, file, func(_ int, line string) error {
		key, value, _ := strings.Cut(line, " ")
		if k, v, ok := strings.Cut(line, "\t"); ok && len(k) < len(key) {
			key, value = k, v
		}
		value = strings.TrimSpace(value)
		fl := fs.Lookup(key)
		switch {
		case key == "config":
			return errors.New("config: a config file cannot name another")
		case fl == nil:
			return fmt.Errorf("unknown key %q (the keys are the broker's flags: broker -h lists them)", key)
		case value == "" && isBool(fl):
			value = "true"
		case value == "":
			return fmt.Errorf("%s: missing value", key)
		}
		if onCommandLine[key] {
			return nil // the command line wins
		}
		if err := fs.Set(key, value); err != nil {
			return fmt.Errorf("%s: bad value %q: %v", key, value, err)
		}
		return nil
	})
}

// isBool reports whether a flag is a boolean one, given alone.
func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
