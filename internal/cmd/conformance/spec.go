package main

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The two tables. The keys are the versions as packet.Version prints them.
const (
	v5   = "5.0"
	v311 = "3.1.1"
)

// Statement is one normative statement of a spec.
type Statement struct {
	ID   string
	Text string
}

// Spec is the table of one version.
type Spec struct {
	Version    string // v5 or v311
	Statements []Statement
	index      map[string]int
}

func (s *Spec) has(id string) bool { _, ok := s.index[id]; return ok }

// Specs holds both tables.
type Specs struct {
	V5, V311 *Spec
}

func (s Specs) all() []*Spec { return []*Spec{s.V5, s.V311} }

func (s Specs) get(version string) *Spec {
	if version == v311 {
		return s.V311
	}
	return s.V5
}

var idRE = regexp.MustCompile(`MQTT-[0-9]+(?:\.[0-9]+)*-[0-9]+`)

func loadSpecs(dir string) (Specs, error) {
	var s Specs
	var err error
	if s.V5, err = loadSpec(filepath.Join(dir, "mqtt5-normative.tsv"), v5); err != nil {
		return s, err
	}
	if s.V311, err = loadSpec(filepath.Join(dir, "mqtt311-normative.tsv"), v311); err != nil {
		return s, err
	}
	return s, nil
}

func loadSpec(path, version string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := parseSpec(string(b), version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// parseSpec reads "id<TAB>text" lines.
func parseSpec(text, version string) (*Spec, error) {
	s := &Spec{Version: version, index: map[string]int{}}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		id, txt, ok := strings.Cut(line, "\t")
		if !ok || !idRE.MatchString(id) || idRE.FindString(id) != id {
			return nil, fmt.Errorf("line %d: want id<TAB>text, got %.40q", i+1, line)
		}
		if _, dup := s.index[id]; dup {
			return nil, fmt.Errorf("line %d: %s twice", i+1, id)
		}
		s.index[id] = len(s.Statements)
		s.Statements = append(s.Statements, Statement{ID: id, Text: strings.TrimSpace(txt)})
	}
	if len(s.Statements) == 0 {
		return nil, fmt.Errorf("no statements")
	}
	return s, nil
}

// notapplicable.txt lists the statements that no code of this repository
// can satisfy or break, one a line: version, id, reason.
//
//go:embed notapplicable.txt
var notApplicableText string

type naKey struct{ Version, ID string }

func parseNotApplicable(text string, specs Specs) (map[naKey]string, error) {
	na := map[naKey]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("notapplicable.txt:%d: want \"version id reason\"", i+1)
		}
		k := naKey{f[0], f[1]}
		if k.Version != v5 && k.Version != v311 {
			return nil, fmt.Errorf("notapplicable.txt:%d: version %q is neither %s nor %s", i+1, k.Version, v5, v311)
		}
		if !specs.get(k.Version).has(k.ID) {
			return nil, fmt.Errorf("notapplicable.txt:%d: %s is not a statement of %s", i+1, k.ID, k.Version)
		}
		if _, dup := na[k]; dup {
			return nil, fmt.Errorf("notapplicable.txt:%d: %s %s twice", i+1, k.Version, k.ID)
		}
		reason := strings.TrimSpace(line[strings.Index(line, f[1])+len(f[1]):])
		na[k] = reason
	}
	return na, nil
}
