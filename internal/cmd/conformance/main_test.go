package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Two small tables: MQTT-3.1.2-4 and MQTT-3.8.3-4 are in both, MQTT-1.5.4-2
// and MQTT-3.1.0-2 in 5.0 only, MQTT-3.1.2-6 and MQTT-2.3.1-7 in 3.1.1 only.
const (
	sampleV5 = "MQTT-1.5.4-2\tA UTF-8 Encoded String MUST NOT include an encoding of the null character U+0000.\n" +
		"MQTT-3.1.0-2\tThe Server MUST process a second CONNECT packet as a Protocol Error.\n" +
		"MQTT-3.1.2-4\tClean Start 1: discard the Session.\n" +
		"MQTT-3.8.3-4\tNo Local on a Shared Subscription is a Protocol Error.\n" +
		"MQTT-6.0.0-1\tWebSocket binary frames.\n"
	sample311 = "MQTT-2.3.1-7\tSUBACK and UNSUBACK carry the Packet Identifier.\n" +
		"MQTT-3.1.2-4\tCONNECT with Clean Session 0: resume.\n" +
		"MQTT-3.1.2-6\tClean Session 1: discard the Session.\n" +
		"MQTT-3.8.3-4\tReserved bits of the SUBSCRIBE payload are malformed.\n"
)

func sampleSpecs(t *testing.T) Specs {
	t.Helper()
	s5, err := parseSpec(sampleV5, v5)
	if err != nil {
		t.Fatal(err)
	}
	s311, err := parseSpec(sample311, v311)
	if err != nil {
		t.Fatal(err)
	}
	return Specs{V5: s5, V311: s311}
}

const sampleTest = `package mqtt

import "testing"

// MQTT-3.8.3-4 in a comment does not count.
func TestSecond_MQTT_3_1_0_2(t *testing.T) {}

func TestV311Rules(t *testing.T) {
	t.Run("MQTT-3.1.2-4/clean-session", func(t *testing.T) {})
}

func TestRules(t *testing.T) {
	for _, v := range versions {
		t.Run("MQTT-3.1.2-4/"+v.String()+"/discard", func(t *testing.T) {
			if v == packet.V311 {
				t.Errorf("MQTT-3.8.3-4: %v", v)
			}
			if v != packet.V311 {
				t.Errorf("MQTT-3.8.3-4: %v", v)
			}
		})
	}
	t.Run("MQTT-3.1.2-4/v5/discard", func(t *testing.T) {
		t.Fatalf("MQTT-3.1.0-2: second CONNECT accepted")
	})
	cases := []struct {
		name string
		v    packet.Version
		id   string
	}{
		{"no local in 3.1.1", v311, "MQTT-3.8.3-4"},
		{"no local on a share", v5, "MQTT-3.8.3-4"},
		{"MQTT-2.3.1-7/SUBACK", packet.V5, ""},
		{name: "MQTT-3.1.2-4/3.1.1/keyed", v: packet.V311},
	}
	_ = cases
	id := "MQTT-3.1.2-4"
	switch v {
	case packet.V311:
		id = "MQTT-3.1.2-6 MQTT-9.9.9-9"
	}
}
`

const sampleVectors = `package testvectors

var Malformed = []Bad{
	bad("MQTT-1.5.4-2", "publish topic U+0000", v5),
	bad("MQTT-3.8.3-4", "subscription QoS 3", v311),
}
`

