package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Ref is one place where a test names a statement.
type Ref struct {
	ID      string
	Spec    string // v5 or v311; "" when the ID is in neither table
	File    string // slash-separated, relative to the repository root
	Line    int
	Func    string // enclosing top-level function (Type.Method for methods) or variable
	Case    string // the subtest path or table case, "" if none
	Subtest bool   // Case is a t.Run path
}

// pkg is the directory of the file, "." for the root package.
func (r Ref) pkg() string { return path.Dir(r.File) }

// group names the test: the package directory and the function.
func (r Ref) group() string {
	if r.pkg() == "." {
		return r.Func
	}
	return r.pkg() + "." + r.Func
}

// label is how the matrix shows the reference.
func (r Ref) label() string {
	switch {
	case r.Case == "":
		return r.group()
	case r.Subtest:
		return r.group() + "/" + r.Case
	}
	return r.group() + " " + strconv.Quote(r.Case)
}

// scanRepo scans the test sources of every module under root: *_test.go
// files and internal/testvectors/*.go. Hidden directories, testdata,
// vendor and this command's own directory (its tests hold sample IDs) are
// skipped.
func scanRepo(root string, specs Specs) ([]Ref, error) {
	self := filepath.Join(root, "internal", "cmd", "conformance")
	vectors := filepath.Join(root, "internal", "testvectors")
	var refs []Ref
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || p == self) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || !(strings.HasSuffix(name, "_test.go") || filepath.Dir(p) == vectors) {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rs, err := scanFile(filepath.ToSlash(rel), src, specs)
		if err != nil {
			return err
		}
		refs = append(refs, rs...)
		return nil
	})
	return refs, err
}

// funcIDRE finds the statements a function name carries: MQTT_3_1_2_8 is
// MQTT-3.1.2-8.
var funcIDRE = regexp.MustCompile(`MQTT_([0-9]+(?:_[0-9]+)*)_([0-9]+)`)

// mark311RE is the 3.1.1 mark of a context.
var mark311RE = regexp.MustCompile(`(?i)(?:^|[^0-9.])3\.1\.1(?:$|[^0-9.])|v311|v3_1_1|mqtt311`)

// marks311 reports whether a context marks 3.1.1. Statement IDs in it are
// not marks.
func marks311(ctx string) bool {
	return mark311RE.MatchString(idRE.ReplaceAllString(ctx, "ID"))
}

// logFuncs are calls whose string arguments are messages, not case names.
var logFuncs = map[string]bool{
	"Error": true, "Errorf": true, "Fatal": true, "Fatalf": true, "Log": true, "Logf": true,
	"Skip": true, "Skipf": true, "Sprintf": true, "Sprint": true, "Printf": true, "Println": true,
	"New": true, "Fprintf": true,
}

// scanFile finds the references of one source file.
func scanFile(name string, src []byte, specs Specs) ([]Ref, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	text := func(n ast.Node) string {
		return string(src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset])
	}
	var refs []Ref
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, n)
		switch x := n.(type) {
		case *ast.FuncDecl:
			fn := funcName(x)
			for _, m := range funcIDRE.FindAllStringSubmatch(x.Name.Name, -1) {
				id := "MQTT-" + strings.ReplaceAll(m[1], "_", ".") + "-" + m[2]
				refs = append(refs, Ref{
					ID: id, Spec: attribute(id, marks311(fn), specs),
					File: name, Line: fset.Position(x.Pos()).Line, Func: fn,
				})
			}
		case *ast.BasicLit:
			if x.Kind != token.STRING {
				break
			}
			s, err := strconv.Unquote(x.Value)
			if err != nil {
				break
			}
			ids := idRE.FindAllString(s, -1)
			if len(ids) == 0 {
				break
			}
			fn, kase, subtest, ctx := context(stack, text)
			marked := marks311(ctx)
			for _, id := range ids {
				refs = append(refs, Ref{
					ID: id, Spec: attribute(id, marked, specs),
					File: name, Line: fset.Position(x.Pos()).Line,
					Func: fn, Case: kase, Subtest: subtest,
				})
			}
		}
		return true
	})
	return refs, nil
}

