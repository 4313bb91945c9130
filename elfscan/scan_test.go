package elfscan

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// The kernels the testdata modules are built for, and the variants of
// each module that testdata/build.sh writes.
var (
	kernels  = []string{"6.1.0-56-amd64", "6.12.117+deb12-amd64"}
	variants = []string{".ko", ".strip-debug.ko", ".strip-unneeded.ko", ".ko.xz", ".ko.zst", ".ko.gz"}
)

var koDir = filepath.Join("..", "testdata", "ko")

// expected.json is written by hand from the C sources: an oracle that does
// not come from klpack's own output.
type expectModule struct {
	Livepatch bool          `json:"livepatch"`
	Patches   []expectPatch `json:"patches"`
}

type expectPatch struct {
	Symbol        string      `json:"symbol"`
	Replace       bool        `json:"replace"`
	ReplaceSource string      `json:"replace_source"`
	ReplaceParam  string      `json:"replace_param"`
	States        []klp.State `json:"states"`
	Objects       []struct {
		Name      *string       `json:"name"`
		Funcs     []klp.Func    `json:"funcs"`
		Callbacks klp.Callbacks `json:"callbacks"`
	} `json:"objects"`
}

// loadExpected reads expected.json into the view of it a test needs.
func loadExpected[T any](t *testing.T) map[string]T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "src", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string]T
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	return exp
}

// vmlinuxBTF is the BTF-only vmlinux Debian ships in the 6.12 headers.
func vmlinuxBTF(t *testing.T) *btf.Spec {
	t.Helper()
	path := "/usr/src/linux-headers-6.12.117+deb12-amd64/vmlinux"
	if _, err := os.Stat(path); err != nil {
		testutil.Missing(t, "linux-headers-6.12.117+deb12-amd64 not installed (make install-deps)")
	}
	spec, err := btf.LoadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestScanTestdata(t *testing.T) {
	exp := loadExpected[expectModule](t)
	withBTF := &Options{VmlinuxBTF: vmlinuxBTF(t)}
	for _, kernel := range kernels {
		for name, want := range exp {
			for _, v := range variants {
				path := filepath.Join(koDir, kernel, name+v)
				t.Run(kernel+"/"+name+v, func(t *testing.T) {
					m, err := Open(path, nil)
					if err != nil {
						t.Fatalf("Open(%q) = %v", path, err)
					}
					checkModule(t, m, kernel, name, v, want, layoutFor(v, false))
				})
				if kernel == "6.12.117+deb12-amd64" && strings.HasPrefix(v, ".strip") {
					t.Run(kernel+"/"+name+v+"/btf", func(t *testing.T) {
						m, err := Open(path, withBTF)
						if err != nil {
							t.Fatalf("Open(%q) = %v", path, err)
						}
						checkModule(t, m, kernel, name, v, want, layoutFor(v, true))
					})
				}
			}
		}
	}
}

func layoutFor(variant string, btf bool) string {
	switch {
	case !strings.HasPrefix(variant, ".strip"):
		return klp.LayoutDWARF
	case btf:
		return klp.LayoutBTF
	}
	return klp.LayoutTable
}

func checkModule(t *testing.T, m *klp.Module, kernel, name, variant string, want expectModule, layout string) {
	t.Helper()
	if m.Name != name {
		t.Errorf("Name = %q, want %q", m.Name, name)
	}
	if !strings.HasPrefix(m.Vermagic, kernel+" ") {
		t.Errorf("Vermagic = %q, want %s ...", m.Vermagic, kernel)
	}
	if m.Arch != "x86_64" {
		t.Errorf("Arch = %q", m.Arch)
	}
	if got := first(m.Modinfo, "name"); got != name {
		t.Errorf("modinfo name = %q", got)
	}
	wantComp := map[string]string{".ko.xz": "xz", ".ko.zst": "zstd", ".ko.gz": "gzip"}[variant]
	if m.Compression != wantComp {
		t.Errorf("Compression = %q, want %q", m.Compression, wantComp)
	}
	if m.Livepatch != want.Livepatch {
		t.Fatalf("Livepatch = %v, want %v", m.Livepatch, want.Livepatch)
	}
	if !want.Livepatch {
		if m.Format != nil || len(m.Patches) != 0 || m.LayoutSource != nil {
			t.Errorf("non-livepatch has format %v, %d patches, layout %v", m.Format, len(m.Patches), m.LayoutSource)
		}
		return
	}
	if m.Format == nil || *m.Format != klp.FormatStatic {
		t.Errorf("Format = %v, want static", m.Format)
	}
	if m.LayoutSource == nil || *m.LayoutSource != layout {
		t.Errorf("LayoutSource = %v, want %q", m.LayoutSource, layout)
	}
	// Stripped of local symbols, a module names code and data by section
	// and offset; everything else must be the same.
	stripped := variant == ".strip-unneeded.ko"
	var got []expectPatch
	for _, p := range m.Patches {
		gp := expectPatch{Symbol: p.Symbol, Replace: p.Replace, ReplaceSource: p.ReplaceSource, ReplaceParam: p.ReplaceParam, States: p.States}
		for _, o := range p.Objects {
			gp.Objects = append(gp.Objects, struct {
				Name      *string       `json:"name"`
				Funcs     []klp.Func    `json:"funcs"`
				Callbacks klp.Callbacks `json:"callbacks"`
			}{o.Name, o.Funcs, o.Callbacks})
		}
		got = append(got, gp)
	}
	opts := []cmp.Option{
		cmp.Transformer("states", func(s []klp.State) []klp.State {
			if len(s) == 0 {
				return nil
			}
			return s
		}),
		cmp.Comparer(func(a, b klp.Func) bool {
			return a.OldName == b.OldName && a.OldSympos == b.OldSympos && sameSym(a.NewFunc, b.NewFunc, stripped)
		}),
		cmp.Comparer(func(a, b klp.Callbacks) bool {
			return sameSym(a.PrePatch, b.PrePatch, stripped) && sameSym(a.PostPatch, b.PostPatch, stripped) &&
				sameSym(a.PreUnpatch, b.PreUnpatch, stripped) && sameSym(a.PostUnpatch, b.PostUnpatch, stripped)
		}),
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Symbol" }, cmp.Comparer(func(a, b string) bool {
			return sameSym(a, b, stripped)
		})),
	}
	if diff := cmp.Diff(want.Patches, got, opts...); diff != "" {
		t.Errorf("patches differ (-want +got):\n%s", diff)
	}
}