func TestScanFile(t *testing.T) {
	specs := sampleSpecs(t)
	var got []string
	for _, src := range []struct{ name, text string }{
		{"a_test.go", sampleTest},
		{"internal/testvectors/malformed.go", sampleVectors},
	} {
		refs, err := scanFile(src.name, []byte(src.text), specs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			got = append(got, r.Spec+" "+r.ID+" "+r.label())
		}
	}
	want := []string{
		"5.0 MQTT-3.1.0-2 TestSecond_MQTT_3_1_0_2",
		"3.1.1 MQTT-3.1.2-4 TestV311Rules/MQTT-3.1.2-4/clean-session",
		"5.0 MQTT-3.1.2-4 TestRules/MQTT-3.1.2-4/*/discard",
		"3.1.1 MQTT-3.8.3-4 TestRules/MQTT-3.1.2-4/*/discard",
		"5.0 MQTT-3.8.3-4 TestRules/MQTT-3.1.2-4/*/discard",
		"5.0 MQTT-3.1.2-4 TestRules/MQTT-3.1.2-4/v5/discard",
		"5.0 MQTT-3.1.0-2 TestRules/MQTT-3.1.2-4/v5/discard",
		`3.1.1 MQTT-3.8.3-4 TestRules "no local in 3.1.1"`,
		`5.0 MQTT-3.8.3-4 TestRules "no local on a share"`,
		`3.1.1 MQTT-2.3.1-7 TestRules "MQTT-2.3.1-7/SUBACK"`,
		`3.1.1 MQTT-3.1.2-4 TestRules "MQTT-3.1.2-4/3.1.1/keyed"`,
		"5.0 MQTT-3.1.2-4 TestRules",
		"3.1.1 MQTT-3.1.2-6 TestRules",
		" MQTT-9.9.9-9 TestRules",
		`5.0 MQTT-1.5.4-2 internal/testvectors.Malformed "publish topic U+0000"`,
		`3.1.1 MQTT-3.8.3-4 internal/testvectors.Malformed "subscription QoS 3"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("references:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAttribute(t *testing.T) {
	specs := sampleSpecs(t)
	for _, c := range []struct {
		id     string
		marked bool
		want   string
	}{
		{"MQTT-3.1.2-4", false, v5},  // in both: 5.0 unless marked
		{"MQTT-3.1.2-4", true, v311}, // in both, marked 3.1.1
		{"MQTT-1.5.4-2", true, v5},   // 5.0 only, whatever the mark
		{"MQTT-3.1.2-6", false, v311},
		{"MQTT-9.9.9-9", false, ""},
	} {
		if got := attribute(c.id, c.marked, specs); got != c.want {
			t.Errorf("attribute(%s, marked 3.1.1 %v) = %q, want %q", c.id, c.marked, got, c.want)
		}
	}
	for _, s := range []string{"MQTT-1/3.1.1/x", "v3.1.1", "(3.1.1)", "3.1.1", "v311", "packet.V311", "TestV3_1_1", "MQTT311"} {
		if !marks311(s) {
			t.Errorf("%q does not mark 3.1.1", s)
		}
	}
	for _, s := range []string{"MQTT-3.1.1-1/v5", "packet.V5", "5.0", "3.1.12", "13.1.1", "v3.1.1.2"} {
		if marks311(s) {
			t.Errorf("%q marks 3.1.1", s)
		}
	}
}

func TestNotApplicable(t *testing.T) {
	specs := sampleSpecs(t)
	na, err := parseNotApplicable("# comment\n\n5.0 MQTT-6.0.0-1 WebSocket: a transport\n", specs)
	if err != nil {
		t.Fatal(err)
	}
	if got := na[naKey{v5, "MQTT-6.0.0-1"}]; got != "WebSocket: a transport" {
		t.Errorf("reason %q", got)
	}
	for _, bad := range []string{
		"3.1.1 MQTT-6.0.0-1 not a 3.1.1 statement",
		"5 MQTT-6.0.0-1 bad version",
		"5.0 MQTT-6.0.0-1",
		"5.0 MQTT-6.0.0-1 one\n5.0 MQTT-6.0.0-1 twice",
	} {
		if _, err := parseNotApplicable(bad, specs); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestNotApplicableList checks the real list against the real tables when
// they are where CI puts them.
func TestNotApplicableList(t *testing.T) {
	specs, err := loadSpecs(filepath.Join("..", "..", "..", "..", "shared", "spec"))
	if err != nil {
		t.Skip("no spec tables:", err)
	}
	if _, err := parseNotApplicable(notApplicableText, specs); err != nil {
		t.Fatal(err)
	}
}

// writeRepo lays out a repository with the sample tables beside it.
func writeRepo(t *testing.T) (root, spec string) {
	t.Helper()
	dir := t.TempDir()
	root, spec = filepath.Join(dir, "repo"), filepath.Join(dir, "shared", "spec")
	files := map[string]string{
		filepath.Join(spec, "mqtt5-normative.tsv"):                         sampleV5,
		filepath.Join(spec, "mqtt311-normative.tsv"):                       sample311,
		filepath.Join(root, "go.mod"):                                      "module " + modulePath + "\n",
		filepath.Join(root, "a_test.go"):                                   sampleTest,
		filepath.Join(root, "internal", "testvectors", "malformed.go"):     sampleVectors,
		filepath.Join(root, "internal", "cmd", "conformance", "x_test.go"): "package main\n\nvar _ = \"MQTT-3.1.2-6\"\n",
		filepath.Join(root, "testdata", "b_test.go"):                       "package x\n\nvar _ = \"MQTT-3.1.2-6\"\n",
		filepath.Join(root, "nested", "go.mod"):                            "module example.com/nested\n",
		filepath.Join(root, "nested", "c_test.go"):                         "package nested\n\nfunc TestWS_MQTT_6_0_0_1(t *testing.T) {}\n",
		filepath.Join(root, "nested", "c.go"):                              "package nested\n\nvar _ = \"MQTT-3.1.2-6\"\n",
	}
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, spec
}

func TestScanRepo(t *testing.T) {
	root, spec := writeRepo(t)
	specs, err := loadSpecs(spec)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := scanRepo(root, specs)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]int{}
	for _, r := range refs {
		files[r.File]++
	}
	// Not the command's own tests, not testdata, not non-test files
	// outside internal/testvectors.
	if len(files) != 3 || files["a_test.go"] == 0 || files["internal/testvectors/malformed.go"] != 2 || files["nested/c_test.go"] != 1 {
		t.Errorf("references by file: %v", files)
	}
	m := buildMatrix(specs, nil, refs)
	if c := m.Tables[0].counts(); c != (counts{Total: 5, Checked: 5}) {
		t.Errorf("5.0 counts %+v", c)
	}
	if c := m.Tables[1].counts(); c != (counts{Total: 4, Checked: 4}) {
		t.Errorf("3.1.1 counts %+v", c)
	}
	if len(m.Unknown) != 1 || len(m.warnings()) != 1 {
		t.Errorf("unknown %v, warnings %q", m.Unknown, m.warnings())
	}
}

func TestCheck(t *testing.T) {
	root, spec := writeRepo(t)
	saved := notApplicableText
	notApplicableText = "# sample\n5.0 MQTT-6.0.0-1 WebSocket: a transport\n"
	t.Cleanup(func() { notApplicableText = saved })
	gen := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"-root", root, "-spec", spec}, args...), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	if code, out := gen("-check"); code != 1 || !strings.Contains(out, "CONFORMANCE.md is stale (missing)") {
		t.Errorf("-check without the file: %d %q", code, out)
	}
	if code, out := gen(); code != 0 {
		t.Fatalf("generate: %d %q", code, out)
	}
	doc, err := os.ReadFile(filepath.Join(root, "CONFORMANCE.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| [MQTT 5.0](#mqtt-50) | 5 | 5 | 0 | 0 | 0 |",
		"| MQTT-3.1.2-6 | Clean Session 1: discard the Session. | checked | `TestRules` |",
		"- MQTT-9.9.9-9 in `TestRules`",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("CONFORMANCE.md lacks %q:\n%s", want, doc)
		}
	}
	if code, out := gen("-check"); code != 0 || !strings.Contains(out, "up to date") || !strings.Contains(out, "listed in notapplicable.txt but a test checks it") {
		t.Errorf("-check after generating: %d %q", code, out)
	}
	// A test that stops naming a statement makes the file stale.
	test := filepath.Join(root, "nested", "c_test.go")
	if err := os.WriteFile(test, []byte("package nested\n\nfunc TestWS(t *testing.T) {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := gen("-check")
	if code != 1 || !strings.Contains(out, "stale") || !strings.Contains(out, "go run ./internal/cmd/conformance") {
		t.Errorf("-check after a test changed: %d %q", code, out)
	}
	after, _ := os.ReadFile(filepath.Join(root, "CONFORMANCE.md"))
	if !bytes.Equal(after, doc) {
		t.Error("-check wrote the file")
	}
	if code, _ := gen(); code != 0 {
		t.Fatal("regenerate failed")
	}
	if code, out := gen("-check"); code != 0 {
		t.Errorf("-check after regenerating: %d %q", code, out)
	}
	doc, _ = os.ReadFile(filepath.Join(root, "CONFORMANCE.md"))
	if want := "| MQTT-6.0.0-1 | WebSocket binary frames. | n/a | WebSocket: a transport |"; !strings.Contains(string(doc), want) {
		t.Errorf("CONFORMANCE.md lacks %q:\n%s", want, doc)
	}
}

func TestShortAndCell(t *testing.T) {
	if got := short("one two three four", 9); got != "one two…" {
		t.Errorf("short = %q", got)
	}
	if got := short("short", 80); got != "short" {
		t.Errorf("short = %q", got)
	}
	if got := cell("a|b <c> *d_"); got != `a\|b &lt;c&gt; \*d\_` {
		t.Errorf("cell = %q", got)
	}
}
