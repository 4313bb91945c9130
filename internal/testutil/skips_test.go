package testutil

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNoRawSkips fails on any t.Skip, t.Skipf or t.SkipNow (or b., f.,
// tb.) outside this package: a skip must go through Missing, NeedTool or
// Slow, which fail under KLPACK_REQUIRE_TOOLS=1 instead of letting CI pass
// without the test. Likewise -update is read only through Updating.
func TestNoRawSkips(t *testing.T) {
	root := Root()
	self, err := filepath.Abs(filepath.Join(root, "internal", "testutil"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			name := e.Name()
			abs, _ := filepath.Abs(path)
			// testdata holds inputs, not the module's tests; dot and
			// underscore directories are ignored by go too.
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || abs == self) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, pos := range rawSkips(fset, f) {
			rel, _ := filepath.Rel(root, pos.Filename)
			t.Errorf("%s:%d: raw skip; use testutil.Missing, NeedTool or Slow", rel, pos.Line)
		}
		for _, pos := range updateReads(fset, f) {
			rel, _ := filepath.Rel(root, pos.Filename)
			t.Errorf("%s:%d: reads testutil.Update; use testutil.Updating(t), which refuses -update under CI", rel, pos.Line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A walk that found nothing would pass vacuously.
	if files < 50 {
		t.Fatalf("walked %d Go files under %s, want the whole module", files, root)
	}
}

// rawSkips finds calls of Skip, Skipf and SkipNow on a value the file
// declares as *testing.T, *testing.B, *testing.F or testing.TB: a
// parameter, a struct field (h.t.Skip) or a variable. Matching by name, not
// type, keeps this to go/parser; other Skip methods (a release stage's)
// are on values of other types and pass.
func rawSkips(fset *token.FileSet, f *ast.File) []token.Position {
	tvars := map[string]bool{}
	declare := func(names []*ast.Ident, typ ast.Expr) {
		if isTestingType(typ) {
			for _, n := range names {
				tvars[n.Name] = true
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Field:
			declare(n.Names, n.Type)
		case *ast.ValueSpec:
			declare(n.Names, n.Type)
		}
		return true
	})
	var found []token.Position
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !slices.Contains([]string{"Skip", "Skipf", "SkipNow"}, sel.Sel.Name) {
			return true
		}
		var recv string
		switch x := sel.X.(type) {
		case *ast.Ident:
			recv = x.Name
		case *ast.SelectorExpr:
			recv = x.Sel.Name
		}
		if tvars[recv] {
			found = append(found, fset.Position(call.Pos()))
		}
		return true
	})
	return found
}

// updateReads finds uses of testutil.Update, which bypass Updating's
// refusal under CI.
func updateReads(fset *token.FileSet, f *ast.File) []token.Position {
	var found []token.Position
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Update" {
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "testutil" {
				found = append(found, fset.Position(sel.Pos()))
			}
		}
		return true
	})
	return found
}

// isTestingType reports whether typ is *testing.T, *testing.B, *testing.F
// or testing.TB.
func isTestingType(typ ast.Expr) bool {
	ptr := false
	if s, ok := typ.(*ast.StarExpr); ok {
		typ, ptr = s.X, true
	}
	sel, ok := typ.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "testing" {
		return false
	}
	switch sel.Sel.Name {
	case "T", "B", "F":
		return ptr
	case "TB":
		return !ptr
	}
	return false
}

func TestRawSkips(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []int // lines
	}{
		{"t.Skip", "func TestX(t *testing.T) {\n\tt.Skip(\"no\")\n}", []int{2}},
		{"t.Skipf and SkipNow", "func TestX(t *testing.T) {\n\tt.Skipf(\"%d\", 1)\n\tt.SkipNow()\n}", []int{2, 3}},
		{"b.Skip", "func BenchmarkX(b *testing.B) {\n\tb.Skip()\n}", []int{2}},
		{"f.Skip", "func FuzzX(f *testing.F) {\n\tf.Skip()\n}", []int{2}},
		{"tb.Skip in a helper", "func helper(tb testing.TB) {\n\ttb.Skip()\n}", []int{2}},
		{"in a subtest", "func TestX(t *testing.T) {\n\tt.Run(\"a\", func(st *testing.T) {\n\t\tst.Skip()\n\t})\n}", []int{3}},
		{"a struct field", "type h struct{ t *testing.T }\nfunc (x h) f() {\n\tx.t.Skip()\n}", []int{3}},
		{"another type's Skip", "func TestX(t *testing.T) {\n\tvar s stage\n\ts.Skip(nil)\n}", nil},
		{"through testutil", "func TestX(t *testing.T) {\n\ttestutil.Missing(t, \"x\")\n}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x_test.go", "package x\n"+tt.src+"\n", parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, p := range rawSkips(fset, f) {
				got = append(got, p.Line-1) // without the package line
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("rawSkips(%q) at lines %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}

func TestUpdateReads(t *testing.T) {
	src := "package x\nvar a = *testutil.Update\nvar b = testutil.Updating(t)\nvar c = other.Update\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x_test.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, p := range updateReads(fset, f) {
		got = append(got, p.Line)
	}
	if want := []int{2}; !slices.Equal(got, want) {
		t.Errorf("updateReads at lines %v, want %v", got, want)
	}
}