// attribute picks the table of a reference to id.
func attribute(id string, marked311 bool, specs Specs) string {
	in5, in311 := specs.V5.has(id), specs.V311.has(id)
	switch {
	case in5 && in311:
		if marked311 {
			return v311
		}
		return v5
	case in5:
		return v5
	case in311:
		return v311
	}
	return ""
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
			continue
		case *ast.IndexExpr:
			t = x.X
			continue
		case *ast.IndexListExpr:
			t = x.X
			continue
		case *ast.Ident:
			return x.Name + "." + fd.Name.Name
		}
		return fd.Name.Name
	}
}

// context describes the string literal at the top of stack: the enclosing
// function, its case (subtest path or table case) and the text that decides
// its version.
func context(stack []ast.Node, text func(ast.Node) string) (fn, kase string, subtest bool, ctx string) {
	lit := stack[len(stack)-1]
	var ctxs, runs []string
	for i, n := range stack {
		var next ast.Node
		if i+1 < len(stack) {
			next = stack[i+1]
		}
		switch x := n.(type) {
		case *ast.FuncDecl:
			fn = funcName(x)
			ctxs = append(ctxs, fn)
		case *ast.ValueSpec:
			if fn == "" && len(x.Names) > 0 {
				fn = x.Names[0].Name
				ctxs = append(ctxs, fn)
			}
		case *ast.CallExpr:
			if isRun(x) {
				name := render(x.Args[0])
				runs = append(runs, name)
				ctxs = append(ctxs, name)
			}
		case *ast.IfStmt:
			if next == x.Body {
				if c := text(x.Cond); !strings.Contains(c, "!=") {
					ctxs = append(ctxs, c)
				}
			}
		case *ast.CaseClause:
			if slices.ContainsFunc(x.Body, func(s ast.Stmt) bool { return s == next }) {
				for _, e := range x.List {
					ctxs = append(ctxs, text(e))
				}
			}
		}
	}
	if len(runs) > 0 {
		kase, subtest = strings.Join(runs, "/"), true
	}
	// A table case or a call (not a t.Run, not a message) the literal is
	// an element or argument of.
	var holder ast.Node
	var elems []ast.Expr
	if len(stack) >= 2 {
		parent := stack[len(stack)-2]
		if kv, ok := parent.(*ast.KeyValueExpr); ok && kv.Value == lit && len(stack) >= 3 {
			parent = stack[len(stack)-3]
		}
		switch p := parent.(type) {
		case *ast.CompositeLit:
			holder, elems = p, p.Elts
		case *ast.CallExpr:
			if !isRun(p) && !logFuncs[callName(p)] {
				holder, elems = p, p.Args
			}
		}
	}
	if holder != nil {
		ctxs = append(ctxs, text(holder))
		if name := caseName(elems); name != "" && !subtest {
			kase = name
		}
	} else {
		ctxs = append(ctxs, text(lit))
	}
	return fn, kase, subtest, strings.Join(ctxs, "\n")
}

// caseName is the first string element that is more than a bare ID, or the
// first bare ID.
func caseName(elems []ast.Expr) string {
	first := ""
	for _, e := range elems {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			e = kv.Value
		}
		s := ""
		switch x := e.(type) {
		case *ast.BasicLit:
			if x.Kind == token.STRING {
				s = render(x)
			}
		case *ast.BinaryExpr:
			// "what"+x or x+"what": a name with a computed part.
			if s = render(x); strings.Trim(s, "* ") == "" {
				s = ""
			}
		}
		if s == "" || s == "*" {
			continue
		}
		if idRE.FindString(s) != s {
			return s
		}
		if first == "" {
			first = s
		}
	}
	return first
}

// isRun reports whether c is x.Run(name, func...), a subtest.
func isRun(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Run" || len(c.Args) != 2 {
		return false
	}
	_, ok = c.Args[1].(*ast.FuncLit)
	return ok
}

func callName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

// render spells a subtest name: the constant parts as they are, "*" for
// what is computed.
func render(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			if s, err := strconv.Unquote(x.Value); err == nil {
				return s
			}
		}
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			return render(x.X) + render(x.Y)
		}
	case *ast.ParenExpr:
		return render(x.X)
	}
	return "*"
}
