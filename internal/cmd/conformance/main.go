// Command conformance builds CONFORMANCE.md, the conformance matrix of the
// MQTT 5.0 and 3.1.1 normative statements against the tests that check them.
//
//	go run ./internal/cmd/conformance          # regenerate CONFORMANCE.md
//	go run ./internal/cmd/conformance -check   # fail if CONFORMANCE.md is stale
//	go run ./internal/cmd/conformance -list    # every reference found, one a line
//
// It reads the statements from the two tables of ../shared/spec (relative to
// the repository root; -spec to change), scans every *_test.go file of every
// module of the repository and internal/testvectors/*.go for statement IDs,
// and marks each statement checked (some test names it), not applicable (it
// is in notapplicable.txt, with a reason) or open.
//
// Where an ID is found: in string literals (subtest names, table cases,
// failure messages, expected statements) and in function names
// (TestX_MQTT_3_1_2_8 names MQTT-3.1.2-8). Comments do not count.
//
// Which table: 124 IDs are in both specs with different meanings. An ID that
// is in one table only belongs to it. Otherwise the reference belongs to the
// 3.1.1 table when its context marks 3.1.1, and to the 5.0 table if not. The
// context is: the names of the enclosing subtests (t.Run), the table case or
// call the literal is an element or argument of (its whole source text, so a
// version field counts), the conditions of enclosing if statements whose body
// holds the literal (except "!=" conditions), the expressions of an
// enclosing switch case, and the enclosing function's name. It marks 3.1.1
// when it contains "3.1.1", "v311", "v3_1_1" or "mqtt311" (any case). A
// subtest whose version is computed (t.Run(id+"/"+v.String(), ...)) has no
// mark, so its ID is read as a 5.0 ID.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

const modulePath = "github.com/mqttcore/mqtt"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "repository root (default: the directory of the go.mod of "+modulePath+" at or above the working directory)")
	spec := fs.String("spec", "", "directory of mqtt5-normative.tsv and mqtt311-normative.tsv (default: ROOT/../shared/spec)")
	out := fs.String("o", "", "output file (default: ROOT/CONFORMANCE.md)")
	check := fs.Bool("check", false, "compare with the output file instead of writing it; exit 1 if it is stale")
	list := fs.Bool("list", false, "print every reference found (spec, id, file:line, test) and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conformance: unexpected arguments %q\n", fs.Args())
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "conformance:", err)
		return 1
	}
	if *root == "" {
		r, err := findRoot()
		if err != nil {
			return fail(err)
		}
		*root = r
	}
	if *spec == "" {
		*spec = filepath.Join(*root, "..", "shared", "spec")
	}
	if *out == "" {
		*out = filepath.Join(*root, "CONFORMANCE.md")
	}

	specs, err := loadSpecs(*spec)
	if err != nil {
		return fail(fmt.Errorf("%w (set -spec to the directory of the two .tsv tables)", err))
	}
	na, err := parseNotApplicable(notApplicableText, specs)
	if err != nil {
		return fail(err)
	}
	refs, err := scanRepo(*root, specs)
	if err != nil {
		return fail(err)
	}
	if *list {
		for _, r := range refs {
			fmt.Fprintf(stdout, "%s\t%s\t%s:%d\t%s\n", r.Spec, r.ID, r.File, r.Line, r.label())
		}
		return 0
	}
	m := buildMatrix(specs, na, refs)
	for _, w := range m.warnings() {
		fmt.Fprintln(stderr, "conformance: warning:", w)
	}
	doc := m.render()

	if *check {
		old, err := os.ReadFile(*out)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
		if !bytes.Equal(old, doc) {
			rel, _ := filepath.Rel(*root, *out)
			fmt.Fprintf(stderr, "conformance: %s is stale (%s): the tests or the spec tables changed since it was generated.\n", rel, firstDiff(old, doc))
			fmt.Fprintln(stderr, "conformance: regenerate it with `go run ./internal/cmd/conformance` at the repository root and commit it.")
			return 1
		}
		fmt.Fprintf(stdout, "conformance: %s is up to date (%s)\n", filepath.Base(*out), m.summaryLine())
		return 0
	}
	if err := os.WriteFile(*out, doc, 0o644); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "conformance: wrote %s (%s)\n", *out, m.summaryLine())
	return 0
}

// findRoot walks up from the working directory to the go.mod of the core
// module.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && isModule(b, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s at or above the working directory (use -root)", modulePath)
		}
		dir = parent
	}
}

func isModule(gomod []byte, path string) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

// firstDiff describes the first line where two documents differ.
func firstDiff(old, cur []byte) string {
	if old == nil {
		return "missing"
	}
	a, b := strings.Split(string(old), "\n"), strings.Split(string(cur), "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return fmt.Sprintf("first difference at line %d", i+1)
		}
	}
	return "differs"
}