// sameSym compares a symbol name with what a scan reports; in a stripped
// module a name becomes "<section>+<offset>".
func sameSym(a, b string, stripped bool) bool {
	if a == "" || b == "" {
		return a == b
	}
	if stripped {
		return strings.HasPrefix(a, ".") && strings.Contains(a, "+0x") || strings.HasPrefix(b, ".") && strings.Contains(b, "+0x")
	}
	return a == b
}

// TestScanGolden pins the whole JSON document for every testdata module.
func TestScanGolden(t *testing.T) {
	for _, kernel := range kernels {
		t.Run(kernel, func(t *testing.T) {
			files, err := Expand([]string{filepath.Join(koDir, kernel)})
			if err != nil {
				t.Fatal(err)
			}
			doc := klp.Scan{Schema: klp.ScanSchema}
			for _, r := range ScanFiles(context.Background(), files, nil, nil) {
				if r.Err != nil {
					t.Fatalf("scan %s: %v", r.Path, r.Err)
				}
				r.Module.Path = filepath.ToSlash(strings.TrimPrefix(r.Path, ".."+string(filepath.Separator)))
				doc.Modules = append(doc.Modules, r.Module)
			}
			b, err := json.MarshalIndent(&doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, append(b, '\n'))
		})
	}
}

// TestLayoutTable proves the built-in table against the DWARF of a module
// built for each kernel.
func TestLayoutTable(t *testing.T) {
	for _, kernel := range kernels {
		t.Run(kernel, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(koDir, kernel, "lp_replace.ko"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := parseELF(b)
			if err != nil {
				t.Fatal(err)
			}
			fromDWARF, err := dwarfLayout(f)
			if err != nil || fromDWARF == nil {
				t.Fatalf("dwarfLayout = %v, %v", fromDWARF, err)
			}
			fromTable, err := tableLayout("x86_64", kernel+" SMP")
			if err != nil {
				t.Fatal(err)
			}
			fromDWARF.source = klp.LayoutTable
			if diff := cmp.Diff(*fromDWARF, *fromTable, cmp.AllowUnexported(layout{})); diff != "" {
				t.Errorf("table layout for %s differs from DWARF (-dwarf +table):\n%s", kernel, diff)
			}
		})
	}
}

func TestTableLayoutUnknownKernel(t *testing.T) {
	for _, vermagic := range []string{"5.4.0-1-amd64 SMP", "", "garbage", "6.x.1"} {
		if _, err := tableLayout("x86_64", vermagic); err == nil {
			t.Errorf("tableLayout(%q) = nil error, want one", vermagic)
		}
	}
	if _, err := tableLayout("arm64", "6.1.0-56-arm64 SMP"); err == nil {
		t.Error("tableLayout(arm64) = nil error: the table holds x86_64 layouts only")
	}
}

func TestSplitClone(t *testing.T) {
	tests := []struct{ in, base, clone string }{
		{"foo.isra.0", "foo", ".isra.0"},
		{"foo.constprop.0.isra.0", "foo", ".constprop.0.isra.0"},
		{"foo.cold", "foo", ".cold"},
		{"foo.part.3", "foo", ".part.3"},
		{"foo", "", ""},
		{"foo.0", "", ""},
		{"foo.bar", "", ""},
		{".isra.0", "", ""},
		{"a.b.cold", "a.b", ".cold"},
	}
	for _, tt := range tests {
		if b, c := splitClone(tt.in); b != tt.base || c != tt.clone {
			t.Errorf("splitClone(%q) = %q, %q, want %q, %q", tt.in, b, c, tt.base, tt.clone)
		}
	}
}

func TestDemangled(t *testing.T) {
	tests := []struct{ in, want string }{
		{"_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write"},
		{"_RNvCs1234_7mycrate3foo", "mycrate::foo"},
		{"_Z3fooi", "foo(int)"},
		{"cmdline_proc_show", ""},
		{"_Zgarbage", ""},
	}
	for _, tt := range tests {
		if got := demangled(tt.in); got != tt.want {
			t.Errorf("demangled(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
