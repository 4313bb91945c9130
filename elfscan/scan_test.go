package elfscan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// The kernels the testdata modules are built for, and the variants of
// each module that testdata/build.sh writes. kernels are Debian's x86_64
// kernels, rebuilt by testdata/build.sh from installed headers;
// crossKernels are built from linux-source-7.2 by scripts/gen/arm64.sh
// (make testdata-arm64), in the same variants.
var (
	kernels      = []string{"6.1.0-56-amd64", "6.12.117+deb12-amd64"}
	crossKernels = []string{"7.2.13-arm64"}
	variants     = []string{".ko", ".strip-debug.ko", ".strip-unneeded.ko", ".ko.xz", ".ko.zst", ".ko.gz"}
)

// scanBytes scans a whole module file held in memory.
func scanBytes(b []byte, opts *Options) (*klp.Module, error) { return newScanner(opts).scan(b) }

// allKernels is every kernel with committed sample modules.
func allKernels() []string { return slices.Concat(kernels, crossKernels) }

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

// expectKernel is what expected.json says of every module built for one
// kernel.
type expectKernel struct {
	Arch     string `json:"arch"`
	Vermagic string `json:"vermagic"`
}

// expectFile is expected.json: facts per kernel, then per module.
type expectFile[T any] struct {
	Kernels map[string]expectKernel `json:"kernels"`
	Modules map[string]T            `json:"modules"`
}

func readExpected[T any](t testing.TB) expectFile[T] {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "src", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp expectFile[T]
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	return exp
}

// loadExpected reads the modules of expected.json into the view of them a
// test needs.
func loadExpected[T any](t *testing.T) map[string]T {
	t.Helper()
	return readExpected[T](t).Modules
}

// loadKernels reads the kernel facts of expected.json; every kernel with
// committed modules must be there.
func loadKernels(t testing.TB) map[string]expectKernel {
	t.Helper()
	ks := readExpected[json.RawMessage](t).Kernels
	for _, k := range allKernels() {
		if ks[k].Arch == "" || ks[k].Vermagic == "" {
			t.Fatalf("expected.json: no arch and vermagic for kernel %s", k)
		}
	}
	return ks
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
	facts := loadKernels(t)
	withBTF := &Options{VmlinuxBTF: vmlinuxBTF(t)}
	for _, kernel := range allKernels() {
		for name, want := range exp {
			for _, v := range variants {
				path := filepath.Join(koDir, kernel, name+v)
				t.Run(kernel+"/"+name+v, func(t *testing.T) {
					m, err := Open(path, nil)
					if err != nil {
						t.Fatalf("Open(%q) = %v", path, err)
					}
					checkModule(t, m, facts[kernel], name, v, want, layoutFor(v, false))
				})
				if kernel == "6.12.117+deb12-amd64" && strings.HasPrefix(v, ".strip") {
					t.Run(kernel+"/"+name+v+"/btf", func(t *testing.T) {
						m, err := Open(path, withBTF)
						if err != nil {
							t.Fatalf("Open(%q) = %v", path, err)
						}
						checkModule(t, m, facts[kernel], name, v, want, layoutFor(v, true))
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

func checkModule(t *testing.T, m *klp.Module, kernel expectKernel, name, variant string, want expectModule, layout string) {
	t.Helper()
	if m.Name != name {
		t.Errorf("Name = %q, want %q", m.Name, name)
	}
	if m.Vermagic != kernel.Vermagic {
		t.Errorf("Vermagic = %q, want %q", m.Vermagic, kernel.Vermagic)
	}
	if m.Arch != kernel.Arch {
		t.Errorf("Arch = %q, want %q", m.Arch, kernel.Arch)
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
	for _, kernel := range allKernels() {
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
// built for each kernel, and that the table holds no other kernel.
func TestLayoutTable(t *testing.T) {
	facts := loadKernels(t)
	proven := make(map[tableKey]bool)
	for _, kernel := range allKernels() {
		t.Run(kernel, func(t *testing.T) {
			m := proveLayout(t, filepath.Join(koDir, kernel, "lp_replace.ko"), proven)
			if m.Arch != facts[kernel].Arch {
				t.Errorf("lp_replace.ko is for %s, expected.json says %s", m.Arch, facts[kernel].Arch)
			}
		})
	}
	// Kernels without hand-written samples: the generated modules carry
	// the DWARF of the klp structs (their init code builds them).
	for _, p := range []string{"../testdata/gen/klp-build/ko/klpb_replace.ko", "../testdata/gen/kpatch-build/ko/kpb_replace.ko"} {
		t.Run(filepath.Base(p), func(t *testing.T) { proveLayout(t, p, proven) })
	}
	for k := range tableLayouts {
		if !proven[k] {
			t.Errorf("table layout for %s %d.%d has no module built for that kernel to prove it", k.arch, k.major, k.minor)
		}
	}
}

// proveLayout compares the table's layout for the module's arch and
// vermagic with the module's DWARF, and marks that table entry proven.
func proveLayout(t *testing.T, path string, proven map[tableKey]bool) *klp.Module {
	t.Helper()
	m, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf64.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	fromDWARF, err := dwarfLayout(f)
	if err != nil || fromDWARF == nil {
		t.Fatalf("dwarfLayout = %v, %v", fromDWARF, err)
	}
	fromTable, err := tableLayout(m.Arch, m.Vermagic)
	if err != nil {
		t.Fatal(err)
	}
	major, minor, _ := klp.KernelVersion(klp.KernelRelease(m.Vermagic))
	proven[tableKey{m.Arch, major, minor}] = true
	fromDWARF.source = klp.LayoutTable
	if diff := cmp.Diff(*fromDWARF, *fromTable, cmp.AllowUnexported(layout{})); diff != "" {
		t.Errorf("table layout for %s differs from DWARF (-dwarf +table):\n%s", m.Vermagic, diff)
	}
	return m
}

func TestTableLayoutUnknownKernel(t *testing.T) {
	for _, vermagic := range []string{"5.4.0-1-amd64 SMP", "", "garbage", "6.x.1"} {
		if _, err := tableLayout("x86_64", vermagic); err == nil {
			t.Errorf("tableLayout(%q) = nil error, want one", vermagic)
		}
	}
	// Layouts are per architecture: a release proven on one is not taken
	// for another.
	for _, c := range []struct{ arch, vermagic string }{
		{"arm64", "6.1.0-56-arm64 SMP"},
		{"arm64", "6.12.117+deb12-arm64 SMP"},
		{"riscv64", "7.2.13 SMP"},
		{"", "6.1.0-56-amd64 SMP"},
	} {
		if _, err := tableLayout(c.arch, c.vermagic); err == nil {
			t.Errorf("tableLayout(%q, %q) = nil error, want one", c.arch, c.vermagic)
		}
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

// TestScanNoHash: a scan without hashing gives, for every testdata module
// (plain, stripped and compressed), the record of a hashing scan with
// sha256 empty, and the hashing scan's sha256 is the file's.
func TestScanNoHash(t *testing.T) {
	for _, kernel := range allKernels() {
		files, err := Expand([]string{filepath.Join(koDir, kernel)})
		if err != nil {
			t.Fatal(err)
		}
		hashed := ScanFiles(context.Background(), files, nil, nil)
		unhashed := ScanFiles(context.Background(), files, &Options{NoHash: true}, nil)
		for i, r := range hashed {
			u := unhashed[i]
			if r.Err != nil || u.Err != nil {
				t.Fatalf("%s: %v / %v", r.Path, r.Err, u.Err)
			}
			raw, err := os.ReadFile(r.Path)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(raw); r.Module.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: sha256 %s, the file's is %x", r.Path, r.Module.SHA256, sum)
			}
			if u.Module.SHA256 != "" {
				t.Errorf("%s: no-hash scan has sha256 %q", r.Path, u.Module.SHA256)
			}
			want := *r.Module
			want.SHA256 = ""
			if diff := cmp.Diff(&want, u.Module); diff != "" {
				t.Errorf("%s: no-hash record differs (-hashed +no-hash):\n%s", r.Path, diff)
			}
		}
	}
}

// TestScanSparse: the sparse read of a scan without hashing, made to
// apply to every testdata module (sparseMin 0), gives the record of a
// hashing scan less its sha256, for modules that are no livepatch (read
// in part) and livepatches (read again whole), compressed or not, and
// the same error for a file that cannot be scanned.
func TestScanSparse(t *testing.T) {
	n := 0
	for _, kernel := range allKernels() {
		files, err := Expand([]string{filepath.Join(koDir, kernel)})
		if err != nil {
			t.Fatal(err)
		}
		whole := newScanner(nil)
		sparse := newScanner(&Options{NoHash: true})
		sparse.sparseMin = 0
		for _, path := range files {
			want, wantErr := whole.open(path)
			got, err := sparse.open(path)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Errorf("%s: error %v, want %v", path, err, wantErr)
				continue
			}
			if err != nil {
				continue
			}
			w := *want
			w.SHA256 = ""
			if diff := cmp.Diff(&w, got); diff != "" {
				t.Errorf("%s: sparse record differs (-whole +sparse):\n%s", path, diff)
			}
			if !want.Livepatch && want.Compression == "" {
				n++
			}
		}
	}
	if n == 0 {
		t.Error("no plain module that is no livepatch in testdata: the sparse read went untested")
	}
}
